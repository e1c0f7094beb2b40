import type { ClientBase, Pool } from "pg";
import type { ChangeKind, ChangeLogRead, ChangeLogRetention, ShowChange, UnnumberedChange } from "../core/show-changes.js";

/** A show's latest version after a commit, to announce to every instance. */
export interface LatestVersion {
  readonly showId: string;
  readonly version: number;
}

/** The channel every instance LISTENs on; a payload is "<show id>:<version>". */
export const SHOW_CHANGES_CHANNEL = "booking_show_changes";

/**
 * The changes a batch's commands made, unnumbered and in batch order, and
 * the shows where it sold (booked, held or confirmed) while their rows were
 * not locked: those must still be open when the versions are taken.
 */
export class BatchChanges {
  readonly changes: UnnumberedChange[] = [];
  readonly soldIn = new Set<string>();

  add(change: UnnumberedChange): void {
    this.changes.push(change);
  }

  /** A hold-ended change per ended hold, in the order given (hold id order). */
  addEndedHolds(showId: string, ended: readonly { readonly seats: readonly number[] }[]): void {
    for (const hold of ended) this.changes.push({ showId, kind: "hold-ended", seats: hold.seats });
  }
}

/**
 * The version step: numbers the batch's changes, writes them to the log and
 * trims the log, in one round trip (the schema's number_show_changes), and
 * returns each changed show's latest version, to announce once committed
 * (announceVersions). It is the last statement before COMMIT, so that the
 * show rows it updates are held only for it and the commit; see runBatch for
 * how that fits the global lock order. Nothing happens for a batch without
 * changes. `mustBeOpen` shows that closed meanwhile fail the transaction
 * with serialization_failure (retried).
 */
export async function recordShowChanges(
  client: ClientBase,
  changes: readonly UnnumberedChange[],
  mustBeOpen: Iterable<string>,
  retention: ChangeLogRetention,
): Promise<LatestVersion[]> {
  if (changes.length === 0) return [];
  const flatSeats: number[] = [];
  for (const change of changes) flatSeats.push(...change.seats);
  const result = await client.query<{ show_id: string; version: number }>({
    name: "number-show-changes",
    text: `SELECT show_id, version::float8 AS version
           FROM number_show_changes($1::text[], $2::text[], $3::int[], $4::int[], $5::int[], $6::text[], $7::bigint, $8::bigint)`,
    values: [
      changes.map((change) => change.showId),
      changes.map((change) => change.kind),
      changes.map((change) => change.seats.length),
      flatSeats,
      changes.map((change) => change.totalSeats ?? null),
      [...mustBeOpen],
      retention.maxVersions,
      retention.maxAgeMs,
    ],
  });
  return result.rows.map((row) => ({ showId: row.show_id, version: row.version }));
}

/**
 * Tells every listening instance (this one included) the latest versions a
 * committed batch reached: NOTIFY "<show>:<version>" on SHOW_CHANGES_CHANNEL,
 * in a transaction of its own, sent after the batch's commit.
 *
 * Not in the batch's transaction: PostgreSQL commits notifying transactions
 * one at a time across the cluster, holding a lock until each one's WAL is
 * flushed, so every batch of every instance would queue behind every other's
 * fsync. This transaction changes no data, so it commits with
 * synchronous_commit off: the lock is held for no flush, and a crash can
 * lose only the notification, never a change (the batch has committed with
 * the server's own synchronous_commit). A notification lost that way (this
 * process dying between the two) delays watchers on other instances until
 * the show's next change; the change log keeps every version either way.
 */
export async function announceVersions(db: ClientBase | Pool, latest: readonly LatestVersion[]): Promise<void> {
  if (latest.length === 0) return;
  await db.query({
    name: "announce-versions",
    text: `SELECT set_config('synchronous_commit', 'off', true), pg_notify('${SHOW_CHANGES_CHANNEL}', t.s || ':' || t.v)
           FROM unnest($1::text[], $2::bigint[]) AS t (s, v)`,
    values: [latest.map((entry) => entry.showId), latest.map((entry) => entry.version)],
  });
}

interface ChangeRow {
  readonly latest: number;
  readonly oldest: number;
  readonly version: number | null;
  readonly kind: ChangeKind | null;
  readonly seats: number[] | null;
  readonly total_seats: number | null;
  readonly at_ms: number | null;
}

/**
 * A show's changes after `afterVersion`, as readChangeLog in core/change-log.ts
 * answers it: one statement (one MVCC snapshot) reads the show's version, the
 * oldest version its log answers for (log_start) and up to `limit` rows, all
 * by the primary keys. Rows below log_start may still be stored (they are
 * deleted in chunks, see postgres-migration-6.ts): the log ends there.
 */
export async function readChangesSince(db: ClientBase | Pool, showId: string, afterVersion: number, limit: number): Promise<ChangeLogRead> {
  const result = await db.query<ChangeRow>({
    name: "changes-since",
    text: `SELECT sh.version::float8 AS latest,
             sh.log_start::float8 AS oldest,
             c.version::float8 AS version, c.kind, c.seats, c.total_seats, epoch_ms(c.at)::float8 AS at_ms
           FROM shows sh
           LEFT JOIN LATERAL (
             SELECT * FROM show_changes c WHERE c.show_id = sh.show_id AND c.version > $2 ORDER BY c.version LIMIT $3
           ) AS c ON true
           WHERE sh.show_id = $1
           ORDER BY c.version`,
    values: [showId, afterVersion, Math.max(0, limit)],
  });
  const first = result.rows[0];
  if (first === undefined) return { kind: "unknown-show" };
  const oldestVersion = first.oldest;
  // A version the show never reached (a client of a database since reset) matches nothing here.
  if (afterVersion > first.latest) return { kind: "too-old", oldestVersion };
  if (afterVersion === first.latest) return { kind: "changes", changes: [] };
  if (afterVersion + 1 < oldestVersion) return { kind: "too-old", oldestVersion };
  const changes: ShowChange[] = [];
  for (const row of result.rows) {
    if (row.version === null || row.kind === null) continue;
    changes.push({
      showId,
      version: row.version,
      kind: row.kind,
      seats: row.seats ?? [],
      ...(row.total_seats === null ? {} : { totalSeats: row.total_seats }),
      at: row.at_ms ?? 0,
    });
  }
  return { kind: "changes", changes };
}

/** Shows with a hold still recorded active whose expiry has passed by the database's clock (holds_active_expiry). */
export async function readLapsedHoldShows(db: ClientBase | Pool): Promise<string[]> {
  const result = await db.query<{ show_id: string }>({
    name: "lapsed-hold-shows",
    text: "SELECT DISTINCT show_id FROM holds WHERE state = 'active' AND expires_at <= now()",
  });
  return result.rows.map((row) => row.show_id);
}
