import type { Database as SqliteDatabase } from "better-sqlite3";
import { freeSeats } from "../core/free-seats.js";
import { decideHoldCommand, holdAsOf, newHold, tooManyHolds } from "../core/hold-rules.js";
import {
  commandFingerprint,
  decodeReplayedOutcome,
  DEFAULT_REQUEST_ID_RETENTION_MS,
  encodeOutcome,
  requestIdReused,
} from "../core/idempotency.js";
import { checkShow, decideSeatCommand, type SeatView, type ShowView } from "../core/seat-rules.js";
import type {
  CommandOutcome,
  CreateShowCommand,
  ExtendCommand,
  HoldActionCommand,
  HoldCommand,
  HoldRecord,
  ResizeShowCommand,
  SeatBooking,
  SeatCommand,
  SeatStore,
  ShowDefinition,
  ShowRecord,
  ShowSnapshot,
  StoreCommand,
} from "../core/seat-store.js";
import { decideCreate, decideResize } from "../core/show-rules.js";
import { openSqliteDatabase } from "./sqlite-binding.js";
import { migrateSqlite } from "./sqlite-migrations.js";
import { prepareSqliteStatements, type SqliteStatements } from "./sqlite-statements.js";

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /** The database file; created (with its schema) when missing. Its directory must exist. */
  readonly path: string;
  /** How long request ids are remembered (default 24 h). */
  readonly requestIdRetentionMs?: number;
  /** How long a write waits for another process holding the file (default 5 s). */
  readonly busyTimeoutMs?: number;
  /** The clock, in ms, that decides hold expiry and request-id ages; tests move it. */
  readonly now?: () => number;
}

/** Old request ids are deleted at most this often: the purge is cheap, not free. */
const PURGE_INTERVAL_MS = 60_000;

const SHOW_NOT_FOUND: CommandOutcome = { ok: false, reason: "SHOW_NOT_FOUND", seats: [], replayed: false };

/**
 * Shows, seats and holds in one SQLite file (WAL, `synchronous=FULL`):
 * durable on one machine.
 *
 * Every `applyBatch` is ONE `BEGIN IMMEDIATE` transaction and so one fsync,
 * however many commands the core queued into it (group commit). Each command
 * is decided with the shared rules against rows read inside that
 * transaction, and its idempotency record is written in the same transaction,
 * so a crash keeps both or neither. Only booked and held seats are rows. The
 * injected clock (this process's) decides hold expiry.
 *
 * Limits: better-sqlite3 is synchronous, so a commit (and its fsync) blocks
 * the event loop for its duration; several processes may share the file, but
 * their writes take turns, and their clocks should agree.
 */
export class SqliteStore implements SeatStore {
  readonly kind = "sqlite";
  readonly path: string;
  readonly #db: SqliteDatabase;
  readonly #retentionMs: number;
  readonly #now: () => number;
  readonly #sql: SqliteStatements;
  #nextPurgeAt = 0;
  /**
   * Shows read in the running batch (undefined: not in the store). Valid only
   * inside its transaction, where nobody else writes: cleared when a batch
   * starts, since another process may resize or close a show between batches.
   */
  readonly #batchShows = new Map<string, ShowView | undefined>();

  readonly #applyInTransaction: (commands: readonly StoreCommand[]) => CommandOutcome[];
  readonly #ensureInTransaction: (shows: readonly ShowDefinition[], now: number) => ShowRecord[];
  readonly #readSnapshot: (showId: string, now: number) => ShowSnapshot | undefined;
  readonly #readBookings: (showId: string) => SeatBooking[];

