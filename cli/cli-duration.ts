/** A duration the CLI cannot read; the message says what it expected. */
export class DurationSyntaxError extends Error {
  override readonly name = "DurationSyntaxError";
}

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * Reads a duration written as Go's time.ParseDuration writes them, limited to
 * the units a hold needs: one or more of a number (decimals allowed) and a
 * unit `h`, `m`, `s` or `ms`, e.g. `90s`, `10m`, `1h30m`, `1.5m`, `1500ms`.
 * Returns whole milliseconds. A bare number is refused: `--ttl 10` could
 * mean seconds or minutes, and guessing wrong holds seats for the wrong time.
 *
 * Throws {@link DurationSyntaxError}.
 */
export function parseDuration(text: string): number {
  const part = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;
  let totalMs = 0;
  let index = 0;
  while (index < text.length) {
    part.lastIndex = index;
    const match = part.exec(text);
    if (match === null) break;
    totalMs += Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
    index = part.lastIndex;
  }
  if (text === "" || index !== text.length) {
    throw new DurationSyntaxError(`"${text}" is not a duration (expected e.g. 90s, 10m, 1h30m or 1500ms)`);
  }
  // Decimals in binary are inexact (1.1s is 1100.0000000000002 ms): allow for it.
  const wholeMs = Math.round(totalMs);
  if (!Number.isSafeInteger(wholeMs) || Math.abs(totalMs - wholeMs) > 1e-6) {
    throw new DurationSyntaxError(`"${text}" is not a whole number of milliseconds`);
  }
  return wholeMs;
}

/**
 * Writes a duration the way {@link parseDuration} reads it, to the second:
 * `10m`, `9m58s`, `1h30m`, `45s`, `0s`. Negative durations are written as 0s.
 */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  const parts = [hours > 0 ? `${hours}h` : "", minutes > 0 ? `${minutes}m` : "", rest > 0 ? `${rest}s` : ""];
  const text = parts.join("");
  return text === "" ? "0s" : text;
}
