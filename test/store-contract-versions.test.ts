import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { SeatStore, StoreCommand } from "../src/core/seat-store.js";
import { openStoreHarnesses } from "./support/store-harnesses.js";

const { harnesses, postgres, cleanup } = await openStoreHarnesses();
const opened: SeatStore[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});
afterAll(cleanup);

const alice = "spiffe://test/alice";
const admin = "spiffe://test/admin";
const who = (principal: string) => ({ principal, isAdmin: principal === admin, requestId: "" });
const book = (seats: number[], showId = "main"): StoreCommand => ({ kind: "book", showId, seats, ...who(alice) });
const cancel = (seats: number[]): StoreCommand => ({ kind: "cancel", showId: "main", seats, ...who(alice) });
let holds = 0;
const hold = (seats: number[], ttlMs = 60_000): StoreCommand => ({
  kind: "hold",
  showId: "main",
  seats,
  holdId: `v-hold-${++holds}`,
  ttlMs,
  maxHoldsPerPrincipal: 20,
  ...who(alice),
});

for (const harness of harnesses) {
  const suite = harness.name === "PostgresStore" && postgres === undefined ? describe.skip : describe;

  suite(`${harness.name}: versions and the change log`, () => {
    async function fresh() {
      const clock = { now: 1_750_000_000_000 };
      const location = await harness.location();
      const store = await location.open({ now: () => clock.now });
      opened.push(store);
      await store.ensureShows([{ id: "main", totalSeats: 10 }]);
      return { store, location, clock };
    }

    it("numbers every change of a show from 1 with no gaps, in the order applied; refusals and extends take none", async () => {
      const { store } = await fresh();
      expect((await store.snapshot("main"))?.version).toBe(0);
      await store.applyBatch([book([1, 2]), book([2]), cancel([1]), hold([5, 6])]);
      const holdId = `v-hold-${holds}`;
      await store.applyBatch([{ kind: "extend", holdId, ttlMs: 30_000, maxLifetimeMs: 3_600_000, ...who(alice) }]);
      await store.applyBatch([{ kind: "confirm", holdId, ...who(alice) }, hold([7]), { kind: "release", holdId: `v-hold-${holds}`, ...who(alice) }]);
      const read = await store.changesSince("main", 0, 100);
      expect(read.kind).toBe("changes");
      const changes = read.kind === "changes" ? read.changes : [];
      expect(changes.map(({ version, kind, seats }) => ({ version, kind, seats }))).toEqual([
        { version: 1, kind: "booked", seats: [1, 2] },
        { version: 2, kind: "released", seats: [1] },
        { version: 3, kind: "held", seats: [5, 6] },
        { version: 4, kind: "booked", seats: [5, 6] },
        { version: 5, kind: "held", seats: [7] },
        { version: 6, kind: "hold-ended", seats: [7] },
      ]);
      expect((await store.snapshot("main"))?.version).toBe(6);
      expect(await store.changesSince("main", 4, 1)).toMatchObject({ kind: "changes", changes: [{ version: 5 }] });
      expect(await store.changesSince("main", 6, 10)).toEqual({ kind: "changes", changes: [] });
      // A version the show never reached (the client watched a store since reset) starts again too.
      expect(await store.changesSince("main", 9, 10)).toMatchObject({ kind: "too-old" });
      expect(await store.changesSince("nowhere", 0, 10)).toEqual({ kind: "unknown-show" });
    });

    it("records resizes and closes as versions, and a snapshot matches its version", async () => {
      const { store } = await fresh();
      const resize: StoreCommand = { kind: "resize-show", showId: "main", totalSeats: 12, ...who(admin) };
      const close: StoreCommand = { kind: "close-show", showId: "main", ...who(admin) };
      await store.applyBatch([book([3]), resize, hold([11]), close]);
      const read = await store.changesSince("main", 0, 100);
      expect(read.kind === "changes" && read.changes.map(({ kind, totalSeats }) => [kind, totalSeats ?? null])).toEqual([
        ["booked", null],
        ["resized", 12],
        ["held", null],
        ["closed", null],
      ]);
      expect(await store.snapshot("main")).toMatchObject({ version: 4, totalSeats: 12, state: "closed", held: [11], heldCount: 1, bookedCount: 1 });
    });

    it("tells commit listeners the show and its latest version", async () => {
      const { store } = await fresh();
      const heard: [string, number][] = [];
      const stop = store.onCommit((showId, version) => heard.push([showId, version]));
      await store.applyBatch([book([1]), book([2])]);
      // Notifications may come later (PostgreSQL) and coalesced; wait until the latest arrives.
      for (let waited = 0; !heard.some(([, version]) => version === 2) && waited < 5_000; waited += 20) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      stop();
      expect(heard.at(-1)).toEqual(["main", 2]);
    });

    it.skipIf(harness.name === "PostgresStore")("records a lapsed hold's end before the booking that takes its seats", async () => {
      const { store, clock } = await fresh();
      await store.applyBatch([hold([4, 5], 1_000)]);
      clock.now += 1_000;
      await store.applyBatch([book([4])]);
      const read = await store.changesSince("main", 1, 10);
      expect(read.kind === "changes" && read.changes.map(({ version, kind, seats }) => [version, kind, seats])).toEqual([
        [2, "hold-ended", [4, 5]],
        [3, "booked", [4]],
      ]);
      expect(await store.snapshot("main")).toMatchObject({ held: [], bookedCount: 1, available: [1, 2, 3, 5, 6, 7, 8, 9, 10] });
    });

    it("answers too-old once the change log no longer reaches back, keeping the newest versions", async () => {
      const location = await harness.location();
      const store = await location.open({ changeLog: { maxVersions: 3, maxAgeMs: 3_600_000 } });
      opened.push(store);
      await store.ensureShows([{ id: "main", totalSeats: 10 }]);
      for (let seat = 1; seat <= 6; seat++) await store.applyBatch([book([seat])]);
      expect(await store.changesSince("main", 3, 10)).toMatchObject({ kind: "changes", changes: [{ version: 4 }, { version: 5 }, { version: 6 }] });
      expect(await store.changesSince("main", 2, 10)).toEqual({ kind: "too-old", oldestVersion: 4 });
    });

    it.skipIf(!harness.durable)("keeps versions and the change log across close and reopen", async () => {
      const { store, location, clock } = await fresh();
      await store.applyBatch([book([1]), book([2])]);
      await store.close();
      const reopened = await location.open({ now: () => clock.now });
      opened.push(reopened);
      await reopened.applyBatch([book([3])]);
      const read = await reopened.changesSince("main", 0, 10);
      expect(read.kind === "changes" && read.changes.map((change) => change.version)).toEqual([1, 2, 3]);
    });
  });
}
