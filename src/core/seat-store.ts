import type { ChangeLogRead } from "./show-changes.js";

/**
 * The contract between the booking core and the places bookings live.
 *
 * A store knows shows, seats, owners, holds and idempotency records; it knows
 * nothing of gRPC or protobuf, and it does not throw for refused commands: a
 * refusal is data ({@link Refusal}) that the core turns into a typed failure.
 * Every store decides with the same rules (seat-rules.ts, hold-rules.ts,
 * show-rules.ts), so that `memory`, `sqlite` and `postgres` refuse exactly the
 * same requests.
 */

/** A show as configured at start (--shows): an id and seats numbered 1..totalSeats. */
export interface ShowDefinition {
  readonly id: string;
  readonly totalSeats: number;
  /** A name for people; "" when none. */
  readonly displayName?: string;
}

/** Whether a show sells seats. */
export type ShowState = "open" | "closed";

/** A show as stored, with its counts at the moment it was read. */
export interface ShowRecord {
  readonly id: string;
  readonly displayName: string;
  readonly totalSeats: number;
  readonly state: ShowState;
  /** Epoch ms. */
  readonly createdAt: number;
  readonly bookedCount: number;
  /** Seats held by live holds. */
  readonly heldCount: number;
}

/** Where a hold is in its life; "expired" is an active hold whose time ran out. */
export type HoldState = "active" | "confirmed" | "released" | "expired";

/** A time-limited claim on seats of one show. */
export interface HoldRecord {
  readonly holdId: string;
  readonly showId: string;
  /** Ascending. */
  readonly seats: readonly number[];
  readonly owner: string;
  /** Epoch ms, by the clock that decides expiry. */
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly state: HoldState;
}

/** Who asks, and the key that makes a retry safe. */
interface CommandBase {
  /** Who asks: the owner of what is booked or held, and whose seats may be cancelled. */
  readonly principal: string;
  /** Admins may cancel any seats and release any hold. */
  readonly isAdmin: boolean;
  /** The client's idempotency key; "" when the call is not idempotent. */
  readonly requestId: string;
}

/**
 * Book or cancel seats. The core has already checked that `seats` are whole
 * numbers >= 1, unique, sorted ascending and not too many; the store checks
 * them against the show.
 */
export interface SeatCommand extends CommandBase {
  readonly kind: "book" | "cancel";
  readonly showId: string;
  readonly seats: readonly number[];
}

/** Hold seats for `ttlMs` (validated by the core) under a fresh, random id. */
export interface HoldCommand extends CommandBase {
  readonly kind: "hold";
  readonly showId: string;
  readonly seats: readonly number[];
  readonly holdId: string;
  readonly ttlMs: number;
  /** Live holds the principal may have, this one included. */
  readonly maxHoldsPerPrincipal: number;
}

/** Act on an existing hold. */
export interface HoldActionCommand extends CommandBase {
  readonly kind: "confirm" | "release";
  readonly holdId: string;
}

/** Move a live hold's expiry to now + ttlMs, capped at createdAt + maxLifetimeMs. */
export interface ExtendCommand extends CommandBase {
  readonly kind: "extend";
  readonly holdId: string;
  readonly ttlMs: number;
  readonly maxLifetimeMs: number;
}

/** Create a show (admins only; the core checks). */
export interface CreateShowCommand extends CommandBase {
  readonly kind: "create-show";
  readonly showId: string;
  readonly totalSeats: number;
  readonly displayName: string;
}

/** Close a show (admins only). */
export interface CloseShowCommand extends CommandBase {
  readonly kind: "close-show";
  readonly showId: string;
}

/** Change a show's number of seats (admins only). */
export interface ResizeShowCommand extends CommandBase {
  readonly kind: "resize-show";
  readonly showId: string;
  readonly totalSeats: number;
}

/**
 * Record the end of every hold of a show that has lapsed by the store's clock
 * but is still recorded as active: the expiry sweeper's command. Each such
 * hold becomes a versioned "hold-ended" change. Never refused; a show with no
 * lapsed hold changes nothing. Its principal is the server itself.
 */
