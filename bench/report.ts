import type { StoreName } from "./bench-options.js";
import type { ScenarioName } from "./scenarios.js";
import { callCosts } from "./cost-per-call.js";
import { otherLoadCell } from "./other-load.js";
import { alignedTable, markdownTableOf } from "./text-table.js";
import type { StatementFigures } from "./throwaway-postgres.js";

/** What one store (or the baseline) did in one scenario. */
export interface RunResult {
  readonly scenario: ScenarioName;
  readonly target: "baseline" | StoreName;
  /** Calls finished per second in the window, refusals included. */
  readonly callsPerSecond: number;
  /** With --repeat: calls/s of every round, in order; this result is the median round's. */
  readonly roundsCallsPerSecond: readonly number[];
  /** Seats of successful BookSeats and ConfirmHold calls per second. */
  readonly seatsBookedPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly p999: number; readonly max: number; readonly mean: number };
  readonly calls: number;
  /** Method -> status name -> calls, in the window. */
  readonly codes: Record<string, Record<string, number>>;
  /** Non-OK statuses across methods, in the window. */
  readonly errorsByCode: Record<string, number>;
  /** Answers the scenario does not expect, warm-up included (a correct run has none). */
  readonly unexpected: number;
  readonly unexpectedSamples: readonly string[];
  /** callsPerSecond / the baseline's in the same scenario; null for the baseline itself or without one. */
  readonly ratioToBaseline: number | null;
  /** server.allocBytesPerCall / the baseline's in the same scenario; null for the baseline, without one, or unmeasured. */
  readonly allocRatioToBaseline: number | null;
  readonly server: {
    readonly peakRssMb: number | null;
    /** The server's largest event-loop delay in the measured window (cleanup calls included). */
    readonly loopMaxMs: number | null;
    /** The same during the warm-up (JIT compilation, first allocations). */
    readonly warmupLoopMaxMs: number | null;
    /** CPU of the server process in the window, in % of one core. */
    readonly cpuPercent: number | null;
    /** Server CPU time per call (µs): steadier than throughput when other work shares the machine. */
    readonly cpuMicrosPerCall: number | null;
    /**
     * Bytes the server allocated on its V8 heap per call in the window (read
     * by bench/alloc-probe.ts, preloaded into it); garbage the collector must
     * clear. Buffer contents outside the V8 heap are not counted.
     */
    readonly allocBytesPerCall: number | null;
    /**
     * The server's longest garbage collection in the window, how long it held
     * the main thread and V8's name for its kind (read by the same probe);
     * type "-" when none ran, null when not measured. Beside loopMaxMs it
     * tells a pause of the collector from one of the server's own turns or
     * of the machine.
     */
    readonly longestGc: { readonly ms: number; readonly type: string } | null;
    /**
     * Group commit over the whole run (warm-up included): batches, their mean
     * size and commit time, and the share of the run the one write path was
     * busy committing (near 100 % = the write path is the bottleneck).
     */
    readonly batches?: { readonly count: number; readonly meanSize: number; readonly meanCommitMs: number; readonly busyPercent: number };
  };
  /** Load generators: CPU in % of one core (summed) and their largest event-loop delay. */
  readonly generators: { readonly cpuPercent: number; readonly loopMaxMs: number };
  /** The whole machine's CPU use in the window, in % of all cores. */
  readonly machineCpuPercent: number | null;
  /**
   * CPU used in the window by processes outside the benchmark (other work on
   * the machine), in % of one core; with --repeat, the largest of the rounds.
   * Above other-load.ts's limit the row is marked as disturbed.
   */
  readonly backgroundCpuPercent: number | null;
  /** PostgreSQL runs only: the cluster's CPU, its WAL flushes, and where its statement time went. */
  readonly postgres?: {
    readonly cpuPercent: number | null;
    readonly walSyncsPerSecond: number;
    readonly meanWalSyncMs: number;
    readonly statements: readonly StatementFigures[];
  };
  /**
   * After the run and every slot's cleanup call: how many seats are still
   * booked (0 expected when the scenario leaves the show empty; null when not
   * checked), and how many cleanup calls failed.
   */
  readonly consistency: { readonly bookedAfter: number | null; readonly cleanupFailures: number };
}

