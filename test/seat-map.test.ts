import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  AvailabilityForm,
  changeFromWire,
  isSeatMapError,
  SeatChangeKind,
  SeatMap,
  ShowState,
  snapshotFromWire,
  UnknownWatchValueError,
  type SeatMapError,
  type WatchChange,
  type WatchSnapshot,
} from "../client/index.js";
import { AvailabilitySnapshotSchema, SeatChangeSchema } from "../gen/booking/v1/booking_pb.js";

/** A 10-seat show at v5: 1-2 booked, 3 held, the rest free. */
const snapshot: WatchSnapshot = {
  showId: "main",
  version: 5n,
  totalSeats: 10,
  state: "open",
  bookedCount: 2,
  heldCount: 1,
  freeRanges: [{ first: 4, last: 10 }],
  heldSeats: [3],
};

function change(version: bigint, kind: WatchChange["kind"], seats: number[] = [], totalSeats?: number): WatchChange {
  return { version, kind, seats, ...(totalSeats === undefined ? {} : { totalSeats }), commitTime: undefined };
}

function refusal(run: () => void): SeatMapError {
  try {
    run();
  } catch (error) {
    if (isSeatMapError(error)) return error;
    throw error;
  }
  throw new Error("expected a SeatMapError");
}

describe("SeatMap", () => {
  it("reads a snapshot into per-seat statuses and counts", () => {
    const map = SeatMap.fromSnapshot(snapshot);
    expect(map).toMatchObject({ showId: "main", version: 5n, totalSeats: 10, state: "open", freeCount: 7, heldCount: 1, bookedCount: 2 });
    expect([1, 2, 3, 4, 10].map((seat) => map.statusOf(seat))).toEqual(["booked", "booked", "held", "free", "free"]);
    expect(map.statusOf(0)).toBeUndefined();
    expect(map.statusOf(11)).toBeUndefined();
    expect(map.freeSeats()).toEqual([4, 5, 6, 7, 8, 9, 10]);
    expect(map.freeRanges()).toEqual([{ first: 4, last: 10 }]);
    expect(map.seatsWith("booked")).toEqual([1, 2]);
  });

  it("applies bookings, holds, their ends, cancels, a confirmation and a close in version order", () => {
    const map = SeatMap.fromSnapshot(snapshot);
    map.applyChanges([change(6n, "held", [7, 8, 9]), change(7n, "booked", [4, 5])]);
    map.applyChanges([change(8n, "hold-ended", [7, 8, 9])]);
    // A confirmed hold is one "booked" change of its held seats.
    map.applyChanges([change(9n, "booked", [3]), change(10n, "released", [1]), change(11n, "closed")]);
    expect(map).toMatchObject({ version: 11n, state: "closed", freeCount: 6, heldCount: 0, bookedCount: 4 });
    expect(map.seatsWith("booked")).toEqual([2, 3, 4, 5]);
    expect(map.freeRanges()).toEqual([
      { first: 1, last: 1 },
      { first: 6, last: 10 },
    ]);
  });

  it("grows a show with free seats and shrinks it by free seats", () => {
    const map = SeatMap.fromSnapshot(snapshot);
    map.applyChanges([change(6n, "resized", [], 14), change(7n, "booked", [14])]);
    expect(map).toMatchObject({ totalSeats: 14, freeCount: 10, bookedCount: 3 });
    map.applyChanges([change(8n, "released", [14]), change(9n, "resized", [], 4)]);
    expect(map).toMatchObject({ totalSeats: 4, freeCount: 1, heldCount: 1, bookedCount: 2 });
    expect(map.statusOf(5)).toBeUndefined();
    expect(map.freeSeats()).toEqual([4]);
  });

  it("refuses changes that skip a version, and applies none of the batch", () => {
    const map = SeatMap.fromSnapshot(snapshot);
    const gap = refusal(() => map.applyChanges([change(7n, "booked", [4])]));
    expect(gap).toMatchObject({ reason: "VERSION_GAP", expectedVersion: 6n, receivedVersion: 7n });
    const inside = refusal(() => map.applyChanges([change(6n, "booked", [4]), change(8n, "booked", [5])]));
    expect(inside.reason).toBe("VERSION_GAP");
    expect(map.version).toBe(5n);
    expect(map.statusOf(4)).toBe("free");
  });

  it("refuses changes already applied, and seats outside the show", () => {
    const map = SeatMap.fromSnapshot(snapshot);
    expect(refusal(() => map.applyChanges([change(5n, "booked", [4])])).reason).toBe("STALE_VERSION");
    expect(refusal(() => map.applyChanges([change(6n, "booked", [11])])).reason).toBe("SEAT_OUT_OF_RANGE");
    // A seat beyond the old total is fine after a resize in the same batch.
    map.applyChanges([change(6n, "resized", [], 12), change(7n, "held", [12])]);
    expect(map.statusOf(12)).toBe("held");
  });

  it("replaces everything with a fresh snapshot of the same show, and refuses another show's", () => {
    const map = SeatMap.fromSnapshot(snapshot);
    map.applySnapshot({ ...snapshot, version: 40n, totalSeats: 3, bookedCount: 0, heldCount: 0, freeRanges: [{ first: 1, last: 3 }], heldSeats: [] });
    expect(map).toMatchObject({ version: 40n, totalSeats: 3, freeCount: 3 });
    expect(refusal(() => map.apply({ ...snapshot, showId: "other" })).reason).toBe("SHOW_MISMATCH");
  });

  it("refuses a snapshot whose counts disagree with its seats", () => {
    expect(refusal(() => SeatMap.fromSnapshot({ ...snapshot, bookedCount: 3 })).reason).toBe("INCONSISTENT_SNAPSHOT");
    expect(refusal(() => SeatMap.fromSnapshot({ ...snapshot, heldSeats: [4], heldCount: 1 })).reason).toBe("INCONSISTENT_SNAPSHOT");
  });

  it("handles a 1,000,000-seat show (one byte a seat)", () => {
    const big = SeatMap.fromSnapshot({ ...snapshot, totalSeats: 1_000_000, bookedCount: 0, heldCount: 0, freeRanges: [{ first: 1, last: 1_000_000 }], heldSeats: [] });
    big.applyChanges([change(6n, "booked", [999_999, 1_000_000])]);
    expect(big.freeCount).toBe(999_998);
    expect(big.freeRanges()).toEqual([{ first: 1, last: 999_998 }]);
  });
});

