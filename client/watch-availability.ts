import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import type { AvailabilityForm, WatchAvailabilityResponse } from "../gen/booking/v1/booking_pb.js";
import { BookingError } from "./booking-error.js";
import { backoffMs, type RetryPolicy } from "./call-retry.js";
import { isSeatMapError, SeatMap } from "./seat-map.js";
import { changeFromWire, snapshotFromWire, type WatchChange, type WatchSnapshot } from "./watch-updates.js";
import { checkServerAddress } from "./server-address.js";

/** What to watch: a show (empty or unset means the server's default show) and the snapshot's form. */
export interface WatchAvailabilityInit {
  readonly showId?: string | undefined;
  /** The form of the snapshot's free seats; unset means both. The SeatMap reads any form. */
  readonly form?: AvailabilityForm | undefined;
}

/**
 * One step of a watch, already applied to `seatMap` when the loop sees it:
 * the show at a version (`snapshot`), or the changes after the previous
 * update (`changes`, ending at `version`). `seatMap` is the same object in
 * every update of a watch.
 */
export type WatchUpdate =
  | (WatchSnapshot & {
      readonly kind: "snapshot";
      /**
       * True when the watch tried to resume from a version the server's change
       * log no longer reaches: this snapshot replaced the whole map.
       */
      readonly resumeTooOld: boolean;
      readonly seatMap: SeatMap;
    })
  | {
      readonly kind: "changes";
      readonly showId: string;
      /** The version after the last of these changes (= seatMap.version). */
      readonly version: bigint;
      /** Consecutive changes, the first at the previous update's version + 1. */
      readonly changes: readonly WatchChange[];
      /** True for the first changes after the watch resumed on a new stream (no snapshot came between). */
      readonly resumed: boolean;
      readonly seatMap: SeatMap;
    };

/** Told to `retry.onRetry` before the watch waits and subscribes again. */
export interface WatchRetryEvent {
  /** The stream's end: UNAVAILABLE, RESOURCE_EXHAUSTED (SLOW_CONSUMER, or with RetryInfo), or a gap or end the SDK noticed. */
  readonly error: BookingError;
  /** Failed subscriptions in a row, this one included (reset by any message received). */
  readonly attempt: number;
  /** How long the watch waits before subscribing again. */
  readonly delayMs: number;
  /** The address it will subscribe at. */
  readonly address: string;
  /** The version it will resume after; undefined before the first snapshot. */
  readonly fromVersion: bigint | undefined;
}

/** Told to `onReconnected` when a new subscription answers, after a retry. */
export interface WatchReconnectedEvent {
  readonly address: string;
  /** The version the watch asked to resume after; undefined when it asked for a snapshot. */
  readonly fromVersion: bigint | undefined;
}

/** Options of `client.watchAvailability`. */
export interface WatchOptions {
  /** Aborting ends the watch: the stream is cancelled and the loop throws a CANCELLED BookingError. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Server addresses to subscribe at, the first one first; every resubscription
   * moves on to the next (round robin). Default: the client's address. All use
   * the client's TLS material.
   */
  readonly addresses?: readonly string[] | undefined;
  /**
   * How the watch resubscribes. `initialBackoffMs` and `maxBackoffMs` default
   * to the client's; `maxAttempts` counts failed subscriptions in a row and is
   * unbounded by default (a watch keeps trying while it is iterated).
   */
  readonly retry?: (Partial<RetryPolicy> & { readonly onRetry?: ((event: WatchRetryEvent) => void) | undefined }) | undefined;
  /** Called when a subscription after a retry answers (its headers or its first message arrived). */
  readonly onReconnected?: ((event: WatchReconnectedEvent) => void) | undefined;
}

/**
 * A live view of a show: iterate it with `for await`. Every update is applied
 * to {@link seatMap} before the loop sees it. One loop per watch.
 *
 * Leaving the loop (`break`, `return`, a throw) cancels the stream; so do
 * {@link close} (the loop then ends quietly) and the `signal` option (the loop
 * throws CANCELLED). A failure the watch does not resume from (NOT_FOUND,
 * PERMISSION_DENIED, TOO_MANY_STREAMS without RetryInfo, ...) throws a
 * BookingError.
 */
export interface AvailabilityWatch extends AsyncIterable<WatchUpdate> {
  /** The show as of the last update; undefined until the first snapshot. */
  readonly seatMap: SeatMap | undefined;
  /** Ends the watch: the stream is cancelled and the loop ends without an error. */
  close(): void;
}

/** The wire request of one subscription. */
export interface WatchRequestWire {
  readonly showId: string;
  readonly form?: AvailabilityForm;
  readonly resumeFromVersion?: bigint;
}

