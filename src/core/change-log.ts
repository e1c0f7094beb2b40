import type { ChangeLogRead, ChangeLogRetention, ShowChange } from "./show-changes.js";

/** How much of each show's change log a store keeps unless configured. */
export const DEFAULT_CHANGE_LOG_RETENTION: ChangeLogRetention = {
  maxVersions: 10_000,
  maxAgeMs: 60 * 60 * 1000,
};

/**
 * Answers "the changes after `afterVersion`" from the retained tail of one
 * show's log (`retained`, ascending by version, ending at `latestVersion`).
 * The stores that keep their log in process memory share it; the SQL stores
 * answer the same question with a query.
 */
export function readChangeLog(
  retained: readonly ShowChange[],
  latestVersion: number,
  afterVersion: number,
  limit: number,
): ChangeLogRead {
  const oldestVersion = retained[0]?.version ?? latestVersion + 1;
  // A version the show never reached (a client of a store that was reset):
  // what the client holds matches no version here, so it starts again.
  if (afterVersion > latestVersion) return { kind: "too-old", oldestVersion };
  if (afterVersion === latestVersion) return { kind: "changes", changes: [] };
  if (afterVersion + 1 < oldestVersion) return { kind: "too-old", oldestVersion };
  const start = afterVersion + 1 - oldestVersion;
  return { kind: "changes", changes: retained.slice(start, start + limit) };
}

/**
 * Drops from the front of an in-memory log what the retention no longer
 * keeps: anything beyond the newest maxVersions, and anything older than
 * maxAgeMs. Returns how many it dropped.
 */
export function trimChangeLog(log: ShowChange[], retention: ChangeLogRetention, now: number): number {
  let drop = Math.max(0, log.length - retention.maxVersions);
  while (drop < log.length && (log[drop]?.at ?? now) < now - retention.maxAgeMs) drop++;
  // shift(), not splice(0, drop): V8 moves a long array's start in place on
  // shift, where splice copies the whole retained log at every batch.
  for (let index = 0; index < drop; index++) log.shift();
  return drop;
}
