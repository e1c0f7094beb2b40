import type { Database, Statement } from "better-sqlite3";
import type { StoredHold } from "../core/hold-rules.js";
import type { SeatBooking, ShowRecord, ShowState } from "../core/seat-store.js";

/** An idempotency record as stored. */
export interface RequestRow {
  readonly fingerprint: string;
  readonly outcome: string;
  readonly created_at: number;
}

/**
 * Every statement the SQLite store runs, prepared once per connection. Seat
 * lists travel as one JSON array (`json_each`): one statement per command,
 * not one per seat. A held_seats row whose expires_at is at or before "now"
 * is a lapsed hold: every read that asks what is held compares it with the
 * store's clock, passed in.
 */
export interface SqliteStatements {
  readonly findRequest: Statement<[string, string], RequestRow>;
  readonly saveRequest: Statement<[string, string, string, string, number]>;
  readonly purgeRequests: Statement<[number]>;

  /** [total_seats, state] of a show. */
  readonly showRow: Statement<[string], [number, ShowState]>;
  /** A show with its counts at `now`. */
  readonly showRecord: Statement<[{ showId: string; now: number }], ShowRecord>;
  readonly showRecordsAfter: Statement<[{ afterId: string; limit: number; now: number }], ShowRecord>;
  /** (show_id, total_seats, display_name, created_at); does nothing when the show exists. */
  readonly insertShow: Statement<[string, number, string, number]>;
  readonly closeShow: Statement<[string]>;
  /** (total_seats, show_id). */
  readonly resizeShow: Statement<[number, string]>;
  /** Seats above a total that are booked or held at `now`, ascending. */
  readonly takenAbove: Statement<[{ showId: string; total: number; now: number }], number>;

  /** (show_id, seat) → the owner of a booked seat. */
  readonly ownerOfSeat: Statement<[string, number], string>;
  /** (show_id, seat) → [hold_id, expires_at] of its mark, live or lapsed. */
  readonly markOfSeat: Statement<[string, number], [string, number]>;
  readonly bookSeat: Statement<[string, number, string, string, number]>;
  readonly releaseSeat: Statement<[string, number]>;
  readonly unmarkSeat: Statement<[string, number]>;

  /** (show_id, seats JSON) → [seat, owner] of the booked ones. */
  readonly ownersOf: Statement<[string, string], [number, string]>;
  /** (show_id, seats JSON) → [seat, hold_id, expires_at] of the marked ones, live or lapsed. */
  readonly marksOf: Statement<[string, string], [number, string, number]>;
  /** (show_id, owner, request_id, booked_at, seats JSON). */
  readonly bookSeats: Statement<[string, string, string, number, string]>;
  readonly releaseSeats: Statement<[string, string]>;
  readonly unmarkSeats: Statement<[string, string]>;

  /** Live holds of an owner at `now`. */
  readonly liveHoldsOf: Statement<[string, number], number>;
  /** (hold_id, show_id, owner, seats JSON, created_at, expires_at): a new active hold. */
  readonly insertHold: Statement<[string, string, string, string, number, number]>;
  /** (show_id, hold_id, expires_at, seats JSON): marks the seats, overwriting lapsed marks. */
  readonly markSeats: Statement<[string, string, number, string]>;
  readonly holdRow: { get(holdId: string): StoredHold | undefined };
  /** (state, hold_id). */
  readonly setHoldState: Statement<[string, string]>;
  /** (expires_at, hold_id). */
  readonly setHoldExpiry: Statement<[number, string]>;
  /** (show_id, seats JSON, hold_id): removes this hold's marks only. */
  readonly unmarkHeldSeats: Statement<[string, string, string]>;
  /** (expires_at, show_id, seats JSON, hold_id). */
  readonly remarkHeldSeats: Statement<[number, string, string, string]>;
  /** (show_id, total): marks above a total (only lapsed ones can be there). */
  readonly unmarkAbove: Statement<[string, number]>;