/** What the watch needs of one server-streaming call (a grpc-js ClientReadableStream has it). */
export interface WatchStream extends AsyncIterable<unknown> {
  cancel(): void;
  on(event: "metadata" | "error", listener: (...args: unknown[]) => void): unknown;
}

/** Opens one subscription at an address; may throw a BookingError (a closed client). */
export type OpenWatchStream = (address: string, request: WatchRequestWire) => WatchStream;

/** What {@link startWatch} takes from the client besides the caller's request and options. */
export interface WatchDependencies {
  readonly open: OpenWatchStream;
  readonly address: string;
  readonly policy: RetryPolicy;
  /** Source of jitter in [0, 1); tests may fix it. */
  readonly random?: () => number;
  /** Called once when the watch has ended, however it ended. */
  readonly onEnd?: () => void;
}

/** Why a stream stopped, when it is worth subscribing again. */
type StreamEnd = { readonly resumable: boolean; readonly error: BookingError };

/**
 * The resumable watch behind `client.watchAvailability`: subscribes, applies
 * every message to a {@link SeatMap}, and on a dropped stream (UNAVAILABLE,
 * a server restart or shutdown, RESOURCE_EXHAUSTED SLOW_CONSUMER or with
 * RetryInfo, an end without error) or a version gap it noticed, subscribes
 * again from the last version applied, after a backoff, at the next address.
 * Changes at or before that version are dropped, so the loop never sees a
 * version twice.
 */
