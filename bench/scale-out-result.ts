import { LatencyHistogram } from "./latency-histogram.js";
import type { GeneratorResult } from "./load-protocol.js";
import type { ScaleOutVariant } from "./scale-out-options.js";
import type { PostgresCounterSnapshot, StatementFigures } from "./scale-out-postgres-stats.js";
import type { WaitFigures } from "./scale-out-wait-sampler.js";
import type { ScaleOutWindowFigures } from "./scale-out-window.js";

/** Processes outside the benchmark using more than this share of a core (in %) disturb a run. */
export const DISTURBED_ABOVE_PERCENT = 20;

/** One instance's part of a run. */
export interface InstanceFigures {
  readonly callsPerSecond: number;
  /** CPU of this `booking serve` process in the window, in % of one core. */
  readonly cpuPercent: number | null;
  /** Group commit over the whole run (warm-up included), from the server's /metrics. */
  readonly batches: { readonly count: number; readonly meanSize: number; readonly meanCommitMs: number } | null;
}

/** What one instance count did in one variant (one round, or the median round). */
export interface ScaleOutResult {
  readonly variant: ScaleOutVariant;
  readonly instances: number;
  /** Calls finished per second in the window over every instance, refusals included. */
  readonly callsPerSecond: number;
  /** With --repeat: aggregate calls/s of every round, in order; this result is the median round's. */
  readonly roundsCallsPerSecond: readonly number[];
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly p999: number; readonly max: number; readonly mean: number };
  readonly calls: number;
  /** Non-OK statuses in the window. */
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** Answers the scenario does not expect, warm-up included (a correct run has none). */
  readonly unexpected: number;
  readonly unexpectedSamples: readonly string[];
  readonly cleanupFailures: number;
  readonly perInstance: readonly InstanceFigures[];
  /** Summed over the instances. */
  readonly serverCpuPercent: number | null;
  /** Server CPU (every instance) per call, µs. */
  readonly serverCpuMicrosPerCall: number | null;
  readonly generatorsCpuPercent: number;
  readonly postgres: {
    /** The postmaster and its backends, % of one core. */
    readonly cpuPercent: number | null;
    /** PostgreSQL CPU per call, µs, without the wait sampler's own backend. */
    readonly cpuMicrosPerCall: number | null;
    /** The wait sampler's backend (pg_stat_activity and pg_locks reads), % of one core: the measurement's own cost. */
    readonly samplerCpuPercent: number | null;
    readonly commitsPerSecond: number;
    readonly rollbacksPerSecond: number;
    /** COMMIT statements and batch-function calls (run_book_cancel_batch, run_seat_batch, run_hold_batch) per second: the servers' batch transactions (xact_commit also counts read-only and single-statement ones). */
    readonly batchCommitsPerSecond: number;
    /** Calls per batch transaction: the servers' mean batch size as PostgreSQL saw it. */
    readonly callsPerCommit: number | null;
    readonly walSyncsPerSecond: number;
    readonly meanWalSyncMs: number;
    /** WAL flushes per batch transaction: below 1 when commits share a flush (group commit inside PostgreSQL). */
    readonly walSyncsPerCommit: number | null;
    readonly walBytesPerCall: number | null;
    /** The counters' deltas over the window. */
    readonly counters: PostgresCounterSnapshot;
    readonly statements: StatementFigures;
    readonly waits: WaitFigures;
  };
  /** The whole machine's CPU in the window, % of one core (200 % = both cores of two). */
  readonly machineCpuPercent: number | null;
  /** CPU used by processes outside the benchmark, % of one core. */
  readonly backgroundCpuPercent: number | null;
  /** True when {@link backgroundCpuPercent} exceeded {@link DISTURBED_ABOVE_PERCENT}. */
  readonly disturbed: boolean;
}

