import { describe, expect, it } from "vitest";
import { TokenBuckets } from "../src/transport/token-buckets.js";

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

describe("TokenBuckets", () => {
  it("grants a burst at once, then refuses with the ms until the next token", () => {
    const clock = manualClock();
    const buckets = new TokenBuckets(2, 3, { now: clock.now });
    expect([buckets.take("a"), buckets.take("a"), buckets.take("a")]).toEqual([0, 0, 0]);
    // 2 per second: one token every 500 ms.
    expect(buckets.take("a")).toBe(500);
  });

  it("refills at the rate as the clock moves, up to the burst", () => {
    const clock = manualClock();
    const buckets = new TokenBuckets(10, 2, { now: clock.now });
    buckets.take("a");
    buckets.take("a");
    clock.advance(40);
    expect(buckets.take("a")).toBe(60);
    clock.advance(60);
    expect(buckets.take("a")).toBe(0);
    clock.advance(10_000);
    expect([buckets.take("a"), buckets.take("a"), buckets.take("a")]).toEqual([0, 0, 100]);
  });

  it("does not charge a refused call: waiting the advertised delay is enough", () => {
    const clock = manualClock();
    const buckets = new TokenBuckets(4, 1, { now: clock.now });
    expect(buckets.take("a")).toBe(0);
    const wait = buckets.take("a");
    expect(wait).toBe(250);
    expect(buckets.take("a")).toBe(250);
    clock.advance(wait);
    expect(buckets.take("a")).toBe(0);
  });

  it("keeps a separate bucket for each key", () => {
    const clock = manualClock();
    const buckets = new TokenBuckets(1, 1, { now: clock.now });
    expect(buckets.take("alice")).toBe(0);
    expect(buckets.take("alice")).toBe(1000);
    expect(buckets.take("bob")).toBe(0);
  });

  it("rounds a fractional wait up to whole ms", () => {
    const clock = manualClock();
    const buckets = new TokenBuckets(3, 1, { now: clock.now });
    buckets.take("a");
    expect(buckets.take("a")).toBe(334);
  });

  it("past maxKeys forgets only full buckets: a key still refilling keeps its debt", () => {
    const clock = manualClock();
    const buckets = new TokenBuckets(1, 1, { now: clock.now, maxKeys: 2 });
    buckets.take("drained");
    clock.advance(2000);
    buckets.take("refilling");
    // "drained" has refilled (full again) and is forgotten; "refilling" is not.
    buckets.take("third");
    expect(buckets.take("refilling")).toBe(1000);
    expect(buckets.take("drained")).toBe(0);
  });

  it.each([
    [0, 1],
    [-1, 1],
    [Number.NaN, 1],
    [1, 0],
    [1, 0.5],
  ])("refuses rate %d and burst %d with a TypeError", (rate, burst) => {
    expect(() => new TokenBuckets(rate, burst)).toThrow(TypeError);
  });
});
