import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { CommandOutcome, HoldCommand, SeatCommand, SeatStore, StoreCommand } from "../src/core/seat-store.js";
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
const who = (principal: string, requestId = "") => ({ principal, isAdmin: principal === admin, requestId });

const book = (principal: string, seats: number[], showId = "main"): SeatCommand => ({ kind: "book", showId, seats, ...who(principal) });
const cancel = (principal: string, seats: number[], showId = "main"): SeatCommand => ({ kind: "cancel", showId, seats, ...who(principal) });
let holds = 0;
const hold = (principal: string, seats: number[], options: { ttlMs?: number; requestId?: string; showId?: string; max?: number } = {}): HoldCommand => ({
  kind: "hold",
  showId: options.showId ?? "main",
  seats,
  holdId: `hold-${++holds}`,
  ttlMs: options.ttlMs ?? 60_000,
  maxHoldsPerPrincipal: options.max ?? 20,
  ...who(principal, options.requestId),
});
const confirm = (principal: string, holdId: string, requestId = ""): StoreCommand => ({ kind: "confirm", holdId, ...who(principal, requestId) });
const release = (principal: string, holdId: string): StoreCommand => ({ kind: "release", holdId, ...who(principal) });
const extend = (principal: string, holdId: string, ttlMs: number, maxLifetimeMs = 3_600_000): StoreCommand => ({
  kind: "extend",
  holdId,
  ttlMs,
  maxLifetimeMs,
  ...who(principal),
});
const reason = (outcome: CommandOutcome | undefined) => (outcome?.ok === false ? outcome.reason : "applied");