describe("snapshotFromWire and changeFromWire", () => {
  const wire = (fields: Parameters<typeof create<typeof AvailabilitySnapshotSchema>>[1]) =>
    create(AvailabilitySnapshotSchema, { showId: "main", version: 5n, totalSeats: 10, bookedCount: 2, heldCount: 1, heldSeats: [3], state: ShowState.OPEN, ...fields });

  it("reads free seats from the list, the ranges or both, as one set of runs", () => {
    const list = snapshotFromWire(wire({ freeSeats: [4, 5, 6, 7, 8, 9, 10] }));
    const ranges = snapshotFromWire(wire({ freeRanges: [{ first: 4, last: 10 }] }));
    const both = snapshotFromWire(wire({ freeSeats: [4, 5, 6, 7, 8, 9, 10], freeRanges: [{ first: 4, last: 10 }] }));
    for (const read of [list, ranges, both]) {
      expect(read).toEqual({ ...snapshot, freeRanges: [{ first: 4, last: 10 }] });
    }
    expect(AvailabilityForm.RANGES).toBe(2);
  });

  it("names change kinds, keeps totalSeats for a resize only, and refuses kinds it does not know", () => {
    expect(changeFromWire(create(SeatChangeSchema, { version: 6n, kind: SeatChangeKind.HOLD_ENDED, seats: [7, 8] }))).toEqual({
      version: 6n,
      kind: "hold-ended",
      seats: [7, 8],
      commitTime: undefined,
    });
    expect(changeFromWire(create(SeatChangeSchema, { version: 7n, kind: SeatChangeKind.RESIZED, totalSeats: 20 }))).toMatchObject({
      kind: "resized",
      totalSeats: 20,
    });
    const at = changeFromWire(create(SeatChangeSchema, { version: 8n, kind: SeatChangeKind.CLOSED, commitTime: { seconds: 1_700_000_000n, nanos: 0 } }));
    expect(at.commitTime?.toISOString()).toBe("2023-11-14T22:13:20.000Z");
    expect(() => changeFromWire(create(SeatChangeSchema, { version: 9n, kind: 42 as SeatChangeKind }))).toThrow(UnknownWatchValueError);
  });
});
