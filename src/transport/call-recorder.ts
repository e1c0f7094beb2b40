import { status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { accessLineWriter, type AccessLineWriter } from "./access-log-line.js";
import type { AdmissionLimit, Refusal, RefusalLimit } from "./admission/admission-step.js";

/** Why the server turned a call away before serving it: the label of `booking_rejections_total`. */
export type RejectionCause = AdmissionLimit;

/** What the metrics layer wants to hear about calls. */
export interface RpcObserver {
  callStarted(method: string): void;
  /** A unary call ended, or a stream when there is no `streamFinished`. */
  callFinished(method: string, code: status, seconds: number): void;
  callRejected(method: string, cause: RejectionCause): void;
  /** A server stream ended after `seconds` (kept apart: a stream's life is no call latency). */
  streamFinished?(method: string, code: status, seconds: number): void;
  /** A watch stream wrote `count` changes to its client. */
  changesSent?(count: number): void;
}

/** Whether a call answers once or streams. */
export type CallShape = "unary" | "stream";

/**
 * Logging and metrics around every call: one log line and one
 * `callFinished` per call, a `callRejected` per admission refusal, a
 * `callStarted` per call that reaches its method.
 */
export class CallRecorder {
  readonly #loggers: CallLoggers;
  readonly #observer: RpcObserver | undefined;

  constructor(logger: Logger, observer: RpcObserver | undefined) {
    const plain = logger.child({}, { redact: [] });
    this.#loggers = { redacting: logger, plain, accessLine: accessLineWriter(plain, "rpc") };
    this.#observer = observer;
  }

  /** Starts the clock of one call. */
  begin(method: string, correlationId: string, shape: CallShape = "unary"): CallRecord {
    return new CallRecord(this.#loggers, this.#observer, method, correlationId, shape);
  }

  /** The observer, for what only a stream reports (changes sent). */
  get observer(): RpcObserver | undefined {
    return this.#observer;
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
  /** Extra fields of the log line (a stream's changes_sent). */
  readonly fields?: Readonly<Record<string, number | string>>;
}

/**
 * The service's logger, and a child of it without redaction for the plain
 * per-call line. That line's keys are the fixed ones below and its values
 * are strings and numbers, which no redaction path (a key, or a key inside
 * an object) can name, so both loggers write the same line (byte for byte,
 * except that pino escapes a lone UTF-16 surrogate only when redacting, and
 * a principal decoded from a certificate cannot hold one); the redacting one
 * would run its wildcard paths over every value of every call, the largest
 * allocation of a booking. A line with an error or extra fields goes through
 * the redacting logger. The child keeps the level the logger had when the
 * recorder was built (nothing changes it at run time).
 */
interface CallLoggers {
  readonly redacting: Logger;
  readonly plain: Logger;
  /** The plain line written without pino's general path, when the plain logger allows it (see access-log-line.ts). */
  readonly accessLine: AccessLineWriter | undefined;
}

/** The record of one call: its start time, method and correlation id. */
export class CallRecord {
  readonly #loggers: CallLoggers;
  readonly #observer: RpcObserver | undefined;
  readonly #method: string;
  readonly #correlationId: string;
  readonly #shape: CallShape;
  readonly #started = performance.now();

  constructor(loggers: CallLoggers, observer: RpcObserver | undefined, method: string, correlationId: string, shape: CallShape = "unary") {
    this.#loggers = loggers;
    this.#observer = observer;
    this.#method = method;
    this.#correlationId = correlationId;
    this.#shape = shape;
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
    if (this.#shape === "stream" && this.#observer?.streamFinished !== undefined) this.#observer.streamFinished(this.#method, code, seconds);
    else this.#observer?.callFinished(this.#method, code, seconds);
    const durationMs = Math.round(seconds * 1e6) / 1e3;
    if (end.error === undefined && end.fields === undefined && this.#loggers.accessLine !== undefined) {
      this.#loggers.accessLine({
        method: this.#method,
        principal: end.principal ?? null,
        code: status[code],
        durationMs,
        correlationId: this.#correlationId,
        refusedBy: end.refusedBy,
      });
      return;
    }
    const line: Record<string, unknown> = {
      method: this.#method,
      principal: end.principal ?? null,
      code: status[code],
      duration_ms: durationMs,
      correlation_id: this.#correlationId,
      // The same value under its older name: log queries and tests match on it.
      request_id: this.#correlationId,
    };
    if (end.refusedBy !== undefined) line["refused_by"] = end.refusedBy;
    if (end.error !== undefined) {
      this.#loggers.redacting.error({ ...line, ...end.fields, err: end.error }, "rpc failed unexpectedly");
    } else if (end.fields !== undefined) {
      this.#loggers.redacting.info({ ...line, ...end.fields }, "rpc");
    } else {
      this.#loggers.plain.info(line, "rpc");
    }
  }
}
