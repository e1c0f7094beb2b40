import type { Database, Statement } from "better-sqlite3";
import type { StoredHold } from "../core/hold-rules.js";
import type { SeatBooking, ShowRecord, ShowState } from "../core/seat-store.js";
import type { ChangeKind } from "../core/show-changes.js";

/** An idempotency record as stored. */
export interface RequestRow {
  readonly fingerprint: string;
  readonly outcome: string;
  readonly created_at: number;
}

/** A shows row as the batch and the readers need it: [total_seats, state, version, log_start]. */
export type ShowRow = [number, ShowState, number, number];

/** A shows row as a batch reads it: {@link ShowRow} and whether any seat of the show is marked (1) or not (0). */
export type BatchShowRow = [number, ShowState, number, number, 0 | 1];

/** A show_changes row: [version, kind, seats JSON, total_seats, at]. */
export type ChangeRow = [number, ChangeKind, string, number | null, number];

/**
 * Every statement the SQLite store runs, prepared once per connection. Seat
 * lists travel as one JSON array (`json_each`): one statement per command,
 * not one per seat. A held_seats row marks a seat of a hold recorded
 * 'active'; its expires_at at or before "now" means the hold has lapsed.
 * Decisions compare it with the store's clock, passed in; listings count
 * every mark (a lapse is a change only once recorded).
 */
export interface SqliteStatements {
  /** (principal, request_id), through the unique index requests_key. */
  readonly findRequest: Statement<[string, string], RequestRow>;
  /**
   * (principal, request_id, fingerprint, outcome, created_at). Replaces an
   * expired record of the same id (the only one the store saves over) with
   * a new row, so it takes the next seq, as its created_at asks.
   */
  readonly saveRequest: Statement<[string, string, string, string, number]>;
  /** (cutoff) → deletes the records from the first (lowest seq) up to the first created at or after the cutoff. */
  readonly purgeRequests: Statement<[number]>;

  /** [total_seats, state, version, log_start] of a show. */
  readonly showRow: Statement<[string], ShowRow>;
  /** [total_seats, state, version, log_start, has marks] of a show: the batch's first read of it. */
  readonly batchShowRow: Statement<[string], BatchShowRow>;
  /** A show with its counts. */
  readonly showRecord: Statement<[{ showId: string }], ShowRecord>;
  readonly showRecordsAfter: Statement<[{ afterId: string; limit: number }], ShowRecord>;
  /** (show_id, total_seats, display_name, created_at); does nothing when the show exists. */
  readonly insertShow: Statement<[string, number, string, number]>;
  readonly closeShow: Statement<[string]>;
  /** (total_seats, show_id). */
  readonly resizeShow: Statement<[number, string]>;
  /** Seats above a total that are booked or held at `now`, ascending. */
  readonly takenAbove: Statement<[{ showId: string; total: number; now: number }], number>;
  /** (show_id, total) → the holds that mark seats above a total (only lapsed ones can). */
  readonly holdsAbove: Statement<[string, number], string>;

  /** (version, log_start, show_id). */
  readonly setShowVersion: Statement<[number, number, string]>;
  /**
   * (show_id, from, cutoff) → the first version at or above `from` committed
   * at or after `cutoff`: where the retention lets a show's log start
   * (trimChangeLog's rule), undefined when it keeps none.
   */
  readonly firstChangeSince: Statement<[string, number, number], number>;
  /** (show_id, version, kind, seats JSON, total_seats, at). */
  readonly insertChange: Statement<[string, number, ChangeKind, string, number | null, number]>;
  /** (show_id, log_start): deletes the rows the log no longer answers for. */
  readonly deleteChangesBefore: Statement<[string, number]>;
  /** (show_id, after, limit) → changes after a version, ascending. */
  readonly changesAfter: Statement<[string, number, number], ChangeRow>;

