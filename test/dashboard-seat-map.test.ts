import { describe, expect, it } from "vitest";
import { SeatMap } from "../dashboard/seat-map.js";
import type { ChangesData, SnapshotData } from "../dashboard/wire.js";
import { BookingCore } from "../src/core/booking-core.js";
import type { Watcher } from "../src/core/availability-feed.js";
import { eventFrame } from "../src/dashboard/dashboard-events.js";
import { MemoryStore } from "../src/stores/memory-store.js";

const alice = { principal: "spiffe://test/alice" };
const admin = { principal: "spiffe://test/admin" };

/** The next event as the page gets it: through the server's frame and JSON. */
async function nextFrame(watcher: Watcher): Promise<{ event: string; data: unknown }> {
  const next = await watcher.next();
  if (next.done === true) throw new Error("the watch ended");
  const frame = eventFrame(next.value);
  const event = /^event: (\w+)$/m.exec(frame)?.[1] ?? "";
  const data = /^data: (.*)$/m.exec(frame)?.[1] ?? "null";
  return { event, data: JSON.parse(data) as unknown };
}

function seatsOf(map: SeatMap) {
  const seats = Array.from({ length: map.totalSeats }, (_, index) => index + 1);
  return { free: seats.filter((seat) => map.seat(seat) === "free"), held: seats.filter((seat) => map.seat(seat) === "held") };
}

describe("SeatMap (the page's model of a show)", () => {
  it("applied to a snapshot and the changes after it, matches the core's listing at every version", async () => {
    const core = await BookingCore.open({ store: new MemoryStore(), shows: [{ id: "main", totalSeats: 12 }], admins: [admin.principal] });
    await core.book({ showId: "main", seats: [1, 2], requestId: "" }, alice);
    const watcher = await core.watch("main");
    const map = new SeatMap("main");
    const first = await nextFrame(watcher);
    expect(first.event).toBe("snapshot");
    map.reset(first.data as SnapshotData);

    const steps: (() => Promise<unknown>)[] = [
      () => core.book({ showId: "main", seats: [5, 6, 7], requestId: "" }, alice),
      () => core.hold({ showId: "main", seats: [3, 4], requestId: "" }, alice),
      () => core.cancel({ showId: "main", seats: [6], requestId: "" }, alice),
      () => core.resizeShow({ showId: "main", totalSeats: 20, requestId: "" }, admin),
      () => core.book({ showId: "main", seats: [19, 20], requestId: "" }, alice),
      () => core.resizeShow({ showId: "main", totalSeats: 20, requestId: "r-same" }, admin),
      () => core.closeShow({ showId: "main", requestId: "" }, admin),
    ];
    for (const step of steps) {
      const before = map.version;
      await step();
      const listing = await core.available("main");
      while (map.version < listing.version) {
        const frame = await nextFrame(watcher);
        expect(frame.event).toBe("changes");
        for (const change of (frame.data as ChangesData).changes) map.apply(change);
      }
      expect(map.version).toBeGreaterThanOrEqual(before);
      expect(seatsOf(map)).toEqual({ free: listing.available, held: listing.held });
      expect({ total: map.totalSeats, booked: map.bookedCount, held: map.heldCount, state: map.state }).toEqual({
        total: listing.totalSeats,
        booked: listing.bookedCount,
        held: listing.heldCount,
        state: listing.state,
      });
    }
    watcher.close();
    await core.close();
  });

  it("ignores a change it has already applied, and says which seats changed", () => {
    const map = new SeatMap("main");
    map.reset({ showId: "main", version: 4, totalSeats: 5, state: "open", bookedCount: 0, heldCount: 0, free: [[1, 5]], held: [], resumeTooOld: false });
    expect(map.apply({ version: 5, kind: "held", seats: [2, 3], at: 0 })).toEqual([2, 3]);
    expect(map.apply({ version: 5, kind: "booked", seats: [2], at: 0 })).toEqual([]);
    expect(map.apply({ version: 6, kind: "booked", seats: [2, 3, 4], at: 0 })).toEqual([2, 3, 4]);
    expect([map.freeCount, map.heldCount, map.bookedCount, map.seat(6)]).toEqual([2, 0, 3, undefined]);
  });
});
