import type { PoolClient } from "pg";
import type { CommandOutcome, StoreCommand } from "../core/seat-store.js";
import { applyHoldAction } from "./postgres-hold-actions.js";
import { isSeatLevel, runSeatCommands, type SeatLevelCommand } from "./postgres-seat-commands.js";
import { applyShowCommand } from "./postgres-show-commands.js";

/**
 * Runs a batch's commands in order inside its transaction, every one decided
 * at `now` (the transaction's now() in epoch ms).
 *
 * Every transaction takes its locks in one global order, so concurrent
 * batches from any number of instances wait for each other instead of
 * deadlocking: advisory locks (principals' hold limits, ids of shows being
 * created), in key order; then show rows of closes and resizes, by id; then
 * hold rows of confirms, releases and extends, by id; then seat rows, by
 * (show, seat). A batch of only book, cancel and hold commands is one round
 * trip: apply_seat_commands takes its own locks in that order. Any other
 * batch takes every lock first (lockBatch), then runs the commands one by
 * one, consecutive seat commands still in one round trip.
 */
export async function runBatch(client: PoolClient, commands: readonly StoreCommand[], now: number): Promise<CommandOutcome[]> {
  if (commands.every(isSeatLevel)) return runSeatCommands(client, commands, now);
  await lockBatch(client, commands);
  const outcomes: CommandOutcome[] = [];
  let run: SeatLevelCommand[] = [];
  const flush = async () => {
    if (run.length > 0) outcomes.push(...(await runSeatCommands(client, run, now)));
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
        outcomes.push(await applyHoldAction(client, command, now));
        break;
      case "create-show":
      case "close-show":
      case "resize-show":
        outcomes.push(await applyShowCommand(client, command, now));
        break;
    }
  }
  await flush();
  return outcomes;
}

/** Takes every lock the batch will need, in the global order (see {@link runBatch}). */
async function lockBatch(client: PoolClient, commands: readonly StoreCommand[]): Promise<void> {
  const advisory: string[] = [];
  const shows = new Map<string, number>();
  const holdIds: string[] = [];
  const seatShows: string[] = [];
  const seats: number[] = [];
  for (const command of commands) {
    if (command.kind === "hold") advisory.push(`hold-limit:${command.principal}`);
    switch (command.kind) {
      case "hold":
      case "book":
      case "cancel":
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
        shows.set(command.showId, shows.get(command.showId) ?? Number.MAX_SAFE_INTEGER);
        break;
      case "resize-show":
        shows.set(command.showId, Math.min(shows.get(command.showId) ?? Number.MAX_SAFE_INTEGER, command.totalSeats));
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
  // Shrinks lock every seat above their lowest new total, so a row a resize deletes is never locked out of order.
  const shrinkShows: string[] = [];
  const shrinkFrom: number[] = [];
  const shrinkTo: number[] = [];
  if (shows.size > 0) {
    // NO KEY UPDATE, like the UPDATE to come: it leaves the key-share locks of
    // foreign-key checks (new holds and seats of the show) free to proceed.
    const locked = await client.query<{ show_id: string; total_seats: number }>({
      name: "lock-shows",
      text: `SELECT show_id, total_seats FROM shows WHERE show_id = ANY ($1::text[])
             ORDER BY show_id COLLATE "C" FOR NO KEY UPDATE`,
      values: [[...shows.keys()]],
    });
    for (const row of locked.rows) {
      const lowest = shows.get(row.show_id) ?? row.total_seats;
      if (lowest >= row.total_seats) continue;
      shrinkShows.push(row.show_id);
      shrinkFrom.push(lowest + 1);
      shrinkTo.push(row.total_seats);
    }
  }
  if (holdIds.length > 0) {
    const locked = await client.query<{ show_id: string; seats: number[] }>({
      name: "lock-holds",
      text: `SELECT show_id, seats FROM holds WHERE hold_id = ANY ($1::text[]) ORDER BY hold_id COLLATE "C" FOR UPDATE`,
      values: [holdIds],
    });
    for (const row of locked.rows) {
      for (const seat of row.seats) {
        seatShows.push(row.show_id);
        seats.push(seat);
      }
    }
  }
  if (seats.length > 0 || shrinkShows.length > 0) {
    await client.query({
      name: "lock-seats",
      text: `SELECT count(*)::integer FROM (
               SELECT s.seat FROM seats s JOIN (
                 SELECT show_id, seat FROM unnest($1::text[], $2::int[]) AS t (show_id, seat)
                 UNION
                 SELECT r.show_id, g FROM unnest($3::text[], $4::int[], $5::int[]) AS r (show_id, low, high),
                   generate_series(r.low, r.high) AS g
               ) AS w USING (show_id, seat)
               ORDER BY s.show_id COLLATE "C", s.seat FOR UPDATE OF s
             ) AS locked`,
      values: [seatShows, seats, shrinkShows, shrinkFrom, shrinkTo],
    });
  }
}
