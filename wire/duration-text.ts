/**
 * Durations as people type them, the way Go's time.ParseDuration writes them,
 * limited to the units holds need: one or more of a number (decimals allowed)
 * and a unit `h`, `m`, `s` or `ms`, e.g. `90s`, `10m`, `1h30m`, `1.5m`,
 * `1500ms`. The server's flags (--max-hold-ttl) and the CLI's (--ttl) read
 * the same syntax. A bare number is refused: `10` could mean seconds or
 * minutes, and guessing wrong holds seats for the wrong time.
 */

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** Whole milliseconds, or undefined when `text` is not such a duration (or not a whole number of ms). */
export function parseDurationText(text: string): number | undefined {
  const part = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;
  let totalMs = 0;
  let index = 0;
  while (index < text.length) {
    part.lastIndex = index;
    const match = part.exec(text);
    if (match === null) return undefined;
    totalMs += Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
    index = part.lastIndex;
  }
  // Decimals in binary are inexact (1.1s is 1100.0000000000002 ms): allow for it.
  const wholeMs = Math.round(totalMs);
  if (text === "" || !Number.isSafeInteger(wholeMs) || Math.abs(totalMs - wholeMs) > 1e-6) return undefined;
  return wholeMs;
}
