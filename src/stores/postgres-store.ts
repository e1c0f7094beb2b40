import pg from "pg";
import type { PoolClient } from "pg";
import { DEFAULT_CHANGE_LOG_RETENTION } from "../core/change-log.js";
import { freeSeats } from "../core/free-seats.js";
import {
  commandFingerprint,
  DEFAULT_REQUEST_ID_RETENTION_MS,
  encodeOutcome,
  requestIdReused,
  requestKey,
} from "../core/idempotency.js";
import type {
  CommandOutcome,
  HoldRecord,
  SeatBooking,
  SeatStore,
  ShowDefinition,
  ShowRecord,
  ShowSnapshot,
  ShowState,
  StoreCommand,
} from "../core/seat-store.js";
import { StoreUnavailableError } from "../core/seat-store.js";
import type { ChangeLogRead, ChangeLogRetention } from "../core/show-changes.js";
import { runBatch } from "./postgres-batch.js";
import { isHoldAction } from "./postgres-hold-actions.js";
import { runHoldBatch } from "./postgres-hold-batch.js";
import { runSeatBatch } from "./postgres-seat-batch.js";
import { isSeatLevel } from "./postgres-seat-commands.js";
import { replayStoredOutcome } from "./postgres-stored-outcome.js";
import { CommitListener } from "./postgres-commit-listener.js";
import { readHold } from "./postgres-hold-actions.js";
import { migratePostgresFrom } from "./postgres-migrations.js";
import { POSTGRES_STORE_DEFAULTS } from "./postgres-store-defaults.js";
import { insertShow, readShow, readShows } from "./postgres-show-commands.js";
import {
  announceVersions,
  readChangesSince,
  readLapsedHoldShows,
  recordShowChanges,
  type LatestVersion,
} from "./postgres-show-versions.js";
import { VersionAnnouncer } from "./postgres-version-announcer.js";

/** Options of {@link PostgresStore}. */
export interface PostgresStoreOptions {
  /** A postgres:// or postgresql:// URL. */
  readonly connectionString: string;
  /** Connections this instance keeps at most (POSTGRES_STORE_DEFAULTS.poolSize). */
  readonly poolSize?: number;
  /** Batches run at once, each on its own connection, at most poolSize (POSTGRES_STORE_DEFAULTS.batchesInFlight). */
  readonly batchesInFlight?: number;
  /** PostgreSQL's lock_timeout for this instance's sessions (POSTGRES_STORE_DEFAULTS.lockTimeoutMs; 0 = none). */
  readonly lockTimeoutMs?: number;
  /** idle_in_transaction_session_timeout (POSTGRES_STORE_DEFAULTS.idleInTransactionTimeoutMs; 0 = none). */
  readonly idleInTransactionTimeoutMs?: number;
  /** How long request ids are remembered (default 24 h). */
  readonly requestIdRetentionMs?: number;
  /**
   * The clock, in ms, used for request-id ages only; tests move it. Hold
   * expiry ignores it: the database's clock decides, so that instances whose
   * clocks disagree agree on which holds are alive.
   */
  readonly now?: () => number;
  /** How much of each show's change log is kept, trimmed by every batch for the shows it changed. */
  readonly changeLog?: ChangeLogRetention;
  /** How often every show's version is re-read for a NOTIFY never sent (CATCH_UP_INTERVAL_MS); tests shorten it. */
  readonly commitCatchUpMs?: number;
  /** The least time between two NOTIFY transactions of this instance (POSTGRES_STORE_DEFAULTS.announceGapMs). */
  readonly announceGapMs?: number;
}

/** A show command that adds seats: creating a show, or resizing one (it may grow). */
function addsSeats(command: StoreCommand): boolean {
  return command.kind === "create-show" || command.kind === "resize-show";
}

/** Attempts of one batch before its error reaches the caller. */
const MAX_ATTEMPTS = 8;
/** Old request ids are deleted at most this often by each instance. */
const PURGE_INTERVAL_MS = 60_000;
/**
 * serialization_failure, deadlock_detected and lock_not_available (a
 * lock_timeout): the transaction changed nothing and may run again.
 */
