import { parseDurationText } from "../wire/duration-text.js";

/** A duration the CLI cannot read; the message says what it expected. */
export class DurationSyntaxError extends Error {
  override readonly name = "DurationSyntaxError";
}

/**
 * Reads a duration (`90s`, `10m`, `1h30m`, `1.5m`, `1500ms`; see
 * wire/duration-text.ts) as whole milliseconds. Throws
 * {@link DurationSyntaxError}, naming what it expected.
 */
export function parseDuration(text: string): number {
  const ms = parseDurationText(text);
  if (ms === undefined) {
    throw new DurationSyntaxError(`"${text}" is not a duration (expected e.g. 90s, 10m, 1h30m or 1500ms)`);
  }
  return ms;
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
