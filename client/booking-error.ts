import { STATUS_DETAILS_TRAILER } from "../wire/wire-constants.js";
import { fromBinary } from "@bufbuild/protobuf";
import { anyIs, anyUnpack, type Any } from "@bufbuild/protobuf/wkt";
import { status, type Metadata } from "@grpc/grpc-js";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import type { BookingErrorReason } from "./booking-error-reasons.js";

/** The trailer that carries a serialized google.rpc.Status (the rich error model). */
export { STATUS_DETAILS_TRAILER };

/** One bad field of a request, from google.rpc.BadRequest. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** Everything a {@link BookingError} carries besides code and message. */
export interface BookingErrorFacts {
  /** ErrorInfo reason, e.g. "SEAT_ALREADY_BOOKED"; "" when the server sent none. */
  readonly reason?: BookingErrorReason | (string & {});
  /** ErrorInfo domain, "booking.v1" for this service's own errors. */
  readonly domain?: string;
  /** All ErrorInfo metadata, as sent. */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly seats?: readonly number[];
  readonly showId?: string;
  readonly violations?: readonly FieldViolation[];
  readonly retryDelayMs?: number | undefined;
  readonly requestId?: string | undefined;
  /** How many calls the SDK made before giving up (1 when it did not retry). */
  readonly attempts?: number;
  readonly cause?: unknown;
}

/** The grpc-js error shape (a ServiceError, or anything alike). */
interface StatusLike {
  readonly code: number;
  readonly details: string;
  readonly metadata?: Metadata | undefined;
}

/**
 * The one error type of the SDK: every failed call rejects with it, whether
 * the service refused the request (ALREADY_EXISTS and friends, with the
 * offending seats) or no answer came (UNAVAILABLE, DEADLINE_EXCEEDED).
 *
 * `code` is the gRPC status number and `codeName` its name. The facts come
 * from the google.rpc details the server attaches; errors raised by grpc-js
 * itself (no connection, deadline) have no reason and no seats.
 *
 * `instanceof BookingError` and {@link isBookingError} recognise a
 * BookingError by its shape, so an error thrown by another copy of this
 * package in the same app (two versions installed side by side) passes both.
 */
export class BookingError extends Error {
  override readonly name = "BookingError";
  /** The gRPC status code, e.g. 6 (`status.ALREADY_EXISTS`). */
  readonly code: status;
  /** The status code's name, e.g. "ALREADY_EXISTS". */
  readonly codeName: string;
  /**
   * The ErrorInfo reason ("" when the server sent none). One of
   * {@link BookingErrorReason}, or a reason newer than this SDK.
   */
  readonly reason: BookingErrorReason | (string & {});
  readonly domain: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** The seats at fault (ErrorInfo metadata "seats"), ascending as sent. */
  readonly seats: readonly number[];
  /** The show at fault (ErrorInfo metadata "show_id"); "" when not sent. */
  readonly showId: string;
  readonly violations: readonly FieldViolation[];
  /** From google.rpc.RetryInfo: how long the server asked us to wait. */
  readonly retryDelayMs: number | undefined;
  /** The idempotency key the call carried, if it had one. */
  readonly requestId: string | undefined;
  readonly attempts: number;

  constructor(code: status, message: string, facts: BookingErrorFacts = {}) {
    super(message, facts.cause === undefined ? undefined : { cause: facts.cause });
    this.code = code;
    this.codeName = statusName(code);
    this.reason = facts.reason ?? "";
    this.domain = facts.domain ?? "";
    this.metadata = facts.metadata ?? {};
    this.seats = facts.seats ?? [];
    this.showId = facts.showId ?? "";
    this.violations = facts.violations ?? [];
    this.retryDelayMs = facts.retryDelayMs;
    this.requestId = facts.requestId;
    this.attempts = facts.attempts ?? 1;
  }