  /** Booked seats of a show, ascending. */
  readonly bookedSeats: Statement<[string], number>;
  /** Seats of a show held at `now` and not booked, ascending. */
  readonly liveHeldSeats: Statement<[string, number], number>;
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

// Held = marked by a live hold and not booked (booking removes a lapsed mark, so the second test is a guard).
const SHOW_RECORD_COLUMNS = `
  show_id AS id, display_name AS displayName, total_seats AS totalSeats, state, created_at AS createdAt,
  (SELECT count(*) FROM booked_seats AS b WHERE b.show_id = s.show_id) AS bookedCount,
  (SELECT count(*) FROM held_seats AS h
    WHERE h.show_id = s.show_id AND h.expires_at > @now
      AND NOT EXISTS (SELECT 1 FROM booked_seats AS b WHERE b.show_id = h.show_id AND b.seat = h.seat)) AS heldCount`;

/** Prepares {@link SqliteStatements} on a database at the latest schema. */
export function prepareSqliteStatements(db: Database): SqliteStatements {
  const holdRow = db.prepare<[string], HoldRow>(
    `SELECT hold_id AS holdId, show_id AS showId, owner, seats, created_at AS createdAt, expires_at AS expiresAt, state
     FROM holds WHERE hold_id = ?`,
  );
  return {
    findRequest: db.prepare("SELECT fingerprint, outcome, created_at FROM requests WHERE principal = ? AND request_id = ?"),
    saveRequest: db.prepare(
      `INSERT INTO requests (principal, request_id, fingerprint, outcome, created_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (principal, request_id) DO UPDATE
       SET fingerprint = excluded.fingerprint, outcome = excluded.outcome, created_at = excluded.created_at`,
    ),
    purgeRequests: db.prepare("DELETE FROM requests WHERE created_at < ?"),

    showRow: db.prepare<[string], [number, ShowState]>("SELECT total_seats, state FROM shows WHERE show_id = ?").raw(),
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

    // Separate statements: measured cheaper than one statement joining them.
    ownerOfSeat: db.prepare<[string, number], string>("SELECT owner FROM booked_seats WHERE show_id = ? AND seat = ?").pluck(),
    markOfSeat: db.prepare<[string, number], [string, number]>("SELECT hold_id, expires_at FROM held_seats WHERE show_id = ? AND seat = ?").raw(),
    bookSeat: db.prepare("INSERT INTO booked_seats (show_id, seat, owner, request_id, booked_at) VALUES (?, ?, ?, ?, ?)"),
    releaseSeat: db.prepare("DELETE FROM booked_seats WHERE show_id = ? AND seat = ?"),
    unmarkSeat: db.prepare("DELETE FROM held_seats WHERE show_id = ? AND seat = ?"),

    ownersOf: db.prepare<[string, string], [number, string]>(`SELECT seat, owner FROM booked_seats WHERE show_id = ? AND ${SEATS_IN_JSON}`).raw(),
    marksOf: db
      .prepare<[string, string], [number, string, number]>(`SELECT seat, hold_id, expires_at FROM held_seats WHERE show_id = ? AND ${SEATS_IN_JSON}`)
      .raw(),
    bookSeats: db.prepare(
      "INSERT INTO booked_seats (show_id, seat, owner, request_id, booked_at) SELECT ?, value, ?, ?, ? FROM json_each(?)",
    ),
    releaseSeats: db.prepare(`DELETE FROM booked_seats WHERE show_id = ? AND ${SEATS_IN_JSON}`),
    unmarkSeats: db.prepare(`DELETE FROM held_seats WHERE show_id = ? AND ${SEATS_IN_JSON}`),

    liveHoldsOf: db
      .prepare<[string, number], number>("SELECT count(*) FROM holds WHERE owner = ? AND state = 'active' AND expires_at > ?")
      .pluck(),
    insertHold: db.prepare(
      "INSERT INTO holds (hold_id, show_id, owner, seats, created_at, expires_at, state) VALUES (?, ?, ?, ?, ?, ?, 'active')",
    ),
    // "WHERE true" tells the parser that ON CONFLICT belongs to the INSERT, not to a join.
    markSeats: db.prepare(
      `INSERT INTO held_seats (show_id, seat, hold_id, expires_at) SELECT ?, value, ?, ? FROM json_each(?) WHERE true
       ON CONFLICT (show_id, seat) DO UPDATE SET hold_id = excluded.hold_id, expires_at = excluded.expires_at`,
    ),
    holdRow: {
      get(holdId) {
        const row = holdRow.get(holdId);
        return row === undefined ? undefined : { ...row, seats: JSON.parse(row.seats) as number[] };
      },
    },
    setHoldState: db.prepare("UPDATE holds SET state = ? WHERE hold_id = ?"),
    setHoldExpiry: db.prepare("UPDATE holds SET expires_at = ? WHERE hold_id = ?"),
    unmarkHeldSeats: db.prepare(`DELETE FROM held_seats WHERE show_id = ? AND ${SEATS_IN_JSON} AND hold_id = ?`),
    remarkHeldSeats: db.prepare(`UPDATE held_seats SET expires_at = ? WHERE show_id = ? AND ${SEATS_IN_JSON} AND hold_id = ?`),
    unmarkAbove: db.prepare("DELETE FROM held_seats WHERE show_id = ? AND seat > ?"),

    bookedSeats: db.prepare<[string], number>("SELECT seat FROM booked_seats WHERE show_id = ? ORDER BY seat").pluck(),
    liveHeldSeats: db
      .prepare<[string, number], number>(
        `SELECT seat FROM held_seats AS h WHERE show_id = ? AND expires_at > ?
           AND NOT EXISTS (SELECT 1 FROM booked_seats AS b WHERE b.show_id = h.show_id AND b.seat = h.seat)
         ORDER BY seat`,
      )
      .pluck(),
    bookingRows: db.prepare("SELECT seat, owner, request_id AS requestId FROM booked_seats WHERE show_id = ? ORDER BY seat"),
  };
}
