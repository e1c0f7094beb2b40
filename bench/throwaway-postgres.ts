import { execFile } from "node:child_process";
import { access, chown, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "./free-port.js";

const run = promisify(execFile);

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
 * Starts a throwaway cluster: initdb in a temporary directory, trust
 * authentication, a free 127.0.0.1 port. Unlike the test clusters, fsync
 * and synchronous_commit stay ON: durability is what the benchmark
 * measures. As root, the tools run as the `postgres` user (PostgreSQL
 * refuses root). Resolves `{ missing }`, naming what is missing, when
 * PostgreSQL is not installed.
 */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres | { readonly missing: string }> {
  const bin = await findBinaries();
  if (bin === undefined) return { missing: "no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin" };
  const dir = await mkdtemp(join(tmpdir(), "booking-bench-pg-"));
  const data = join(dir, "data");
  const owner = await postgresUser();
  if (owner !== undefined) await chown(dir, owner.uid, owner.gid);
  const tool = (name: string, args: string[]) =>
    owner === undefined ? run(join(bin, name), args) : run("runuser", ["-u", "postgres", "--", join(bin, name), ...args]);
  const stopCluster = async (): Promise<void> => {
    await tool("pg_ctl", ["-D", data, "-m", "fast", "-w", "-t", "30", "stop"]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // --no-sync only skips initdb's own final flush; the server below runs with fsync on.
    await tool("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
    let port: number | undefined;
    let lastError: unknown;
    for (let attempt = 0; attempt < 3 && port === undefined; attempt++) {
      const candidate = await freePort();
      const settings = [
        `-k ${dir} -p ${candidate} -c listen_addresses=127.0.0.1`,
        "-c fsync=on -c synchronous_commit=on -c full_page_writes=on",
        "-c max_connections=200 -c shared_buffers=256MB -c track_wal_io_timing=on",
        // Per-statement timings (nested ones too) show where a batch's time goes.
        "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all",
      ].join(" ");
      try {
        await tool("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-o", settings, "-w", "-t", "30", "start"]);
        port = candidate;
      } catch (error) {
        lastError = error;
      }
    }
    if (port === undefined) throw lastError;
    const adminUrl = `postgresql://postgres@127.0.0.1:${port}/postgres`;
    const admin = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        return await work(client);
      } finally {
        await client.end();
      }
    };
    const version = await admin(async (client) => {
      await client.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
      return (await client.query<{ v: string }>("SELECT version() AS v")).rows[0]?.v ?? "";
    });
    const pid = Number((await readFile(join(data, "postmaster.pid"), "utf8")).split("\n")[0]);
    return {
      version,
      pid,
      async createDatabase(name) {
        if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new TypeError(`not a plain database name: ${name}`);
        await admin((client) => client.query(`CREATE DATABASE ${name}`));
        return `postgresql://postgres@127.0.0.1:${port}/${name}`;
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
      stop: stopCluster,
    };
  } catch (error) {
    await stopCluster();
    throw error;
  }
}

/** The directory holding initdb and pg_ctl: PATH first, then the newest Debian install. */
async function findBinaries(): Promise<string | undefined> {
  const candidates = (process.env["PATH"] ?? "").split(delimiter).filter((entry) => entry !== "");
  const versions = await readdir("/usr/lib/postgresql").catch(() => [] as string[]);
  versions.sort((a, b) => Number(b) - Number(a));
  candidates.push(...versions.map((version) => `/usr/lib/postgresql/${version}/bin`));
  for (const candidate of candidates) {
    const found = await Promise.all(["initdb", "pg_ctl"].map((name) => access(join(candidate, name)).then(() => true, () => false)));
    if (found.every(Boolean)) return candidate;
  }
  return undefined;
}

/** The postgres user's ids when we are root; undefined otherwise. */
async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const [uid, gid] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}
