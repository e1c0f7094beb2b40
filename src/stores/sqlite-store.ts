import type { Database as SqliteDatabase } from "better-sqlite3";
import { DEFAULT_CHANGE_LOG_RETENTION } from "../core/change-log.js";
import { freeSeats } from "../core/free-seats.js";
import { decideHoldCommand, holdAsOf, newHold, tooManyHolds } from "../core/hold-rules.js";
import {
  commandFingerprint,
  decodeReplayedOutcome,
  DEFAULT_REQUEST_ID_RETENTION_MS,
  encodeOutcome,
  requestIdReused,
} from "../core/idempotency.js";
import { checkShow, decideSeatCommand, type SeatView } from "../core/seat-rules.js";
import type {
  CommandOutcome,
  CreateShowCommand,
  ExpireHoldsCommand,
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
import type { ChangeLogRead, ChangeLogRetention, ShowChange } from "../core/show-changes.js";
import { decideCreate, decideResize } from "../core/show-rules.js";
import { SqliteBatchShows, type BatchShow } from "./sqlite-batch-shows.js";
import { openSqliteDatabase, sqliteBinding } from "./sqlite-binding.js";
import { migrateSqlite } from "./sqlite-migrations.js";
import { prepareSqliteStatements, type ChangeRow, type SqliteStatements } from "./sqlite-statements.js";

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
  /** How much of each show's change log is kept (default DEFAULT_CHANGE_LOG_RETENTION). */
  readonly changeLog?: ChangeLogRetention;
  /**
   * How many pages the WAL may hold before a commit checkpoints them into the
   * database file (`PRAGMA wal_autocheckpoint`; default
   * {@link DEFAULT_WAL_AUTOCHECKPOINT_PAGES}). A whole number >= 1: turning
   * checkpoints off is not an option.
   */
  readonly walAutocheckpointPages?: number;
}

/**
 * 10,000 pages (about 40 MB of WAL at 4 KiB pages) instead of SQLite's 1,000.
 * A checkpoint copies each page the WAL holds into the database file once
 * and fsyncs it, however many commits rewrote that page since the last one;
 * it ran about every 25th group commit of 19 book-1 commands (40 frames
 * each) and took 13% of the store's CPU (perf). Pages that most commits
 * rewrite (the shows row, the tails of the change log and of the request-id
 * age index of schema 5, b-tree parents) are now copied a tenth as often, as are
 * request-id leaves that take several records between checkpoints. Measured on the store alone, 19
 * book-or-cancel commands per commit: 39-40 -> 32-33 µs per command
 * (medians of 20 interleaved rounds). Nothing is skipped: every page still
 * reaches the database file, in larger, rarer checkpoints (each one blocks
 * the event loop longer), and the WAL file keeps its largest size on disk.
 */
