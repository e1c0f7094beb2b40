/**
 * The PostgreSQL store's defaults, stated once: PostgresStore falls back to
 * them and `booking serve --help` prints those it has an option for.
 */
export const POSTGRES_STORE_DEFAULTS = {
  /** Connections this instance keeps at most. */
  poolSize: 10,
  /**
   * Batches this instance runs at once, each on its own connection (at most
   * the pool size). Row locks taken in one global order keep overlapping
   * batches correct; overlap hides each batch's round trip and commit.
   */
  batchesInFlight: 4,
  /**
   * The longest a statement waits for a row lock (PostgreSQL's lock_timeout)
   * before its batch is run again. A guard: batches hold locks only while
   * the database works for them (see idleInTransactionTimeoutMs).
   */
  lockTimeoutMs: 2_000,
  /**
   * How long a transaction may wait for this instance between two
   * statements (idle_in_transaction_session_timeout) before PostgreSQL ends
   * it and frees its locks: a paused or stalled instance must not stall the
   * others. Only batches with hold actions or show commands take several
   * statements; seat batches are one.
   */
  idleInTransactionTimeoutMs: 1_000,
  /**
   * The least time between the starts of two NOTIFY transactions that tell
   * the other instances what committed (VersionAnnouncer). The versions
   * committed meanwhile go together in the next: under load this caps the
   * announcing at 50 transactions a second instead of one per batch, and a
   * watcher on another instance hears a change at most this much later.
   * This instance's own watchers are told at once.
   */
  announceGapMs: 20,
} as const;
