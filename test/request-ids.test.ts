import { describe, expect, it } from "vitest";
import { newRequestId } from "../client/request-ids.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The milliseconds a version 7 UUID carries in its first 48 bits. */
function timeOf(id: string): number {
  return Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16);
}

describe("newRequestId", () => {
  it("makes version 7 UUIDs (RFC 9562) that carry the time they were made", () => {
    for (const now of [0, 1, 1_767_225_600_123, 2 ** 48 - 1]) {
      const id = newRequestId(now);
      expect(id).toMatch(UUID_V7);
      expect(timeOf(id)).toBe(now);
    }
  });

  it("sorts ids made in later milliseconds after earlier ones, as text", () => {
    const start = 1_767_225_600_000;
    const ids = Array.from({ length: 1_000 }, (_, index) => newRequestId(start + index * 7));
    expect([...ids].sort()).toEqual(ids);
  });

  it("makes distinct ids within one millisecond", () => {
    const ids = Array.from({ length: 10_000 }, () => newRequestId(1_767_225_600_000));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