  private constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.#retentionMs = options.requestIdRetentionMs ?? DEFAULT_REQUEST_ID_RETENTION_MS;
    this.#now = options.now ?? Date.now;
    const db = openSqliteDatabase(options.path);
    this.#db = db;
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
      db.pragma("foreign_keys = ON");
      migrateSqlite(db);
    } catch (error) {
      db.close();
      throw error;
    }
    const sql = prepareSqliteStatements(db);
    this.#sql = sql;
    const apply = db.transaction((commands: readonly StoreCommand[]) => {
      const batchStart = this.#now();
      if (batchStart >= this.#nextPurgeAt) {
        sql.purgeRequests.run(batchStart - this.#retentionMs);
        this.#nextPurgeAt = batchStart + PURGE_INTERVAL_MS;
      }
      this.#batchShows.clear();
      const outcomes: CommandOutcome[] = new Array<CommandOutcome>(commands.length);
      for (let index = 0; index < commands.length; index++) {
        // Each command is decided at its own moment, as the memory store does.
        outcomes[index] = this.#apply(commands[index] as StoreCommand, this.#now());
      }
      return outcomes;
    });
    this.#applyInTransaction = (commands) => apply.immediate(commands);
    const ensure = db.transaction((shows: readonly ShowDefinition[], now: number) => {
      // A show that exists is left as it is: it may have been resized or closed at run time.
      for (const show of shows) sql.insertShow.run(show.id, show.totalSeats, show.displayName ?? "", now);
      return shows.map((show) => this.#showRecord(show.id, now) as ShowRecord);
    });
    this.#ensureInTransaction = (shows, now) => ensure.immediate(shows, now);
    // Read transactions: a show's row and its seats come from the same moment.
    this.#readSnapshot = db.transaction((showId: string, now: number) => {
      const show = sql.showRow.get(showId);
      if (show === undefined) return undefined;
      const [totalSeats] = show;
      const booked = sql.bookedSeats.all(showId);
      const held = sql.liveHeldSeats.all(showId, now);
      const taken = held.length === 0 ? booked : mergeAscending(booked, held);
      return { showId, totalSeats, bookedCount: booked.length, heldCount: taken.length - booked.length, available: freeSeats(totalSeats, taken) };
    });
    this.#readBookings = db.transaction((showId: string) => {
      if (sql.showRow.get(showId) === undefined) throw new Error(`show "${showId}" is not in the store`);
      return sql.bookingRows.all(showId);
    });
  }

  /**
   * Opens (creating when missing) the database file and brings its schema up
   * to date. Takes a path or full options. Synchronous: SQLite opens in
   * microseconds (awaiting the result is harmless).
   */
  static open(options: string | SqliteStoreOptions): SqliteStore {
    return new SqliteStore(typeof options === "string" ? { path: options } : options);
  }

  async ensureShows(shows: readonly ShowDefinition[]): Promise<ShowRecord[]> {
    this.#assertOpen();
    return this.#ensureInTransaction(shows, this.#now());
  }

  async applyBatch(commands: readonly StoreCommand[]): Promise<CommandOutcome[]> {
    this.#assertOpen();
    if (commands.length === 0) return [];
    return this.#applyInTransaction(commands);
  }

  async snapshot(showId: string): Promise<ShowSnapshot | undefined> {
    this.#assertOpen();
    return this.#readSnapshot(showId, this.#now());
  }

  async getShow(showId: string): Promise<ShowRecord | undefined> {
    this.#assertOpen();
    return this.#showRecord(showId, this.#now());
  }

  async listShows(afterId: string, limit: number): Promise<ShowRecord[]> {
    this.#assertOpen();
    return this.#sql.showRecordsAfter.all({ afterId, limit, now: this.#now() });
  }

  async getHold(holdId: string): Promise<HoldRecord | undefined> {
    this.#assertOpen();
    const hold = this.#sql.holdRow.get(holdId);
    return hold === undefined ? undefined : holdAsOf(hold, this.#now());
  }

  async bookings(showId: string): Promise<SeatBooking[]> {
    this.#assertOpen();
    return this.#readBookings(showId);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  /** One command, inside the batch transaction. Throws only for faults, never for refusals. */
  #apply(command: StoreCommand, now: number): CommandOutcome {
    const fingerprint = commandFingerprint(command);
    const remembered = command.requestId !== "";
    if (remembered) {
      const earlier = this.#sql.findRequest.get(command.principal, command.requestId);
      // An expired record that the purge has not reached yet counts as gone.
      if (earlier !== undefined && earlier.created_at >= now - this.#retentionMs) {
        return earlier.fingerprint === fingerprint ? decodeReplayedOutcome(earlier.outcome) : requestIdReused(command);
      }
    }
    const outcome = this.#decideAndApply(command, now);
    if (remembered) {
      this.#sql.saveRequest.run(command.principal, command.requestId, fingerprint, encodeOutcome(outcome), now);
    }
    return outcome;
  }

  #decideAndApply(command: StoreCommand, now: number): CommandOutcome {
    switch (command.kind) {
      case "book":
      case "cancel":
      case "hold":
        return command.seats.length === 1 && command.kind !== "hold"
          ? this.#applyOneSeat(command, now)
          : this.#applySeats(command, now);
      case "confirm":
      case "release":
      case "extend":
        return this.#applyToHold(command, now);
      case "create-show":
        return this.#createShow(command, now);
      case "close-show": {
        const show = this.#showView(command.showId);
        if (show === undefined) return SHOW_NOT_FOUND;
        this.#sql.closeShow.run(command.showId);
        this.#batchShows.set(command.showId, { ...show, state: "closed" });
        return { ok: true, seats: [], replayed: false, show: this.#showRecord(command.showId, now) as ShowRecord };
      }
      case "resize-show":
        return this.#resizeShow(command, now);
    }
  }

  /**
   * The hot path: the show comes from the batch's cache, then one primary-key
   * lookup for the seat's owner and, to book, one for its hold mark.
   */
  #applyOneSeat(command: SeatCommand, now: number): CommandOutcome {
    const seat = command.seats[0] as number;
    const refused = checkShow(command, this.#showView(command.showId));
    if (refused !== undefined) return refused;
    // A cancel never looks at holds: a booked seat has no live one.
    const mark = command.kind === "book" ? this.#sql.markOfSeat.get(command.showId, seat) : undefined;
    const view: SeatView = {
      owner: this.#sql.ownerOfSeat.get(command.showId, seat),
      hold: mark === undefined ? undefined : { holdId: mark[0], expiresAt: mark[1] },
    };
    const outcome = decideSeatCommand(command, () => view, now);
    if (!outcome.ok) return outcome;
    if (command.kind === "book") {
      this.#sql.bookSeat.run(command.showId, seat, command.principal, command.requestId, now);
      // The lapsed hold's mark goes with the booking: nothing reads it again.
      if (mark !== undefined) this.#sql.unmarkSeat.run(command.showId, seat);
    } else {
      this.#sql.releaseSeat.run(command.showId, seat);
    }
    return outcome;
  }

  /** Several seats, or a hold: one statement each to read, and to change, them all. */
  #applySeats(command: SeatCommand | HoldCommand, now: number): CommandOutcome {
    const refused = checkShow(command, this.#showView(command.showId));
    if (refused !== undefined) return refused;
    const seatsJson = JSON.stringify(command.seats);
    const owners = new Map(this.#sql.ownersOf.all(command.showId, seatsJson));
    const marks = new Map<number, SeatView["hold"]>();
    if (command.kind !== "cancel") {
      for (const [seat, holdId, expiresAt] of this.#sql.marksOf.all(command.showId, seatsJson)) marks.set(seat, { holdId, expiresAt });
    }
    const outcome = decideSeatCommand(command, (seat) => ({ owner: owners.get(seat), hold: marks.get(seat) }), now);
    if (!outcome.ok) return outcome;
    switch (command.kind) {
      case "book":
        this.#sql.bookSeats.run(command.showId, command.principal, command.requestId, now, seatsJson);
        if (marks.size > 0) this.#sql.unmarkSeats.run(command.showId, seatsJson);
        return outcome;
      case "cancel":
        this.#sql.releaseSeats.run(command.showId, seatsJson);
        return outcome;
      case "hold": {
        if ((this.#sql.liveHoldsOf.get(command.principal, now) ?? 0) >= command.maxHoldsPerPrincipal) return tooManyHolds();
        const hold = newHold(command, command.seats, now);
        this.#sql.insertHold.run(hold.holdId, hold.showId, hold.owner, seatsJson, hold.createdAt, hold.expiresAt);
        // Lapsed marks on these seats are overwritten.
        this.#sql.markSeats.run(command.showId, hold.holdId, hold.expiresAt, seatsJson);
        return { ...outcome, hold };
      }
    }
  }

  #applyToHold(command: HoldActionCommand | ExtendCommand, now: number): CommandOutcome {
    const hold = this.#sql.holdRow.get(command.holdId);
    const showState = hold === undefined ? undefined : this.#showView(hold.showId)?.state;
    const outcome = decideHoldCommand(command, hold, showState, now);
    if (!outcome.ok || outcome.hold === undefined || hold === undefined) return outcome;
    const changed = outcome.hold;
    const seatsJson = JSON.stringify(changed.seats);
    switch (command.kind) {
      case "confirm":
        this.#sql.setHoldState.run("confirmed", changed.holdId);
        this.#sql.unmarkHeldSeats.run(changed.showId, seatsJson, changed.holdId);
        this.#sql.bookSeats.run(changed.showId, changed.owner, command.requestId, now, seatsJson);
        break;
      case "release":
        this.#sql.setHoldState.run("released", changed.holdId);
        this.#sql.unmarkHeldSeats.run(changed.showId, seatsJson, changed.holdId);
        break;
      case "extend":
        this.#sql.setHoldExpiry.run(changed.expiresAt, changed.holdId);
        this.#sql.remarkHeldSeats.run(changed.expiresAt, changed.showId, seatsJson, changed.holdId);
        break;
    }
    return outcome;
  }

  #createShow(command: CreateShowCommand, now: number): CommandOutcome {
    const outcome = decideCreate(command, this.#showRecord(command.showId, now), now);
    if (outcome.ok) {
      this.#sql.insertShow.run(command.showId, command.totalSeats, command.displayName, now);
      this.#batchShows.set(command.showId, { totalSeats: command.totalSeats, state: "open" });
    }
    return outcome;
  }

  #resizeShow(command: ResizeShowCommand, now: number): CommandOutcome {
    const show = this.#showRecord(command.showId, now);
    const takenAbove = show === undefined ? [] : this.#sql.takenAbove.all({ showId: command.showId, total: command.totalSeats, now });
    const outcome = decideResize(command, show, takenAbove);
    if (!outcome.ok) return outcome;
    this.#sql.resizeShow.run(command.totalSeats, command.showId);
    this.#batchShows.delete(command.showId);
    // Only lapsed marks can be left above the new total: they go with the seats.
    this.#sql.unmarkAbove.run(command.showId, command.totalSeats);
    return { ...outcome, show: this.#showRecord(command.showId, now) as ShowRecord };
  }

  /** The show a command names, read once per batch. */
  #showView(showId: string): ShowView | undefined {
    if (this.#batchShows.has(showId)) return this.#batchShows.get(showId);
    const row = this.#sql.showRow.get(showId);
    const show: ShowView | undefined = row === undefined ? undefined : { totalSeats: row[0], state: row[1] };
    this.#batchShows.set(showId, show);
    return show;
  }

  #showRecord(showId: string, now: number): ShowRecord | undefined {
    return this.#sql.showRecord.get({ showId, now });
  }

  #assertOpen(): void {
    if (!this.#db.open) throw new Error("the SQLite store is closed");
  }
}

/** The union of two ascending, duplicate-free seat lists, ascending. */
function mergeAscending(a: readonly number[], b: readonly number[]): number[] {
  const merged: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i] as number;
    const y = b[j] as number;
    if (x <= y) i++;
    if (y <= x) j++;
    merged.push(Math.min(x, y));
  }
  return merged.concat(a.slice(i), b.slice(j));
}
