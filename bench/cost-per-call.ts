import type { RunResult } from "./report.js";
import { alignedTable, markdownTableOf } from "./text-table.js";

/** What one call cost a target, and the ratios to the baseline's in the same scenario. */
export interface CallCost {
  readonly scenario: string;
  readonly target: string;
  /** Server process CPU per call, µs. */
  readonly serverMicros: number | null;
  /** PostgreSQL's own CPU per call (all its processes), µs; null for other targets. */
  readonly postgresMicros: number | null;
  /** Server plus PostgreSQL, µs. */
  readonly totalMicros: number | null;
  /** totalMicros / the baseline's server CPU per call. */
  readonly cpuRatio: number | null;
  readonly allocKilobytes: number | null;
  readonly allocRatio: number | null;
}

/**
 * CPU per call, the figure that does not depend on how the two cores were
 * shared: the server's, PostgreSQL's own (its CPU in the window over the
 * calls in the window), and their sum as a ratio to the baseline's; heap
 * bytes allocated per call, as a ratio too.
 */
export function callCosts(results: readonly RunResult[]): CallCost[] {
  return results.map((result) => {
    const baseline = results.find((other) => other.target === "baseline" && other.scenario === result.scenario);
    const serverMicros = result.server.cpuMicrosPerCall;
    const postgresCpu = result.postgres?.cpuPercent;
    const postgresMicros =
      postgresCpu === undefined || postgresCpu === null || result.callsPerSecond <= 0
        ? null
        : ((postgresCpu / 100) * 1e6) / result.callsPerSecond;
    const totalMicros = serverMicros === null ? null : serverMicros + (postgresMicros ?? 0);
    const baselineMicros = result.target === "baseline" ? null : (baseline?.server.cpuMicrosPerCall ?? null);
    const alloc = result.server.allocBytesPerCall;
    return {
      scenario: result.scenario,
      target: result.target,
      serverMicros,
      postgresMicros,
      totalMicros,
      cpuRatio: totalMicros === null || baselineMicros === null || baselineMicros <= 0 ? null : totalMicros / baselineMicros,
      allocKilobytes: alloc === null ? null : alloc / 1024,
      allocRatio: result.allocRatioToBaseline,
    };
  });
}

const columns = [
  "scenario",
  "target",
  "server us/call",
  "postgres us/call",
  "total us/call",
  "CPU x baseline",
  "alloc KB/call",
  "alloc x baseline",
] as const;

function cells(cost: CallCost): string[] {
  const value = (number: number | null, digits: number): string => (number === null ? "-" : number.toFixed(digits));
  return [
    cost.scenario,
    cost.target,
    value(cost.serverMicros, 0),
    value(cost.postgresMicros, 0),
    value(cost.totalMicros, 0),
    value(cost.cpuRatio, 2),
    value(cost.allocKilobytes, 1),
    value(cost.allocRatio, 2),
  ];
}

const rightAligned = new Set([2, 3, 4, 5, 6, 7]);

/** The costs as an aligned text table. */
export function callCostTable(results: readonly RunResult[]): string {
  return alignedTable(columns, callCosts(results).map(cells), rightAligned);
}

/** The costs as a Markdown table. */
export function callCostMarkdown(results: readonly RunResult[]): string {
  return markdownTableOf(columns, callCosts(results).map(cells), rightAligned);
}
