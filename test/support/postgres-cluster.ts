import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { access, chown, mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);

/** A PostgreSQL database for one test file. */
export interface TestPostgres {
  /** A fresh, empty database of its own. */
  readonly url: string;
  /** Creates one more fresh, empty database on the same server; stop() drops it too. */
  createDatabase(): Promise<string>;
  /** Drops the databases, and stops and deletes a throwaway cluster. */
  stop(): Promise<void>;
}

/**
 * A real PostgreSQL for tests. With BOOKING_TEST_PG_URL set, a fresh database
 * (random name) on that server. Otherwise a throwaway cluster: initdb in a
 * temp dir, started on a free 127.0.0.1 port with trust auth and fsync off
 * (run as the `postgres` user when we are root, since PostgreSQL refuses
 * root). Resolves undefined, with a console notice, when no PostgreSQL
 * binaries exist; when CI=true that is an error instead, so CI cannot skip
 * the PostgreSQL tests silently.
 */
export async function startPostgres(): Promise<TestPostgres | undefined> {
  const given = process.env["BOOKING_TEST_PG_URL"];
  if (given !== undefined && given !== "") return onServer(given, async () => undefined);
  const bin = await findBinaries();
  if (bin === undefined) {
    const message = "no PostgreSQL binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin, and BOOKING_TEST_PG_URL is not set";
    if (process.env["CI"] === "true") throw new Error(`${message}; CI must run the PostgreSQL tests`);
    console.warn(`SKIPPING PostgreSQL tests: ${message}`);
    return undefined;
  }
  return startCluster(bin);
}

async function startCluster(bin: string): Promise<TestPostgres> {
  const dir = await mkdtemp(join(tmpdir(), "booking-pg-"));
  const data = join(dir, "data");
  const asPostgres = await postgresUser();
  // initdb and the server run as `postgres`, so it must own the directory.
  if (asPostgres !== undefined) await chown(dir, asPostgres.uid, asPostgres.gid);
  const tool = (name: string, args: string[]) =>
    asPostgres === undefined
      ? run(join(bin, name), args)
      : run("runuser", ["-u", "postgres", "--", join(bin, name), ...args]);
  try {
    await tool("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
    let started: { port: number } | undefined;
    let lastError: unknown;
    // A free port can be taken between finding it and binding it; try another.
    for (let attempt = 0; attempt < 3 && started === undefined; attempt++) {
      const port = await freePort();
      const settings = `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200`;
      try {
        await tool("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-o", settings, "-w", "-t", "30", "start"]);
        started = { port };
      } catch (error) {
        lastError = error;
      }
    }
    if (started === undefined) throw lastError;
    const adminUrl = `postgresql://postgres@127.0.0.1:${started.port}/postgres`;
    await waitForConnections(adminUrl);
    return await onServer(adminUrl, async () => {
      await tool("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      await rm(dir, { recursive: true, force: true });
    });
  } catch (error) {
    await tool("pg_ctl", ["-D", data, "-m", "immediate", "stop"]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Fresh databases on a running server; `shutdown` runs after they are dropped. */
async function onServer(serverUrl: string, shutdown: () => Promise<void>): Promise<TestPostgres> {
  const created: string[] = [];
  const admin = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };
  const createDatabase = async (): Promise<string> => {
    const name = `booking_test_${randomBytes(6).toString("hex")}`;
    await admin((client) => client.query(`CREATE DATABASE ${name}`));
    created.push(name);
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    return url.toString();
  };
  const url = await createDatabase();
  return {
    url,
    createDatabase,
    async stop() {
      await admin(async (client) => {
        for (const name of created.splice(0)) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
      await shutdown();
    },
  };
}

/** Tries to connect until the server answers: at most 100 attempts, 50 ms apart. */
async function waitForConnections(url: string): Promise<void> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 100; attempt++) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query("SELECT 1");
      await client.end();
      return;
    } catch (error) {
      lastError = error;
      await client.end().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error(`PostgreSQL at ${url} never accepted connections: ${String(lastError)}`);
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

/** The postgres user's ids when we are root (PostgreSQL refuses to run as root); otherwise undefined. */
async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const [uid, gid] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
