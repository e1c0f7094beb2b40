/**
 * Reads the Prometheus text exposition format just enough for the
 * benchmark: every sample line becomes `name{labels}` -> value. Comments and
 * malformed lines are skipped.
 */
export function parsePrometheusText(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?)\s+(\S+)/.exec(line);
    if (match?.[1] === undefined || match[2] === undefined) continue;
    const value = Number(match[2]);
    if (!Number.isNaN(value)) samples.set(match[1], value);
  }
  return samples;
}

/** The sum of every sample of metric `name`, across label sets; undefined when absent. */
export function metricSum(samples: ReadonlyMap<string, number>, name: string): number | undefined {
  let sum: number | undefined;
  for (const [key, value] of samples) {
    if (key === name || key.startsWith(`${name}{`)) sum = (sum ?? 0) + value;
  }
  return sum;
}