  /** (show_id, seat) → the owner of a booked seat. */
  readonly ownerOfSeat: Statement<[string, number], string>;
  /** (show_id, seat) → [hold_id, expires_at] of its mark, live or lapsed. */
  readonly markOfSeat: Statement<[string, number], [string, number]>;
  readonly bookSeat: Statement<[string, number, string, string, number]>;
  readonly releaseSeat: Statement<[string, number]>;

  /** (show_id, seats JSON) → [seat, owner] of the booked ones. */
  readonly ownersOf: Statement<[string, string], [number, string]>;
  /** (show_id, seats JSON) → [seat, hold_id, expires_at] of the marked ones, live or lapsed. */
  readonly marksOf: Statement<[string, string], [number, string, number]>;
  /** (show_id, owner, request_id, booked_at, seats JSON). */
  readonly bookSeats: Statement<[string, string, string, number, string]>;
  readonly releaseSeats: Statement<[string, string]>;

  /** Live holds of an owner at `now`. */
  readonly liveHoldsOf: Statement<[string, number], number>;
  /** (hold_id, show_id, owner, seats JSON, created_at, expires_at): a new active hold. */
  readonly insertHold: Statement<[string, string, string, string, number, number]>;
  /** (show_id, hold_id, expires_at, seats JSON): marks the seats (a lapsed hold's marks are removed first). */
  readonly markSeats: Statement<[string, string, number, string]>;
  readonly holdRow: { get(holdId: string): StoredHold | undefined };
  /** A hold's seats as stored (a JSON array, ascending). */
  readonly holdSeats: Statement<[string], string>;
  /** (show_id, now) → [hold_id, seats JSON] of the holds recorded active but lapsed. */
  readonly lapsedHoldsOf: Statement<[string, number], [string, string]>;
  /** Shows with a hold recorded active but lapsed at `now`. */
  readonly lapsedHoldShows: Statement<[number], string>;
  /** (state, hold_id). */
  readonly setHoldState: Statement<[string, string]>;
  /** (expires_at, hold_id). */
  readonly setHoldExpiry: Statement<[number, string]>;
  /** (show_id, seats JSON, hold_id): removes this hold's marks only. */
  readonly unmarkHeldSeats: Statement<[string, string, string]>;
  /** (expires_at, show_id, seats JSON, hold_id). */
  readonly remarkHeldSeats: Statement<[number, string, string, string]>;

  /** Booked seats of a show, ascending. */
  readonly bookedSeats: Statement<[string], number>;
  /** Marked seats of a show (held until the hold's end is recorded), ascending. */
  readonly heldSeats: Statement<[string], number>;
  readonly bookingRows: Statement<[string], SeatBooking>;
}

interface HoldRow {
  readonly holdId: string;
  readonly showId: string;
  readonly owner: string;
  readonly seats: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly state: StoredHold["state"];
}

const SEATS_IN_JSON = "seat IN (SELECT value FROM json_each(?))";

// Held = marked: a booked seat is never marked (booking or confirming removes the marks first).
const SHOW_RECORD_COLUMNS = `
  show_id AS id, display_name AS displayName, total_seats AS totalSeats, state, created_at AS createdAt,
  (SELECT count(*) FROM booked_seats AS b WHERE b.show_id = s.show_id) AS bookedCount,
  (SELECT count(*) FROM held_seats AS h WHERE h.show_id = s.show_id) AS heldCount`;

