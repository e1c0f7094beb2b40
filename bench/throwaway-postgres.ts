import type pg from "pg";
import { startPostgresCluster, withPostgresClient } from "./postgres-cluster.js";

/** One statement's share of the work, from pg_stat_statements. */
export interface StatementFigures {
  /** The normalised statement text, shortened. */
  readonly query: string;
  /** False for statements run inside a function (they are part of its time too). */
  readonly topLevel: boolean;
  readonly calls: number;
  readonly totalMs: number;
  readonly meanMs: number;
}

/** What the cluster did since the last reset. */
export interface PostgresCounters {
  /** WAL flushes (pg_stat_wal.wal_sync): one per commit group that had to reach the disk. */
  readonly walSyncs: number;
  /** Time spent in those flushes, ms (track_wal_io_timing is on). */
  readonly walSyncMs: number;
  /** The statements of one database with the most execution time, largest first. */
  readonly statements: readonly StatementFigures[];
}

/** A PostgreSQL cluster that lives for one benchmark run. */
export interface ThrowawayPostgres {
  /** PostgreSQL's version string. */
  readonly version: string;
  /** The postmaster's process id, for CPU accounting. */
  readonly pid: number;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Zeroes the WAL and statement counters (cluster-wide). */
  resetCounters(): Promise<void>;
  /** The counters since the reset; statements of `database` only. */
  readCounters(database: string): Promise<PostgresCounters>;
  /** Stops the cluster and deletes its files. */
  stop(): Promise<void>;
}

/**
 * Starts a throwaway cluster for one benchmark run (see
 * startPostgresCluster: free port, `postgres` user as root, a watchdog).
 * Unlike the test clusters, fsync and synchronous_commit stay ON:
 * durability is what the benchmark measures. Resolves `{ missing }`,
 * naming what is missing, when PostgreSQL is not installed.
 */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres | { readonly missing: string }> {
  const cluster = await startPostgresCluster({
    prefix: "booking-bench-pg-",
    settings: [
      "-c fsync=on -c synchronous_commit=on -c full_page_writes=on",
      "-c max_connections=200 -c shared_buffers=256MB -c track_wal_io_timing=on",
      // Per-statement timings (nested ones too) show where a batch's time goes.
      "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all",
    ],
  });
  if ("missing" in cluster) return cluster;
  const admin = <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => withPostgresClient(cluster.adminUrl, work);
  try {
    const version = await admin(async (client) => {
      await client.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
      return (await client.query<{ v: string }>("SELECT version() AS v")).rows[0]?.v ?? "";
    });
    return {
      version,
      pid: cluster.pid,
      async createDatabase(name) {
        if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new TypeError(`not a plain database name: ${name}`);
        await admin((client) => client.query(`CREATE DATABASE ${name}`));
        return cluster.urlOf(name);
      },
      async resetCounters() {
        await admin(async (client) => {
          await client.query("SELECT pg_stat_reset_shared('wal')");
          await client.query("SELECT pg_stat_statements_reset()");
        });
      },
      async readCounters(database) {
        return admin(async (client) => {
          const wal = await client.query<{ wal_sync: string; wal_sync_time: number }>("SELECT wal_sync, wal_sync_time FROM pg_stat_wal");
          const statements = await client.query<{ query: string; toplevel: boolean; calls: string; total: number; mean: number }>(
            `SELECT s.query, s.toplevel, s.calls, s.total_exec_time AS total, s.mean_exec_time AS mean
             FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
             WHERE d.datname = $1 ORDER BY s.total_exec_time DESC LIMIT 8`,
            [database],
          );
          return {
            walSyncs: Number(wal.rows[0]?.wal_sync ?? 0),
            walSyncMs: Number(wal.rows[0]?.wal_sync_time ?? 0),
            statements: statements.rows.map((row) => ({
              query: row.query.replace(/\s+/g, " ").trim().slice(0, 120),
              topLevel: row.toplevel,
              calls: Number(row.calls),
              totalMs: Math.round(row.total * 10) / 10,
              meanMs: Math.round(row.mean * 1000) / 1000,
            })),
          };
        });
      },
      // A failed stop leaves the cluster to its watchdog; the run's figures are written either way.
      stop: () => cluster.stop().catch(() => undefined),
    };
  } catch (error) {
    await cluster.stop().catch(() => undefined);
    throw error;
  }
}
