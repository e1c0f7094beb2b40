import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SeatStore } from "../../src/core/seat-store.js";
import type { ChangeLogRetention } from "../../src/core/show-changes.js";
import { MemoryStore } from "../../src/stores/memory-store.js";
import { PostgresStore } from "../../src/stores/postgres-store.js";
import { SqliteStore } from "../../src/stores/sqlite-store.js";
import { startPostgres, type TestPostgres } from "./postgres-cluster.js";

/** How a test opens stores: every `open` of one location reaches the same seats. */
export interface Location {
  open(options?: { requestIdRetentionMs?: number; now?: () => number; changeLog?: ChangeLogRetention }): Promise<SeatStore>;
}

export interface Harness {
  readonly name: string;
  /** Whether closing and reopening a location keeps its data. */
  readonly durable: boolean;
  /** How many stores may share one location at once (several server instances). */
  readonly instances: number;
  location(): Promise<Location>;
}

/**
 * The three stores as the contract suites open them: memory, a SQLite file
 * in a temporary folder, and a fresh database on a throwaway PostgreSQL
 * (skipped, with a notice, where PostgreSQL is missing outside CI).
 */
export async function openStoreHarnesses(): Promise<{
  harnesses: Harness[];
  postgres: TestPostgres | undefined;
  cleanup: () => Promise<void>;
}> {
  const postgres = await startPostgres();
  const dir = await mkdtemp(join(tmpdir(), "booking-store-contract-"));
  let files = 0;

  const harnesses: Harness[] = [
    {
      name: "MemoryStore",
      durable: false,
      instances: 1,
      async location() {
        return { open: async (options = {}) => new MemoryStore(options) };
      },
    },
    {
      name: "SqliteStore",
      durable: true,
      instances: 2,
      async location() {
        const path = join(dir, `store-${++files}.sqlite`);
        return { open: async (options = {}) => SqliteStore.open({ path, ...options }) };
      },
    },
    {
      name: "PostgresStore",
      durable: true,
      instances: 3,
      async location() {
        const connectionString = await postgres!.createDatabase();
        return { open: (options = {}) => PostgresStore.open({ connectionString, poolSize: 4, ...options }) };
      },
    },
  ];

  return {
    harnesses,
    postgres,
    cleanup: async () => {
      await postgres?.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
