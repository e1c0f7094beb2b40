import type { PoolClient } from "pg";
import type { CommandOutcome, StoreCommand } from "../core/seat-store.js";
import { applyHoldAction } from "./postgres-hold-actions.js";
import { isSeatLevel, runSeatCommands, type SeatCommandLocks, type SeatLevelCommand } from "./postgres-seat-commands.js";
import { applyShowCommand, retryBatch } from "./postgres-show-commands.js";
import { BatchChanges } from "./postgres-show-versions.js";

/** What a batch decided: an outcome per command, and its changes, not yet numbered. */
export interface BatchRun {
  readonly outcomes: CommandOutcome[];
  readonly changes: BatchChanges;
}

/**
 * Runs a batch's commands in order inside its transaction, every one decided
 * at `now` (the transaction's now() in epoch ms), and collects their changes
 * for the version step (recordShowChanges), which the caller runs last.
 *
 * Every transaction takes its locks in one global order, so concurrent
 * batches from any number of instances wait for each other instead of
 * deadlocking:
 *
 *   1. advisory locks (principals' hold limits, ids of shows being created), in key order;
 *   2. hold rows, by id: those confirmed, released or extended, and the
 *      lapsed holds whose end the batch records (they mark seats it books,
 *      holds or drops, or it expires them);
 *   3. seat rows, by (show, seat): the commands' seats, every seat of those
 *      holds, every seat above a shrink's new total;
 *   4. show rows, by id, all at one point and nothing after them.
 *
 * Show rows come last because every batch that changes a show updates its
 * row (the version counter): that row is the hot spot where all writers of
 * a show meet, across instances, so it is held for as short a time as
 * possible. A batch without close or resize takes its show rows only in the
 * version step, the statement before COMMIT; its decisions read show state
 * unlocked (after the seat locks, as before), and the version step fails the
 * batch (serialization_failure, retried) when a show it sold in was closed
 * meanwhile, so a close and a sale are logged in the order they took effect.
 * A batch with a close or resize needs the show rows to decide, so it takes
 * all its shows' rows at the end of lockBatch, and the version step then
 * takes no new lock. Either way step 4 happens once and last: a transaction
 * waiting for a show row holds no lock anyone in steps 1-3 waits for, and
 * show rows among themselves are taken in id order, so no cycle can form.
 *
 * A lapsed hold appearing on a locked seat after the unlocked look that
 * decided which holds to lock (a rare race with a slow hold transaction), or
 * a shrink finding more seats than it locked, fails the batch with
 * serialization_failure instead of locking out of order, and it runs again.
 *
 * A batch of only book, cancel and hold commands is one round trip:
 * apply_seat_commands takes steps 1-3 itself. Any other batch takes every
 * lock first (lockBatch), then runs the commands one by one, consecutive
 * seat commands still in one round trip.
 */
export async function runBatch(client: PoolClient, commands: readonly StoreCommand[], now: number): Promise<BatchRun> {
  const changes = new BatchChanges();
  if (commands.every(isSeatLevel)) {
    const outcomes = await runSeatCommands(client, commands, now, { lockedLapsedHolds: undefined, showsLocked: false }, changes);
    return { outcomes, changes };
  }
  const locked = await lockBatch(client, commands);
  const locks: SeatCommandLocks = { lockedLapsedHolds: locked.lapsedHolds, showsLocked: locked.showsLocked };
  const outcomes: CommandOutcome[] = [];
  let run: SeatLevelCommand[] = [];
  const flush = async () => {
    if (run.length > 0) outcomes.push(...(await runSeatCommands(client, run, now, locks, changes)));
    run = [];
  };
  for (const command of commands) {
    if (isSeatLevel(command)) {
      run.push(command);
      continue;
    }
    await flush();
    switch (command.kind) {
      case "confirm":
      case "release":
      case "extend":
        outcomes.push(await applyHoldAction(client, command, now, locked.showsLocked, changes));
        break;
      case "create-show":
      case "close-show":
      case "resize-show":
      case "expire-holds":
        outcomes.push(await applyShowCommand(client, command, now, { lockedLapsedHolds: locked.lapsedHolds, changes }));
        break;
    }
  }
  await flush();
  return { outcomes, changes };
}

