import type { ClientBase, Pool } from "pg";
import type {
  CloseShowCommand,
  CommandOutcome,
  CreateShowCommand,
  ExpireHoldsCommand,
  ResizeShowCommand,
  ShowRecord,
  ShowState,
} from "../core/seat-store.js";
import { decideCreate, decideResize } from "../core/show-rules.js";
import { endLapsedHolds } from "./postgres-hold-actions.js";
import type { BatchChanges } from "./postgres-show-versions.js";

/** The show commands, all admin-only (the core checks), and the sweeper's expire-holds. */
export type ShowCommand = CreateShowCommand | CloseShowCommand | ResizeShowCommand | ExpireHoldsCommand;

interface ShowRow {
  readonly show_id: string;
  readonly display_name: string;
  readonly total_seats: number;
  readonly state: ShowState;
  readonly created_ms: number;
  readonly booked_count: number;
  readonly held_count: number;
}

/**
 * The columns of a ShowRecord for shows `sh`, at the show's latest version:
 * a seat counts as held while its hold is recorded active (it carries the
 * hold's mark), even when the hold has lapsed by the clock. Both counts use
 * the partial indexes on booked and held seats.
 */
const SHOW_COLUMNS = `sh.show_id, sh.display_name, sh.total_seats, sh.state, epoch_ms(sh.created_at)::float8 AS created_ms,
  (SELECT count(*)::integer FROM seats s WHERE s.show_id = sh.show_id AND s.owner IS NOT NULL) AS booked_count,
  (SELECT count(*)::integer FROM seats s WHERE s.show_id = sh.show_id AND s.owner IS NULL AND s.hold_expires_at IS NOT NULL) AS held_count`;

function showRecord(row: ShowRow): ShowRecord {
  return {
    id: row.show_id,
    displayName: row.display_name,
    totalSeats: row.total_seats,
    state: row.state,
    createdAt: row.created_ms,
    bookedCount: row.booked_count,
    heldCount: row.held_count,
  };
}

/** One show with its counts at now(); undefined when unknown. */
export async function readShow(db: ClientBase | Pool, showId: string): Promise<ShowRecord | undefined> {
  const result = await db.query<ShowRow>({
    name: "read-show",
    text: `SELECT ${SHOW_COLUMNS} FROM shows sh WHERE sh.show_id = $1`,
    values: [showId],
  });
  const row = result.rows[0];
  return row === undefined ? undefined : showRecord(row);
}

/** Up to `limit` shows with ids after `afterId`, by id (bytewise, like JavaScript's order for most ids). */
export async function readShows(db: ClientBase | Pool, afterId: string, limit: number): Promise<ShowRecord[]> {
  const result = await db.query<ShowRow>({
    name: "read-shows",
    text: `SELECT ${SHOW_COLUMNS} FROM shows sh WHERE sh.show_id COLLATE "C" > $1 ORDER BY sh.show_id COLLATE "C" LIMIT $2`,
    values: [afterId, limit],
  });
  return result.rows.map(showRecord);
}

/**
 * Inserts a show and its seat rows (one statement, however large the show);
 * false when the id is taken. Timestamps are written from `now`.
 */
export async function insertShow(
  client: ClientBase,
  show: { readonly id: string; readonly totalSeats: number; readonly displayName: string },
  now: number,
): Promise<boolean> {
  const created = await client.query({
    name: "insert-show",
    text: `INSERT INTO shows (show_id, total_seats, display_name, state, created_at) VALUES ($1, $2, $3, 'open', from_epoch_ms($4))
           ON CONFLICT DO NOTHING RETURNING show_id`,
    values: [show.id, show.totalSeats, show.displayName, now],
  });
  if (created.rowCount !== 1) return false;
  await client.query({
    name: "insert-seats",
    text: "INSERT INTO seats (show_id, seat) SELECT $1, g FROM generate_series($2::int, $3::int) AS g",
    values: [show.id, 1, show.totalSeats],
  });
  return true;
}

/** What a show command needs from its batch. */
export interface ShowCommandContext {
  /** The lapsed holds the batch locked (rows and seats) before running commands. */
  readonly lockedLapsedHolds: readonly string[];
  readonly changes: BatchChanges;
}

/**
 * Applies one show command (or expire-holds) inside the batch's transaction
 * at `now` (the transaction's now() in epoch ms). The batch has already
 * taken the locks: the create's advisory lock on the show id; the rows of
 * the lapsed holds involved and every seat they mark; every seat above a
 * shrink's new total; then the show rows of closes and resizes.
 *
 * Changes: a close of an open show is "closed"; a resize ends the lapsed
 * holds that mark seats it drops ("hold-ended", each whole), then "resized";
 * expire-holds is one "hold-ended" per lapsed hold still recorded active.
 */
