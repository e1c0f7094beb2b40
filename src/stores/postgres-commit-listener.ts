import pg from "pg";
import { SHOW_CHANGES_CHANNEL } from "./postgres-show-versions.js";

/** The listener connection's application_name, so operators (and tests) can find it in pg_stat_activity. */
export const COMMIT_LISTENER_APPLICATION_NAME = "booking-commit-listener";

/** Reconnect delays: full jitter below FIRST_RETRY_MS * 2^n, at most MAX_RETRY_MS. */
const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 5_000;
/**
 * How often every show's version is read again, to catch a NOTIFY that was
 * never sent: announcements follow commits in their own statement, and an
 * instance that dies between the two sends none.
 */
export const CATCH_UP_INTERVAL_MS = 5_000;

type Listener = (showId: string, version: number) => void;

/**
 * Hears every instance's commits on a shared database: one dedicated
 * connection (not from the pool, which would hand it back with LISTEN still
 * on) that LISTENs on {@link SHOW_CHANGES_CHANNEL}, where every instance
 * NOTIFYs "<show>:<latest version>" per changed show right after each batch
 * commits (announceVersions); PostgreSQL delivers those to every listening
 * session. They may arrive out of order: a version no higher than one told
 * already is dropped, and the change log holds every version between.
 *
 * Notifications sent while no connection listens are lost, so each time the
 * connection is (re)established and listening, every show's current version
 * is read and told as well: a watcher then re-reads the change log and
 * misses nothing; the same read runs every CATCH_UP_INTERVAL_MS, for a
 * NOTIFY that was never sent. A lost connection is re-established with
 * jittered exponential backoff until close(). Versions told for a show only
 * grow.
 */
export class CommitListener {
  readonly #connectionString: string;
  readonly #listeners = new Set<Listener>();
  readonly #latest = new Map<string, number>();
  #client: pg.Client | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #catchUpTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #started = false;
  #closed = false;

  readonly #catchUpIntervalMs: number;

  constructor(connectionString: string, catchUpIntervalMs = CATCH_UP_INTERVAL_MS) {
    this.#connectionString = connectionString;
    this.#catchUpIntervalMs = catchUpIntervalMs;
  }

  /** Adds a listener, connecting on the first; returns the unsubscribe. */
  add(listener: Listener): () => void {
    this.#listeners.add(listener);
    if (!this.#started && !this.#closed) {
      this.#started = true;
      void this.#connect();
    }
    return () => this.#listeners.delete(listener);
  }

  /**
   * Tells the listeners a version this instance committed, without waiting
   * for its NOTIFY to come back; the NOTIFY then changes nothing here.
   */
  tell(showId: string, version: number): void {
    this.#tell(showId, version);
  }

  /** Stops listening for good. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    clearTimeout(this.#retryTimer);
    clearInterval(this.#catchUpTimer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({ connectionString: this.#connectionString, application_name: COMMIT_LISTENER_APPLICATION_NAME });
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      if (this.#client === client) this.#client = undefined;
      client.end().catch(() => undefined);
      this.#retryLater();
    };
    // A dead connection emits "error" (unheard, it would end the process) and "end".
    client.on("error", onLost);
    client.on("end", onLost);
    client.on("notification", (message) => {
      if (message.channel !== SHOW_CHANGES_CHANNEL || message.payload === undefined) return;
      const colon = message.payload.lastIndexOf(":");
      const version = Number(message.payload.slice(colon + 1));
      if (colon > 0 && Number.isSafeInteger(version)) this.#tell(message.payload.slice(0, colon), version);
    });
    try {
      await client.connect();
      if (this.#closed) {
        await client.end();
        return;
      }
      this.#client = client;
      await client.query(`LISTEN ${SHOW_CHANGES_CHANNEL}`);
      // Listening from here on; whatever committed before is read.
      await this.#catchUp(client);
      this.#failures = 0;
      this.#catchUpTimer ??= setInterval(() => {
        const current = this.#client;
        if (current !== undefined) this.#catchUp(current).catch(() => undefined);
      }, this.#catchUpIntervalMs).unref();
    } catch {
      onLost();
    }
  }

  /** Tells every show's current version (those already told change nothing). */
  async #catchUp(client: pg.Client): Promise<void> {
    const shows = await client.query<{ show_id: string; version: number }>("SELECT show_id, version::float8 AS version FROM shows");
    for (const row of shows.rows) this.#tell(row.show_id, row.version);
  }

  #retryLater(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.#failures++);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#connect();
    }, Math.random() * ceiling);
    this.#retryTimer.unref();
  }

  #tell(showId: string, version: number): void {
    if (this.#closed || version <= (this.#latest.get(showId) ?? -1)) return;
    this.#latest.set(showId, version);
    for (const listener of this.#listeners) listener(showId, version);
  }
}
