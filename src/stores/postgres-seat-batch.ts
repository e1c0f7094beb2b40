import type { Pool } from "pg";
import type { CommandOutcome, HoldCommand } from "../core/seat-store.js";
import type { ChangeLogRetention } from "../core/show-changes.js";
import { BatchKeys, latestVersionsOf, type LatestVersionsRow, type StoredRecordRow } from "./postgres-batch-keys.js";
import { judgeSeatCommand, verdictDisagreement, type CommandRow, type SeatLevelCommand } from "./postgres-seat-commands.js";
import type { LatestVersion } from "./postgres-show-versions.js";

/**
 * What run_seat_batch reports for one command: a stored record, or what it
 * found and changed. The row after the last command's carries only
 * changed_shows and latest_versions.
 */
interface SeatBatchRow extends CommandRow, StoredRecordRow, LatestVersionsRow {
  /** Epoch ms (a JSON number). */
  readonly now_ms: number;
}

/** A committed seat batch: an outcome per command, and the versions its changes reached. */
export interface SeatBatchRun {
  readonly outcomes: CommandOutcome[];
  readonly latest: LatestVersion[];
}

/** The clocks and retention a seat batch is run with. */
export interface SeatBatchSettings {
  /** This instance's clock, ms: the created_at of the request ids it records. */
  readonly recordedAt: number;
  /** Request ids recorded before this instant (same clock) are forgotten. */
  readonly liveAfter: number;
  readonly changeLog: ChangeLogRetention;
}

/**
 * Runs a batch of only book, cancel and hold commands as ONE statement, the
 * schema's run_seat_batch (see postgres-migration-5.ts): the idempotency
 * lookup, the commands, the saving of request ids and the version step, in
 * one round trip and one transaction, which holds no lock while this process
 * runs. `pool.query` sends it outside BEGIN/COMMIT, so it commits on its own
 * before the answer arrives.
 *
 * A batch of only bookings and cancellations on distinct seats goes first to
 * run_book_cancel_batch (postgres-migration-7.ts), which decides it as a set
 * with fewer statements and answers the same rows; it declines, with no row
 * and nothing changed, when the batch holds a replay or a held seat, and the
 * batch is then sent to run_seat_batch (a second round trip for those only).
 *
 * Each (principal, request id) is sent once; a later command of the batch
 * with the same key is settled here (BatchKeys): a replay of the first
 * command's outcome when the fingerprints match, REQUEST_ID_REUSED when not.
 *
 * The verdicts come from the shared rules applied to what the function
 * found, at the instant it decided at. The function changes a command's
 * seats only when those rules allow it; were the two ever to disagree, the
 * batch has committed already, and the error says so.
 *
 * A batch another transaction beat to a request id fails with
 * serialization_failure: the caller retries it (it then replays).
 *
 * The changed shows' latest versions are returned, for the caller to
 * announce now that they are committed.
 */
export async function runSeatBatch(
  pool: Pool,
  commands: readonly SeatLevelCommand[],
  settings: SeatBatchSettings,
): Promise<SeatBatchRun> {
  const keys = new BatchKeys(commands);
  // run_book_cancel_batch answers no row when it declines (a replay, a held seat): run_seat_batch then decides.
  let rows = isBookCancelSet(keys.sent) ? await querySeatBatch(pool, BOOK_CANCEL_SET, keys.sent, keys.fingerprints, settings) : [];
  if (rows.length === 0) rows = await querySeatBatch(pool, ANY_SEAT_COMMANDS, keys.sent, keys.fingerprints, settings);
  const outcomes = keys.settle(rows, "the seat batch function", (command, row) => {
    const outcome = judgeSeatCommand(command, row, Number(row.now_ms));
    const disagreement = verdictDisagreement(command, row, outcome);
    if (disagreement !== undefined) throw new Error(`${disagreement} (the batch has committed)`);
    return outcome;
  });
  return { outcomes, latest: latestVersionsOf(rows[keys.sent.length], "the seat batch function") };
}

/** The two functions a seat batch may be sent to: same arguments, same answer. */
interface SeatBatchFunction {
  readonly name: string;
  readonly statementName: string;
}
const BOOK_CANCEL_SET: SeatBatchFunction = { name: "run_book_cancel_batch", statementName: "run-book-cancel-batch-v7-json" };
const ANY_SEAT_COMMANDS: SeatBatchFunction = { name: "run_seat_batch", statementName: "run-seat-batch-v5-json" };

/**
 * Only bookings and cancellations, each naming a seat, no seat named twice:
 * the batches run_book_cancel_batch decides as a set (postgres-migration-7.ts).
 */
function isBookCancelSet(commands: readonly SeatLevelCommand[]): boolean {
  const seen = new Set<string>();
  for (const command of commands) {
    if (command.kind === "hold" || command.seats.length === 0) return false;
    for (const seat of command.seats) {
      const key = `${seat}:${command.showId}`;
      if (seen.has(key)) return false;
      seen.add(key);
    }
  }
  return true;
}

async function querySeatBatch(
  pool: Pool,
  batchFunction: SeatBatchFunction,
  commands: readonly SeatLevelCommand[],
  fingerprints: readonly string[],
  settings: SeatBatchSettings,
): Promise<SeatBatchRow[]> {
  const seatCounts: number[] = [];
  const flatSeats: number[] = [];
  for (const command of commands) {
    seatCounts.push(command.seats.length);
    for (const seat of command.seats) flatSeats.push(seat);
  }
  const holdField = <T>(pick: (command: HoldCommand) => T): (T | null)[] =>
    commands.map((command) => (command.kind === "hold" ? pick(command) : null));
  // The rows come as one JSON array: with node-postgres parsing 18 columns
  // of every row (most of them arrays), this process spent about half again
  // as much CPU per call as with JSON.parse of the same (bench/PROFILE.md, "Round five").
  const result = await pool.query<{ rows: string | null }>({
    name: batchFunction.statementName,
    text: `SELECT json_agg(t ORDER BY t.ordinality)::text AS rows
           FROM ${batchFunction.name}($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $7::boolean[],
             $8::text[], $9::bigint[], $10::int[], $11::text[], $12::bigint, $13::bigint, $14::bigint, $15::bigint) WITH ORDINALITY AS t`,
    values: [
      commands.map((command) => command.kind),
      commands.map((command) => command.showId),
      seatCounts,
      flatSeats,
      commands.map((command) => command.principal),
      commands.map((command) => command.requestId),
      commands.map((command) => command.isAdmin),
      holdField((command) => command.holdId),
      holdField((command) => command.ttlMs),
      holdField((command) => command.maxHoldsPerPrincipal),
      fingerprints,
      settings.recordedAt,
      settings.liveAfter,
      settings.changeLog.maxVersions,
      settings.changeLog.maxAgeMs,
    ],
  });
  const rows = result.rows[0]?.rows;
  return rows === null || rows === undefined ? [] : (JSON.parse(rows) as SeatBatchRow[]);
}
