import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, type DurationSchema } from "@bufbuild/protobuf/wkt";

/** A google.protobuf.Duration as a message or its init shape, e.g. `{ seconds: 90n }`. */
export type DurationInit = MessageInitShape<typeof DurationSchema>;

/**
 * How long a hold should last: `ttlMs` in milliseconds, or `ttl` as a
 * Duration, never both. Neither means the server's default (10 minutes
 * unless configured). The range (at least 1 s, at most the server's
 * --max-hold-ttl, 15 minutes by default) is the server's to enforce.
 */
export type HoldTtl =
  | { readonly ttlMs?: number | undefined; readonly ttl?: undefined }
  | { readonly ttl?: DurationInit | undefined; readonly ttlMs?: undefined };

/** What {@link BookingClient.holdSeats} takes: the HoldSeatsRequest fields, with the TTL as {@link HoldTtl}. */
export type HoldSeatsInit = {
  /** The show; empty or omitted means the server's default show. */
  readonly showId?: string | undefined;
  /** The seats to hold, all or none. */
  readonly seats: readonly number[];
  /** The idempotency key; see BookingCallOptions.requestId. */
  readonly requestId?: string | undefined;
} & HoldTtl;

/** What {@link BookingClient.extendHold} takes: the hold, and its new time left from now as {@link HoldTtl}. */
export type ExtendHoldInit = {
  readonly holdId: string;
  /** The idempotency key; see BookingCallOptions.requestId. */
  readonly requestId?: string | undefined;
} & HoldTtl;

/**
 * The wire's `ttl` for a request: a Duration, or undefined for the server's
 * default. Throws a TypeError for both `ttl` and `ttlMs`, or a `ttlMs` that
 * is not a whole number of milliseconds >= 0.
 */
export function wireTtl(request: HoldTtl): DurationInit | undefined {
  if (request.ttlMs !== undefined && request.ttl !== undefined) {
    throw new TypeError("give the TTL once: ttlMs or ttl, not both");
  }
  if (request.ttl !== undefined) return request.ttl;
  if (request.ttlMs === undefined) return undefined;
  if (!Number.isSafeInteger(request.ttlMs) || request.ttlMs < 0) {
    throw new TypeError(`ttlMs must be a whole number of milliseconds >= 0, got ${request.ttlMs}`);
  }
  return durationFromMs(request.ttlMs);
}