export interface ExpireHoldsCommand extends CommandBase {
  readonly kind: "expire-holds";
  readonly showId: string;
}

/** Every change a store applies; each goes through the core's one guarded path. */
export type StoreCommand =
  | SeatCommand
  | HoldCommand
  | HoldActionCommand
  | ExtendCommand
  | CreateShowCommand
  | CloseShowCommand
  | ResizeShowCommand
  | ExpireHoldsCommand;

/** The kind of a command. */
export type CommandKind = StoreCommand["kind"];

/** Why a store refused a command. Stable strings: they are stored and sent. */
export type RefusalReason =
  | "SEAT_ALREADY_BOOKED"
  | "SEAT_HELD"
  | "SEAT_NOT_BOOKED"
  | "SEAT_NOT_OWNED"
  | "SEATS_OUT_OF_RANGE"
  | "REQUEST_ID_REUSED"
  | "SHOW_NOT_FOUND"
  | "SHOW_CLOSED"
  | "SHOW_EXISTS"
  | "SHOW_SHRINK_BLOCKED"
  | "HOLD_NOT_FOUND"
  | "HOLD_EXPIRED"
  | "HOLD_CONFIRMED"
  | "HOLD_RELEASED"
  | "TOO_MANY_HOLDS";

/** A refused command: nothing of it was applied. */
export interface Refusal {
  readonly ok: false;
  readonly reason: RefusalReason;
  /** The offending seats, ascending (empty when no seat is at fault). */
  readonly seats: readonly number[];
  /** True when this repeats a stored outcome for the same request id. */
  readonly replayed: boolean;
  /** SEAT_HELD: ms until the last of the offending holds lapses. */
  readonly retryDelayMs?: number;
  /** The show at fault, when the command named a hold rather than a show. */
  readonly showId?: string;
  /** SEATS_OUT_OF_RANGE and SHOW_SHRINK_BLOCKED: the show's seat count. */
  readonly totalSeats?: number;
  /**
   * The seats that break the next rule in the order, when some seats break
   * one rule and others another (seats booked and seats held; seats not
   * booked and seats booked by someone else): the message names them all.
   */
  readonly alsoAtFault?: SeatFault;
}

/** Seats that break one seat rule. */
export interface SeatFault {
  readonly reason: "SEAT_HELD" | "SEAT_NOT_OWNED";
  readonly seats: readonly number[];
}

/** An applied command. */
export interface Applied {
  readonly ok: true;
  /** The seats booked, released, held or confirmed, ascending (empty for show commands). */
  readonly seats: readonly number[];
  /** True when this repeats a stored outcome for the same request id. */
  readonly replayed: boolean;
  /** Hold commands: the hold after the change. */
  readonly hold?: HoldRecord;
  /** Show commands: the show after the change. */
  readonly show?: ShowRecord;
  /** expire-holds: how many lapsed holds it recorded as ended. */
  readonly endedHolds?: number;
}

/** The outcome of one command in a batch. */
export type CommandOutcome = Applied | Refusal;

/**
 * A consistent view of one show's seats at its latest version: a listing
 * never shows a state that no version describes. A hold that lapsed but whose
 * end is not recorded yet (by the sweeper, or by a request that took its
 * seats) still counts as held here.
 */
export interface ShowSnapshot {
  readonly showId: string;
  readonly totalSeats: number;
  readonly bookedCount: number;
  /** Seats held by holds whose end is not recorded. */
  readonly heldCount: number;
  /** Free seat numbers (neither booked nor held), ascending. */
  readonly available: readonly number[];
  /** The version this snapshot describes (0 for a show never changed). */
  readonly version: number;
  /** Held seat numbers, ascending. */
  readonly held: readonly number[];
  readonly state: ShowState;
}

/** One booked seat and who holds it (for audits and tests). */
export interface SeatBooking {
  readonly seat: number;
  readonly owner: string;
  /** The request id that booked it; "" when none was given. */
  readonly requestId: string;
}

