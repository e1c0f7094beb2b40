import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import { BookingError } from "./booking-error.js";

/** How the SDK retries a call; see {@link retryDelayMs} for which failures qualify. */
export interface RetryPolicy {
  /** Calls made at most, the first included; 1 turns retries off. */
  readonly maxAttempts: number;
  /** The backoff before the first retry; it doubles with each retry. */
  readonly initialBackoffMs: number;
  /** The backoff never grows beyond this. */
  readonly maxBackoffMs: number;
}

/** The policy used for whatever the caller leaves out. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 4, initialBackoffMs: 100, maxBackoffMs: 2000 };

/** Told to an `onRetry` listener before the SDK waits and calls again. */
export interface RetryEvent {
  /** The method, e.g. "BookSeats". */
  readonly method: string;
  /** The attempt that just failed, counted from 1. */
  readonly attempt: number;
  readonly error: BookingError;
  /** How long the SDK waits before the next attempt. */
  readonly delayMs: number;
  /** The idempotency key every attempt carries (undefined for reads). */
  readonly requestId: string | undefined;
}

/** What {@link callWithRetries} needs besides the attempt itself. */
export interface RetryContext {
  readonly method: string;
  readonly policy: RetryPolicy;
  /** Epoch ms after which no attempt starts and no wait is begun. */
  readonly deadline: number;
  readonly requestId: string | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Aborted when the client closes: a wait before the next attempt ends at once (FAILED_PRECONDITION). */
  readonly closing?: AbortSignal | undefined;
  readonly onRetry?: ((event: RetryEvent) => void) | undefined;
  /** Source of jitter in [0, 1); tests may fix it. */
  readonly random?: () => number;
}

/**
 * How long to wait before retrying after `error` on attempt `attempt`, or
 * undefined when the failure must not be retried.
 *
 * Only two failures qualify: UNAVAILABLE (no connection, or it dropped; the
 * request may or may not have reached the server, which is why writes carry
 * a request_id), waited out with exponential backoff and jitter; and
 * RESOURCE_EXHAUSTED carrying RetryInfo, waited out for the delay the server
 * asked for. Everything else is an answer, and asking again would not change it.
 */
export function retryDelayMs(
  error: BookingError,
  attempt: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number | undefined {
  if (error.code === status.UNAVAILABLE) return backoffMs(attempt, policy, random);
  if (error.code === status.RESOURCE_EXHAUSTED && error.retryDelayMs !== undefined) {
    // A little on top so a crowd told "50 ms" does not return in one burst.
    return Math.round(error.retryDelayMs * (1 + random() * 0.2));
  }
  return undefined;
}

/**
 * The exponential backoff after failed attempt `attempt` (counted from 1):
 * the initial backoff doubled per attempt, capped at the maximum, with
 * "equal jitter" (at least half of it, so retries never bunch up at zero).
 */
export function backoffMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * Runs `attempt` until it succeeds, fails in a way that is not retried, runs
 * out of attempts, or a wait would pass the deadline. The failure thrown is
 * the last one seen, as a BookingError carrying the request id and the
 * number of attempts. Aborting `signal` stops at once with CANCELLED.
 */
export async function callWithRetries<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  context: RetryContext,
): Promise<T> {
  const facts = (attempts: number) => ({ requestId: context.requestId, attempts });
  for (let attemptNumber = 1; ; attemptNumber++) {
    if (context.signal?.aborted === true) throw aborted(context.signal, facts(attemptNumber - 1));
    let error: BookingError;
    try {
      return await attempt(attemptNumber);
    } catch (caught) {
      error = BookingError.from(caught, facts(attemptNumber));
    }
    if (attemptNumber >= context.policy.maxAttempts) throw error;
    const delayMs = retryDelayMs(error, attemptNumber, context.policy, context.random);
    if (delayMs === undefined || Date.now() + delayMs >= context.deadline) throw error;
    context.onRetry?.({ method: context.method, attempt: attemptNumber, error, delayMs, requestId: context.requestId });
    const stops = [context.signal, context.closing].filter((signal): signal is AbortSignal => signal !== undefined);
    try {
      await sleep(delayMs, undefined, stops.length === 0 ? {} : { signal: stops.length === 1 ? stops[0] : AbortSignal.any(stops) });
    } catch {
      // Only an abort, or the client closing, rejects the sleep.
      if (wasAborted(context.closing) && !wasAborted(context.signal)) {
        throw new BookingError(status.FAILED_PRECONDITION, "the booking client is closed", facts(attemptNumber));
      }
      throw aborted(context.signal, facts(attemptNumber));
    }
  }
}

/** Read through a call, so that the compiler does not keep an earlier check's narrowing across an await. */
function wasAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function aborted(signal: AbortSignal | undefined, facts: { requestId: string | undefined; attempts: number }): BookingError {
  return new BookingError(status.CANCELLED, "the call was aborted by the caller", { ...facts, cause: signal?.reason });
}