/** Merges the generators' results (generator i loaded instance i) and the window's figures. */
export function summarizeScaleOut(
  variant: ScaleOutVariant,
  generators: readonly GeneratorResult[],
  window: ScaleOutWindowFigures,
  batches: ReadonlyArray<InstanceFigures["batches"]>,
  durationS: number,
): ScaleOutResult {
  const histogram = new LatencyHistogram();
  const errorsByCode: Record<string, number> = {};
  let calls = 0;
  let unexpected = 0;
  let cleanupFailures = 0;
  let generatorCpuMs = 0;
  const unexpectedSamples: string[] = [];
  for (const result of generators) {
    histogram.merge(result.latency);
    calls += result.calls;
    unexpected += result.unexpected;
    cleanupFailures += result.cleanupFailures;
    generatorCpuMs += result.cpuMs;
    unexpectedSamples.push(...result.unexpectedSamples);
    for (const byCode of Object.values(result.codes)) {
      for (const [code, count] of Object.entries(byCode)) if (code !== "OK") errorsByCode[code] = (errorsByCode[code] ?? 0) + count;
    }
  }
  const percentOfCore = (ms: number | null): number | null => (ms === null ? null : ms / 10 / window.seconds);
  const perCall = (ms: number | null): number | null => (ms === null || calls === 0 ? null : (ms * 1000 * (durationS / window.seconds)) / calls);
  const serverMs = window.serverCpuMs.some((ms) => ms === null) ? null : window.serverCpuMs.reduce<number>((sum, ms) => sum + (ms ?? 0), 0);
  const { counters } = window;
  const commits = window.statements.commitStatements;
  const background =
    window.machineBusyMs === null || serverMs === null || window.postgresCpuMs === null
      ? null
      : Math.max(0, window.machineBusyMs - serverMs - window.postgresCpuMs - window.selfCpuMs - generatorCpuMs * (window.seconds / durationS)) /
        10 /
        window.seconds;
  const ms = (microseconds: number): number => microseconds / 1000;
  return {
    variant,
    instances: generators.length,
    callsPerSecond: calls / durationS,
    roundsCallsPerSecond: [calls / durationS],
    latencyMs: {
      p50: ms(histogram.percentile(50)),
      p99: ms(histogram.percentile(99)),
      p999: ms(histogram.percentile(99.9)),
      max: ms(histogram.max),
      mean: ms(histogram.mean),
    },
    calls,
    errorsByCode,
    unexpected,
    unexpectedSamples: unexpectedSamples.slice(0, 5),
    cleanupFailures,
    perInstance: generators.map((result, index) => ({
      callsPerSecond: result.calls / durationS,
      cpuPercent: percentOfCore(window.serverCpuMs[index] ?? null),
      batches: batches[index] ?? null,
    })),
    serverCpuPercent: percentOfCore(serverMs),
    serverCpuMicrosPerCall: perCall(serverMs),
    generatorsCpuPercent: generatorCpuMs / 10 / durationS,
    postgres: {
      cpuPercent: percentOfCore(window.postgresCpuMs),
      cpuMicrosPerCall: perCall(window.postgresCpuMs === null ? null : window.postgresCpuMs - (window.samplerCpuMs ?? 0)),
      samplerCpuPercent: percentOfCore(window.samplerCpuMs),
      commitsPerSecond: counters.xactCommit / window.seconds,
      batchCommitsPerSecond: commits / window.seconds,
      rollbacksPerSecond: counters.xactRollback / window.seconds,
      callsPerCommit: commits === 0 ? null : (calls * (window.seconds / durationS)) / commits,
      walSyncsPerSecond: counters.walSyncs / window.seconds,
      meanWalSyncMs: counters.walSyncs === 0 ? 0 : counters.walSyncMs / counters.walSyncs,
      walSyncsPerCommit: commits === 0 ? null : counters.walSyncs / commits,
      walBytesPerCall: calls === 0 ? null : (counters.walBytes * (durationS / window.seconds)) / calls,
      counters,
      statements: window.statements,
      waits: window.waits,
    },
    machineCpuPercent: percentOfCore(window.machineBusyMs),
    backgroundCpuPercent: background,
    disturbed: background !== null && background > DISTURBED_ABOVE_PERCENT,
  };
}

/** The round with the median aggregate calls/s stands for its instance count; the other rounds' rates are kept. */
export function medianScaleOutRound(rounds: readonly ScaleOutResult[]): ScaleOutResult {
  const sorted = [...rounds].sort((a, b) => a.callsPerSecond - b.callsPerSecond);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  if (median === undefined) throw new Error("no rounds ran");
  return { ...median, roundsCallsPerSecond: rounds.map((round) => round.callsPerSecond), disturbed: rounds.some((round) => round.disturbed) };
}