const RETRYABLE_SQLSTATES = new Set(["40001", "40P01", "55P03"]);

interface StoredRequest {
  readonly fingerprint: string;
  readonly outcome: string;
}

/**
 * Shows, seats and holds in PostgreSQL, for several server instances sharing
 * one database: the database, not this process, keeps a seat from being
 * booked or held twice. Nothing is cached; every decision reads rows locked
 * in the same transaction, and hold expiry is decided by the database's
 * clock: each batch reads now() (its transaction's start) once, decides
 * every command at it and writes timestamps from it.
 *
 * A batch is ONE transaction (one commit for all the commands the core
 * queued), with the locks of every transaction taken in one global order
 * (see runBatch in postgres-batch.ts). Book, cancel and hold commands run in
 * one round trip inside the schema's apply_seat_commands function, which
 * changes a command's seats only when the shared rules allow it; the verdict
 * is the shared rules' (seat-rules.ts, hold-rules.ts, show-rules.ts) on what
 * the function found, checked against what it changed.
 *
 * Idempotency records are written in the same transaction; if another
 * instance committed the same (principal, request id) meanwhile, the primary
 * key catches it, the batch is rolled back and run again, and the rerun
 * replays the stored outcome.
 * Serialization failures and deadlocks (40001, 40P01) are retried too, a
 * bounded number of times with jittered backoff.
 *
 * Every committed change of a show's availability takes the show's next
 * version in the same transaction, and is kept in the show_changes log; the
 * versions are taken in one step per show at the very end of the
 * transaction (see runBatch and recordShowChanges); once it has committed,
 * this instance tells its own listeners and NOTIFYs the other instances
 * (onCommit, see CommitListener and announceVersions). A listing reads the
 * latest version: a hold recorded active holds its seats even once lapsed,
 * until the sweeper's expire-holds, or a request taking its seats, records
 * its end.
 */
export class PostgresStore implements SeatStore {
  readonly kind = "postgres";
  #schema: { readonly foundVersion: number; readonly version: number } | undefined;