/** Prepares {@link SqliteStatements} on a database at the latest schema. */
export function prepareSqliteStatements(db: Database): SqliteStatements {
  const holdRow = db.prepare<[string], HoldRow>(
    `SELECT hold_id AS holdId, show_id AS showId, owner, seats, created_at AS createdAt, expires_at AS expiresAt, state
     FROM holds WHERE hold_id = ?`,
  );
  return {
    findRequest: db.prepare("SELECT fingerprint, outcome, created_at FROM requests WHERE principal = ? AND request_id = ?"),
    // REPLACE, not an upsert: updating the expired row in place would leave a
    // new created_at at an old seq, and the purge, which stops at the first
    // record it keeps, would keep every record after it until that one expires.
    saveRequest: db.prepare("INSERT OR REPLACE INTO requests (principal, request_id, fingerprint, outcome, created_at) VALUES (?, ?, ?, ?, ?)"),
    // seq order is time order (records are stamped from the store's clock as
    // they are appended), so the expired records are a prefix: the subquery
    // walks the rowid B-tree from its start to the first record it keeps
    // (ORDER BY seq needs no sort, LIMIT 1 stops it), and the DELETE is a
    // rowid range over the rows before it; when every record has expired,
    // the range ends after the last. If the clock stepped back, a record
    // with an older created_at may sit after a newer one: it stays until
    // the records before it expire, and until then the lookup (#apply in
    // sqlite-store.ts) already counts a record older than the retention as
    // gone.
    purgeRequests: db.prepare(
      `DELETE FROM requests WHERE seq < coalesce(
         (SELECT seq FROM requests WHERE created_at >= ? ORDER BY seq LIMIT 1),
         (SELECT max(seq) + 1 FROM requests))`,
    ),

    showRow: db.prepare<[string], ShowRow>("SELECT total_seats, state, version, log_start FROM shows WHERE show_id = ?").raw(),
    // One held_seats primary-key probe more than showRow; the readers use showRow.
    batchShowRow: db
      .prepare<[string], BatchShowRow>(
        `SELECT total_seats, state, version, log_start, EXISTS (SELECT 1 FROM held_seats AS h WHERE h.show_id = s.show_id)
         FROM shows AS s WHERE show_id = ?`,
      )
      .raw(),
    showRecord: db.prepare(`SELECT ${SHOW_RECORD_COLUMNS} FROM shows AS s WHERE show_id = @showId`),
    showRecordsAfter: db.prepare(`SELECT ${SHOW_RECORD_COLUMNS} FROM shows AS s WHERE show_id > @afterId ORDER BY show_id LIMIT @limit`),
    insertShow: db.prepare(
      "INSERT INTO shows (show_id, total_seats, display_name, state, created_at) VALUES (?, ?, ?, 'open', ?) ON CONFLICT DO NOTHING",
    ),
    closeShow: db.prepare("UPDATE shows SET state = 'closed' WHERE show_id = ?"),
    resizeShow: db.prepare("UPDATE shows SET total_seats = ? WHERE show_id = ?"),
    takenAbove: db
      .prepare<[{ showId: string; total: number; now: number }], number>(
        `SELECT seat FROM booked_seats WHERE show_id = @showId AND seat > @total
         UNION SELECT seat FROM held_seats WHERE show_id = @showId AND seat > @total AND expires_at > @now
         ORDER BY seat`,
      )
      .pluck(),
    holdsAbove: db.prepare<[string, number], string>("SELECT DISTINCT hold_id FROM held_seats WHERE show_id = ? AND seat > ?").pluck(),

    // Not one UPDATE ... RETURNING with the SELECT inside: measured 20-30 µs
    // slower per commit than the two statements.
    setShowVersion: db.prepare("UPDATE shows SET version = ?, log_start = ? WHERE show_id = ?"),
    // A primary-key range: it reads the versions the log lets go, and one more.
    firstChangeSince: db
      .prepare<[string, number, number], number>("SELECT version FROM show_changes WHERE show_id = ? AND version >= ? AND at >= ? ORDER BY version LIMIT 1")
      .pluck(),
    insertChange: db.prepare("INSERT INTO show_changes (show_id, version, kind, seats, total_seats, at) VALUES (?, ?, ?, ?, ?, ?)"),
    deleteChangesBefore: db.prepare("DELETE FROM show_changes WHERE show_id = ? AND version < ?"),
    changesAfter: db
      .prepare<[string, number, number], ChangeRow>(
        "SELECT version, kind, seats, total_seats, at FROM show_changes WHERE show_id = ? AND version > ? ORDER BY version LIMIT ?",
      )
      .raw(),

    // Separate statements: measured cheaper than one statement joining them.
    ownerOfSeat: db.prepare<[string, number], string>("SELECT owner FROM booked_seats WHERE show_id = ? AND seat = ?").pluck(),
    markOfSeat: db.prepare<[string, number], [string, number]>("SELECT hold_id, expires_at FROM held_seats WHERE show_id = ? AND seat = ?").raw(),
    bookSeat: db.prepare("INSERT INTO booked_seats (show_id, seat, owner, request_id, booked_at) VALUES (?, ?, ?, ?, ?)"),
    releaseSeat: db.prepare("DELETE FROM booked_seats WHERE show_id = ? AND seat = ?"),

    ownersOf: db.prepare<[string, string], [number, string]>(`SELECT seat, owner FROM booked_seats WHERE show_id = ? AND ${SEATS_IN_JSON}`).raw(),
    marksOf: db
      .prepare<[string, string], [number, string, number]>(`SELECT seat, hold_id, expires_at FROM held_seats WHERE show_id = ? AND ${SEATS_IN_JSON}`)
      .raw(),
    bookSeats: db.prepare(
      "INSERT INTO booked_seats (show_id, seat, owner, request_id, booked_at) SELECT ?, value, ?, ?, ? FROM json_each(?)",
    ),
    releaseSeats: db.prepare(`DELETE FROM booked_seats WHERE show_id = ? AND ${SEATS_IN_JSON}`),

    liveHoldsOf: db
      .prepare<[string, number], number>("SELECT count(*) FROM holds WHERE owner = ? AND state = 'active' AND expires_at > ?")
      .pluck(),
    insertHold: db.prepare(
      "INSERT INTO holds (hold_id, show_id, owner, seats, created_at, expires_at, state) VALUES (?, ?, ?, ?, ?, ?, 'active')",
    ),
    markSeats: db.prepare("INSERT INTO held_seats (show_id, seat, hold_id, expires_at) SELECT ?, value, ?, ? FROM json_each(?)"),
    holdRow: {
      get(holdId) {
        const row = holdRow.get(holdId);
        return row === undefined ? undefined : { ...row, seats: JSON.parse(row.seats) as number[] };
      },
    },
    holdSeats: db.prepare<[string], string>("SELECT seats FROM holds WHERE hold_id = ?").pluck(),
    lapsedHoldsOf: db
      .prepare<[string, number], [string, string]>(
        "SELECT hold_id, seats FROM holds WHERE show_id = ? AND state = 'active' AND expires_at <= ?",
      )
      .raw(),
    lapsedHoldShows: db
      .prepare<[number], string>("SELECT DISTINCT show_id FROM holds WHERE state = 'active' AND expires_at <= ? ORDER BY show_id")
      .pluck(),
    setHoldState: db.prepare("UPDATE holds SET state = ? WHERE hold_id = ?"),
    setHoldExpiry: db.prepare("UPDATE holds SET expires_at = ? WHERE hold_id = ?"),
    unmarkHeldSeats: db.prepare(`DELETE FROM held_seats WHERE show_id = ? AND ${SEATS_IN_JSON} AND hold_id = ?`),
    remarkHeldSeats: db.prepare(`UPDATE held_seats SET expires_at = ? WHERE show_id = ? AND ${SEATS_IN_JSON} AND hold_id = ?`),

    bookedSeats: db.prepare<[string], number>("SELECT seat FROM booked_seats WHERE show_id = ? ORDER BY seat").pluck(),
    heldSeats: db.prepare<[string], number>("SELECT seat FROM held_seats WHERE show_id = ? ORDER BY seat").pluck(),
    bookingRows: db.prepare("SELECT seat, owner, request_id AS requestId FROM booked_seats WHERE show_id = ? ORDER BY seat"),
  };
}
