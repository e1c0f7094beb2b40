import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { SeatStore } from "../core/seat-store.js";
import type { ChangeLogRetention } from "../core/show-changes.js";

/** Where `--store sqlite` keeps its file, relative to the working directory. */
export const DEFAULT_SQLITE_PATH = "./data/booking.sqlite";

/** The forms {@link openStore} accepts, for error messages and help. */
export const STORE_SPEC_FORMS = `"memory", "sqlite" (${DEFAULT_SQLITE_PATH}), "sqlite:PATH", a path ending in .sqlite or .db, or a postgres:// (postgresql://) URL`;

/** Options of {@link openStore}; each applies to the stores that have it. */
export interface OpenStoreOptions {
  /** How long request ids are remembered (default 24 h). */
  readonly requestIdRetentionMs?: number;
  /** PostgreSQL connections per instance (POSTGRES_STORE_DEFAULTS). */
  readonly postgresPoolSize?: number;
  /** PostgreSQL batches in flight per instance (POSTGRES_STORE_DEFAULTS). */
  readonly postgresBatchesInFlight?: number;
  /** PostgreSQL lock_timeout, ms (POSTGRES_STORE_DEFAULTS; 0 = none). */
  readonly postgresLockTimeoutMs?: number;
  /** PostgreSQL idle_in_transaction_session_timeout, ms (POSTGRES_STORE_DEFAULTS; 0 = none). */
  readonly postgresIdleInTransactionTimeoutMs?: number;
  /** The clock, in ms, for request-id ages; tests move it. */
  readonly now?: () => number;
  /** How much of each show's change log is kept (default DEFAULT_CHANGE_LOG_RETENTION). */
  readonly changeLog?: ChangeLogRetention;
}

/**
 * Opens the store a spec names: "memory"; "sqlite" (at ./data/booking.sqlite);
 * "sqlite:PATH" or a path ending in .sqlite/.db; a postgres:// or
 * postgresql:// URL. The directory of a SQLite file is created when missing;
 * the schema of a durable store is brought up to date. Any other spec is a
 * TypeError naming it and the accepted forms.
 *
 * Only the named store's module is loaded: node-postgres alone holds about
 * 3 MB of a server's live heap, and every full collection marks the live
 * heap again, so a server on SQLite or memory does not carry it.
 */
export async function openStore(spec: string, options: OpenStoreOptions = {}): Promise<SeatStore> {
  const common = {
    ...(options.requestIdRetentionMs === undefined ? {} : { requestIdRetentionMs: options.requestIdRetentionMs }),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.changeLog === undefined ? {} : { changeLog: options.changeLog }),
  };
  if (spec === "memory") {
    const { MemoryStore } = await import("./memory-store.js");
    return new MemoryStore(common);
  }
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const { PostgresStore } = await import("./postgres-store.js");
    return PostgresStore.open({
      connectionString: spec,
      ...common,
      ...(options.postgresPoolSize === undefined ? {} : { poolSize: options.postgresPoolSize }),
      ...(options.postgresBatchesInFlight === undefined ? {} : { batchesInFlight: options.postgresBatchesInFlight }),
      ...(options.postgresLockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.postgresLockTimeoutMs }),
      ...(options.postgresIdleInTransactionTimeoutMs === undefined
        ? {}
        : { idleInTransactionTimeoutMs: options.postgresIdleInTransactionTimeoutMs }),
    });
  }
  const path = sqlitePath(spec);
  if (path === undefined) {
    throw new TypeError(`unknown store "${spec}": expected ${STORE_SPEC_FORMS}`);
  }
  mkdirSync(dirname(path), { recursive: true });
  const { SqliteStore } = await import("./sqlite-store.js");
  return SqliteStore.open({ path, ...common });
}

/** True when {@link openStore} knows the form of `spec` (whether the store is reachable is another matter). */
export function isStoreSpec(spec: string): boolean {
  return spec === "memory" || /^postgres(ql)?:\/\//.test(spec) || sqlitePath(spec) !== undefined;
}

function sqlitePath(spec: string): string | undefined {
  if (spec === "sqlite") return DEFAULT_SQLITE_PATH;
  if (spec.startsWith("sqlite:")) {
    const path = spec.slice("sqlite:".length);
    return path === "" ? undefined : path;
  }
  return /\.(sqlite|db)$/.test(spec) ? spec : undefined;
}
