import { BookingFailure } from "./booking-failure.js";
import { MIN_HOLD_TTL_MS } from "./core-defaults.js";

/** The longest hold id accepted: ids the server makes are 22 characters. */
const MAX_HOLD_ID_LENGTH = 64;

/** Checks that a hold id is given and of a sane length (it need not exist). */
export function validateHoldId(holdId: string): void {
  if (holdId === "" || holdId.length > MAX_HOLD_ID_LENGTH) {
    throw new BookingFailure(
      holdId === "" ? "hold_id is required" : `hold_id is ${holdId.length} characters long; hold ids are at most ${MAX_HOLD_ID_LENGTH}`,
      {
        reason: "INVALID_ARGUMENT",
        showId: "",
        violations: [{ field: "hold_id", description: holdId === "" ? "required" : `longer than ${MAX_HOLD_ID_LENGTH} characters` }],
      },
    );
  }
}

/**
 * The TTL a request gets: the default when unset, else a whole number of ms
 * from one second up to the maximum. Anything else is refused, not clamped:
 * a client asking for an hour should learn that it gets at most fifteen
 * minutes before its buyer does.
 */
export function validateTtl(ttlMs: number | undefined, defaultTtlMs: number, maxTtlMs: number, showId: string): number {
  if (ttlMs === undefined) return defaultTtlMs;
  if (!Number.isFinite(ttlMs) || ttlMs < MIN_HOLD_TTL_MS || ttlMs > maxTtlMs) {
    throw new BookingFailure(`ttl must be between ${MIN_HOLD_TTL_MS / 1000} s and ${maxTtlMs / 1000} s, got ${ttlMs / 1000} s`, {
      reason: "INVALID_ARGUMENT",
      showId,
      violations: [{ field: "ttl", description: `outside ${MIN_HOLD_TTL_MS / 1000}-${maxTtlMs / 1000} s` }],
    });
  }
  return Math.round(ttlMs);
}