/** A goal from the issue, checked against the run. */
export interface GoalCheck {
  readonly goal: string;
  readonly measured: string;
  /** null when the run did not include what the goal needs. */
  readonly met: boolean | null;
}

/**
 * Checks issue 11's goals, each a ratio to the baseline in the same run (or
 * the baseline's own figure): CPU per call, PostgreSQL's calls/s, event-loop
 * delay and the p99.9 latency.
 */
export function checkGoals(results: readonly RunResult[]): GoalCheck[] {
  const find = (target: string, scenario: string) => results.find((result) => result.target === target && result.scenario === scenario);
  const costs = callCosts(results);
  const cpuGoal = (target: string, maximum: number, label: string): GoalCheck => {
    const value = costs.find((cost) => cost.target === target && cost.scenario === "book-1")?.cpuRatio ?? null;
    return {
      goal: `${label} CPU per call on book-1 <= ${maximum.toFixed(1)} x the baseline's`,
      measured: value === null ? "not run" : `${value.toFixed(2)} x`,
      met: value === null ? null : value <= maximum,
    };
  };
  const postgres = find("postgres", "book-1")?.ratioToBaseline ?? null;
  const loopGoal = (scenarios: readonly string[]): GoalCheck => {
    const rows = results.filter((result) => result.target !== "baseline" && scenarios.includes(result.scenario));
    const worstOf = (list: readonly RunResult[]) => Math.max(...list.map((result) => result.server.loopMaxMs ?? 0));
    const baselines = results.filter((result) => result.target === "baseline" && scenarios.includes(result.scenario));
    const worst = worstOf(rows);
    const limit = worstOf(baselines);
    return {
      goal: `largest event-loop delay in ${scenarios.join(", ")} <= the baseline's in the same scenarios`,
      measured: rows.length === 0 || baselines.length === 0 ? "not run" : `${worst.toFixed(1)} ms (baseline ${limit.toFixed(1)} ms)`,
      met: rows.length === 0 || baselines.length === 0 ? null : worst <= limit,
    };
  };
  const listings = results.filter((result) => result.target !== "baseline" && result.scenario === "show-available");
  const listingMax = Math.max(...listings.map((result) => result.server.loopMaxMs ?? 0));
  const memory = find("memory", "book-1");
  const baseline = find("baseline", "book-1");
  const tail = memory === undefined || baseline === undefined || baseline.latencyMs.p999 <= 0 ? null : memory.latencyMs.p999 / baseline.latencyMs.p999;
  return [
    cpuGoal("memory", 1.2, "memory"),
    cpuGoal("sqlite", 1.4, "sqlite (synchronous=FULL, group commit)"),
    cpuGoal("postgres", 2.5, "postgres (server plus PostgreSQL's own CPU)"),
    {
      goal: "postgres, one instance, book-1 calls/s >= 0.80 x baseline",
      measured: postgres === null ? "not run" : `${postgres.toFixed(2)} x`,
      met: postgres === null ? null : postgres >= 0.8,
    },
    loopGoal(["book-1", "book-4"]),
    {
      goal: "largest event-loop delay in show-available (100,000 seats) <= 25 ms",
      measured: listings.length === 0 ? "not run" : `${listingMax.toFixed(1)} ms`,
      met: listings.length === 0 ? null : listingMax <= 25,
    },
    {
      goal: "memory book-1 p99.9 latency <= 1.1 x the baseline's",
      measured: tail === null ? "not run" : `${tail.toFixed(2)} x`,
      met: tail === null ? null : tail <= 1.1,
    },
  ];
}

const columns = [
  "scenario",
  "target",
  "calls/s",
  "seats/s",
  "p50 ms",
  "p99 ms",
  "p99.9 ms",
  "x baseline",
  "errors by code",
  "peak RSS MB",
  "loop max ms",
  "longest GC ms",
  "server CPU",
  "alloc KB/call",
  "other CPU",
] as const;