/** A durable (or, for `memory`, volatile) home for shows, seats and holds. */
export interface SeatStore {
  /** A short name for logs and metrics: "memory", "sqlite", "postgres". */
  readonly kind: string;

  /**
   * A durable store's schema: the version its database was at when opened,
   * and the version it is at now that migrations ran (equal when none had
   * to). Absent for a store without a schema (memory).
   */
  readonly schema?: { readonly foundVersion: number; readonly version: number } | undefined;

  /** What the store runs on, for the log (e.g. "better-sqlite3-13 13.2.0"); absent when there is nothing to say. */
  readonly engine?: string;

  /**
   * How many applyBatch calls may run at once (absent: one). A store whose
   * transactions lock what they touch (PostgreSQL's row locks) may take
   * several, overlapping one batch's round trips and commit with the next;
   * a store that decides in this process must take one at a time.
   */
  readonly batchesInFlight?: number;

  /**
   * Batches that change the same show run one at a time (absent: false);
   * batches of different shows still overlap, up to batchesInFlight. For a
   * store whose transactions on one show would queue behind each other in
   * the store anyway (PostgreSQL's version step locks the show's row until
   * the commit): they wait in this process instead, where waiting costs no
   * connection and no lock, and the show's next batch gathers everything
   * queued meanwhile.
   */
  readonly oneBatchPerShow?: boolean;

  /**
   * Commands of different groups never share a batch (absent: one group).
   * For a store whose batches of alike commands run faster (PostgreSQL runs
   * a batch of book, cancel and hold commands as one statement). Changes
   * queued at the same time are concurrent requests, so committing one
   * group's batch before another's is one valid order among them.
   */
  batchGroup?(command: StoreCommand): string;

  /**
   * Creates the configured shows that do not exist yet and returns every one
   * as stored. A show that exists is left as it is, even when its seat count
   * differs from the configuration: it may have been resized at run time,
   * and a start must never shrink or overwrite a show.
   */
  ensureShows(shows: readonly ShowDefinition[]): Promise<ShowRecord[]>;

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
   *
   * Hold expiry is decided here, by the store's clock, at the moment each
   * command is decided: the injected clock for memory and SQLite, the
   * database's for PostgreSQL.
   */
  applyBatch(commands: readonly StoreCommand[]): Promise<CommandOutcome[]>;

  /** A consistent snapshot of a show, read from the store itself; undefined for an unknown show. */
  snapshot(showId: string): Promise<ShowSnapshot | undefined>;

  /** One show with its counts; undefined when unknown. */
  getShow(showId: string): Promise<ShowRecord | undefined>;

  /** Up to `limit` shows with ids greater than `afterId` ("" for the first page), by id. */
  listShows(afterId: string, limit: number): Promise<ShowRecord[]>;

  /** One hold, its state as of now by the store's clock; undefined when unknown. */
  getHold(holdId: string): Promise<HoldRecord | undefined>;

  /**
   * The changes of a show after `afterVersion`, at most `limit`, in version
   * order; "too-old" when the change log no longer reaches back that far.
   */
  changesSince(showId: string, afterVersion: number, limit: number): Promise<ChangeLogRead>;

  /**
   * Tells `listener` the show and latest version after every commit that
   * changed a show: this instance's commits, and for a shared database every
   * instance's (PostgreSQL: LISTEN/NOTIFY). Notifications may be coalesced
   * or arrive twice; the change log is the truth. Returns the unsubscribe.
   */
  onCommit(listener: (showId: string, version: number) => void): () => void;

  /** Shows that have a hold lapsed by the store's clock but not yet recorded as ended. */
  lapsedHoldShows(): Promise<string[]>;

  /** Every booked seat of a show, ascending by seat. Throws for an unknown show. */
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

/** True for {@link StoreUnavailableError}, also from another copy of this module. */
export function isStoreUnavailable(error: unknown): error is StoreUnavailableError {
  return error instanceof Error && error.name === "StoreUnavailableError";
}
