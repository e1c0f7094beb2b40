/**
 * The one rule for work outside the benchmark: a row of any table (main,
 * watchers, burst) whose measurement saw processes outside the benchmark
 * use more than {@link OTHER_LOAD_LIMIT_PERCENT} % of one core is marked
 * with "!" next to the figure, and the run prints one WARNING naming every
 * such row. A row that sums up several rounds shows the largest figure of
 * its rounds, since one disturbed round can move a median or a maximum.
 */

/** Above this much of one core (in %), other work disturbs a row's figures. */
export const OTHER_LOAD_LIMIT_PERCENT = 20;

/** True when `percent` (of one core) is above the limit; unknown counts as not. */
export function otherLoadDisturbs(percent: number | null | undefined): boolean {
  return percent !== null && percent !== undefined && percent > OTHER_LOAD_LIMIT_PERCENT;
}

/** The table cell: "7%", "35% !" when above the limit, "?" when unknown. */
export function otherLoadCell(percent: number | null | undefined): string {
  if (percent === null || percent === undefined) return "?";
  return `${percent.toFixed(0)}%${otherLoadDisturbs(percent) ? " !" : ""}`;
}

/** One measured row: what to call it in the warning, and its other-load figure. */
export interface OtherLoadRow {
  readonly label: string;
  readonly percent: number | null | undefined;
}

/** The WARNING line for the rows above the limit; undefined when there are none. */
export function otherLoadWarning(rows: readonly OtherLoadRow[]): string | undefined {
  const disturbed = rows.filter((row) => otherLoadDisturbs(row.percent));
  if (disturbed.length === 0) return undefined;
  const largest = Math.max(...disturbed.map((row) => row.percent ?? 0));
  // Name the rows while a reader can take them in; past that, the marks in the tables show which.
  const which = disturbed.length <= 6 ? `: ${disturbed.map((row) => `${row.label} ${(row.percent ?? 0).toFixed(0)}%`).join(", ")}` : "";
  return (
    `WARNING: ${disturbed.length} of ${rows.length} rows (marked ! in the tables) were measured while processes outside the benchmark ` +
    `used more than ${OTHER_LOAD_LIMIT_PERCENT}% of a core (up to ${largest.toFixed(0)}%); their figures are disturbed${which}`
  );
}

/** The largest known figure of several rounds; null when none is known. */
export function largestOtherLoad(percents: ReadonlyArray<number | null | undefined>): number | null {
  const known = percents.filter((percent): percent is number => percent !== null && percent !== undefined);
  return known.length === 0 ? null : Math.max(...known);
}