export const DEFAULT_WAL_AUTOCHECKPOINT_PAGES = 10_000;

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
 * transaction, and its idempotency record and its versioned change rows are
 * written in the same transaction, so a crash keeps all or none. Only booked
 * and held seats are rows. The injected clock (this process's) decides hold
 * expiry.
 *
 * Limits: better-sqlite3 is synchronous, so a commit (and its fsync) blocks
 * the event loop for its duration; several processes may share the file, but
 * their writes take turns, and their clocks should agree. `onCommit` hears
 * this process's commits only: watching a file that other processes write
 * is out of scope.
 */
export class SqliteStore implements SeatStore {
  readonly kind = "sqlite";
  readonly path: string;
  readonly schema: { readonly foundVersion: number; readonly version: number };
  readonly engine = `${sqliteBinding().packageName} ${sqliteBinding().version}`;
  readonly #db: SqliteDatabase;
  readonly #retentionMs: number;
  readonly #now: () => number;
  readonly #sql: SqliteStatements;
  #nextPurgeAt = 0;
  /** The running batch's shows and versions. */
  readonly #batch: SqliteBatchShows;
  readonly #listeners = new Set<(showId: string, version: number) => void>();

  readonly #applyInTransaction: (commands: readonly StoreCommand[]) => { outcomes: CommandOutcome[]; changed: [string, number][] };
  readonly #ensureInTransaction: (shows: readonly ShowDefinition[], now: number) => ShowRecord[];
  readonly #readSnapshot: (showId: string) => ShowSnapshot | undefined;
  readonly #readChanges: (showId: string, afterVersion: number, limit: number) => ChangeLogRead;
  readonly #readBookings: (showId: string) => SeatBooking[];

  private constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.#retentionMs = options.requestIdRetentionMs ?? DEFAULT_REQUEST_ID_RETENTION_MS;
    this.#now = options.now ?? Date.now;
    const checkpointPages = options.walAutocheckpointPages ?? DEFAULT_WAL_AUTOCHECKPOINT_PAGES;
    if (!Number.isSafeInteger(checkpointPages) || checkpointPages < 1) {
      throw new TypeError(`walAutocheckpointPages must be a whole number >= 1, got ${checkpointPages}`);
    }
    const db = openSqliteDatabase(options.path);
    this.#db = db;
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      // Per connection: each process that opens the file sets its own.
      db.pragma(`wal_autocheckpoint = ${checkpointPages}`);
      db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
      db.pragma("foreign_keys = ON");
      const foundVersion = db.pragma("user_version", { simple: true }) as number;
      this.schema = { foundVersion, version: migrateSqlite(db) };
    } catch (error) {
      db.close();
      throw error;
    }
    const sql = prepareSqliteStatements(db);
    this.#sql = sql;
    const batch = new SqliteBatchShows(sql, options.changeLog ?? DEFAULT_CHANGE_LOG_RETENTION);
    this.#batch = batch;
    const apply = db.transaction((commands: readonly StoreCommand[]) => {
      const batchStart = this.#now();
      if (batchStart >= this.#nextPurgeAt) {
        sql.purgeRequests.run(batchStart - this.#retentionMs);
        this.#nextPurgeAt = batchStart + PURGE_INTERVAL_MS;
      }
      batch.start();
      const outcomes: CommandOutcome[] = new Array<CommandOutcome>(commands.length);
      for (let index = 0; index < commands.length; index++) {
        // Each command is decided at its own moment, as the memory store does.
        outcomes[index] = this.#apply(commands[index] as StoreCommand, this.#now());
      }
      return { outcomes, changed: batch.finish(batchStart) };
    });
    this.#applyInTransaction = (commands) => apply.immediate(commands);
    const ensure = db.transaction((shows: readonly ShowDefinition[], now: number) => {
      // A show that exists is left as it is: it may have been resized or closed at run time.
      for (const show of shows) sql.insertShow.run(show.id, show.totalSeats, show.displayName ?? "", now);
      return shows.map((show) => this.#showRecord(show.id) as ShowRecord);
    });
    this.#ensureInTransaction = (shows, now) => ensure.immediate(shows, now);
    // Read transactions: a show's row and its seats (or changes) come from the same moment.
    this.#readSnapshot = db.transaction((showId: string): ShowSnapshot | undefined => {
      const show = sql.showRow.get(showId);
      if (show === undefined) return undefined;
      const [totalSeats, state, version] = show;
      const booked = sql.bookedSeats.all(showId);
      const held = sql.heldSeats.all(showId);
      const taken = held.length === 0 ? booked : mergeAscending(booked, held);
      return { showId, totalSeats, bookedCount: booked.length, heldCount: held.length, available: freeSeats(totalSeats, taken), version, held, state };
    });
    // readChangeLog's answers, by query.
    this.#readChanges = db.transaction((showId: string, afterVersion: number, limit: number): ChangeLogRead => {
      const show = sql.showRow.get(showId);
      if (show === undefined) return { kind: "unknown-show" };
      // Rows below log_start may still be stored (they are deleted in chunks): the log ends there.
      const [, , latest, oldestVersion] = show;
      // A version the show never reached (a reset store): the client starts again.
      if (afterVersion > latest) return { kind: "too-old", oldestVersion };
      if (afterVersion === latest) return { kind: "changes", changes: [] };
      if (afterVersion + 1 < oldestVersion) return { kind: "too-old", oldestVersion };
      return { kind: "changes", changes: sql.changesAfter.all(showId, afterVersion, limit).map((row) => showChange(showId, row)) };
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
    const { outcomes, changed } = this.#applyInTransaction(commands);
    // After the commit: a listener that reads finds what it was told of.
    for (const [showId, version] of changed) for (const listener of this.#listeners) listener(showId, version);
    return outcomes;
  }

  async snapshot(showId: string): Promise<ShowSnapshot | undefined> {
    this.#assertOpen();
    return this.#readSnapshot(showId);
  }

  async getShow(showId: string): Promise<ShowRecord | undefined> {
    this.#assertOpen();
    return this.#showRecord(showId);
  }

  async listShows(afterId: string, limit: number): Promise<ShowRecord[]> {
    this.#assertOpen();
    return this.#sql.showRecordsAfter.all({ afterId, limit });
  }

  async getHold(holdId: string): Promise<HoldRecord | undefined> {
    this.#assertOpen();
    const hold = this.#sql.holdRow.get(holdId);
    return hold === undefined ? undefined : holdAsOf(hold, this.#now());
  }

  async changesSince(showId: string, afterVersion: number, limit: number): Promise<ChangeLogRead> {
    this.#assertOpen();
    return this.#readChanges(showId, afterVersion, limit);
  }

  /** Hears this process's commits only (see the class comment). */
  onCommit(listener: (showId: string, version: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async lapsedHoldShows(): Promise<string[]> {
    this.#assertOpen();
    return this.#sql.lapsedHoldShows.all(this.#now());
  }

  async bookings(showId: string): Promise<SeatBooking[]> {
    this.#assertOpen();
    return this.#readBookings(showId);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
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
        const show = this.#batch.get(command.showId);
        if (show === undefined) return SHOW_NOT_FOUND;
        if (show.state === "open") {
          this.#sql.closeShow.run(command.showId);
          show.state = "closed";
          this.#batch.record(command.showId, show, "closed", "[]", null, now);
        }
        return { ok: true, seats: [], replayed: false, show: this.#showRecord(command.showId) as ShowRecord };
      }
      case "resize-show":
        return this.#resizeShow(command, now);
      case "expire-holds":
        return { ok: true, seats: [], replayed: false, endedHolds: this.#expireHolds(command, now) };
    }
  }

  /**
   * The hot path: the show comes from the batch's cache, then one primary-key
   * lookup for the seat's owner and, to book in a show with hold marks, one
   * for the seat's mark.
   */
  #applyOneSeat(command: SeatCommand, now: number): CommandOutcome {
    const seat = command.seats[0] as number;
    const show = this.#batch.get(command.showId);
    const refused = checkShow(command, show);
    if (refused !== undefined || show === undefined) return refused ?? SHOW_NOT_FOUND;
    // A cancel never looks at holds: a booked seat has no mark. Nor does a
    // booking in a show with no marks (read at the batch's start, kept by its holds).
    const mark = command.kind === "book" && show.hasMarks ? this.#sql.markOfSeat.get(command.showId, seat) : undefined;
    const view: SeatView = {
      owner: this.#sql.ownerOfSeat.get(command.showId, seat),
      hold: mark === undefined ? undefined : { holdId: mark[0], expiresAt: mark[1] },
    };
    const outcome = decideSeatCommand(command, () => view, now);
    if (!outcome.ok) return outcome;
    if (command.kind === "book") {
      // A mark that did not refuse the booking is a lapsed hold's: its end comes first.
      if (mark !== undefined) this.#endHold(command.showId, show, mark[0], now);
      this.#sql.bookSeat.run(command.showId, seat, command.principal, command.requestId, now);
      this.#batch.record(command.showId, show, "booked", `[${seat}]`, null, now);
    } else {
      this.#sql.releaseSeat.run(command.showId, seat);
      this.#batch.record(command.showId, show, "released", `[${seat}]`, null, now);
    }
    return outcome;
  }

  /** Several seats, or a hold: one statement each to read, and to change, them all. */
  #applySeats(command: SeatCommand | HoldCommand, now: number): CommandOutcome {
    const show = this.#batch.get(command.showId);
    const refused = checkShow(command, show);
    if (refused !== undefined || show === undefined) return refused ?? SHOW_NOT_FOUND;
    const seatsJson = JSON.stringify(command.seats);
    const owners = new Map(this.#sql.ownersOf.all(command.showId, seatsJson));
    const marks = new Map<number, SeatView["hold"]>();
    // A cancel never looks at holds, and a show without marks has none to find.
    if (command.kind !== "cancel" && show.hasMarks) {
      for (const [seat, holdId, expiresAt] of this.#sql.marksOf.all(command.showId, seatsJson)) marks.set(seat, { holdId, expiresAt });
    }
    const outcome = decideSeatCommand(command, (seat) => ({ owner: owners.get(seat), hold: marks.get(seat) }), now);
    if (!outcome.ok) return outcome;
    if (command.kind === "hold" && (this.#sql.liveHoldsOf.get(command.principal, now) ?? 0) >= command.maxHoldsPerPrincipal) return tooManyHolds();
    // Marks that did not refuse the command are lapsed holds': their ends come first.
    if (marks.size > 0) this.#endHolds(command.showId, show, [...marks.values()].map((mark) => mark?.holdId ?? ""), now);
    switch (command.kind) {
      case "book":
        this.#sql.bookSeats.run(command.showId, command.principal, command.requestId, now, seatsJson);
        this.#batch.record(command.showId, show, "booked", seatsJson, null, now);
        return outcome;
      case "cancel":
        this.#sql.releaseSeats.run(command.showId, seatsJson);
        this.#batch.record(command.showId, show, "released", seatsJson, null, now);
        return outcome;
      case "hold": {
        const hold = newHold(command, command.seats, now);
        this.#sql.insertHold.run(hold.holdId, hold.showId, hold.owner, seatsJson, hold.createdAt, hold.expiresAt);
        this.#sql.markSeats.run(command.showId, hold.holdId, hold.expiresAt, seatsJson);
        show.hasMarks = true;
        this.#batch.record(command.showId, show, "held", seatsJson, null, now);
        return { ...outcome, hold };
      }
    }
  }

  #applyToHold(command: HoldActionCommand | ExtendCommand, now: number): CommandOutcome {
    const hold = this.#sql.holdRow.get(command.holdId);
    const show = hold === undefined ? undefined : this.#batch.get(hold.showId);
    const outcome = decideHoldCommand(command, hold, show?.state, now);
    if (!outcome.ok || outcome.hold === undefined || show === undefined) return outcome;
    const changed = outcome.hold;
    const seatsJson = JSON.stringify(changed.seats);
    switch (command.kind) {
      case "confirm":
        this.#sql.setHoldState.run("confirmed", changed.holdId);
        this.#sql.unmarkHeldSeats.run(changed.showId, seatsJson, changed.holdId);
        this.#sql.bookSeats.run(changed.showId, changed.owner, command.requestId, now, seatsJson);
        this.#batch.record(changed.showId, show, "booked", seatsJson, null, now);
        break;
      case "release":
        this.#sql.setHoldState.run("released", changed.holdId);
        this.#sql.unmarkHeldSeats.run(changed.showId, seatsJson, changed.holdId);
        this.#batch.record(changed.showId, show, "hold-ended", seatsJson, null, now);
        break;
      case "extend":
        // An extension changes no seat's availability: it takes no version.
        this.#sql.setHoldExpiry.run(changed.expiresAt, changed.holdId);
        this.#sql.remarkHeldSeats.run(changed.expiresAt, changed.showId, seatsJson, changed.holdId);
        break;
    }
    return outcome;
  }

  #createShow(command: CreateShowCommand, now: number): CommandOutcome {
    const outcome = decideCreate(command, this.#showRecord(command.showId), now);
    if (outcome.ok) {
      this.#sql.insertShow.run(command.showId, command.totalSeats, command.displayName, now);
      this.#batch.created(command.showId, command.totalSeats);
    }
    return outcome;
  }

  #resizeShow(command: ResizeShowCommand, now: number): CommandOutcome {
    const record = this.#showRecord(command.showId);
    const takenAbove = record === undefined ? [] : this.#sql.takenAbove.all({ showId: command.showId, total: command.totalSeats, now });
    const outcome = decideResize(command, record, takenAbove);
    const show = this.#batch.get(command.showId);
    if (!outcome.ok || show === undefined) return outcome;
    // Only lapsed holds can mark seats above the new total: their ends come first.
    this.#endHolds(command.showId, show, this.#sql.holdsAbove.all(command.showId, command.totalSeats), now);
    this.#sql.resizeShow.run(command.totalSeats, command.showId);
    show.totalSeats = command.totalSeats;
    this.#batch.record(command.showId, show, "resized", "[]", command.totalSeats, now);
    return { ...outcome, show: this.#showRecord(command.showId) as ShowRecord };
  }

  /** Records the end of every hold of the show recorded active but lapsed at `now`. */
  #expireHolds(command: ExpireHoldsCommand, now: number): number {
    const show = this.#batch.get(command.showId);
    if (show === undefined) return 0;
    const lapsed = this.#sql.lapsedHoldsOf.all(command.showId, now).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [holdId, seatsJson] of lapsed) this.#endHoldWithSeats(command.showId, show, holdId, seatsJson, now);
    return lapsed.length;
  }

  /** Ends holds (lapsed ones, recorded active) in hold id order, as the memory store does. */
  #endHolds(showId: string, show: BatchShow, holdIds: readonly string[], now: number): void {
    const distinct = [...new Set(holdIds)].sort();
    for (const holdId of distinct) this.#endHold(showId, show, holdId, now);
  }

  #endHold(showId: string, show: BatchShow, holdId: string, now: number): void {
    const seatsJson = this.#sql.holdSeats.get(holdId);
    if (seatsJson !== undefined) this.#endHoldWithSeats(showId, show, holdId, seatsJson, now);
  }

  /** Records a lapsed hold's end: 'expired', its marks gone, a "hold-ended" change with all its seats. */
  #endHoldWithSeats(showId: string, show: BatchShow, holdId: string, seatsJson: string, now: number): void {
    this.#sql.setHoldState.run("expired", holdId);
    this.#sql.unmarkHeldSeats.run(showId, seatsJson, holdId);
    this.#batch.record(showId, show, "hold-ended", seatsJson, null, now);
  }

  #showRecord(showId: string): ShowRecord | undefined {
    return this.#sql.showRecord.get({ showId });
  }

  #assertOpen(): void {
    if (!this.#db.open) throw new Error("the SQLite store is closed");
  }
}

/** A change as stored, as the contract gives it. */
function showChange(showId: string, [version, kind, seats, totalSeats, at]: ChangeRow): ShowChange {
  const change: ShowChange = { showId, version, kind, seats: JSON.parse(seats) as number[], at };
  return totalSeats === null ? change : { ...change, totalSeats };
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
