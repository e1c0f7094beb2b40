import type pg from "pg";
import { SAMPLER_MARK } from "./scale-out-wait-sampler.js";

/** A top-level call of one of the schema's batch functions: each is one batch's transaction. */
const BATCH_FUNCTION_CALL = /^\s*select .* from (run_seat_batch|run_book_cancel_batch|run_hold_batch)\(/is;

/** Cumulative counters of one database and of the WAL, at one instant. */
export interface PostgresCounterSnapshot {
  readonly xactCommit: number;
  readonly xactRollback: number;
  readonly deadlocks: number;
  readonly blksRead: number;
  readonly blksHit: number;
  readonly walRecords: number;
  readonly walBytes: number;
  /** WAL writes (write() calls) and flushes (fsync/fdatasync), cluster-wide. */
  readonly walWrites: number;
  readonly walSyncs: number;
  readonly walWriteMs: number;
  readonly walSyncMs: number;
}

/** One statement's share of the database's execution time, from pg_stat_statements. */
export interface StatementShare {
  /** The normalised text, whitespace collapsed and shortened. */
  readonly query: string;
  /** False for statements run inside a function (their time is inside the caller's too). */
  readonly topLevel: boolean;
  readonly calls: number;
  readonly meanMs: number;
  readonly totalMs: number;
  /** totalMs / the sum of every top-level statement's time in the database, in %. */
  readonly sharePercent: number;
  readonly rows: number;
  /** Time this statement waited for blocks read from outside shared buffers (track_io_timing). */
  readonly blockReadMs: number;
  readonly walBytes: number;
}

/** What pg_stat_statements saw in one database since its reset. */
export interface StatementFigures {
  /** How many distinct statements it tracked for the database. */
  readonly tracked: number;
  /** Sum of top-level execution time, ms. */
  readonly topLevelMs: number;
  /** Batch transactions the servers committed: COMMIT statements plus batch-function calls (each its own transaction). */
  readonly commitStatements: number;
  readonly top: readonly StatementShare[];
}

/**
 * Zeroes pg_stat_statements and pg_stat_wal (both cluster-wide). The
 * database counters are not reset (that would need a connection to the
 * database itself); their deltas are taken instead.
 */
export async function resetStatementsAndWal(admin: pg.Client): Promise<void> {
  await admin.query("SELECT pg_stat_statements_reset()");
  await admin.query("SELECT pg_stat_reset_shared('wal')");
}

/**
 * Reads the counters of database `database` and of the WAL. PostgreSQL 15
 * backends publish these at most once a second (pg_stat_statements, by
 * contrast, at the end of every statement), so a reading taken under load
 * lags by up to a second; taken at both edges of a window under the same
 * load, the lags roughly cancel.
 */
export async function readCounters(admin: pg.Client, database: string): Promise<PostgresCounterSnapshot> {
  const result = await admin.query<Record<string, string | number | null>>(
    `SELECT d.xact_commit, d.xact_rollback, d.deadlocks, d.blks_read, d.blks_hit,
            w.wal_records, w.wal_bytes, w.wal_write, w.wal_sync, w.wal_write_time, w.wal_sync_time
     FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = $1`,
    [database],
  );
  const row = result.rows[0] ?? {};
  const value = (name: string): number => Number(row[name] ?? 0);
  return {
    xactCommit: value("xact_commit"),
    xactRollback: value("xact_rollback"),
    deadlocks: value("deadlocks"),
    blksRead: value("blks_read"),
    blksHit: value("blks_hit"),
    walRecords: value("wal_records"),
    walBytes: value("wal_bytes"),
    walWrites: value("wal_write"),
    walSyncs: value("wal_sync"),
    walWriteMs: value("wal_write_time"),
    walSyncMs: value("wal_sync_time"),
  };
}

/** `end - start` field by field; the WAL fields are absolute when pg_stat_wal was reset at `start`. */
export function counterDelta(start: PostgresCounterSnapshot, end: PostgresCounterSnapshot, walReset: boolean): PostgresCounterSnapshot {
  const wal = (key: keyof PostgresCounterSnapshot): number => (walReset ? end[key] : end[key] - start[key]);
  return {
    xactCommit: end.xactCommit - start.xactCommit,
    xactRollback: end.xactRollback - start.xactRollback,
    deadlocks: end.deadlocks - start.deadlocks,
    blksRead: end.blksRead - start.blksRead,
    blksHit: end.blksHit - start.blksHit,
    walRecords: wal("walRecords"),
    walBytes: wal("walBytes"),
    walWrites: wal("walWrites"),
    walSyncs: wal("walSyncs"),
    walWriteMs: wal("walWriteMs"),
    walSyncMs: wal("walSyncMs"),
  };
}

/** The `limit` statements of `database` with the most execution time since the reset, largest first; the wait sampler's own query left out. */
export async function readStatements(admin: pg.Client, database: string, limit: number): Promise<StatementFigures> {
  const result = await admin.query<{
    query: string;
    toplevel: boolean;
    calls: string;
    total: number;
    mean: number;
    rows: string;
    read_ms: number;
    wal_bytes: string;
  }>(
    `SELECT s.query, s.toplevel, s.calls, s.total_exec_time AS total, s.mean_exec_time AS mean, s.rows,
            s.blk_read_time AS read_ms, s.wal_bytes
     FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
     WHERE d.datname = $1 AND s.query NOT LIKE '%' || $2 || '%'`,
    [database, SAMPLER_MARK],
  );
  const rows = result.rows;
  const topLevelMs = rows.filter((row) => row.toplevel).reduce((sum, row) => sum + row.total, 0);
  const commitStatements = rows
    // Seat and hold batches are one statement outside BEGIN/COMMIT (a call of a batch function, its rows
    // as JSON or not); other batches end with COMMIT. A run_book_cancel_batch that declines (a replay,
    // a held seat) is counted too, and so is the run_seat_batch its batch then goes to: rare under book-1.
    .filter((row) => row.toplevel && (/^\s*commit\s*;?\s*$/i.test(row.query) || BATCH_FUNCTION_CALL.test(row.query)))
    .reduce((sum, row) => sum + Number(row.calls), 0);
  const top = [...rows]
    .sort((a, b) => b.total - a.total)
    .slice(0, limit)
    .map((row) => ({
      query: row.query.replace(/\s+/g, " ").trim().slice(0, 100),
      topLevel: row.toplevel,
      calls: Number(row.calls),
      meanMs: round(row.mean, 3),
      totalMs: round(row.total, 1),
      sharePercent: topLevelMs === 0 ? 0 : round((row.total / topLevelMs) * 100, 1),
      rows: Number(row.rows),
      blockReadMs: round(row.read_ms, 1),
      walBytes: Number(row.wal_bytes),
    }));
  return { tracked: rows.length, topLevelMs: round(topLevelMs, 1), commitStatements, top };
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
