import { execFile } from "node:child_process";
import { access, chown, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { startClusterWatchdog, type ClusterWatchdog } from "./cluster-watchdog.js";
import { freePort } from "./free-port.js";

const run = promisify(execFile);

/** Why {@link startPostgresCluster} could not start a cluster. */
export const MISSING_POSTGRES = "no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin";

/** A throwaway PostgreSQL cluster on 127.0.0.1, superuser `postgres`, trust authentication. */
export interface PostgresCluster {
  readonly port: number;
  /** The postmaster's process id. */
  readonly pid: number;
  /** The watchdog's process id (see cluster-watchdog.ts). */
  readonly watchdogPid: number;
  /** The temporary directory holding the data directory, socket and log; stop() deletes it. */
  readonly dir: string;
  /** The URL of the `postgres` database. */
  readonly adminUrl: string;
  /** The URL of database `name` on this cluster (which must exist). */
  urlOf(name: string): string;
  /**
   * Stops the postmaster (immediate mode: its files are deleted anyway),
   * deletes `dir` and ends the watchdog. When pg_ctl fails, rejects and
   * leaves the watchdog to clean up when this process exits.
   */
  stop(): Promise<void>;
}

/** Options of {@link startPostgresCluster}. */
export interface PostgresClusterOptions {
  /** The start of the temporary directory's name, e.g. "booking-pg-". */
  readonly prefix: string;
  /** Server settings as postgres options, e.g. "-c fsync=off"; port, socket and address are set here. */
  readonly settings: readonly string[];
}

/**
 * Starts a throwaway cluster: initdb in a temporary directory, then the
 * server on a free 127.0.0.1 port (another port if that one is taken
 * before the server binds it, three tries). As root, the tools run as the
 * `postgres` user, since PostgreSQL refuses root. A watchdog process stops
 * the cluster and deletes its directory if this process dies without
 * calling stop(), even by SIGKILL. Resolves `{ missing }` when PostgreSQL
 * is not installed; what to make of that is the caller's choice.
 */
export async function startPostgresCluster(
  options: PostgresClusterOptions,
): Promise<PostgresCluster | { readonly missing: string }> {
  const bin = await findPostgresBinaries();
  if (bin === undefined) return { missing: MISSING_POSTGRES };
  const dir = await mkdtemp(join(tmpdir(), options.prefix));
  const data = join(dir, "data");
  const owner = await postgresUser();
  const command = (name: string, args: readonly string[]): [string, ...string[]] =>
    owner === undefined ? [join(bin, name), ...args] : ["runuser", "-u", "postgres", "--", join(bin, name), ...args];
  const tool = (name: string, args: readonly string[]) => {
    const [file, ...rest] = command(name, args);
    return run(file, rest);
  };
  const stopArgs = ["-D", data, "-m", "immediate", "-w", "-t", "30", "stop"];
  let watchdog: ClusterWatchdog | undefined;
  const stop = async (): Promise<void> => {
    await tool("pg_ctl", stopArgs);
    await rm(dir, { recursive: true, force: true });
    watchdog?.end();
  };
  try {
    // Before anything runs: a death during initdb or start is cleaned up too.
    watchdog = startClusterWatchdog(process.pid, dir, command("pg_ctl", stopArgs));
    // initdb and the server run as `postgres`, so it must own the directory.
    if (owner !== undefined) await chown(dir, owner.uid, owner.gid);
    // --no-sync only skips initdb's own final flush; the server's fsync is a setting.
    await tool("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
    let port: number | undefined;
    let lastError: unknown;
    for (let attempt = 0; attempt < 3 && port === undefined; attempt++) {
      const candidate = await freePort();
      const settings = [`-k ${dir} -p ${candidate} -c listen_addresses=127.0.0.1`, ...options.settings].join(" ");
      try {
        await tool("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-o", settings, "-w", "-t", "30", "start"]);
        port = candidate;
      } catch (error) {
        lastError = error;
      }
    }
    if (port === undefined) throw lastError;
    const urlOf = (name: string): string => `postgresql://postgres@127.0.0.1:${port}/${name}`;
    const adminUrl = urlOf("postgres");
    await waitForConnections(adminUrl);
    const pid = Number((await readFile(join(data, "postmaster.pid"), "utf8")).split("\n")[0]);
    return { port, pid, watchdogPid: watchdog.pid, dir, adminUrl, urlOf, stop };
  } catch (error) {
    await tool("pg_ctl", stopArgs).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    watchdog?.end();
    throw error;
  }
}

/** Runs `work` with a fresh connection to `url`, and closes it. */
export async function withPostgresClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The directory holding initdb and pg_ctl: PATH first, then the newest Debian install; undefined when none has both. */
export async function findPostgresBinaries(): Promise<string | undefined> {
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

/** Tries to connect until the server answers: at most 100 attempts, 50 ms apart. */
async function waitForConnections(url: string): Promise<void> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      await withPostgresClient(url, (client) => client.query("SELECT 1"));
      return;
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`PostgreSQL at ${url} never accepted connections: ${String(lastError)}`);
}

/** The postgres user's ids when we are root (PostgreSQL refuses to run as root); otherwise undefined. */
async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const [uid, gid] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}
