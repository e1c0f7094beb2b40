import { describe, expect, it } from "vitest";
import { callCosts } from "../bench/cost-per-call.js";
import type { RunResult } from "../bench/report.js";

/** A result with only the fields the cost table reads. */
function result(target: RunResult["target"], serverMicros: number, callsPerSecond: number, postgresCpuPercent?: number): RunResult {
  return {
    scenario: "book-1",
    target,
    callsPerSecond,
    allocRatioToBaseline: target === "baseline" ? null : 2,
    server: { cpuMicrosPerCall: serverMicros, allocBytesPerCall: 2048 },
    ...(postgresCpuPercent === undefined ? {} : { postgres: { cpuPercent: postgresCpuPercent } }),
  } as unknown as RunResult;
}

describe("callCosts", () => {
  it("adds PostgreSQL's own CPU per call to the server's and divides by the baseline server's", () => {
    const costs = callCosts([result("baseline", 100, 5000), result("memory", 130, 4000), result("postgres", 200, 1000, 50)]);
    expect(costs.map((cost) => [cost.target, cost.postgresMicros, cost.totalMicros, cost.cpuRatio])).toEqual([
      ["baseline", null, 100, null],
      ["memory", null, 130, 1.3],
      // 50 % of a core over 1,000 calls/s is 500 µs per call.
      ["postgres", 500, 700, 7],
    ]);
    expect(costs[1]?.allocKilobytes).toBe(2);
  });

  it("gives no ratio without a baseline in the same scenario", () => {
    expect(callCosts([result("sqlite", 150, 3000)])[0]?.cpuRatio).toBeNull();
  });
});