export function startWatch(dependencies: WatchDependencies, init: WatchAvailabilityInit, options: WatchOptions = {}): AvailabilityWatch {
  const addresses = options.addresses === undefined || options.addresses.length === 0 ? [dependencies.address] : [...options.addresses];
  for (const address of addresses) {
    checkServerAddress("addresses", address);
  }
  const policy: RetryPolicy = {
    maxAttempts: options.retry?.maxAttempts ?? Number.POSITIVE_INFINITY,
    initialBackoffMs: options.retry?.initialBackoffMs ?? dependencies.policy.initialBackoffMs,
    maxBackoffMs: options.retry?.maxBackoffMs ?? dependencies.policy.maxBackoffMs,
  };
  if (!(policy.maxAttempts >= 1) || (Number.isFinite(policy.maxAttempts) && !Number.isSafeInteger(policy.maxAttempts))) {
    throw new TypeError(`retry.maxAttempts must be a whole number >= 1 or Infinity, got ${policy.maxAttempts}`);
  }
  if (!Number.isSafeInteger(policy.initialBackoffMs) || policy.initialBackoffMs < 1 || !Number.isSafeInteger(policy.maxBackoffMs) || policy.maxBackoffMs < policy.initialBackoffMs) {
    throw new TypeError(`retry backoffs must be whole numbers with 1 <= initialBackoffMs <= maxBackoffMs, got ${policy.initialBackoffMs} and ${policy.maxBackoffMs}`);
  }
  const random = dependencies.random ?? Math.random;
  const signal = options.signal;
  const stop = new AbortController();
  let closed = false;
  let current: WatchStream | undefined;
  let seatMap: SeatMap | undefined;
  let started = false;
  let ended = false;
  const finish = () => {
    if (ended) return;
    ended = true;
    dependencies.onEnd?.();
  };

  const onAbort = () => {
    stop.abort();
    current?.cancel();
  };

  /** Turns one message into an update (applied to the map), "gap" to resubscribe, or undefined to skip. */
  const take = (message: WatchAvailabilityResponse, resumed: boolean): WatchUpdate | "gap" | undefined => {
    switch (message.event.case) {
      case "snapshot": {
        const snapshot = snapshotFromWire(message.event.value);
        if (seatMap === undefined) seatMap = SeatMap.fromSnapshot(snapshot);
        else seatMap.applySnapshot(snapshot);
        return { ...snapshot, kind: "snapshot", resumeTooOld: message.event.value.resumeTooOld, seatMap };
      }
      case "changes": {
        // Changes before any snapshot cannot be placed: start again from one.
        if (seatMap === undefined) return "gap";
        const applied = seatMap.version;
        const changes = message.event.value.changes.map(changeFromWire).filter((change) => change.version > applied);
        if (changes.length === 0) return undefined;
        try {
          seatMap.applyChanges(changes);
        } catch (error) {
          if (isSeatMapError(error) && error.reason === "VERSION_GAP") return "gap";
          throw error;
        }
        return { kind: "changes", showId: seatMap.showId, version: seatMap.version, changes, resumed, seatMap };
      }
      default:
        return undefined; // an event kind newer than this SDK
    }
  };

  async function* run(): AsyncGenerator<WatchUpdate, void, undefined> {
    signal?.addEventListener("abort", onAbort, { once: true });
    let failures = 0;
    let addressIndex = 0;
    let retried = false;
    try {
      for (;;) {
        if (closed) return;
        if (isAborted(signal)) throw aborted(signal);
        const address = addresses[addressIndex % addresses.length] ?? dependencies.address;
        const fromVersion = seatMap?.version;
        const request: WatchRequestWire = {
          showId: seatMap?.showId ?? init.showId ?? "",
          ...(init.form === undefined ? {} : { form: init.form }),
          ...(fromVersion === undefined ? {} : { resumeFromVersion: fromVersion }),
        };
        const stream = dependencies.open(address, request);
        current = stream;
        // grpc-js emits 'error' once more after the loop below has let go of the stream.
        stream.on("error", () => {});
        let answered = false;
        // A throw from the app's onReconnected ends the loop with that error.
        // Called from the stream's 'metadata' event it would otherwise be an
        // uncaught exception that ends the app.
        let callbackFailure: { readonly error: unknown } | undefined;
        const answer = () => {
          if (answered) return;
          answered = true;
          failures = 0;
          if (!retried || options.onReconnected === undefined) return;
          try {
            options.onReconnected({ address, fromVersion });
          } catch (error) {
            callbackFailure = { error };
            stream.cancel();
          }
        };
        stream.on("metadata", answer);
        let resumed = fromVersion !== undefined;
        let end: StreamEnd | undefined;
        try {
          for await (const message of stream) {
            answer();
            if (callbackFailure !== undefined) break;
            const update = take(message as WatchAvailabilityResponse, resumed);
            if (update === "gap") {
              const at = seatMap === undefined ? "before a snapshot" : `after version ${seatMap.version}`;
              end = { resumable: true, error: new BookingError(status.DATA_LOSS, `the stream skipped versions ${at}; subscribing again`) };
              break;
            }
            if (update === undefined) continue;
            resumed = false;
            yield update;
          }
          end ??= { resumable: true, error: new BookingError(status.UNAVAILABLE, "the server ended the stream") };
        } catch (caught) {
          const error = BookingError.from(caught);
          end = { resumable: isResumable(error), error };
        } finally {
          current = undefined;
          stream.cancel();
        }
        if (callbackFailure !== undefined) throw callbackFailure.error;
        if (closed) return;
        if (isAborted(signal)) throw aborted(signal);
        failures++;
        if (!end.resumable || failures >= policy.maxAttempts) throw BookingError.from(end.error, { attempts: failures });
        const delayMs = resumeDelayMs(end.error, failures, policy, random);
        addressIndex++;
        const next = addresses[addressIndex % addresses.length] ?? dependencies.address;
        options.retry?.onRetry?.({ error: end.error, attempt: failures, delayMs, address: next, fromVersion: seatMap?.version });
        try {
          await sleep(delayMs, undefined, { signal: stop.signal });
        } catch {
          // Only an abort or close rejects the sleep.
          if (closed) return;
          throw aborted(signal);
        }
        retried = true;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      finish();
    }
  }

  const generator = run();
  return {
    get seatMap() {
      return seatMap;
    },
    close: () => {
      closed = true;
      stop.abort();
      current?.cancel();
      if (!started) finish();
    },
    [Symbol.asyncIterator]: () => {
      if (started) throw new TypeError("a watch can be iterated once; call watchAvailability again for another loop");
      started = true;
      return generator;
    },
  };
}

/**
 * Whether a stream's failure is one the watch resubscribes after: no
 * connection or a server going away (UNAVAILABLE), a watcher too slow for
 * the server's backlog (RESOURCE_EXHAUSTED, SLOW_CONSUMER), or any
 * RESOURCE_EXHAUSTED with RetryInfo (OVERLOADED, RATE_LIMITED).
 */
export function isResumable(error: BookingError): boolean {
  if (error.code === status.UNAVAILABLE) return true;
  return error.code === status.RESOURCE_EXHAUSTED && (error.reason === "SLOW_CONSUMER" || error.retryDelayMs !== undefined);
}

/**
 * The wait before subscribing again: the exponential backoff of the policy,
 * or the server's RetryInfo when it asks for longer (with up to 20% on top,
 * so a crowd told the same delay does not come back in one burst).
 */
export function resumeDelayMs(error: BookingError, attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const backoff = backoffMs(attempt, policy, random);
  if (error.retryDelayMs === undefined || error.retryDelayMs === 0) return backoff;
  const asked = Math.round(error.retryDelayMs * (1 + random() * 0.2));
  return error.code === status.RESOURCE_EXHAUSTED && error.reason !== "SLOW_CONSUMER" ? asked : Math.max(asked, backoff);
}

/** Read through a call so that TypeScript does not keep an earlier check's narrowing across awaits. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function aborted(signal: AbortSignal | undefined): BookingError {
  return new BookingError(status.CANCELLED, "the watch was aborted by the caller", { cause: signal?.reason });
}