  /**
   * True for a BookingError of this copy of the package, and for an Error of
   * any copy that has a BookingError's shape (see {@link isBookingError}).
   * A subclass keeps the ordinary prototype check.
   */
  static override [Symbol.hasInstance](this: unknown, value: unknown): boolean {
    if (this !== BookingError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return isBookingError(value);
  }

  /**
   * Normalises anything a call can fail with. A BookingError (of any copy of
   * the package) is returned as is, or copied when `extra` is given; a grpc-js
   * status is decoded, rich details included; anything else becomes UNKNOWN
   * with the original as `cause`.
   */
  static from(error: unknown, extra: Pick<BookingErrorFacts, "requestId" | "attempts"> = {}): BookingError {
    if (isBookingError(error)) {
      if (extra.requestId === undefined && extra.attempts === undefined) return error;
      return new BookingError(error.code, error.message, { ...factsOf(error), ...extra, cause: error.cause });
    }
    if (isStatusLike(error)) {
      return new BookingError(error.code, error.details, { ...decodeStatusDetails(error.metadata), ...extra, cause: error });
    }
    const message = error instanceof Error ? error.message : String(error);
    return new BookingError(status.UNKNOWN, message, { ...extra, cause: error });
  }

}

/**
 * True for a {@link BookingError}: one of this copy of the package, or an
 * Error from another copy, recognised by its shape (name "BookingError",
 * numeric `code`, string `codeName`, `reason`, `domain`, `showId`, array
 * `seats` and `violations`, numeric `attempts`, object `metadata`), as
 * connect-es does for ConnectError. A plain object of that shape that is
 * not an Error does not count.
 */
export function isBookingError(error: unknown): error is BookingError {
  if (!(error instanceof Error)) return false;
  if (Object.getPrototypeOf(error) === BookingError.prototype) return true;
  const candidate = error as Error & Partial<Record<keyof BookingError, unknown>>;
  return (
    candidate.name === "BookingError" &&
    typeof candidate.code === "number" &&
    typeof candidate.codeName === "string" &&
    typeof candidate.reason === "string" &&
    typeof candidate.domain === "string" &&
    typeof candidate.showId === "string" &&
    Array.isArray(candidate.seats) &&
    Array.isArray(candidate.violations) &&
    typeof candidate.attempts === "number" &&
    typeof candidate.metadata === "object" &&
    candidate.metadata !== null
  );
}

/**
 * Reads the google.rpc.Status in `grpc-status-details-bin`: ErrorInfo
 * (reason, show_id, seats), BadRequest (violations) and RetryInfo (delay).
 * Unknown detail types are skipped; a trailer that does not parse yields no
 * facts rather than hiding the status code behind a decoding error.
 */
export function decodeStatusDetails(trailers: Metadata | undefined): BookingErrorFacts {
  const raw = trailers?.get(STATUS_DETAILS_TRAILER)[0];
  if (raw === undefined || typeof raw === "string") return {};
  let details: Any[];
  try {
    details = fromBinary(StatusSchema, raw).details;
  } catch {
    return {};
  }
  let facts: BookingErrorFacts = {};
  for (const detail of details) {
    if (anyIs(detail, ErrorInfoSchema)) {
      const info = anyUnpack(detail, ErrorInfoSchema);
      if (info === undefined) continue;
      facts = {
        ...facts,
        reason: info.reason,
        domain: info.domain,
        metadata: { ...info.metadata },
        seats: parseSeatsMetadata(info.metadata["seats"]),
        showId: info.metadata["show_id"] ?? "",
      };
    } else if (anyIs(detail, BadRequestSchema)) {
      const badRequest = anyUnpack(detail, BadRequestSchema);
      if (badRequest === undefined) continue;
      facts = {
        ...facts,
        violations: badRequest.fieldViolations.map(({ field, description }) => ({ field, description })),
      };
    } else if (anyIs(detail, RetryInfoSchema)) {
      const delay = anyUnpack(detail, RetryInfoSchema)?.retryDelay;
      if (delay === undefined) continue;
      facts = { ...facts, retryDelayMs: Math.max(0, Number(delay.seconds) * 1000 + Math.round(delay.nanos / 1e6)) };
    }
  }
  return facts;
}

/** The name of a gRPC status code ("ALREADY_EXISTS"), or "CODE_<n>" for unknown numbers. */
export function statusName(code: number): string {
  const name: unknown = (status as unknown as Record<number, unknown>)[code];
  return typeof name === "string" ? name : `CODE_${code}`;
}

/** The facts of a BookingError, read through its public fields (it may come from another copy). */
function factsOf(error: BookingError): BookingErrorFacts {
  return {
    reason: error.reason,
    domain: error.domain,
    metadata: error.metadata,
    seats: error.seats,
    showId: error.showId,
    violations: error.violations,
    retryDelayMs: error.retryDelayMs,
    requestId: error.requestId,
    attempts: error.attempts,
  };
}

function parseSeatsMetadata(value: string | undefined): number[] {
  if (value === undefined || value.trim() === "") return [];
  return value
    .split(",")
    .map((part) => Number(part.trim()))
    .filter((seat) => Number.isSafeInteger(seat) && seat >= 0);
}

function isStatusLike(error: unknown): error is StatusLike {
  if (typeof error !== "object" || error === null) return false;
  const candidate = error as Partial<Record<keyof StatusLike, unknown>>;
  return typeof candidate.code === "number" && typeof candidate.details === "string";
}