function row(result: RunResult): string[] {
  const errors = Object.entries(result.errorsByCode)
    .sort(([, a], [, b]) => b - a)
    .map(([code, count]) => `${code} ${compact(count)}`);
  if (result.unexpected > 0) errors.push(`(${compact(result.unexpected)} UNEXPECTED)`);
  if (result.consistency.bookedAfter !== null && result.consistency.bookedAfter > 0) {
    errors.push(`(${result.consistency.bookedAfter} seats left booked)`);
  }
  return [
    result.scenario,
    result.target,
    compact(result.callsPerSecond),
    result.seatsBookedPerSecond === 0 ? "-" : compact(result.seatsBookedPerSecond),
    milliseconds(result.latencyMs.p50),
    milliseconds(result.latencyMs.p99),
    milliseconds(result.latencyMs.p999),
    result.ratioToBaseline === null ? "-" : result.ratioToBaseline.toFixed(2),
    errors.length === 0 ? "-" : errors.join(", "),
    result.server.peakRssMb === null ? "?" : result.server.peakRssMb.toFixed(0),
    result.server.loopMaxMs === null ? "?" : result.server.loopMaxMs.toFixed(1),
    longestGcCell(result.server.longestGc),
    result.server.cpuPercent === null ? "?" : `${result.server.cpuPercent.toFixed(0)}%`,
    result.server.allocBytesPerCall === null ? "?" : (result.server.allocBytesPerCall / 1024).toFixed(1),
    otherLoadCell(result.backgroundCpuPercent),
  ];
}

const rightAligned = new Set([2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14]);

/** V8's names of collection kinds (v8.GCProfiler), short: a table column is narrow. */
const GC_KINDS: Readonly<Record<string, string>> = {
  Scavenge: "scavenge",
  MinorMarkSweep: "minor MS",
  MarkSweepCompact: "mark-compact",
  IncrementalMarking: "incremental",
  ProcessWeakCallbacks: "weak callbacks",
};

function longestGcCell(longest: RunResult["server"]["longestGc"]): string {
  if (longest === null) return "?";
  if (longest.type === "-") return "none";
  return `${longest.ms.toFixed(1)} ${GC_KINDS[longest.type] ?? longest.type}`;
}

/** The results as an aligned text table for the terminal. */
export function textTable(results: readonly RunResult[]): string {
  return alignedTable(columns, results.map(row), rightAligned);
}

/** The results as a Markdown table (for the README). */
export function markdownTable(results: readonly RunResult[]): string {
  return markdownTableOf(columns, results.map(row), rightAligned);
}

const diagnosticColumns = [
  "scenario",
  "target",
  "server us/call",
  "server CPU",
  "generators CPU",
  "other CPU",
  "batch size",
  "commit ms",
  "write path busy",
  "postgres CPU",
  "WAL flushes/s",
] as const;

/**
 * Where the time went, per run: CPU per call and per process (in % of one
 * core; "other" is work outside the benchmark), and group commit.
 */
export function diagnosticsTable(results: readonly RunResult[]): string {
  const value = (number: number | null | undefined, digits: number, suffix = ""): string =>
    number === null || number === undefined ? "-" : `${number.toFixed(digits)}${suffix}`;
  const rows = results.map((result) => [
    result.scenario,
    result.target,
    value(result.server.cpuMicrosPerCall, 0),
    value(result.server.cpuPercent, 0, "%"),
    value(result.generators.cpuPercent, 0, "%"),
    otherLoadCell(result.backgroundCpuPercent),
    value(result.server.batches?.meanSize, 1),
    value(result.server.batches?.meanCommitMs, 2),
    value(result.server.batches?.busyPercent, 0, "%"),
    value(result.postgres?.cpuPercent, 0, "%"),
    value(result.postgres?.walSyncsPerSecond, 0),
  ]);
  return alignedTable(diagnosticColumns, rows, new Set([2, 3, 4, 5, 6, 7, 8, 9, 10]));
}

/** The goal checks as text lines. */
export function goalLines(goals: readonly GoalCheck[]): string[] {
  return goals.map((goal) => `${goal.met === null ? "  ?" : goal.met ? " ok" : "MISS"}  ${goal.goal}: ${goal.measured}`);
}

/** 12345 -> "12.3k"; small values keep one decimal when fractional. */
export function compact(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  if (value >= 100) return value.toFixed(0);
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function milliseconds(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}
