import { availableParallelism } from "node:os";
import type { StoreName } from "./bench-options.js";
import { LatencyHistogram } from "./latency-histogram.js";
import { largestOtherLoad } from "./other-load.js";
import type { GeneratorResult } from "./load-protocol.js";
import type { RunResult } from "./report.js";
import type { ScenarioName } from "./scenarios.js";
import type { WindowFigures } from "./window-sampler.js";

/**
 * The round with the median calls/s stands for the target; its peak RSS and
 * event-loop maximum become the largest of all rounds, since those figures
 * are limits, not averages, and so does the other load (other-load.ts: one
 * disturbed round can move the median).
 */
export function medianRound(rounds: readonly RunResult[]): RunResult {
  const sorted = [...rounds].sort((a, b) => a.callsPerSecond - b.callsPerSecond);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  if (median === undefined) throw new Error("no rounds ran");
  const largest = (values: Array<number | null>): number | null =>
    values.some((value) => value === null) ? null : Math.max(...(values as number[]));
  return {
    ...median,
    roundsCallsPerSecond: rounds.map((round) => round.callsPerSecond),
    backgroundCpuPercent: largestOtherLoad(rounds.map((round) => round.backgroundCpuPercent)),
    server: {
      ...median.server,
      peakRssMb: largest(rounds.map((round) => round.server.peakRssMb)),
      loopMaxMs: largest(rounds.map((round) => round.server.loopMaxMs)),
      warmupLoopMaxMs: largest(rounds.map((round) => round.server.warmupLoopMaxMs)),
      longestGc: longestOf(rounds.map((round) => round.server.longestGc)),
    },
  };
}

/** Merges what the generators and the server reported about one run into its result (ratio still unset). */
export function summarizeRun(
  scenario: ScenarioName,
  target: "baseline" | StoreName,
  results: readonly GeneratorResult[],
  durationS: number,
  server: {
    peakRssMb: number | null;
    loopMaxMs: number | null;
    warmupLoopMaxMs: number | null;
    batches?: { count: number; meanSize: number; meanCommitMs: number; busyPercent: number };
    measured: WindowFigures;
    /** Bytes the server allocated on its V8 heap in the window; null when not measured. */
    allocatedBytes: number | null;
    /** Its longest collection in the window (type "-": none ran); null when not measured. */
    longestGc: { ms: number; type: string } | null;
    bookedAfter: number | null;
  },
): RunResult {
  const histogram = new LatencyHistogram();
  const codes: Record<string, Record<string, number>> = {};
  const errorsByCode: Record<string, number> = {};
  let calls = 0;
  let seats = 0;
  let unexpected = 0;
  let generatorCpuMs = 0;
  let generatorLoopMaxMs = 0;
  let cleanupFailures = 0;
  const unexpectedSamples: string[] = [];
  for (const result of results) {
    histogram.merge(result.latency);
    calls += result.calls;
    seats += result.seatsBooked;
    unexpected += result.unexpected;
    unexpectedSamples.push(...result.unexpectedSamples);
    generatorCpuMs += result.cpuMs;
    generatorLoopMaxMs = Math.max(generatorLoopMaxMs, result.loopMaxMs);
    cleanupFailures += result.cleanupFailures;
    for (const [method, byCode] of Object.entries(result.codes)) {
      const into = (codes[method] ??= {});
      for (const [code, count] of Object.entries(byCode)) {
        into[code] = (into[code] ?? 0) + count;
        if (code !== "OK") errorsByCode[code] = (errorsByCode[code] ?? 0) + count;
      }
    }
  }
  const ms = (microseconds: number): number => microseconds / 1000;
  const { measured } = server;
  const counters = measured.postgres;
  return {
    scenario,
    target,
    callsPerSecond: calls / durationS,
    seatsBookedPerSecond: seats / durationS,
    latencyMs: {
      p50: ms(histogram.percentile(50)),
      p99: ms(histogram.percentile(99)),
      p999: ms(histogram.percentile(99.9)),
      max: ms(histogram.max),
      mean: ms(histogram.mean),
    },
    calls,
    codes,
    errorsByCode,
    unexpected,
    unexpectedSamples: unexpectedSamples.slice(0, 5),
    roundsCallsPerSecond: [calls / durationS],
    ratioToBaseline: null,
    allocRatioToBaseline: null,
    server: {
      peakRssMb: server.peakRssMb,
      loopMaxMs: server.loopMaxMs,
      warmupLoopMaxMs: server.warmupLoopMaxMs,
      cpuPercent: measured.serverCpuPercent,
      cpuMicrosPerCall:
        measured.serverCpuPercent === null || calls === 0 ? null : (measured.serverCpuPercent * 1e4 * durationS) / calls,
      allocBytesPerCall: server.allocatedBytes === null || calls === 0 ? null : server.allocatedBytes / calls,
      longestGc: server.longestGc,
      ...(server.batches === undefined ? {} : { batches: server.batches }),
    },
    generators: { cpuPercent: generatorCpuMs / 10 / durationS, loopMaxMs: generatorLoopMaxMs },
    machineCpuPercent: measured.machineCpuPercent,
    backgroundCpuPercent:
      measured.machineCpuPercent === null || measured.serverCpuPercent === null
        ? null
        : Math.max(
            0,
            measured.machineCpuPercent * availableParallelism() -
              measured.serverCpuPercent -
              generatorCpuMs / 10 / durationS -
              (measured.postgresCpuPercent ?? 0),
          ),
    ...(target === "postgres"
      ? {
          postgres: {
            cpuPercent: measured.postgresCpuPercent,
            walSyncsPerSecond: (counters?.walSyncs ?? 0) / measured.seconds,
            meanWalSyncMs: counters === null || counters.walSyncs === 0 ? 0 : counters.walSyncMs / counters.walSyncs,
            statements: counters?.statements ?? [],
          },
        }
      : {}),
    consistency: { bookedAfter: server.bookedAfter, cleanupFailures },
  };
}

/** The longest of the rounds' longest collections; null when a round did not measure it. */
function longestOf(values: ReadonlyArray<{ ms: number; type: string } | null>): { ms: number; type: string } | null {
  if (values.some((value) => value === null)) return null;
  let longest: { ms: number; type: string } = { ms: 0, type: "-" };
  for (const value of values as ReadonlyArray<{ ms: number; type: string }>) if (value.type !== "-" && value.ms > longest.ms) longest = value;
  return longest;
}
