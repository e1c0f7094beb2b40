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
  readonly now_ms: string;
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
  const rows = await querySeatBatch(pool, keys.sent, keys.fingerprints, settings);
  const outcomes = keys.settle(rows, "run_seat_batch", (command, row) => {
    const outcome = judgeSeatCommand(command, row, Number(row.now_ms));
    const disagreement = verdictDisagreement(command, row, outcome);
    if (disagreement !== undefined) throw new Error(`${disagreement} (the batch has committed)`);
    return outcome;
  });
  return { outcomes, latest: latestVersionsOf(rows[keys.sent.length], "run_seat_batch") };
}

async function querySeatBatch(
  pool: Pool,
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
  const result = await pool.query<SeatBatchRow>({
    name: "run-seat-batch-v5",
    text: `SELECT * FROM run_seat_batch($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $7::boolean[],
             $8::text[], $9::bigint[], $10::int[], $11::text[], $12::bigint, $13::bigint, $14::bigint, $15::bigint)`,
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
  return result.rows;
}
