import { randomBytes } from "node:crypto";
import { startPostgresCluster, withPostgresClient } from "../../bench/postgres-cluster.js";

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
 * (random name) on that server. Otherwise a throwaway cluster (the one the
 * benchmark uses, see bench/postgres-cluster.ts: free port, a watchdog that
 * stops it if this process dies) with fsync off. Resolves undefined, with a
 * console notice, when no PostgreSQL binaries exist; when CI=true that is an
 * error instead, so CI cannot skip the PostgreSQL tests silently.
 */
export async function startPostgres(): Promise<TestPostgres | undefined> {
  const given = process.env["BOOKING_TEST_PG_URL"];
  if (given !== undefined && given !== "") return onServer(given, async () => undefined);
  const cluster = await startPostgresCluster({
    prefix: "booking-pg-",
    settings: ["-c fsync=off -c full_page_writes=off -c max_connections=200"],
  });
  if ("missing" in cluster) {
    const message = `${cluster.missing}, and BOOKING_TEST_PG_URL is not set`;
    if (process.env["CI"] === "true") throw new Error(`${message}; CI must run the PostgreSQL tests`);
    console.warn(`SKIPPING PostgreSQL tests: ${message}`);
    return undefined;
  }
  try {
    return await onServer(cluster.adminUrl, () => cluster.stop());
  } catch (error) {
    await cluster.stop().catch(() => undefined);
    throw error;
  }
}

/** Fresh databases on a running server; `shutdown` runs after they are dropped. */
async function onServer(serverUrl: string, shutdown: () => Promise<void>): Promise<TestPostgres> {
  const created: string[] = [];
  const createDatabase = async (): Promise<string> => {
    const name = `booking_test_${randomBytes(6).toString("hex")}`;
    await withPostgresClient(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
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
      await withPostgresClient(serverUrl, async (client) => {
        for (const name of created.splice(0)) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
      await shutdown();
    },
  };
}
