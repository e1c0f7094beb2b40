import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { CommandOutcome, HoldCommand, SeatCommand, StoreCommand } from "../src/core/seat-store.js";
import { PostgresStore, type PostgresStoreOptions } from "../src/stores/postgres-store.js";
import { startPostgres } from "./support/postgres-cluster.js";

const postgres = await startPostgres();
afterAll(async () => {
  await postgres?.stop();
});

const alice = "spiffe://test/alice";
const bob = "spiffe://test/bob";
const carol = "spiffe://test/carol";
const admin = "spiffe://test/admin";
const DAY_MS = 86_400_000;

const opened: PostgresStore[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

/** Three instances on one fresh database, as three servers would be; `clocks` skews their process clocks. */
async function instances(clocks: readonly number[] = [0, 0, 0], options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore[]> {
  const url = await postgres!.createDatabase();
  const stores = await Promise.all(
    clocks.map((skew) => PostgresStore.open({ connectionString: url, poolSize: 4, now: () => Date.now() + skew, ...options })),
  );
  opened.push(...stores);
  await Promise.all(stores.map((store) => store.ensureShows([{ id: "main", totalSeats: 20 }])));
  return stores;
}

const who = (principal: string) => ({ principal, isAdmin: principal === admin, requestId: "" });
const book = (principal: string, seats: number[], showId = "main"): SeatCommand => ({ kind: "book", showId, seats, ...who(principal) });
const hold = (principal: string, seats: number[], holdId: string, ttlMs = 60_000, maxHoldsPerPrincipal = 5): HoldCommand => ({
  kind: "hold",
  showId: "main",
  seats,
  holdId,
  ttlMs,
  maxHoldsPerPrincipal,
  ...who(principal),
});
const confirm = (principal: string, holdId: string): StoreCommand => ({ kind: "confirm", holdId, ...who(principal) });

async function one(store: PostgresStore, command: StoreCommand): Promise<CommandOutcome> {
  const [outcome] = await store.applyBatch([command]);
  if (outcome === undefined) throw new Error("no outcome");
  return outcome;
}

/** The database's clock in epoch ms: the creation time of a throwaway show. */
async function databaseNow(store: PostgresStore): Promise<number> {
  const made = await one(store, { kind: "create-show", showId: `clock-${Math.random()}`, totalSeats: 1, displayName: "", ...who(admin) });
  if (!made.ok || made.show === undefined) throw new Error("could not read the database's clock");
  return made.show.createdAt;
}

describe.skipIf(postgres === undefined)("PostgresStore holds and shows across instances", () => {
  it("refuses, through every other instance, to book seats held through one (SEAT_HELD, with the time left)", async () => {
    const [a, b, c] = (await instances()) as [PostgresStore, PostgresStore, PostgresStore];
    expect(await one(a, hold(alice, [3, 4], "h-a"))).toMatchObject({ ok: true, seats: [3, 4] });
    for (const store of [b, c]) {
      const refused = await one(store, book(bob, [2, 3, 4]));
      expect(refused).toMatchObject({ ok: false, reason: "SEAT_HELD", seats: [3, 4] });
      expect(refused.ok ? 0 : refused.retryDelayMs).toBeGreaterThan(50_000);
      expect(await one(store, hold(carol, [4], `h-${store === b ? "b" : "c"}`))).toMatchObject({ ok: false, reason: "SEAT_HELD", seats: [4] });
      expect(await store.snapshot("main")).toMatchObject({ bookedCount: 0, heldCount: 2 });
    }
    expect(await one(c, confirm(alice, "h-a"))).toMatchObject({ ok: true, seats: [3, 4], hold: { state: "confirmed" } });
    expect((await b.bookings("main")).map((booking) => [booking.seat, booking.owner])).toEqual([[3, alice], [4, alice]]);
  });

  it("sells a show created through one instance through another at once, and stops when it is closed through a third", async () => {
    const [a, b, c] = (await instances()) as [PostgresStore, PostgresStore, PostgresStore];
    expect(await one(a, { kind: "create-show", showId: "late", totalSeats: 5, displayName: "Late show", ...who(admin) })).toMatchObject({
      ok: true,
      show: { id: "late", totalSeats: 5, displayName: "Late show", state: "open" },
    });
    expect(await one(c, book(bob, [5], "late"))).toEqual({ ok: true, seats: [5], replayed: false });
    expect(await one(b, { kind: "resize-show", showId: "late", totalSeats: 8, ...who(admin) })).toMatchObject({ ok: true, show: { totalSeats: 8 } });
    expect(await one(a, book(carol, [8], "late"))).toEqual({ ok: true, seats: [8], replayed: false });
    expect(await one(c, { kind: "resize-show", showId: "late", totalSeats: 6, ...who(admin) })).toMatchObject({
      ok: false,
      reason: "SHOW_SHRINK_BLOCKED",
      seats: [8],
    });
    expect(await one(b, { kind: "close-show", showId: "late", ...who(admin) })).toMatchObject({ ok: true, show: { state: "closed" } });
    expect(await one(a, book(bob, [1], "late"))).toMatchObject({ ok: false, reason: "SHOW_CLOSED" });
    expect((await c.listShows("", 10)).map((show) => [show.id, show.state, show.bookedCount])).toEqual([
      ["late", "closed", 2],
      ["main", "open", 0],
    ]);
  });

  it("keeps the per-principal hold limit when one principal holds through every instance at once", async () => {
    const stores = await instances();
    const tries = Array.from({ length: 12 }, (_, index) => {
      const store = stores[index % stores.length] as PostgresStore;
      return one(store, hold(alice, [index + 1], `limit-${index}`, 60_000, 3));
    });
    const outcomes = await Promise.all(tries);
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(3);
    expect(outcomes.filter((outcome) => !outcome.ok).map((outcome) => (outcome.ok ? "" : outcome.reason))).toEqual(
      Array.from({ length: 9 }, () => "TOO_MANY_HOLDS"),
    );
  });

  it("decides expiry by the database's clock, so instances whose clocks are two days apart agree", async () => {
    const [ahead, behind, exact] = (await instances([DAY_MS, -DAY_MS, 0])) as [PostgresStore, PostgresStore, PostgresStore];
    const before = await databaseNow(exact);
    const made = await one(ahead, hold(alice, [7], "skewed", 30_000));
    if (!made.ok || made.hold === undefined) throw new Error(`hold refused: ${JSON.stringify(made)}`);
    // Made by the database's clock, not the ahead instance's.
    expect(made.hold.createdAt).toBeGreaterThanOrEqual(before);
    expect(made.hold.createdAt).toBeLessThan(before + 10_000);
    expect(made.hold.expiresAt).toBe(made.hold.createdAt + 30_000);
    // Neither the instance a day behind nor the one on time thinks it lapsed, or not yet made.
    for (const store of [behind, exact, ahead]) {
      expect((await store.getHold("skewed"))?.state).toBe("active");
      expect(await one(store, book(bob, [7]))).toMatchObject({ ok: false, reason: "SEAT_HELD" });
    }
    expect(await one(behind, { kind: "extend", holdId: "skewed", ttlMs: 60_000, maxLifetimeMs: 120_000, ...who(alice) })).toMatchObject({
      ok: true,
      hold: { expiresAt: expect.any(Number) },
    });
    expect(await one(behind, confirm(alice, "skewed"))).toMatchObject({ ok: true, seats: [7] });
  });

  it(
    "gives every seat of a hold that expires under concurrent confirms and bookings exactly one outcome",
    async () => {
      const stores = await instances([DAY_MS, -DAY_MS, 0], {});
      const HOLDS = 8;
      const SEATS_PER_HOLD = 2;
      const TTL_MS = 1_500;
      const holders = Array.from({ length: HOLDS }, (_, index) => `spiffe://test/holder-${index}`);
      const seatsOf = (index: number) => Array.from({ length: SEATS_PER_HOLD }, (_, k) => index * SEATS_PER_HOLD + k + 1);
      const made = await Promise.all(
        holders.map((holder, index) => one(stores[index % 3] as PostgresStore, hold(holder, seatsOf(index), `race-${index}`, TTL_MS))),
      );
      expect(made.every((outcome) => outcome.ok)).toBe(true);
      const expiresAt = made.map((outcome) => (outcome.ok ? (outcome.hold?.expiresAt ?? 0) : 0));

      // The database's clock cannot be moved: wait (bounded) until each hold is about to lapse, then race.
      // The holds start racing at different distances from their expiry, so both outcomes occur.
      const leadMs = (index: number) => 100 - index * 15;
      const until = async (at: number) => {
        const deadline = Date.now() + 10_000;
        while (Date.now() < at) {
          if (Date.now() > deadline) throw new Error("the holds' expiry never came near");
          await new Promise((resolve) => setTimeout(resolve, Math.min(20, Math.max(1, at - Date.now()))));
        }
      };
      const stopAt = Math.max(...expiresAt) + 5_000;
      const confirmed = new Map<number, number>();
      const booked = new Map<number, string[]>();
      const workers: Promise<void>[] = [];
      holders.forEach((holder, index) => {
        const start = until((expiresAt[index] ?? 0) - leadMs(index));
        // Four confirms of each hold, through every instance, retried while the outcome is still open.
        for (let k = 0; k < 4; k++) {
          const store = stores[(index + k) % 3] as PostgresStore;
          workers.push(
            (async () => {
              await start;
              while (Date.now() < stopAt) {
                const outcome = await one(store, confirm(holder, `race-${index}`));
                if (outcome.ok) confirmed.set(index, (confirmed.get(index) ?? 0) + 1);
                if (outcome.ok || outcome.reason === "HOLD_CONFIRMED" || outcome.reason === "HOLD_EXPIRED") return;
                throw new Error(`unexpected confirm outcome ${JSON.stringify(outcome)}`);
              }
            })(),
          );
        }
        // Two other clients per seat, booking it again and again until it is settled.
        for (const seat of seatsOf(index)) {
          for (let k = 0; k < 2; k++) {
            const booker = `spiffe://test/booker-${seat}-${k}`;
            const store = stores[(seat + k) % 3] as PostgresStore;
            workers.push(
              (async () => {
                await start;
                while (Date.now() < stopAt) {
                  const outcome = await one(store, book(booker, [seat]));
                  if (outcome.ok) {
                    booked.set(seat, [...(booked.get(seat) ?? []), booker]);
                    return;
                  }
                  if (outcome.reason === "SEAT_ALREADY_BOOKED") return;
                  if (outcome.reason !== "SEAT_HELD") throw new Error(`unexpected booking outcome ${JSON.stringify(outcome)}`);
                }
              })(),
            );
          }
        }
      });
      await Promise.all(workers);

      const bookings = new Map((await (stores[2] as PostgresStore).bookings("main")).map((booking) => [booking.seat, booking.owner]));
      let confirmedHolds = 0;
      holders.forEach((holder, index) => {
        const confirms = confirmed.get(index) ?? 0;
        expect(confirms, `confirms of hold ${index}`).toBeLessThanOrEqual(1);
        for (const seat of seatsOf(index)) {
          const winners = booked.get(seat) ?? [];
          // Exactly one outcome per seat: confirmed for the holder, or booked by one other client.
          expect(confirms + winners.length, `outcomes of seat ${seat}`).toBe(1);
          expect(bookings.get(seat), `owner of seat ${seat}`).toBe(confirms === 1 ? holder : winners[0]);
        }
        confirmedHolds += confirms;
      });
      for (const store of stores) {
        for (const [index] of holders.entries()) {
          expect((await store.getHold(`race-${index}`))?.state).toBe(confirmed.get(index) === 1 ? "confirmed" : "expired");
        }
      }
      // Which side wins depends on timing; report it so a run that never races is visible.
      console.info(`expiry race: ${confirmedHolds} of ${HOLDS} holds confirmed, ${HOLDS - confirmedHolds} lapsed and booked by others`);
    },
    30_000,
  );
});
