import { openSqliteDatabase } from "./sqlite-binding.js";
import type { Database as SqliteDatabase, Statement } from "better-sqlite3";
import { DEFAULT_REQUEST_ID_RETENTION_MS } from "../core/idempotency.js";
import { migrateSqlite } from "./sqlite-migrations.js";
import { commandFingerprint, decodeReplayedOutcome, encodeOutcome, requestIdReused } from "../core/idempotency.js";
import { checkShow, decideSeatCommand } from "../core/seat-rules.js";
import { freeSeats } from "../core/free-seats.js";
import type {
  CommandOutcome,
  HoldRecord,
  SeatBooking,
  SeatCommand,
  SeatStore,
  ShowDefinition,
  ShowRecord,
  ShowSnapshot,
  StoreCommand,
} from "../core/seat-store.js";

/** Options of {@link SqliteStore}. */
export interface SqliteStoreOptions {
  /** The database file; created (with its schema) when missing. Its directory must exist. */
  readonly path: string;
  /** How long request ids are remembered (default 24 h). */
  readonly requestIdRetentionMs?: number;
  /** How long a write waits for another process holding the file (default 5 s). */
  readonly busyTimeoutMs?: number;
  /** The clock, in ms; tests move it. */
  readonly now?: () => number;
}

/** Old request ids are deleted at most this often: the purge is cheap, not free. */
const PURGE_INTERVAL_MS = 60_000;

interface RequestRow {
  readonly fingerprint: string;
  readonly outcome: string;
  readonly created_at: number;
}

const noOwner = (): undefined => undefined;

/**
 * Seats in one SQLite file (WAL, `synchronous=FULL`): durable on one machine.
 *
 * Every `applyBatch` is ONE `BEGIN IMMEDIATE` transaction and so one fsync,
 * however many commands the core queued into it (group commit). Each command
 * is decided with the shared rules against the owners read inside that
 * transaction, and its idempotency record is written in the same transaction,
 * so a crash keeps both or neither. Only booked seats are rows.
 *
 * Limits: better-sqlite3 is synchronous, so a commit (and its fsync) blocks
 * the event loop for its duration; several processes may share the file, but
 * their writes take turns.
 */
export class SqliteStore implements SeatStore {
  readonly kind = "sqlite";
  readonly path: string;
  readonly #db: SqliteDatabase;
  readonly #retentionMs: number;
  readonly #now: () => number;
  /** Seat counts of shows seen; a show's count never changes once created. */
  readonly #totalSeats = new Map<string, number>();
  #nextPurgeAt = 0;

