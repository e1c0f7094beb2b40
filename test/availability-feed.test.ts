import { describe, expect, it } from "vitest";
import type { WatchEvent, Watcher } from "../src/core/availability-feed.js";
import { BookingCore } from "../src/core/booking-core.js";
import type { ShowChange } from "../src/core/show-changes.js";
import { MemoryStore } from "../src/stores/memory-store.js";

const alice = { principal: "spiffe://test/alice" };
const admin = { principal: "spiffe://test/admin" };

async function openCore(options: { maxBacklog?: number; maxVersions?: number } = {}) {
  const clock = { now: 1_900_000_000_000 };
  const store = new MemoryStore({ now: () => clock.now, changeLog: { maxVersions: options.maxVersions ?? 10_000, maxAgeMs: 3_600_000 } });
  const core = await BookingCore.open({
    store,
    shows: [{ id: "main", totalSeats: 10 }],
    admins: [admin.principal],
    feed: { maxBacklog: options.maxBacklog ?? 1000 },
  });
  return { core, clock, store };
}

/** Takes events until `enough` says stop (bounded: a watch that stalls fails the test by its timeout). */
async function take(watcher: Watcher, enough: (events: WatchEvent[]) => boolean): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  while (!enough(events)) {
    const next = await watcher.next();
    if (next.done === true) break;
    events.push(next.value);
  }
  return events;
}

const changesOf = (events: WatchEvent[]): ShowChange[] => events.flatMap((event) => (event.kind === "changes" ? event.changes : []));

/** Applies changes to free/held sets, as a client rebuilding the seat map does. */
function replay(start: { free: number[]; held: number[]; total: number }, changes: readonly ShowChange[]) {
  const free = new Set(start.free);
  const held = new Set(start.held);
  let total = start.total;
  for (const change of changes) {
    for (const seat of change.seats) {
      if (change.kind === "booked") (free.delete(seat), held.delete(seat));
      else if (change.kind === "held") (free.delete(seat), held.add(seat));
      else if (change.kind === "released" || change.kind === "hold-ended") (held.delete(seat), free.add(seat));
    }
    if (change.kind === "resized" && change.totalSeats !== undefined) {
      for (let seat = total + 1; seat <= change.totalSeats; seat++) free.add(seat);
      for (let seat = change.totalSeats + 1; seat <= total; seat++) free.delete(seat);
      total = change.totalSeats;
    }
  }
  return { free: [...free].sort((a, b) => a - b), held: [...held].sort((a, b) => a - b), total };
}

describe("AvailabilityFeed", () => {
  it("starts from a snapshot and then delivers every change in version order; replaying them gives the listing", async () => {
    const { core } = await openCore();
    await core.book({ showId: "", seats: [1], requestId: "" }, alice);
    const watcher = await core.watch("");
    const [first] = await take(watcher, (events) => events.length >= 1);
    expect(first).toMatchObject({ kind: "snapshot", resumeTooOld: false, snapshot: { version: 1, bookedCount: 1 } });
    const { hold } = await core.hold({ showId: "", seats: [3, 4], requestId: "" }, alice);
    await core.cancel({ showId: "", seats: [1], requestId: "" }, alice);
    await core.confirmHold({ holdId: hold.holdId, requestId: "" }, alice);
    await core.resizeShow({ showId: "main", totalSeats: 12, requestId: "" }, admin);
    const events = await take(watcher, (seen) => changesOf(seen).length >= 4);
    const changes = changesOf(events);
    expect(changes.map((change) => [change.version, change.kind])).toEqual([
      [2, "held"],
      [3, "released"],
      [4, "booked"],
      [5, "resized"],
    ]);
    const snapshot = first?.kind === "snapshot" ? first.snapshot : undefined;
    const rebuilt = replay({ free: [...(snapshot?.available ?? [])], held: [...(snapshot?.held ?? [])], total: snapshot?.totalSeats ?? 0 }, changes);
    const listing = await core.available("main");
    expect(listing.version).toBe(5);
    expect(rebuilt).toEqual({ free: listing.available, held: listing.held, total: listing.totalSeats });
    watcher.close();
    expect(core.watchers).toBe(0);
  });

  it("resumes after a version with the changes since, and says so when the log no longer reaches back", async () => {
    const { core } = await openCore({ maxVersions: 2 });
    for (const seat of [1, 2, 3]) await core.book({ showId: "", seats: [seat], requestId: "" }, alice);
    const resumed = await core.watch("main", 1);
    expect(await take(resumed, (events) => events.length >= 1)).toEqual([
      { kind: "changes", showId: "main", changes: [expect.objectContaining({ version: 2 }), expect.objectContaining({ version: 3 })] },
    ]);
    resumed.close();
    const tooOld = await core.watch("main", 0);
    expect(await take(tooOld, (events) => events.length >= 1)).toMatchObject([{ kind: "snapshot", resumeTooOld: true, snapshot: { version: 3 } }]);
    tooOld.close();
  });

  it("ends a watcher that stops reading with SLOW_CONSUMER instead of buffering without bound", async () => {
    const { core } = await openCore({ maxBacklog: 5 });
    const slow = await core.watch("main");
    for (let seat = 1; seat <= 8; seat++) await core.book({ showId: "", seats: [seat], requestId: "" }, alice);
    await new Promise((resolve) => setImmediate(resolve));
    expect(slow.ended).toBe(true);
    await expect(take(slow, () => false)).rejects.toMatchObject({ reason: "SLOW_CONSUMER" });
    expect(core.watchers).toBe(0);
  });

  it("turns a lapsed hold into a versioned change when the sweeper runs, by the store's clock", async () => {
    const { core, clock } = await openCore();
    await core.hold({ showId: "", seats: [6, 7], requestId: "", ttlMs: 5_000 }, alice);
    const watcher = await core.watch("main");
    await take(watcher, (events) => events.length >= 1);
    expect(await core.expireLapsedHolds()).toBe(0);
    clock.now += 5_000;
    expect((await core.available("main")).held).toEqual([6, 7]);
    expect(await core.expireLapsedHolds()).toBe(1);
    const changes = changesOf(await take(watcher, (events) => changesOf(events).length >= 1));
    expect(changes).toMatchObject([{ version: 2, kind: "hold-ended", seats: [6, 7] }]);
    expect((await core.available("main")).held).toEqual([]);
    expect(await core.unchangedSince("main", 2)).toBe(true);
    expect(await core.unchangedSince("main", 1)).toBe(false);
    watcher.close();
  });

  it("refuses an unknown show with SHOW_NOT_FOUND", async () => {
    const { core } = await openCore();
    await expect(core.watch("nowhere")).rejects.toMatchObject({ reason: "SHOW_NOT_FOUND" });
    await expect(core.watch("nowhere", 3)).rejects.toMatchObject({ reason: "SHOW_NOT_FOUND" });
    expect(core.watchers).toBe(0);
  });
});
