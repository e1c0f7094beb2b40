import { STATUS_DETAILS_TRAILER } from "../wire/wire-constants.js";
import { fromBinary } from "@bufbuild/protobuf";
import { anyIs, anyUnpack, type Any } from "@bufbuild/protobuf/wkt";
import { status, type Metadata } from "@grpc/grpc-js";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";

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
  readonly reason?: string;
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
 */
export class BookingError extends Error {
  override readonly name = "BookingError";
  /** The gRPC status code, e.g. 6 (`status.ALREADY_EXISTS`). */
  readonly code: status;
  /** The status code's name, e.g. "ALREADY_EXISTS". */
  readonly codeName: string;
  readonly reason: string;
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
   * Normalises anything a call can fail with. A BookingError is returned as
   * is (with `extra` applied); a grpc-js status is decoded, rich details
   * included; anything else becomes UNKNOWN with the original as `cause`.
   */
  static from(error: unknown, extra: Pick<BookingErrorFacts, "requestId" | "attempts"> = {}): BookingError {
    if (error instanceof BookingError) {
      if (extra.requestId === undefined && extra.attempts === undefined) return error;
      return new BookingError(error.code, error.message, { ...error.#facts(), ...extra, cause: error.cause });
    }
    if (isStatusLike(error)) {
      return new BookingError(error.code, error.details, { ...decodeStatusDetails(error.metadata), ...extra, cause: error });
    }
    const message = error instanceof Error ? error.message : String(error);
    return new BookingError(status.UNKNOWN, message, { ...extra, cause: error });
  }

  #facts(): BookingErrorFacts {
    return {
      reason: this.reason,
      domain: this.domain,
      metadata: this.metadata,
      seats: this.seats,
      showId: this.showId,
      violations: this.violations,
      retryDelayMs: this.retryDelayMs,
      requestId: this.requestId,
      attempts: this.attempts,
    };
  }
}

/** True for the SDK's {@link BookingError}. */
export function isBookingError(error: unknown): error is BookingError {
  return error instanceof BookingError;
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