for (const harness of harnesses) {
  const suite = harness.name === "PostgresStore" && postgres === undefined ? describe.skip : describe;

  suite(`${harness.name}: shows and holds`, () => {
    /**
     * A store with show "main" (10 seats). Memory and SQLite decide expiry by
     * the injected clock; PostgreSQL by the database's, so the tests that
     * move time run only where time can be moved.
     */
    async function fresh() {
      const clock = { now: 1_700_000_000_000 };
      const location = await harness.location();
      const store = await location.open({ now: () => clock.now });
      opened.push(store);
      await store.ensureShows([{ id: "main", totalSeats: 10 }]);
      return { store, location, clock };
    }
    const movableClock = harness.name !== "PostgresStore";

    it("holds seats all or none, and a held seat is neither bookable nor holdable by anyone, the holder included", async () => {
      const { store } = await fresh();
      const [made] = await store.applyBatch([hold(alice, [2, 3])]);
      expect(made).toMatchObject({ ok: true, seats: [2, 3], hold: { showId: "main", seats: [2, 3], owner: alice, state: "active" } });
      const outcomes = await store.applyBatch([book(bob, [1, 2]), hold(bob, [3, 4]), book(alice, [3])]);
      expect(outcomes.map(reason)).toEqual(["SEAT_HELD", "SEAT_HELD", "SEAT_HELD"]);
      expect(outcomes[0]).toMatchObject({ seats: [2] });
      const delay = outcomes[0]?.ok === false ? outcomes[0].retryDelayMs : undefined;
      expect(delay).toBeGreaterThan(50_000);
      expect(delay).toBeLessThanOrEqual(60_000);
      const snapshot = await store.snapshot("main");
      expect(snapshot).toMatchObject({ bookedCount: 0, heldCount: 2, available: [1, 4, 5, 6, 7, 8, 9, 10] });
      expect(await store.getShow("main")).toMatchObject({ bookedCount: 0, heldCount: 2 });
      expect(await store.applyBatch([hold(bob, [3, 4, 5]), book(bob, [4])])).toMatchObject([{ ok: false, reason: "SEAT_HELD", seats: [3] }, { ok: true }]);
      expect(await store.applyBatch([hold(alice, [4, 5])])).toMatchObject([{ ok: false, reason: "SEAT_ALREADY_BOOKED", seats: [4] }]);
    });

    it("names the seats that break a second rule beside the reason's own, and replays the same refusal", async () => {
      const { store } = await fresh();
      await store.applyBatch([book(bob, [1, 2]), hold(bob, [3, 4]), book(alice, [6])]);
      const withIds = (command: SeatCommand, requestId: string): SeatCommand => ({ ...command, requestId });
      const refusals = await store.applyBatch([withIds(book(alice, [1, 2, 3, 4, 5]), "mixed-book"), withIds(cancel(alice, [1, 5, 6]), "mixed-cancel")]);
      expect(refusals).toEqual([
        { ok: false, reason: "SEAT_ALREADY_BOOKED", seats: [1, 2], replayed: false, alsoAtFault: { reason: "SEAT_HELD", seats: [3, 4] } },
        { ok: false, reason: "SEAT_NOT_BOOKED", seats: [5], replayed: false, alsoAtFault: { reason: "SEAT_NOT_OWNED", seats: [1] } },
      ]);
      expect(await store.snapshot("main")).toMatchObject({ bookedCount: 3, heldCount: 2, available: [5, 7, 8, 9, 10] });
      const replays = await store.applyBatch([withIds(book(alice, [1, 2, 3, 4, 5]), "mixed-book"), withIds(cancel(alice, [1, 5, 6]), "mixed-cancel")]);
      expect(replays).toEqual(refusals.map((refusal) => ({ ...refusal, replayed: true })));
      // An admin may cancel anyone's seat: only the unbooked one is at fault.
      expect(await store.applyBatch([cancel(admin, [1, 5])])).toEqual([{ ok: false, reason: "SEAT_NOT_BOOKED", seats: [5], replayed: false }]);
    });

    it("confirms a hold into bookings for its owner, exactly its seats, once", async () => {
      const { store } = await fresh();
      await store.applyBatch([hold(alice, [5, 6])]);
      const id = `hold-${holds}`;
      const outcomes = await store.applyBatch([confirm(bob, id), confirm(alice, id), confirm(alice, id), release(alice, id)]);
      expect(outcomes.map(reason)).toEqual(["HOLD_NOT_FOUND", "applied", "HOLD_CONFIRMED", "HOLD_CONFIRMED"]);
      expect(outcomes[1]).toMatchObject({ seats: [5, 6], hold: { holdId: id, state: "confirmed", owner: alice } });
      expect(await store.bookings("main")).toEqual([
        { seat: 5, owner: alice, requestId: "" },
        { seat: 6, owner: alice, requestId: "" },
      ]);
      expect(await store.getHold(id)).toMatchObject({ state: "confirmed" });
      expect(await store.snapshot("main")).toMatchObject({ bookedCount: 2, heldCount: 0 });
    });

    it("releases a hold (its owner or an admin) and frees its seats; others are told it does not exist", async () => {
      const { store } = await fresh();
      await store.applyBatch([hold(alice, [1]), hold(alice, [2])]);
      const [first, second] = [`hold-${holds - 1}`, `hold-${holds}`];
      const outcomes = await store.applyBatch([release(bob, first), release(alice, first), release(admin, second), confirm(alice, first), extend(alice, second, 1000)]);
      expect(outcomes.map(reason)).toEqual(["HOLD_NOT_FOUND", "applied", "applied", "HOLD_RELEASED", "HOLD_RELEASED"]);
      expect(await store.applyBatch([book(bob, [1, 2])])).toMatchObject([{ ok: true }]);
      expect(await store.applyBatch([confirm(alice, "no-such-hold")])).toMatchObject([{ ok: false, reason: "HOLD_NOT_FOUND" }]);
      expect(await store.getHold("no-such-hold")).toBeUndefined();
    });

    it.skipIf(!movableClock)("decides expiry when a request is decided: the instant of expiry is already too late", async () => {
      const { store, clock } = await fresh();
      const [made] = await store.applyBatch([hold(alice, [7], { ttlMs: 10_000 }), hold(alice, [8], { ttlMs: 10_000 })]);
      const [early, late] = [`hold-${holds - 1}`, `hold-${holds}`];
      expect(made).toMatchObject({ hold: { expiresAt: clock.now + 10_000 } });
      clock.now += 9_999;
      expect(await store.applyBatch([book(bob, [7]), confirm(alice, early)])).toMatchObject([{ ok: false, reason: "SEAT_HELD", retryDelayMs: 1 }, { ok: true }]);
      clock.now += 1;
      expect(await store.getHold(late)).toMatchObject({ state: "expired" });
      // A listing shows the latest version: the lapse is a change once recorded.
      expect(await store.snapshot("main")).toMatchObject({ heldCount: 1, held: [8], bookedCount: 1 });
      expect(await store.lapsedHoldShows()).toEqual(["main"]);
      const before = (await store.snapshot("main"))?.version ?? 0;
      expect(await store.applyBatch([{ kind: "expire-holds", showId: "main", ...who("server") }])).toEqual([{ ok: true, seats: [], replayed: false, endedHolds: 1 }]);
      expect(await store.changesSince("main", before, 10)).toMatchObject({ kind: "changes", changes: [{ version: before + 1, kind: "hold-ended", seats: [8] }] });
      expect(await store.snapshot("main")).toMatchObject({ heldCount: 0, held: [], bookedCount: 1 });
      expect(await store.lapsedHoldShows()).toEqual([]);
      expect(await store.applyBatch([confirm(alice, late), extend(alice, late, 5_000)])).toMatchObject([
        { ok: false, reason: "HOLD_EXPIRED", seats: [8] },
        { ok: false, reason: "HOLD_EXPIRED" },
      ]);
      expect(await store.applyBatch([book(bob, [8]), confirm(alice, late)])).toMatchObject([{ ok: true }, { ok: false, reason: "HOLD_EXPIRED" }]);
      expect((await store.bookings("main")).map((booking) => [booking.seat, booking.owner])).toEqual([[7, alice], [8, bob]]);
    });

    it.skipIf(!movableClock)("extends a live hold to now + ttl, never past creation + the maximum lifetime", async () => {
      const { store, clock } = await fresh();
      const created = clock.now;
      await store.applyBatch([hold(alice, [4], { ttlMs: 10_000 })]);
      const id = `hold-${holds}`;
      clock.now += 5_000;
      expect(await store.applyBatch([extend(alice, id, 20_000, 60_000)])).toMatchObject([{ ok: true, hold: { expiresAt: clock.now + 20_000 } }]);
      clock.now += 20_000 - 1;
      expect(await store.applyBatch([extend(alice, id, 50_000, 60_000), extend(bob, id, 1_000)])).toMatchObject([
        { ok: true, hold: { expiresAt: created + 60_000 } },
        { ok: false, reason: "HOLD_NOT_FOUND" },
      ]);
      clock.now = created + 60_000 - 1;
      expect(await store.applyBatch([book(bob, [4])])).toMatchObject([{ ok: false, reason: "SEAT_HELD", retryDelayMs: 1 }]);
      clock.now = created + 60_000;
      expect(await store.applyBatch([book(bob, [4])])).toMatchObject([{ ok: true }]);
    });

    it.skipIf(!movableClock)("limits live holds per principal; expired, confirmed and released ones do not count", async () => {
      const { store, clock } = await fresh();
      const outcomes = await store.applyBatch([
        hold(alice, [1], { max: 2, ttlMs: 1_000 }),
        hold(alice, [2], { max: 2 }),
        hold(alice, [3], { max: 2 }),
        hold(bob, [3], { max: 2 }),
      ]);
      expect(outcomes.map(reason)).toEqual(["applied", "applied", "TOO_MANY_HOLDS", "applied"]);
      expect((await store.snapshot("main"))?.available).toEqual([4, 5, 6, 7, 8, 9, 10]);
      clock.now += 1_000;
      expect(await store.applyBatch([hold(alice, [5], { max: 2 })])).toMatchObject([{ ok: true }]);
    });

    it("replays a hold's request id with the same hold instead of making a second", async () => {
      const { store } = await fresh();
      const [first] = await store.applyBatch([hold(alice, [9], { requestId: "h-1" })]);
      const [again] = await store.applyBatch([hold(alice, [9], { requestId: "h-1" })]);
      expect(again).toEqual({ ...first, replayed: true });
      expect(await store.applyBatch([hold(alice, [10], { requestId: "h-1" })])).toMatchObject([{ ok: false, reason: "REQUEST_ID_REUSED" }]);
      const id = first?.ok ? first.hold?.holdId ?? "" : "";
      const [confirmed] = await store.applyBatch([confirm(alice, id, "c-1")]);
      await store.applyBatch([cancel(alice, [9])]);
      expect(await store.applyBatch([confirm(alice, id, "c-1")])).toEqual([{ ...confirmed, replayed: true }]);
      expect(await store.bookings("main")).toEqual([]);
    });

    it("creates, lists, closes and resizes shows; a closed show sells nothing but still cancels", async () => {
      const { store } = await fresh();
      const create = (showId: string, totalSeats: number, displayName = ""): StoreCommand => ({ kind: "create-show", showId, totalSeats, displayName, ...who(admin) });
      const created = await store.applyBatch([create("gala", 5, "Gala night"), create("gala", 7), create("after", 3)]);
      expect(created.map(reason)).toEqual(["applied", "SHOW_EXISTS", "applied"]);
      expect(created[0]).toMatchObject({ show: { id: "gala", displayName: "Gala night", totalSeats: 5, state: "open", bookedCount: 0, heldCount: 0 } });
      expect((await store.listShows("", 10)).map((show) => show.id)).toEqual(["after", "gala", "main"]);
      expect((await store.listShows("after", 1)).map((show) => show.id)).toEqual(["gala"]);
      expect(await store.getShow("gala")).toMatchObject({ totalSeats: 5, displayName: "Gala night" });
      await store.applyBatch([book(alice, [1], "gala"), hold(bob, [4], { showId: "gala" })]);
      const resize = (totalSeats: number): StoreCommand => ({ kind: "resize-show", showId: "gala", totalSeats, ...who(admin) });
      expect(await store.applyBatch([resize(3), resize(8)])).toMatchObject([
        { ok: false, reason: "SHOW_SHRINK_BLOCKED", seats: [4] },
        { ok: true, show: { totalSeats: 8 } },
      ]);
      expect(await store.applyBatch([book(alice, [6, 8], "gala"), book(alice, [9], "gala")])).toMatchObject([
        { ok: true },
        { ok: false, reason: "SEATS_OUT_OF_RANGE", seats: [9], totalSeats: 8 },
      ]);
      await store.applyBatch([release(bob, `hold-${holds}`), cancel(alice, [8], "gala")]);
      expect(await store.applyBatch([resize(6)])).toMatchObject([{ ok: true, show: { totalSeats: 6, bookedCount: 2 } }]);
      expect((await store.snapshot("gala"))?.available).toEqual([2, 3, 4, 5]);
      const close: StoreCommand = { kind: "close-show", showId: "gala", ...who(admin) };
      expect(await store.applyBatch([hold(bob, [2], { showId: "gala" }), close])).toMatchObject([{ ok: true }, { ok: true, show: { state: "closed" } }]);
      expect(
        (await store.applyBatch([book(bob, [3], "gala"), hold(bob, [3], { showId: "gala" }), confirm(bob, `hold-${holds - 1}`), cancel(alice, [6], "gala")])).map(reason),
      ).toEqual(["SHOW_CLOSED", "SHOW_CLOSED", "SHOW_CLOSED", "applied"]);
      expect(await store.applyBatch([book(bob, [1], "nowhere"), { kind: "close-show", showId: "nowhere", ...who(admin) }])).toMatchObject([
        { ok: false, reason: "SHOW_NOT_FOUND" },
        { ok: false, reason: "SHOW_NOT_FOUND" },
      ]);
      expect(await store.getShow("nowhere")).toBeUndefined();
    });

    it.skipIf(!harness.durable)("keeps shows, holds and confirmations when closed and reopened", async () => {
      const { store, location, clock } = await fresh();
      await store.applyBatch([
        { kind: "create-show", showId: "late", totalSeats: 4, displayName: "Late", ...who(admin) },
        hold(alice, [1, 2], { showId: "late" }),
        hold(bob, [3], { showId: "late" }),
      ]);
      const [confirmedId, liveId] = [`hold-${holds - 1}`, `hold-${holds}`];
      await store.applyBatch([confirm(alice, confirmedId)]);
      await store.close();
      const reopened = await location.open({ now: () => clock.now });
      opened.push(reopened);
      expect(await reopened.getShow("late")).toMatchObject({ displayName: "Late", totalSeats: 4, bookedCount: 2, heldCount: 1 });
      expect(await reopened.getHold(confirmedId)).toMatchObject({ state: "confirmed", seats: [1, 2] });
      expect(await reopened.getHold(liveId)).toMatchObject({ state: "active", owner: bob });
      expect(await reopened.applyBatch([book(alice, [3], "late")])).toMatchObject([{ ok: false, reason: "SEAT_HELD" }]);
    });
  });
}
