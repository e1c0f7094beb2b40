import { status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { AdmissionLimit, Refusal, RefusalLimit } from "./admission/admission-step.js";

/** Why the server turned a call away before serving it: the label of `booking_rejections_total`. */
export type RejectionCause = AdmissionLimit;

/** What the metrics layer wants to hear about calls. */
export interface RpcObserver {
  callStarted(method: string): void;
  callFinished(method: string, code: status, seconds: number): void;
  callRejected(method: string, cause: RejectionCause): void;
}

/**
 * Logging and metrics around every call: one log line and one
 * `callFinished` per call, a `callRejected` per admission refusal, a
 * `callStarted` per call that reaches its method.
 */
export class CallRecorder {
  readonly #logger: Logger;
  readonly #observer: RpcObserver | undefined;

  constructor(logger: Logger, observer: RpcObserver | undefined) {
    this.#logger = logger;
    this.#observer = observer;
  }

  /** Starts the clock of one call. */
  begin(method: string, correlationId: string): CallRecord {
    return new CallRecord(this.#logger, this.#observer, method, correlationId);
  }
}

/** What is known about a call's end, besides its code. */
export interface CallEnd {
  /** Who called; undefined when the caller could not be identified. */
  readonly principal: string | undefined;
  /** The limit that refused the call, if one did. */
  readonly refusedBy?: RefusalLimit | undefined;
  /** An unexpected error: it is logged with its stack at level error. */
  readonly error?: unknown;
}

/** The record of one call: its start time, method and correlation id. */
export class CallRecord {
  readonly #logger: Logger;
  readonly #observer: RpcObserver | undefined;
  readonly #method: string;
  readonly #correlationId: string;
  readonly #started = performance.now();

  constructor(logger: Logger, observer: RpcObserver | undefined, method: string, correlationId: string) {
    this.#logger = logger;
    this.#observer = observer;
    this.#method = method;
    this.#correlationId = correlationId;
  }

  /** Admission turned the call away. */
  refused(principal: string | undefined, refusal: Refusal): void {
    if (refusal.limit !== undefined) this.#observer?.callRejected(this.#method, refusal.limit);
    this.finished(refusal.status.code, { principal, refusedBy: refusal.limit });
  }

  /** The call was admitted and its method runs now. */
  serving(): void {
    this.#observer?.callStarted(this.#method);
  }

  /** The call ended with `code`: reports it to metrics and writes its log line. */
  finished(code: status, end: CallEnd): void {
    const seconds = (performance.now() - this.#started) / 1000;
    this.#observer?.callFinished(this.#method, code, seconds);
    const line = {
      method: this.#method,
      principal: end.principal ?? null,
      code: status[code],
      duration_ms: Math.round(seconds * 1e6) / 1e3,
      correlation_id: this.#correlationId,
      // The same value under its older name: log queries and tests match on it.
      request_id: this.#correlationId,
      ...(end.refusedBy === undefined ? {} : { refused_by: end.refusedBy }),
    };
    if (end.error !== undefined) this.#logger.error({ ...line, err: end.error }, "rpc failed unexpectedly");
    else this.#logger.info(line, "rpc");
  }
}
