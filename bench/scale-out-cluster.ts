import type pg from "pg";
import { startPostgresCluster, withPostgresClient } from "./postgres-cluster.js";

/**
 * The settings the scale-out cluster runs with. Durability stays on (fsync,
 * synchronous_commit, full_page_writes): a commit's WAL flush is part of
 * what is measured. pg_stat_statements with track=all sees statements
 * inside functions too (apply_seat_commands, record_show_changes);
 * track_io_timing and track_wal_io_timing time reads and WAL flushes.
 */
export const SCALE_OUT_PG_SETTINGS: readonly string[] = [
  "-c fsync=on -c synchronous_commit=on -c full_page_writes=on",
  "-c max_connections=200 -c shared_buffers=256MB",
  "-c track_io_timing=on -c track_wal_io_timing=on",
  "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c pg_stat_statements.max=5000",
];

/** The settings read back from the running server, as proof of what ran. */
const SHOWN_SETTINGS = [
  "fsync",
  "synchronous_commit",
  "full_page_writes",
  "wal_sync_method",
  "commit_delay",
  "shared_buffers",
  "track_io_timing",
  "shared_preload_libraries",
] as const;

/** The one PostgreSQL cluster every instance of a scale-out run shares. */
export interface ScaleOutCluster {
  /** PostgreSQL's version string. */
  readonly version: string;
  /** The postmaster's process id: its descendants are the backends, whose CPU is summed. */
  readonly pid: number;
  /** The admin database's URL (pg_stat_statements is created there). */
  readonly adminUrl: string;
  /** The settings in effect ({@link SHOWN_SETTINGS}). */
  readonly settings: Readonly<Record<string, string>>;
  /** Creates an empty database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Drops a database (its connections are ended first). */
  dropDatabase(name: string): Promise<void>;
  /** Stops the cluster and deletes its files. */
  stop(): Promise<void>;
}

/**
 * Starts the throwaway cluster (bench/postgres-cluster.ts: free port,
 * `postgres` user as root, a watchdog) with {@link SCALE_OUT_PG_SETTINGS}
 * and creates pg_stat_statements. Resolves `{ missing }` when PostgreSQL is
 * not installed.
 */
export async function startScaleOutCluster(): Promise<ScaleOutCluster | { readonly missing: string }> {
  const cluster = await startPostgresCluster({ prefix: "booking-scale-out-pg-", settings: SCALE_OUT_PG_SETTINGS });
  if ("missing" in cluster) return cluster;
  const admin = <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => withPostgresClient(cluster.adminUrl, work);
  try {
    const { version, settings } = await admin(async (client) => {
      await client.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
      const shown = await client.query<{ name: string; setting: string; unit: string | null }>(
        "SELECT name, setting, unit FROM pg_settings WHERE name = ANY ($1::text[])",
        [SHOWN_SETTINGS],
      );
      const text = (await client.query<{ v: string }>("SELECT version() AS v")).rows[0]?.v ?? "";
      return {
        version: text,
        settings: Object.fromEntries(shown.rows.map((row) => [row.name, row.unit === null ? row.setting : `${row.setting} (${row.unit})`])),
      };
    });
    if (settings["fsync"] !== "on" || settings["synchronous_commit"] !== "on") {
      throw new Error(`the cluster must run with fsync and synchronous_commit on: ${JSON.stringify(settings)}`);
    }
    const plainName = (name: string): string => {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new TypeError(`not a plain database name: ${name}`);
      return name;
    };
    return {
      version,
      pid: cluster.pid,
      adminUrl: cluster.adminUrl,
      settings,
      async createDatabase(name) {
        await admin((client) => client.query(`CREATE DATABASE ${plainName(name)}`));
        return cluster.urlOf(name);
      },
      async dropDatabase(name) {
        await admin((client) => client.query(`DROP DATABASE IF EXISTS ${plainName(name)} WITH (FORCE)`));
      },
      // A failed stop leaves the cluster to its watchdog; the figures are written either way.
      stop: () => cluster.stop().catch(() => undefined),
    };
  } catch (error) {
    await cluster.stop().catch(() => undefined);
    throw error;
  }
}
