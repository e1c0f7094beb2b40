import type { StoreName } from "./bench-options.js";
import type { BurstRound, BurstShape } from "./burst-volley.js";
import { largestOtherLoad, otherLoadCell } from "./other-load.js";
import { alignedTable, markdownTableOf } from "./text-table.js";

/** The burst section's row for one store: every round, and their medians. */
export interface BurstSummary {
  readonly store: StoreName;
  readonly shape: BurstShape;
  readonly rounds: readonly BurstRound[];
  /** Median over the rounds of the share refused with RESOURCE_EXHAUSTED, in %. */
  readonly refusedPercent: number;
  /** Median over the rounds of the served calls' p50 and p99, ms. */
  readonly servedP50Ms: number;
  readonly servedP99Ms: number;
  /** Calls that got neither an answer of the service nor a refusal (DEADLINE_EXCEEDED, UNAVAILABLE ...), summed over the rounds. */
  readonly otherCodes: Record<string, number>;
  /** The largest other load of the rounds, % of one core (other-load.ts). */
  readonly otherCpuPercent: number | null;
}

/** Sums up one store's rounds. */
export function summarizeBurst(store: StoreName, shape: BurstShape, rounds: readonly BurstRound[]): BurstSummary {
  const otherCodes: Record<string, number> = {};
  for (const round of rounds) {
    for (const [code, count] of Object.entries(round.codes)) {
      if (code === "OK" || code === "ALREADY_EXISTS" || code === "RESOURCE_EXHAUSTED") continue;
      otherCodes[code] = (otherCodes[code] ?? 0) + count;
    }
  }
  return {
    store,
    shape,
    rounds,
    refusedPercent: median(rounds.map((round) => (100 * round.refused) / shape.calls)),
    servedP50Ms: median(rounds.map((round) => round.servedP50Ms)),
    servedP99Ms: median(rounds.map((round) => round.servedP99Ms)),
    otherCodes,
    otherCpuPercent: largestOtherLoad(rounds.map((round) => round.cpuPercent.other)),
  };
}

const header = ["store", "rounds", "refused", "refused by round", "served p50 ms", "served p99 ms", "p99 by round", "answered in ms", "other answers", "other CPU"];
const right = new Set([1, 2, 4, 5, 7, 9]);

function row(summary: BurstSummary): string[] {
  const others = Object.entries(summary.otherCodes).map(([code, count]) => `${code} ${count}`);
  return [
    summary.store,
    String(summary.rounds.length),
    `${summary.refusedPercent.toFixed(1)}%`,
    summary.rounds.map((round) => `${((100 * round.refused) / summary.shape.calls).toFixed(1)}%`).join(" "),
    summary.servedP50Ms.toFixed(0),
    summary.servedP99Ms.toFixed(0),
    summary.rounds.map((round) => round.servedP99Ms.toFixed(0)).join(" "),
    summary.rounds.map((round) => round.wallMs.toFixed(0)).join(" "),
    others.length === 0 ? "-" : others.join(", "),
    otherLoadCell(summary.otherCpuPercent),
  ];
}

/** The burst section as an aligned text table (medians over the rounds, and each round). */
export function burstTable(summaries: readonly BurstSummary[]): string {
  return alignedTable(header, summaries.map(row), right);
}

/** The same table in Markdown. */
export function burstMarkdown(summaries: readonly BurstSummary[]): string {
  return markdownTableOf(header, summaries.map(row), right);
}

function median(values: readonly number[]): number {
  const sorted = [...values].filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : (sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN);
}
