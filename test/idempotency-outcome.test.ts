import { describe, expect, it } from "vitest";
import { decodeReplayedOutcome, encodeOutcome } from "../src/core/idempotency.js";
import type { CommandOutcome } from "../src/core/seat-store.js";

/** What encodeOutcome stored before its fast path: the outcome without `replayed`, through JSON.stringify. */
function stringified(outcome: CommandOutcome): string {
  const { replayed: _replayed, ...stored } = outcome;
  return JSON.stringify(stored);
}

describe("encodeOutcome", () => {
  it("stores exactly what JSON.stringify stores, for plain seat outcomes and for every other shape", () => {
    const outcomes: CommandOutcome[] = [
      { ok: true, seats: [7], replayed: false },
      { ok: true, seats: [1, 2, 30000], replayed: true },
      { ok: true, seats: [], replayed: false },
      { ok: false, reason: "SEAT_ALREADY_BOOKED", seats: [4], replayed: false },
      { ok: true, seats: [3], replayed: false, endedHolds: 2 },
    ];
    for (const outcome of outcomes) {
      expect(encodeOutcome(outcome)).toBe(stringified(outcome));
      expect(decodeReplayedOutcome(encodeOutcome(outcome))).toEqual(JSON.parse(JSON.stringify({ ...outcome, replayed: true })));
    }
  });
});