/** Takes every lock the batch will need, in the global order (see {@link runBatch}). */
async function lockBatch(client: PoolClient, commands: readonly StoreCommand[]): Promise<{ lapsedHolds: string[]; showsLocked: boolean }> {
  const advisory: string[] = [];
  /** Shows of closes and resizes; for resizes, each show's lowest new total. */
  const adminShows = new Set<string>();
  const shrinks = new Map<string, number>();
  const shows = new Set<string>();
  const expireShows: string[] = [];
  const holdIds: string[] = [];
  const seatShows: string[] = [];
  const seats: number[] = [];
  for (const command of commands) {
    if (command.kind === "hold") advisory.push(`hold-limit:${command.principal}`);
    switch (command.kind) {
      case "hold":
      case "book":
      case "cancel":
        shows.add(command.showId);
        for (const seat of command.seats) {
          seatShows.push(command.showId);
          seats.push(seat);
        }
        break;
      case "confirm":
      case "release":
      case "extend":
        holdIds.push(command.holdId);
        break;
      case "create-show":
        advisory.push(`show:${command.showId}`);
        break;
      case "close-show":
        adminShows.add(command.showId);
        break;
      case "resize-show":
        adminShows.add(command.showId);
        shrinks.set(command.showId, Math.min(shrinks.get(command.showId) ?? command.totalSeats, command.totalSeats));
        break;
      case "expire-holds":
        shows.add(command.showId);
        expireShows.push(command.showId);
        break;
    }
  }
  if (advisory.length > 0) {
    await client.query({
      name: "lock-advisory",
      text: `SELECT count(pg_advisory_xact_lock(k))::integer FROM
               (SELECT DISTINCT booking_lock_key(name) AS k FROM unnest($1::text[]) AS name ORDER BY 1) AS keys`,
      values: [advisory],
    });
  }
  const shrinkShows = [...shrinks.keys()];
  const shrinkFrom = shrinkShows.map((showId) => shrinks.get(showId) ?? 0);
  // The holds acted on, and the lapsed holds marking seats the batch may take
  // or drop or that it expires (found unlocked, then locked and checked).
  const lockedHolds = await client.query<{ hold_id: string; show_id: string; seats: number[]; lapsed: boolean }>({
    name: "lock-holds",
    text: `SELECT h.hold_id, h.show_id, h.seats, h.state = 'active' AND h.expires_at <= now() AS lapsed FROM holds h
           WHERE h.hold_id = ANY ($1::text[]) OR h.hold_id IN (
             SELECT s.hold_id FROM unnest($2::text[], $3::int[]) AS w (show_id, seat) JOIN seats s USING (show_id, seat)
             WHERE s.hold_expires_at <= now()
             UNION ALL
             SELECT s.hold_id FROM unnest($4::text[], $5::int[]) AS r (show_id, low) JOIN seats s ON s.show_id = r.show_id AND s.seat > r.low
             WHERE s.hold_expires_at <= now()
             UNION ALL
             SELECT x.hold_id FROM holds x WHERE x.state = 'active' AND x.expires_at <= now() AND x.show_id = ANY ($6::text[])
           )
           ORDER BY h.hold_id COLLATE "C" FOR UPDATE OF h`,
    values: [holdIds, seatShows, seats, shrinkShows, shrinkFrom, expireShows],
  });
  const lapsedHolds: string[] = [];
  const actedOn = new Set(holdIds);
  for (const row of lockedHolds.rows) {
    if (row.lapsed) lapsedHolds.push(row.hold_id);
    if (!row.lapsed && !actedOn.has(row.hold_id)) continue;
    shows.add(row.show_id);
    for (const seat of row.seats) {
      seatShows.push(row.show_id);
      seats.push(seat);
    }
  }
  // The highest seat locked above each shrink's lowest new total: the show's seat count when locked.
  const topLocked = new Map<string, number>();
  if (seats.length > 0 || shrinkShows.length > 0) {
    const locked = await client.query<{ show_id: string; top: number | null }>({
      name: "lock-seats",
      // Every locked row flows into the aggregate, so every lock is taken.
      text: `SELECT l.show_id, max(l.seat) FILTER (WHERE l.seat > r.low) AS top FROM (
               SELECT s.show_id, s.seat FROM seats s JOIN (
                 SELECT show_id, seat FROM unnest($1::text[], $2::int[]) AS t (show_id, seat)
                 UNION
                 SELECT s.show_id, s.seat FROM unnest($3::text[], $4::int[]) AS r (show_id, low)
                   JOIN seats s ON s.show_id = r.show_id AND s.seat > r.low
               ) AS w USING (show_id, seat)
               ORDER BY s.show_id COLLATE "C", s.seat FOR UPDATE OF s
             ) AS l LEFT JOIN unnest($3::text[], $4::int[]) AS r (show_id, low) USING (show_id)
             GROUP BY l.show_id`,
      values: [seatShows, seats, shrinkShows, shrinkFrom],
    });
    for (const row of locked.rows) if (row.top !== null) topLocked.set(row.show_id, row.top);
  }
  if (adminShows.size === 0) return { lapsedHolds, showsLocked: false };
  for (const showId of adminShows) shows.add(showId);
  // NO KEY UPDATE, like the UPDATEs to come: it leaves the key-share locks of
  // foreign-key checks (new holds and seats of the show) free to proceed.
  const lockedShows = await client.query<{ show_id: string; total_seats: number }>({
    name: "lock-shows",
    text: `SELECT show_id, total_seats FROM shows WHERE show_id = ANY ($1::text[])
           ORDER BY show_id COLLATE "C" FOR NO KEY UPDATE`,
    values: [[...shows]],
  });
  for (const row of lockedShows.rows) {
    const low = shrinks.get(row.show_id);
    if (low === undefined || row.total_seats <= low) continue;
    if (topLocked.get(row.show_id) !== row.total_seats) {
      throw retryBatch(`show "${row.show_id}" has ${row.total_seats} seats, more than were locked above ${low}`);
    }
  }
  return { lapsedHolds, showsLocked: true };
}