  /** The schema's version when opened and now (set by open, before anyone else sees the store). */
  get schema(): { readonly foundVersion: number; readonly version: number } | undefined {
    return this.#schema;
  }
  readonly batchesInFlight: number;
  /** A batch takes its show's row for its version step until it commits: batches of one show would queue on it. */
  readonly oneBatchPerShow = true;
  readonly #pool: pg.Pool;
  readonly #retentionMs: number;
  readonly #now: () => number;
  readonly #changeLog: ChangeLogRetention;
  readonly #commits: CommitListener;
  readonly #announcer: VersionAnnouncer;
  #nextPurgeAt = 0;
  /** The ANALYZE started after show commands that added seats, if any. */
  #analyzing: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(options: PostgresStoreOptions) {
    this.#retentionMs = options.requestIdRetentionMs ?? DEFAULT_REQUEST_ID_RETENTION_MS;
    this.#now = options.now ?? Date.now;
    this.#changeLog = options.changeLog ?? DEFAULT_CHANGE_LOG_RETENTION;
    this.#commits = new CommitListener(options.connectionString, options.commitCatchUpMs);
    this.#announcer = new VersionAnnouncer((latest) => announceVersions(this.#pool, latest), {
      minGapMs: options.announceGapMs ?? POSTGRES_STORE_DEFAULTS.announceGapMs,
    });
    const poolSize = options.poolSize ?? POSTGRES_STORE_DEFAULTS.poolSize;
    this.batchesInFlight = Math.min(poolSize, options.batchesInFlight ?? POSTGRES_STORE_DEFAULTS.batchesInFlight);
    this.#pool = new pg.Pool({
      connectionString: options.connectionString,
      max: poolSize,
      lock_timeout: options.lockTimeoutMs ?? POSTGRES_STORE_DEFAULTS.lockTimeoutMs,
      idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? POSTGRES_STORE_DEFAULTS.idleInTransactionTimeoutMs,
    });
    // An idle connection that dies (server restart) is dropped by the pool;
    // without a listener the error event would end the process.
    this.#pool.on("error", () => undefined);
    // A checked-out connection that dies between two queries emits "error" on
    // its client; unheard, that would end the process. The query in progress
    // (or the next one) fails on its own and is reported as unavailable.
    this.#pool.on("connect", (client) => client.on("error", () => undefined));
  }

  /**
   * Connects (to a URL or with full options) and brings the schema up to
   * date; safe when many instances start at once.
   */
  static async open(options: string | PostgresStoreOptions): Promise<PostgresStore> {
    const settings = typeof options === "string" ? { connectionString: options } : options;
    const store = new PostgresStore(settings);
    try {
      store.#schema = await migratePostgresFrom(store.#pool);
    } catch (error) {
      await store.close();
      // "connect ECONNREFUSED 127.0.0.1:5432" alone does not say that the
      // PostgreSQL store is what failed, nor where the URL pointed.
      throw new Error(`cannot open the PostgreSQL store at ${whereTo(settings.connectionString)}: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
    return store;
  }

  /**
   * Book, cancel and hold commands; confirm, release and extend; the rest:
   * a batch of either of the first two groups is one statement (runSeatBatch,
   * runHoldBatch).
   */
  batchGroup(command: StoreCommand): string {
    return isSeatLevel(command) ? "seat" : isHoldAction(command) ? "hold-action" : "other";
  }

  async ensureShows(shows: readonly ShowDefinition[]): Promise<ShowRecord[]> {
    this.#assertOpen();
    const records = await this.#inTransaction(async (client) => {
      const now = await transactionNow(client);
      const records: ShowRecord[] = [];
      for (const show of shows) {
        // A show that exists is left as it is: it may have been resized at run time.
        await insertShow(client, { id: show.id, totalSeats: show.totalSeats, displayName: show.displayName ?? "" }, now);
        const record = await readShow(client, show.id);
        if (record === undefined) throw new Error(`show "${show.id}" is not in the store after creating it`);
        records.push(record);
      }
      return records;
    }).catch(rethrowUnavailable);
    await this.#analyzeSeats();
    return records;
  }

  async applyBatch(commands: readonly StoreCommand[]): Promise<CommandOutcome[]> {
    this.#assertOpen();
    if (commands.length === 0) return [];
    return this.#applyBatch(commands).catch(rethrowUnavailable);
  }

  async #applyBatch(commands: readonly StoreCommand[]): Promise<CommandOutcome[]> {
    const now = this.#now();
    if (now >= this.#nextPurgeAt) {
      this.#nextPurgeAt = now + PURGE_INTERVAL_MS;
      // Its own short transaction, skipping rows others hold: it never waits, so it cannot deadlock.
      await this.#pool.query(
        `DELETE FROM requests WHERE (principal, request_id) IN
           (SELECT principal, request_id FROM requests WHERE created_at < $1 FOR UPDATE SKIP LOCKED)`,
        [now - this.#retentionMs],
      );
    }
    let run: { outcomes: CommandOutcome[]; latest: LatestVersion[] };
    const settings = { recordedAt: now, liveAfter: now - this.#retentionMs, changeLog: this.#changeLog };
    if (commands.every(isSeatLevel)) {
      run = await this.#retried(() => runSeatBatch(this.#pool, commands, settings));
    } else if (commands.every(isHoldAction)) {
      run = await this.#retried(() => runHoldBatch(this.#pool, commands, settings));
    } else {
      run = await this.#inTransaction((client) => this.#applyInTransaction(client, commands, now));
      // Not awaited: the batch's callers need not wait for the statistics.
      if (commands.some(addsSeats)) this.#analyzing = this.#analyzing.then(() => this.#analyzeSeats());
    }
    this.#announce(run.latest);
    return run.outcomes;
  }

  /**
   * Refreshes the statistics of seats once a transaction added seats (a show
   * created or made bigger). The batch functions plan their statements once
   * per connection (postgres-migration-7.ts); new statistics make every
   * connection plan them again, so that no plan made while the table was
   * small outlives its growth. Failures are ignored: an ANALYZE running
   * already, or autovacuum's next one, does the same.
   */
  async #analyzeSeats(): Promise<void> {
    await this.#pool.query("ANALYZE seats").catch(() => undefined);
  }

  /**
   * Tells this instance's listeners the committed versions at once, and every
   * instance's through NOTIFY (announceVersions, coalesced by
   * VersionAnnouncer), without making the batch's callers wait for it: their
   * changes are committed already.
   */
  #announce(latest: readonly LatestVersion[]): void {
    if (latest.length === 0) return;
    for (const { showId, version } of latest) this.#commits.tell(showId, version);
    this.#announcer.announce(latest);
  }

  /** Runs `work` again on serialization failures and deadlocks, a bounded number of times. */
  async #retried<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (!isRetryable(error) || attempt >= MAX_ATTEMPTS) throw error;
        await backoff(attempt);
      }
    }
  }

  async snapshot(showId: string): Promise<ShowSnapshot | undefined> {
    this.#assertOpen();
    // One statement, so one MVCC snapshot: the seats are those of the version read.
    const result = await this.#pool
      .query<{ total_seats: number; version: number; state: ShowState; booked: number[]; held: number[] }>({
        name: "snapshot",
        text: `SELECT total_seats, version::float8 AS version, state,
                 array(SELECT seat FROM seats WHERE show_id = $1 AND owner IS NOT NULL ORDER BY seat) AS booked,
                 array(SELECT seat FROM seats WHERE show_id = $1 AND owner IS NULL AND hold_expires_at IS NOT NULL ORDER BY seat) AS held
               FROM shows WHERE show_id = $1`,
        values: [showId],
      })
      .catch(rethrowUnavailable);
    const row = result.rows[0];
    if (row === undefined) return undefined;
    const { total_seats: totalSeats, booked, held } = row;
    return {
      showId,
      totalSeats,
      bookedCount: booked.length,
      heldCount: held.length,
      available: freeSeats(totalSeats, mergeAscending(booked, held)),
      version: row.version,
      held,
      state: row.state,
    };
  }

  async getShow(showId: string): Promise<ShowRecord | undefined> {
    this.#assertOpen();
    return readShow(this.#pool, showId).catch(rethrowUnavailable);
  }

  async listShows(afterId: string, limit: number): Promise<ShowRecord[]> {
    this.#assertOpen();
    return readShows(this.#pool, afterId, limit).catch(rethrowUnavailable);
  }

  async getHold(holdId: string): Promise<HoldRecord | undefined> {
    this.#assertOpen();
    return readHold(this.#pool, holdId).catch(rethrowUnavailable);
  }

  async changesSince(showId: string, afterVersion: number, limit: number): Promise<ChangeLogRead> {
    this.#assertOpen();
    return readChangesSince(this.#pool, showId, afterVersion, limit).catch(rethrowUnavailable);
  }

  /** Hears every instance's commits through one LISTEN connection, opened on the first call. */
  onCommit(listener: (showId: string, version: number) => void): () => void {
    this.#assertOpen();
    return this.#commits.add(listener);
  }

  async lapsedHoldShows(): Promise<string[]> {
    this.#assertOpen();
    return readLapsedHoldShows(this.#pool).catch(rethrowUnavailable);
  }

  async bookings(showId: string): Promise<SeatBooking[]> {
    this.#assertOpen();
    const result = await this.#pool.query<{ seat: number | null; owner: string | null; request_id: string | null }>({
      name: "bookings",
      text: `SELECT s.seat, s.owner, s.request_id FROM shows sh
             LEFT JOIN seats s ON s.show_id = sh.show_id AND s.owner IS NOT NULL
             WHERE sh.show_id = $1 ORDER BY s.seat`,
      values: [showId],
    });
    if (result.rows.length === 0) throw new Error(`show "${showId}" is not in the store`);
    const bookings: SeatBooking[] = [];
    for (const row of result.rows) {
      if (row.seat !== null) bookings.push({ seat: row.seat, owner: row.owner ?? "", requestId: row.request_id ?? "" });
    }
    return bookings;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#announcer.settled();
    await this.#analyzing;
    await this.#commits.close();
    await this.#pool.end();
  }

  /**
   * One attempt at the batch inside an open transaction. Returns undefined
   * when another instance recorded one of the batch's request ids first: the
   * caller rolls back and runs the batch again, which then replays it.
   */
  async #applyInTransaction(
    client: PoolClient,
    commands: readonly StoreCommand[],
    now: number,
  ): Promise<{ outcomes: CommandOutcome[]; latest: LatestVersion[] } | undefined> {
    const { requests, transactionNow } = await this.#storedRequests(client, commands, now);
    // Commands whose request id is already known are answered here and not run.
    const outcomes: (CommandOutcome | undefined)[] = [];
    const fingerprints: string[] = [];
    const toRun: StoreCommand[] = [];
    const ranFirst = new Map<string, StoreCommand>();
    for (const command of commands) {
      const fingerprint = commandFingerprint(command);
      fingerprints.push(fingerprint);
      const key = command.requestId === "" ? undefined : requestKey(command.principal, command.requestId);
      const earlier = key === undefined ? undefined : requests.get(key);
      const first = key === undefined ? undefined : ranFirst.get(key);
      if (earlier !== undefined) {
        outcomes.push(earlier.fingerprint === fingerprint ? replayStoredOutcome(command, earlier.outcome) : requestIdReused(command));
      } else if (first !== undefined) {
        // Same id earlier in this batch: settled below, once that command's outcome is known.
        outcomes.push(commandFingerprint(first) === fingerprint ? undefined : requestIdReused(command));
      } else {
        if (key !== undefined) ranFirst.set(key, command);
        toRun.push(command);
        outcomes.push(undefined);
      }
    }
    const { outcomes: ran, changes } = await runBatch(client, toRun, transactionNow);
    const fresh = { principals: [] as string[], ids: [] as string[], fingerprints: [] as string[], outcomes: [] as string[] };
    const settled = new Map<string, CommandOutcome>();
    let next = 0;
    commands.forEach((command, index) => {
      if (outcomes[index] !== undefined) return;
      const key = command.requestId === "" ? undefined : requestKey(command.principal, command.requestId);
      const earlier = key === undefined ? undefined : settled.get(key);
      if (earlier !== undefined) {
        outcomes[index] = { ...earlier, replayed: true };
        return;
      }
      const outcome = ran[next++] as CommandOutcome;
      outcomes[index] = outcome;
      if (key !== undefined) {
        settled.set(key, outcome);
        fresh.principals.push(command.principal);
        fresh.ids.push(command.requestId);
        fresh.fingerprints.push(fingerprints[index] as string);
        fresh.outcomes.push(encodeOutcome(outcome));
      }
    });
    if (fresh.ids.length > 0) {
      // Expired records are replaced; a live one means another instance got there first.
      const saved = await client.query({
        name: "save-requests",
        text: `INSERT INTO requests (principal, request_id, fingerprint, outcome, created_at)
               SELECT p, r, f, o, $5::bigint FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t (p, r, f, o)
               ORDER BY p, r
               ON CONFLICT (principal, request_id) DO UPDATE
               SET fingerprint = EXCLUDED.fingerprint, outcome = EXCLUDED.outcome, created_at = EXCLUDED.created_at
               WHERE requests.created_at < $6::bigint
               RETURNING 1`,
        values: [fresh.principals, fresh.ids, fresh.fingerprints, fresh.outcomes, now, now - this.#retentionMs],
      });
      if (saved.rowCount !== fresh.ids.length) return undefined;
    }
    // Last before COMMIT: the show rows it updates are held only from here.
    const latest = await recordShowChanges(client, changes.changes, changes.soldIn, this.#changeLog);
    return { outcomes: outcomes as CommandOutcome[], latest };
  }

  /**
   * The live idempotency records of the batch's request ids (aged by this
   * instance's clock, `now`), and the transaction's now() in epoch ms, in
   * one round trip.
   */
  async #storedRequests(
    client: PoolClient,
    commands: readonly StoreCommand[],
    now: number,
  ): Promise<{ requests: Map<string, StoredRequest>; transactionNow: number }> {
    const requests = new Map<string, StoredRequest>();
    const principals: string[] = [];
    const ids: string[] = [];
    for (const command of commands) {
      if (command.requestId === "") continue;
      principals.push(command.principal);
      ids.push(command.requestId);
    }
    const result = await client.query<{ now_ms: number; principal: string | null; request_id: string; fingerprint: string; outcome: string }>({
      name: "find-requests",
      text: `SELECT epoch_ms(now())::float8 AS now_ms, r.principal, r.request_id, r.fingerprint, r.outcome
             FROM (SELECT 1) AS one LEFT JOIN (
               SELECT r.* FROM unnest($1::text[], $2::text[]) AS t (principal, request_id) JOIN requests r USING (principal, request_id)
               WHERE r.created_at >= $3::bigint
             ) AS r ON true`,
      values: [principals, ids, now - this.#retentionMs],
    });
    const first = result.rows[0];
    if (first === undefined) throw new Error("reading the batch's request ids returned no row");
    for (const row of result.rows) if (row.principal !== null) requests.set(requestKey(row.principal, row.request_id), row);
    return { requests, transactionNow: first.now_ms };
  }

  /**
   * Runs `work` in a transaction on one pooled connection, again on retryable
   * failures or when `work` returns undefined. A connection that failed in an
   * unknown state is discarded rather than returned to the pool.
   */
  async #inTransaction<T>(work: (client: PoolClient) => Promise<T | undefined>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#pool.connect();
      let result: T | undefined;
      try {
        await client.query("BEGIN");
        result = await work(client);
        await client.query(result === undefined ? "ROLLBACK" : "COMMIT");
      } catch (error) {
        const rolledBack = await client.query("ROLLBACK").then(
          () => true,
          () => false,
        );
        client.release(rolledBack ? undefined : true);
        if (!isRetryable(error) || attempt >= MAX_ATTEMPTS) throw error;
        await backoff(attempt);
        continue;
      }
      client.release();
      if (result !== undefined) return result;
      if (attempt >= MAX_ATTEMPTS) {
        throw new Error(`gave up after ${attempt} attempts: other instances kept recording the same request ids`);
      }
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("the PostgreSQL store is closed");
  }
}

/** The transaction's now() in epoch ms: the instant its commands are decided at. */
async function transactionNow(client: PoolClient): Promise<number> {
  const result = await client.query<{ now_ms: number }>({ name: "transaction-now", text: "SELECT epoch_ms(now())::float8 AS now_ms" });
  const now = result.rows[0]?.now_ms;
  if (now === undefined) throw new Error("now() returned no row");
  return now;
}

/** Two ascending lists of distinct seats as one. */
function mergeAscending(a: readonly number[], b: readonly number[]): number[] {
  const merged: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && (a[i] as number) < (b[j] as number))) merged.push(a[i++] as number);
    else merged.push(b[j++] as number);
  }
  return merged;
}

/**
 * Connection failures say nothing about the data, only that the database is
 * out of reach for now: SQLSTATE class 08 (connection exception), 57P01-57P03
 * (the server is shutting down or starting), and socket errors.
 */
function rethrowUnavailable(error: unknown): never {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const lost =
    (typeof code === "string" && (code.startsWith("08") || /^57P0[123]$/.test(code) || /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH)$/.test(code))) ||
    /Connection terminated|connection timeout/i.test(message);
  if (lost) throw new StoreUnavailableError(`PostgreSQL is unreachable: ${message}`, { cause: error });
  throw error;
}

function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && RETRYABLE_SQLSTATES.has(code);
}

/** Full jitter: 0..(5 ms * 2^attempt), capped at 250 ms. */
function backoff(attempt: number): Promise<void> {
  const ceiling = Math.min(250, 5 * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}

/**
 * Where a connection string points, without its password: host, port and
 * database, with libpq's defaults (localhost, 5432, the user's name) for
 * what it leaves out.
 */
function whereTo(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    const user = decodeURIComponent(url.username) || "the current user";
    const database = decodeURIComponent(url.pathname.slice(1)) || `the default database (${user})`;
    return `${url.hostname || "localhost"}:${url.port || "5432"}, database ${database}`;
  } catch {
    return "the given URL";
  }
}
