import type { RefusalReason, SeatFault } from "./seat-store.js";

/** Every reason the core refuses a request for. Stable: clients match on them. */
export type FailureReason =
  | RefusalReason
  | "INVALID_SEATS"
  | "TOO_MANY_SEATS"
  | "INVALID_REQUEST_ID"
  | "INVALID_ARGUMENT"
  | "ADMIN_ONLY"
  | "SLOW_CONSUMER"
  | "OVERLOADED"
  | "DEADLINE_EXCEEDED"
  | "STORE_UNAVAILABLE";

/** One bad field of a request, as google.rpc.BadRequest reports it. */
export interface FieldViolation {
  readonly field: string;
  readonly description: string;
}

/** What a {@link BookingFailure} carries besides its message. */
export interface BookingFailureFacts {
  readonly reason: FailureReason;
  /** The show the request named ("" when the show itself is the problem). */
  readonly showId: string;
  /** The offending seats, ascending; empty when no seat is at fault. */
  readonly seats?: readonly number[];
  /** Field-level problems, for INVALID_SEATS and similar. */
  readonly violations?: readonly FieldViolation[];
  /** For OVERLOADED: how long the client should wait before retrying. */
  readonly retryDelayMs?: number;
  /** The hold at fault, for hold reasons. */
  readonly holdId?: string;
  /** Seats that break a second seat rule, named beside the reason's own. */
  readonly alsoAtFault?: SeatFault;
}

/**
 * A request the core refused. Nothing of the request was applied. The message
 * is written for people and names every offending seat; the facts are for
 * machines.
 */
export class BookingFailure extends Error {
  override readonly name = "BookingFailure";
  readonly reason: FailureReason;
  readonly showId: string;
  readonly seats: readonly number[];
  readonly violations: readonly FieldViolation[];
  readonly retryDelayMs: number | undefined;
  readonly holdId: string | undefined;
  readonly alsoAtFault: SeatFault | undefined;

  constructor(message: string, facts: BookingFailureFacts) {
    // A refusal is an answer, not a bug: nobody reads its stack, and
    // capturing one cost about 4.5 µs of every refused call (hot-seat
    // refuses most of its calls). Unexpected errors keep theirs.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(message);
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    this.reason = facts.reason;
    this.showId = facts.showId;
    this.seats = facts.seats ?? [];
    this.violations = facts.violations ?? [];
    this.retryDelayMs = facts.retryDelayMs;
    this.holdId = facts.holdId;
    this.alsoAtFault = facts.alsoAtFault;
  }
}

/**
 * True for errors the core raised on purpose (as opposed to bugs or I/O).
 * Checks the shape, not the class, so a failure from another copy of this
 * module (two builds in one process) is still recognised.
 */
export function isBookingFailure(error: unknown): error is BookingFailure {
  if (error instanceof BookingFailure) return true;
  if (!(error instanceof Error) || error.name !== "BookingFailure") return false;
  const candidate = error as Partial<Record<keyof BookingFailure, unknown>>;
  return typeof candidate.reason === "string" && typeof candidate.showId === "string" && Array.isArray(candidate.seats);
}

/** "seat 3" or "seats 3, 4, 7". */
export function describeSeats(seats: readonly number[]): string {
  return seats.length === 1 ? `seat ${seats[0]}` : `seats ${seats.join(", ")}`;
}
