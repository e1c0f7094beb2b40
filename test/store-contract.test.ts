import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { CommandOutcome, SeatCommand, SeatStore } from "../src/core/seat-store.js";
import { openStoreHarnesses } from "./support/store-harnesses.js";

const { harnesses, postgres, cleanup } = await openStoreHarnesses();
const opened: SeatStore[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});
afterAll(cleanup);

const alice = "spiffe://test/alice";
const bob = "spiffe://test/bob";
const admin = "spiffe://test/admin";

function book(principal: string, seats: number[], requestId = "", showId = "main"): SeatCommand {
  return { kind: "book", showId, seats, principal, isAdmin: principal === admin, requestId };
}

function cancel(principal: string, seats: number[], requestId = "", showId = "main"): SeatCommand {
  return { kind: "cancel", showId, seats, principal, isAdmin: principal === admin, requestId };
}

const applied = (seats: number[], replayed = false): CommandOutcome => ({ ok: true, seats, replayed });
const refused = (reason: string, seats: number[], replayed = false) => ({ ok: false, reason, seats, replayed });

for (const harness of harnesses) {
  const suite = harness.name === "PostgresStore" && postgres === undefined ? describe.skip : describe;

  suite(harness.name, () => {
    /** A store on a fresh location with show "main" (10 seats). */
    async function fresh(options: { requestIdRetentionMs?: number; now?: () => number } = {}) {
      const location = await harness.location();
      const store = await location.open(options);
      opened.push(store);
      await store.ensureShows([{ id: "main", totalSeats: 10 }]);
      return { store, location };
    }

    it("creates configured shows once and never shrinks or overwrites an existing one", async () => {
      const { store } = await fresh();
      await store.ensureShows([{ id: "main", totalSeats: 10 }, { id: "late", totalSeats: 3 }]);
      expect(await store.snapshot("late")).toEqual({
        showId: "late",
        totalSeats: 3,
        bookedCount: 0,
        heldCount: 0,
        available: [1, 2, 3],
        version: 0,
        held: [],
        state: "open",
      });
      const [kept] = await store.ensureShows([{ id: "main", totalSeats: 4 }]);
      expect(kept).toMatchObject({ id: "main", totalSeats: 10, state: "open" });
      expect((await store.snapshot("main"))?.totalSeats).toBe(10);
      expect(await store.snapshot("nowhere")).toBeUndefined();
      await expect(store.bookings("nowhere")).rejects.toThrow(/"nowhere"/);
    });

    it("books seats and lists them with their owner and request id", async () => {
      const { store } = await fresh();
      expect(await store.applyBatch([book(alice, [2, 3], "r-1"), book(bob, [7])])).toEqual([applied([2, 3]), applied([7])]);
      expect(await store.bookings("main")).toEqual([
        { seat: 2, owner: alice, requestId: "r-1" },
        { seat: 3, owner: alice, requestId: "r-1" },
        { seat: 7, owner: bob, requestId: "" },
      ]);
      expect(await store.snapshot("main"))!.toEqual({
        showId: "main",
        totalSeats: 10,
        bookedCount: 3,
        heldCount: 0,
        available: [1, 4, 5, 6, 8, 9, 10],
        version: 2,
        held: [],
        state: "open",
      });
    });

    it("refuses a double booking, naming every taken seat, and books none of the command's seats", async () => {
      const { store } = await fresh();
      await store.applyBatch([book(alice, [2, 3, 5])]);
      expect(await store.applyBatch([book(bob, [1, 2, 3, 4, 5])])).toEqual([refused("SEAT_ALREADY_BOOKED", [2, 3, 5])]);
      expect((await store.snapshot("main"))!.available).toEqual([1, 4, 6, 7, 8, 9, 10]);
      expect((await store.bookings("main")).map((booking) => booking.owner)).toEqual([alice, alice, alice]);
    });

    it("cancels only booked seats, only the caller's unless the caller is an admin, and all or none", async () => {
      const { store } = await fresh();
      await store.applyBatch([book(alice, [1, 2]), book(bob, [3])]);
      expect(
        await store.applyBatch([
          cancel(alice, [1, 4, 5]),
          cancel(alice, [1, 3]),
          cancel(bob, [1, 2, 3]),
          cancel(alice, [2]),
          cancel(admin, [1, 3]),
        ]),
      ).toEqual([
        refused("SEAT_NOT_BOOKED", [4, 5]),
        refused("SEAT_NOT_OWNED", [3]),
        refused("SEAT_NOT_OWNED", [1, 2]),
        applied([2]),
        applied([1, 3]),
      ]);
      expect(await store.bookings("main")).toEqual([]);
    });

    it("decides each command of a batch on its own, in order", async () => {
      const { store } = await fresh();
      expect(
        await store.applyBatch([
          book(alice, [1, 2]),
          book(bob, [2, 3]),
          book(bob, [3, 4]),
          cancel(alice, [2]),
          book(bob, [2]),
          cancel(alice, [4]),
        ]),
      ).toEqual([
        applied([1, 2]),
        refused("SEAT_ALREADY_BOOKED", [2]),
        applied([3, 4]),
        applied([2]),
        applied([2]),
        refused("SEAT_NOT_OWNED", [4]),
      ]);
      expect((await store.bookings("main")).map((booking) => [booking.seat, booking.owner])).toEqual([
        [1, alice],
        [2, bob],
        [3, bob],
        [4, bob],
      ]);
    });

    it("replays a repeated request id with its stored outcome, success or refusal, without applying it again", async () => {
      const { store } = await fresh();
      expect(await store.applyBatch([book(alice, [1], "a-1"), book(bob, [1, 2], "b-1")])).toEqual([
        applied([1]),
        refused("SEAT_ALREADY_BOOKED", [1]),
      ]);
      await store.applyBatch([cancel(alice, [1])]);
      // The seat is free now, yet both retries get what they got the first time.
      expect(await store.applyBatch([book(alice, [1], "a-1"), book(bob, [1, 2], "b-1")])).toEqual([
        applied([1], true),
        refused("SEAT_ALREADY_BOOKED", [1], true),
      ]);
      expect(await store.bookings("main")).toEqual([]);
    });

    it("replays a request id repeated within the same batch, and refuses it for another command there", async () => {
      const { store } = await fresh();
      expect(
        await store.applyBatch([book(alice, [5], "a-1"), book(alice, [5], "a-1"), book(alice, [6], "a-1"), book(bob, [5], "b-1"), book(bob, [5], "b-1")]),
      ).toEqual([applied([5]), applied([5], true), refused("REQUEST_ID_REUSED", [6]), refused("SEAT_ALREADY_BOOKED", [5]), refused("SEAT_ALREADY_BOOKED", [5], true)]);
      expect((await store.snapshot("main"))!.bookedCount).toBe(1);
    });

    it("refuses a request id reused for a different command with REQUEST_ID_REUSED", async () => {
      const { store } = await fresh();
      await store.applyBatch([book(alice, [1], "a-1")]);
      expect(await store.applyBatch([book(alice, [2], "a-1"), cancel(alice, [1], "a-1")])).toEqual([
        refused("REQUEST_ID_REUSED", [2]),
        refused("REQUEST_ID_REUSED", [1]),
      ]);
      expect((await store.snapshot("main"))!.bookedCount).toBe(1);
    });

    it("keeps request ids per principal: bob may use alice's id", async () => {
      const { store } = await fresh();
      expect(await store.applyBatch([book(alice, [1], "same"), book(bob, [2], "same")])).toEqual([applied([1]), applied([2])]);
    });

    it("forgets request ids older than the retention", async () => {
      let clock = 1_000_000;
      const { store } = await fresh({ requestIdRetentionMs: 1_000, now: () => clock });
      await store.applyBatch([book(alice, [1], "a-1"), book(bob, [2], "b-1")]);
      clock += 1_000;
      expect(await store.applyBatch([book(alice, [1], "a-1")])).toEqual([applied([1], true)]);
      await store.applyBatch([cancel(alice, [1])]);
      clock += 1;
      // Expired: the id is new again, the seat is booked anew.
      expect(await store.applyBatch([book(alice, [1], "a-1")])).toEqual([applied([1])]);
      // Far enough on for any periodic purge to have run; purged ids are new too.
      clock += 10 * 60_000;
      expect(await store.applyBatch([book(bob, [2], "b-1")])).toEqual([refused("SEAT_ALREADY_BOOKED", [2])]);
      expect(await store.applyBatch([book(bob, [2], "b-1")])).toEqual([refused("SEAT_ALREADY_BOOKED", [2], true)]);
    });

    it("lists the free seats of a 100,000-seat show", async () => {
      const { store } = await fresh();
      await store.ensureShows([{ id: "arena", totalSeats: 100_000 }]);
      await store.applyBatch([book(alice, [1, 50_000, 100_000], "", "arena")]);
      const snapshot = (await store.snapshot("arena"))!;
      expect(snapshot.totalSeats).toBe(100_000);
      expect(snapshot.bookedCount).toBe(3);
      expect(snapshot.available).toHaveLength(99_997);
      expect(snapshot.available.slice(0, 2)).toEqual([2, 3]);
      expect(snapshot.available.slice(49_997, 49_999)).toEqual([49_999, 50_001]);
      expect(snapshot.available.at(-1)).toBe(99_999);
    });

    it.skipIf(!harness.durable)("keeps seats, owners and request ids when closed and reopened", async () => {
      const { store, location } = await fresh();
      await store.applyBatch([book(alice, [1, 2], "a-1"), book(bob, [3], "b-1"), cancel(alice, [2])]);
      await store.close();
      const reopened = await location.open();
      opened.push(reopened);
      await reopened.ensureShows([{ id: "main", totalSeats: 10 }]);
      expect(await reopened.bookings("main")).toEqual([
        { seat: 1, owner: alice, requestId: "a-1" },
        { seat: 3, owner: bob, requestId: "b-1" },
      ]);
      expect(await reopened.applyBatch([book(alice, [1, 2], "a-1")])).toEqual([applied([1, 2], true)]);
    });

    it(`never books a seat twice under concurrent batches from ${harness.instances} store instance(s)`, async () => {
      const location = await harness.location();
      const stores: SeatStore[] = [];
      for (let index = 0; index < harness.instances; index++) {
        const store = await location.open();
        opened.push(store);
        stores.push(store);
      }
      await Promise.all(stores.map((store) => store.ensureShows([{ id: "main", totalSeats: 10 }])));
      let seed = 12345;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const pick = () => [...new Set(Array.from({ length: 1 + Math.floor(random() * 3) }, () => 1 + Math.floor(random() * 10)))].sort((a, b) => a - b);
      const workers = Array.from({ length: 8 }, (_, index) => ({ principal: `worker-${index}`, held: new Set<number>() }));
      let booked = 0;
      let refusals = 0;
      await Promise.all(
        workers.map(async (worker, index) => {
          const store = stores[index % stores.length]!;
          for (let round = 0; round < 40; round++) {
            // Mostly cancel seats the worker holds, so seats keep changing hands.
            const commands = Array.from({ length: 1 + Math.floor(random() * 3) }, () =>
              random() < 0.5
                ? book(worker.principal, pick())
                : cancel(worker.principal, worker.held.size > 0 && random() < 0.8 ? [...worker.held].sort((a, b) => a - b) : pick()),
            );
            const outcomes = await store.applyBatch(commands);
            outcomes.forEach((outcome, at) => {
              const command = commands[at]!;
              if (!outcome.ok) return void refusals++;
              for (const seat of command.seats) {
                if (command.kind === "book") worker.held.add(seat);
                else worker.held.delete(seat);
              }
              if (command.kind === "book") booked++;
            });
          }
        }),
      );
      expect(booked).toBeGreaterThan(20);
      expect(refusals).toBeGreaterThan(20);
      const expected = workers.flatMap((worker) => [...worker.held].map((seat) => [seat, worker.principal] as const));
      expect(new Set(expected.map(([seat]) => seat)).size).toBe(expected.length);
      expected.sort(([a], [b]) => a - b);
      for (const store of stores) {
        expect((await store.bookings("main")).map((booking) => [booking.seat, booking.owner])).toEqual(expected);
        const snapshot = (await store.snapshot("main"))!;
        expect(snapshot.bookedCount).toBe(expected.length);
        expect(snapshot.available.length + expected.length).toBe(10);
      }
    });

    it(`applies a request sent to ${harness.instances} store instance(s) at once exactly once, replaying it to the rest`, async () => {
      const location = await harness.location();
      const stores: SeatStore[] = [];
      for (let index = 0; index < harness.instances; index++) {
        const store = await location.open();
        opened.push(store);
        stores.push(store);
      }
      await Promise.all(stores.map((store) => store.ensureShows([{ id: "main", totalSeats: 10 }])));
      for (let round = 0; round < 10; round++) {
        const seats = [round % 10 === 9 ? 1 : (round % 10) + 1];
        const outcomes = (
          await Promise.all(stores.flatMap((store) => [store.applyBatch([book(alice, seats, `r-${round}`)]), store.applyBatch([book(alice, seats, `r-${round}`)])]))
        ).flat();
        expect(outcomes.filter((outcome) => !outcome.replayed)).toHaveLength(1);
        const first = outcomes.find((outcome) => !outcome.replayed)!;
        for (const outcome of outcomes) expect({ ...outcome, replayed: false }).toEqual(first);
      }
      expect((await stores[0]!.bookings("main")).map((booking) => booking.requestId)).toEqual(
        Array.from({ length: 9 }, (_, index) => `r-${index}`),
      );
    });
  });
}
