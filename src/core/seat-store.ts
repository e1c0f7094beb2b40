/**
 * The contract between the booking core and the places bookings live.
 *
 * A store knows seats, owners and idempotency records; it knows nothing of
 * gRPC or protobuf, and it does not throw for refused commands: a refusal is
 * data ({@link Refusal}) that the core turns into a typed error.
 */

/** A show as configured: an id and seats numbered 1..totalSeats. */
export interface ShowDefinition {
  readonly id: string;
  readonly totalSeats: number;
}

/** What a command does to its seats. */
export type CommandKind = "book" | "cancel";

/**
 * One validated request to change seats. The core has already checked the
 * show exists and that `seats` are in range, unique and sorted ascending.
 */
export interface SeatCommand {
  readonly kind: CommandKind;
  readonly showId: string;
  /** Ascending, unique, each in 1..totalSeats. */
  readonly seats: readonly number[];
  /** Who asks: the owner of booked seats, and whose seats may be cancelled. */
  readonly principal: string;
  /** Admins may cancel any principal's seats. */
  readonly isAdmin: boolean;
  /** The client's idempotency key; "" when the call is not idempotent. */
  readonly requestId: string;
}

/** Why a store refused a command. Stable strings: they are stored and sent. */
export type RefusalReason =
  | "SEAT_ALREADY_BOOKED"
  | "SEAT_NOT_BOOKED"
  | "SEAT_NOT_OWNED"
  | "REQUEST_ID_REUSED";

/** A refused command: nothing of it was applied. */
export interface Refusal {
  readonly ok: false;
  readonly reason: RefusalReason;
  /** The offending seats, ascending. */
  readonly seats: readonly number[];
  /** True when this repeats a stored outcome for the same request id. */
  readonly replayed: boolean;
}

/** An applied command. */
export interface Applied {
  readonly ok: true;
  /** The seats booked or released, ascending. */
  readonly seats: readonly number[];
  /** True when this repeats a stored outcome for the same request id. */
  readonly replayed: boolean;
}

/** The outcome of one command in a batch. */
export type CommandOutcome = Applied | Refusal;

/** A consistent view of one show. */
export interface ShowSnapshot {
  readonly showId: string;
  readonly totalSeats: number;
  readonly bookedCount: number;
  /** Free seat numbers, ascending. */
  readonly available: readonly number[];
}

/** One booked seat and who holds it (for audits and tests). */
export interface SeatBooking {
  readonly seat: number;
  readonly owner: string;
  /** The request id that booked it; "" when none was given. */
  readonly requestId: string;
}

/** A durable (or, for `memory`, volatile) home for seats. */
export interface SeatStore {
  /** A short name for logs and metrics: "memory", "sqlite", "postgres". */
  readonly kind: string;

  /**
   * Creates the configured shows that do not exist yet. A show that exists
   * with a different number of seats is an error: renumbering seats under
   * existing bookings would lose them.
   */
  ensureShows(shows: readonly ShowDefinition[]): Promise<void>;

  /**
   * Applies commands in order. Each command is all-or-nothing on its own: one
   * command's refusal never affects another's outcome. The promise resolves
   * only after every applied command (and every idempotency record) is
   * committed; a rejection means the outcome of the batch is unknown to the
   * caller, and retrying with the same request ids is safe.
   *
   * A command with a request id that the same principal used before gets the
   * stored outcome (with `replayed: true`) when the command is the same, and a
   * REQUEST_ID_REUSED refusal when it differs.
   */
  applyBatch(commands: readonly SeatCommand[]): Promise<CommandOutcome[]>;

  /** A consistent snapshot of a show, read from the store itself. */
  snapshot(showId: string): Promise<ShowSnapshot>;

  /** Every booked seat of a show, ascending by seat. */
  bookings(showId: string): Promise<SeatBooking[]>;

  /** Flushes and closes. Further calls fail. */
  close(): Promise<void>;
}

/**
 * The store could not be reached (connection refused or lost, database
 * shutting down). The outcome of the batch is unknown: a retry with the same
 * request ids is safe and settles it.
 */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
}

/** True for {@link StoreUnavailableError}. */
export function isStoreUnavailable(error: unknown): error is StoreUnavailableError {
  return error instanceof StoreUnavailableError;
}
