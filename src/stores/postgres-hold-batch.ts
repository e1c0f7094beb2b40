import type { Pool } from "pg";
import type { ShowState } from "../core/seat-store.js";
import { BatchKeys, latestVersionsOf, type LatestVersionsRow, type StoredRecordRow } from "./postgres-batch-keys.js";
import { judgeHoldAction, type HoldAction, type HoldFindings } from "./postgres-hold-actions.js";
import type { SeatBatchRun, SeatBatchSettings } from "./postgres-seat-batch.js";

interface HoldBatchRow extends StoredRecordRow, LatestVersionsRow {
  readonly now_ms: string;
  readonly changed: number | null;
  readonly h_found: boolean | null;
  readonly h_show_id: string | null;
  readonly h_owner: string | null;
  readonly h_seats: number[] | null;
  readonly h_created_ms: string | null;
  readonly h_expires_ms: string | null;
  readonly h_state: HoldFindings["state"];
  readonly h_show_state: ShowState | null;
  readonly h_carried: number | null;
}

/**
 * Runs a batch of only confirm, release and extend commands as ONE
 * statement, the schema's run_hold_batch (postgres-migration-5.ts), as
 * runSeatBatch does for seat commands: one round trip, one transaction that
 * holds no lock while this process runs, request ids looked up and saved in
 * it, a repeat of a key within the batch settled here.
 */
export async function runHoldBatch(pool: Pool, commands: readonly HoldAction[], settings: SeatBatchSettings): Promise<SeatBatchRun> {
  const keys = new BatchKeys(commands);
  const { sent, fingerprints } = keys;
  const result = await pool.query<HoldBatchRow>({
    name: "run-hold-batch-v5",
    text: `SELECT * FROM run_hold_batch($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::bigint[], $7::bigint[],
             $8::text[], $9::bigint, $10::bigint, $11::bigint, $12::bigint)`,
    values: [
      sent.map((command) => command.kind),
      sent.map((command) => command.holdId),
      sent.map((command) => command.principal),
      sent.map((command) => command.requestId),
      sent.map((command) => command.isAdmin),
      sent.map((command) => (command.kind === "extend" ? command.ttlMs : null)),
      sent.map((command) => (command.kind === "extend" ? command.maxLifetimeMs : null)),
      fingerprints,
      settings.recordedAt,
      settings.liveAfter,
      settings.changeLog.maxVersions,
      settings.changeLog.maxAgeMs,
    ],
  });
  const rows = result.rows;
  const outcomes = keys.settle(rows, "run_hold_batch", (command, row) => {
    const judged = judgeHoldAction(command, findingsOf(row), Number(row.now_ms));
    if (judged.disagreement !== undefined) throw new Error(judged.disagreement);
    return judged.outcome;
  });
  return { outcomes, latest: latestVersionsOf(rows[sent.length], "run_hold_batch") };
}

function findingsOf(row: HoldBatchRow): HoldFindings {
  return {
    changed: row.changed ?? 0,
    found: row.h_found === true,
    show_id: row.h_show_id,
    owner: row.h_owner,
    seats: row.h_seats,
    created_ms: row.h_created_ms,
    expires_ms: row.h_expires_ms,
    state: row.h_state,
    show_state: row.h_show_state,
    carried: row.h_carried,
  };
}