export async function applyShowCommand(client: ClientBase, command: ShowCommand, now: number, context: ShowCommandContext): Promise<CommandOutcome> {
  const { changes } = context;
  switch (command.kind) {
    case "create-show": {
      const existing = await readShow(client, command.showId);
      const outcome = decideCreate(command, existing, now);
      if (!outcome.ok) return outcome;
      if (!(await insertShow(client, { id: command.showId, totalSeats: command.totalSeats, displayName: command.displayName }, now))) {
        throw new Error(`show "${command.showId}" appeared while its creation held the show's lock`);
      }
      return outcome;
    }
    case "close-show": {
      // The row is locked by the batch, so the state read here is the state replaced.
      const closed = await client.query<{ was: ShowState }>({
        name: "close-show",
        text: `WITH old AS (SELECT state FROM shows WHERE show_id = $1)
               UPDATE shows SET state = 'closed' WHERE show_id = $1 RETURNING (SELECT state FROM old) AS was`,
        values: [command.showId],
      });
      const was = closed.rows[0]?.was;
      if (was === undefined) return { ok: false, reason: "SHOW_NOT_FOUND", seats: [], replayed: false };
      if (was === "open") changes.add({ showId: command.showId, kind: "closed", seats: [] });
      return { ok: true, seats: [], replayed: false, show: await requireShow(client, command.showId) };
    }
    case "resize-show": {
      const show = await readShow(client, command.showId);
      if (show === undefined) return decideResize(command, undefined, []);
      // Every seat above the new total, locked; the taken ones (booked, or held by a live hold) block a shrink.
      const above = await client.query<{ taken: number[]; lapsed: string[] }>({
        name: "lock-seats-above",
        text: `SELECT coalesce(array_agg(l.seat ORDER BY l.seat) FILTER (WHERE l.taken), '{}') AS taken,
                      coalesce(array_agg(DISTINCT l.hold_id) FILTER (WHERE l.hold_id IS NOT NULL AND NOT l.taken), '{}') AS lapsed
               FROM (SELECT seat, hold_id, owner IS NOT NULL OR hold_expires_at > now() AS taken FROM seats
                     WHERE show_id = $1 AND seat > $2 ORDER BY seat FOR UPDATE) AS l`,
        values: [command.showId, command.totalSeats],
      });
      const outcome = decideResize(command, show, above.rows[0]?.taken ?? []);
      if (!outcome.ok) return outcome;
      const lapsed = above.rows[0]?.lapsed ?? [];
      const unlocked = lapsed.filter((holdId) => !context.lockedLapsedHolds.includes(holdId));
      if (unlocked.length > 0) throw retryBatch(`lapsed holds ${unlocked.join(", ")} were not locked before the seats they mark`);
      changes.addEndedHolds(command.showId, await endLapsedHolds(client, command.showId, lapsed));
      if (command.totalSeats > show.totalSeats) {
        await client.query({
          name: "insert-seats",
          text: "INSERT INTO seats (show_id, seat) SELECT $1, g FROM generate_series($2::int, $3::int) AS g",
          values: [command.showId, show.totalSeats + 1, command.totalSeats],
        });
      } else if (command.totalSeats < show.totalSeats) {
        await client.query({
          name: "delete-seats-above",
          text: "DELETE FROM seats WHERE show_id = $1 AND seat > $2",
          values: [command.showId, command.totalSeats],
        });
      }
      await client.query({
        name: "set-total-seats",
        text: "UPDATE shows SET total_seats = $2 WHERE show_id = $1",
        values: [command.showId, command.totalSeats],
      });
      changes.add({ showId: command.showId, kind: "resized", seats: [], totalSeats: command.totalSeats });
      return { ...outcome, show: await requireShow(client, command.showId) };
    }
    case "expire-holds": {
      const ended = await endLapsedHolds(client, command.showId, context.lockedLapsedHolds);
      changes.addEndedHolds(command.showId, ended);
      return { ok: true, seats: [], replayed: false, endedHolds: ended.length };
    }
  }
}

/**
 * An error that makes the store run the whole batch again, like a
 * serialization failure: the locks taken do not cover what the batch found
 * once it held them (another transaction committed in between).
 */
export function retryBatch(message: string): Error {
  return Object.assign(new Error(message), { code: "40001" });
}

async function requireShow(client: ClientBase, showId: string): Promise<ShowRecord> {
  const show = await readShow(client, showId);
  if (show === undefined) throw new Error(`show "${showId}" vanished inside its own transaction`);
  return show;
}