  readonly #findRequest: Statement<[string, string], RequestRow>;
  readonly #saveRequest: Statement<[string, string, string, string, number]>;
  readonly #purgeRequests: Statement<[number]>;
  readonly #showSeats: Statement<[string], number>;
  readonly #insertShow: Statement<[string, number]>;
  readonly #ownersOf: Statement<[string, string], [number, string]>;
  readonly #bookSeats: Statement<[string, string, string, number, string]>;
  readonly #releaseSeats: Statement<[string, string]>;
  readonly #ownerOfSeat: Statement<[string, number], string>;
  readonly #bookSeat: Statement<[string, number, string, string, number]>;
  readonly #releaseSeat: Statement<[string, number]>;
  readonly #bookedSeats: Statement<[string], number>;
  readonly #bookingRows: Statement<[string], SeatBooking>;
  readonly #applyInTransaction: (commands: readonly SeatCommand[]) => CommandOutcome[];
  readonly #showIdsAfter: Statement<[string, number], string>;
  readonly #readShow: (showId: string) => { totalSeats: number; booked: number[] } | undefined;
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
    this.#findRequest = db.prepare(
      "SELECT fingerprint, outcome, created_at FROM requests WHERE principal = ? AND request_id = ?",
    );
    this.#saveRequest = db.prepare(
      `INSERT INTO requests (principal, request_id, fingerprint, outcome, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (principal, request_id) DO UPDATE
       SET fingerprint = excluded.fingerprint, outcome = excluded.outcome, created_at = excluded.created_at`,
    );
    this.#purgeRequests = db.prepare("DELETE FROM requests WHERE created_at < ?");
    this.#showSeats = db.prepare<[string], number>("SELECT total_seats FROM shows WHERE show_id = ?").pluck();
    this.#insertShow = db.prepare("INSERT INTO shows (show_id, total_seats) VALUES (?, ?) ON CONFLICT DO NOTHING");
    // Seat lists travel as one JSON array: one statement per command, not one per seat.
    this.#ownersOf = db
      .prepare<[string, string], [number, string]>(
        "SELECT seat, owner FROM booked_seats WHERE show_id = ? AND seat IN (SELECT value FROM json_each(?))",
      )
      .raw();
    this.#bookSeats = db.prepare(
      `INSERT INTO booked_seats (show_id, seat, owner, request_id, booked_at)
       SELECT ?, value, ?, ?, ? FROM json_each(?)`,
    );
    this.#releaseSeats = db.prepare(
      "DELETE FROM booked_seats WHERE show_id = ? AND seat IN (SELECT value FROM json_each(?))",
    );
    // One-seat commands are the common case, and json_each costs a few µs per statement.
    this.#ownerOfSeat = db
      .prepare<[string, number], string>("SELECT owner FROM booked_seats WHERE show_id = ? AND seat = ?")
      .pluck();
    this.#bookSeat = db.prepare(
      "INSERT INTO booked_seats (show_id, seat, owner, request_id, booked_at) VALUES (?, ?, ?, ?, ?)",
    );
    this.#releaseSeat = db.prepare("DELETE FROM booked_seats WHERE show_id = ? AND seat = ?");
    this.#bookedSeats = db
      .prepare<[string], number>("SELECT seat FROM booked_seats WHERE show_id = ? ORDER BY seat")
      .pluck();
    this.#bookingRows = db.prepare(
      "SELECT seat, owner, request_id AS requestId FROM booked_seats WHERE show_id = ? ORDER BY seat",
    );
    const apply = db.transaction((commands: readonly SeatCommand[]) => {
      const now = this.#now();
      if (now >= this.#nextPurgeAt) {
        this.#purgeRequests.run(now - this.#retentionMs);
        this.#nextPurgeAt = now + PURGE_INTERVAL_MS;
      }
      const outcomes: CommandOutcome[] = new Array<CommandOutcome>(commands.length);
      for (let index = 0; index < commands.length; index++) {
        outcomes[index] = this.#apply(commands[index] as SeatCommand, now);
      }
      return outcomes;
    });
    this.#applyInTransaction = (commands) => apply.immediate(commands);
    // Read transactions: the seat count and the seats come from the same moment.
    this.#showIdsAfter = db
      .prepare<[string, number], string>("SELECT show_id FROM shows WHERE show_id > ? ORDER BY show_id LIMIT ?")
      .pluck();
    this.#readShow = db.transaction((showId: string) => {
      const totalSeats = this.#showSeats.get(showId);
      return totalSeats === undefined ? undefined : { totalSeats, booked: this.#bookedSeats.all(showId) };
    });
    this.#readBookings = db.transaction((showId: string) => {
      this.#requireShow(showId);
      return this.#bookingRows.all(showId);
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
    this.#db
      .transaction(() => {
        // A show that exists keeps its seat count: it may have been resized at run time.
        for (const show of shows) this.#insertShow.run(show.id, show.totalSeats);
      })
      .immediate();
    const records: ShowRecord[] = [];
    for (const show of shows) {
      const record = await this.getShow(show.id);
      if (record !== undefined) records.push(record);
    }
    return records;
  }

  async applyBatch(commands: readonly StoreCommand[]): Promise<CommandOutcome[]> {
    this.#assertOpen();
    if (commands.length === 0) return [];
    for (const command of commands) {
      if (command.kind !== "book" && command.kind !== "cancel") {
        // Temporary, until the holds and shows schema lands (issue 9).
        throw new Error(`the SQLite store cannot apply "${command.kind}" commands yet`);
      }
    }
    return this.#applyInTransaction(commands as readonly SeatCommand[]);
  }

  async snapshot(showId: string): Promise<ShowSnapshot | undefined> {
    this.#assertOpen();
    const read = this.#readShow(showId);
    if (read === undefined) return undefined;
    const { totalSeats, booked } = read;
    const available = freeSeats(totalSeats, booked);
    return { showId, totalSeats, bookedCount: booked.length, heldCount: 0, available };
  }

  async getShow(showId: string): Promise<ShowRecord | undefined> {
    this.#assertOpen();
    const read = this.#readShow(showId);
    if (read === undefined) return undefined;
    // Temporary, until the holds and shows schema lands (issue 9): no names, states or holds yet.
    return { id: showId, displayName: "", totalSeats: read.totalSeats, state: "open", createdAt: 0, bookedCount: read.booked.length, heldCount: 0 };
  }

  async listShows(afterId: string, limit: number): Promise<ShowRecord[]> {
    this.#assertOpen();
    const ids = this.#showIdsAfter.all(afterId, limit);
    const records: ShowRecord[] = [];
    for (const id of ids) {
      const record = await this.getShow(id);
      if (record !== undefined) records.push(record);
    }
    return records;
  }

  async getHold(_holdId: string): Promise<HoldRecord | undefined> {
    this.#assertOpen();
    return undefined;
  }

  async bookings(showId: string): Promise<SeatBooking[]> {
    this.#assertOpen();
    return this.#readBookings(showId);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  /** One command, inside the batch transaction. Throws only for faults, never for refusals. */
  #apply(command: SeatCommand, now: number): CommandOutcome {
    const fingerprint = commandFingerprint(command);
    const remembered = command.requestId !== "";
    if (remembered) {
      const earlier = this.#findRequest.get(command.principal, command.requestId);
      // An expired record that the purge has not reached yet counts as gone.
      if (earlier !== undefined && earlier.created_at >= now - this.#retentionMs) {
        return earlier.fingerprint === fingerprint
          ? decodeReplayedOutcome(earlier.outcome)
          : requestIdReused(command);
      }
    }
    const totalSeats = this.#showTotal(command.showId);
    const refused = checkShow(command, totalSeats === undefined ? undefined : { totalSeats, state: "open" });
    const outcome = refused ?? (command.seats.length === 1 ? this.#applyOneSeat(command, now) : this.#applySeats(command, now));
    if (remembered) {
      this.#saveRequest.run(command.principal, command.requestId, fingerprint, encodeOutcome(outcome), now);
    }
    return outcome;
  }

  #applyOneSeat(command: SeatCommand, now: number): CommandOutcome {
    const seat = command.seats[0] as number;
    const owner = this.#ownerOfSeat.get(command.showId, seat);
    const outcome = decideSeatCommand(command, () => ({ owner, hold: undefined }), now);
    if (outcome.ok) {
      if (command.kind === "book") this.#bookSeat.run(command.showId, seat, command.principal, command.requestId, now);
      else this.#releaseSeat.run(command.showId, seat);
    }
    return outcome;
  }

  /** Several seats: one statement each to read, and to change, them all. */
  #applySeats(command: SeatCommand, now: number): CommandOutcome {
    const seatsJson = JSON.stringify(command.seats);
    const rows = this.#ownersOf.all(command.showId, seatsJson);
    let ownerOf: (seat: number) => string | undefined = noOwner;
    if (rows.length > 0) {
      const owners = new Map(rows);
      ownerOf = (seat) => owners.get(seat);
    }
    const outcome = decideSeatCommand(command, (seat) => ({ owner: ownerOf(seat), hold: undefined }), now);
    if (outcome.ok) {
      if (command.kind === "book") {
        this.#bookSeats.run(command.showId, command.principal, command.requestId, now, seatsJson);
      } else {
        this.#releaseSeats.run(command.showId, seatsJson);
      }
    }
    return outcome;
  }

  #showTotal(showId: string): number | undefined {
    let totalSeats = this.#totalSeats.get(showId);
    if (totalSeats === undefined) {
      totalSeats = this.#showSeats.get(showId);
      if (totalSeats !== undefined) this.#totalSeats.set(showId, totalSeats);
    }
    return totalSeats;
  }

  #requireShow(showId: string): number {
    const totalSeats = this.#showTotal(showId);
    if (totalSeats === undefined) throw new Error(`show "${showId}" is not in the store`);
    return totalSeats;
  }

  #assertOpen(): void {
    if (!this.#db.open) throw new Error("the SQLite store is closed");
  }
}
