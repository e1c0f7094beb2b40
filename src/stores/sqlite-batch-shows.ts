import type { ShowState } from "../core/seat-store.js";
import type { ChangeKind, ChangeLogRetention } from "../core/show-changes.js";
import type { SqliteStatements } from "./sqlite-statements.js";

/** A show as the running batch sees it: read once, then kept right by the batch's own changes. */
export interface BatchShow {
  totalSeats: number;
  state: ShowState;
  /** The show's latest version, this batch's changes included. */
  version: number;
  /** The oldest version its change log answers for, as read at the batch's start. */
  readonly logStart: number;
  /**
   * Whether any of its seats may be marked by a hold (live or lapsed): read
   * with the show, and set by the batch when it marks seats. While false, a
   * booking need not look for a seat's mark. It may stay true after the
   * marks are gone (that only costs the lookup).
   */
  hasMarks: boolean;
}

/**
 * Rows below a show's log_start are deleted when log_start crosses a
 * multiple of this: one DELETE per this many versions instead of one per
 * commit (about 7 µs each, most of a one-command batch's own work). A show
 * keeps at most this many rows more than its log answers for.
 */
export const CHANGE_LOG_DELETE_CHUNK = 256;

/**
 * The shows one SQLite batch reads and changes, valid only inside its
 * transaction (where nobody else writes). Another process may change a show
 * (or mark its seats) between batches, so {@link start} forgets them all.
 *
 * Each change gets the show's next version and its change row at once; the
 * shows' version column is written once per changed show, and where its log
 * starts decided by the retention, by {@link finish}, still inside the
 * transaction.
 */
export class SqliteBatchShows {
  readonly #sql: SqliteStatements;
  readonly #retention: ChangeLogRetention;
  /** Shows read in the batch (undefined: not in the store). */
  readonly #shows = new Map<string, BatchShow | undefined>();
  /** The shows the batch changed, in the order of their first change. */
  readonly #changed = new Map<string, BatchShow>();

  constructor(sql: SqliteStatements, retention: ChangeLogRetention) {
    this.#sql = sql;
    this.#retention = retention;
  }

  /** Forgets the previous batch. */
  start(): void {
    this.#shows.clear();
    this.#changed.clear();
  }

  /** The show a command names, read once per batch. */
  get(showId: string): BatchShow | undefined {
    if (this.#shows.has(showId)) return this.#shows.get(showId);
    const row = this.#sql.batchShowRow.get(showId);
    const show: BatchShow | undefined =
      row === undefined ? undefined : { totalSeats: row[0], state: row[1], version: row[2], logStart: row[3], hasMarks: row[4] === 1 };
    this.#shows.set(showId, show);
    return show;
  }

  /** A show this batch created: open, at version 0. */
  created(showId: string, totalSeats: number): void {
    this.#shows.set(showId, { totalSeats, state: "open", version: 0, logStart: 1, hasMarks: false });
  }

  /** Writes a change of `show` (one that `get` returned) as its next version. */
  record(showId: string, show: BatchShow, kind: ChangeKind, seatsJson: string, totalSeats: number | null, at: number): void {
    show.version++;
    this.#sql.insertChange.run(showId, show.version, kind, seatsJson, totalSeats, at);
    if (!this.#changed.has(showId)) this.#changed.set(showId, show);
  }

  /**
   * Stores the latest version of every changed show and where its log now
   * starts by the retention at `now`, deleting the rows below that start a
   * chunk at a time (see {@link CHANGE_LOG_DELETE_CHUNK}). Returns [show,
   * latest version] for each, in the order of their first change, for the
   * commit listeners.
   */
  finish(now: number): [string, number][] {
    const changed: [string, number][] = [];
    for (const [showId, show] of this.#changed) {
      // trimChangeLog's rule: past the versions beyond maxVersions, then past
      // those older than maxAgeMs; never back.
      const from = Math.max(show.version - this.#retention.maxVersions + 1, show.logStart);
      const logStart = this.#sql.firstChangeSince.get(showId, from, now - this.#retention.maxAgeMs) ?? show.version + 1;
      this.#sql.setShowVersion.run(show.version, logStart, showId);
      if (chunkOf(logStart) !== chunkOf(show.logStart)) this.#sql.deleteChangesBefore.run(showId, logStart);
      changed.push([showId, show.version]);
    }
    return changed;
  }
}

function chunkOf(logStart: number): number {
  return Math.floor((logStart - 1) / CHANGE_LOG_DELETE_CHUNK);
}
