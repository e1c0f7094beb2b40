import type { PostgresMigration } from "./postgres-migrations.js";

/**
 * Rows below a show's log_start are deleted when log_start crosses a
 * multiple of this: one DELETE per this many versions instead of one per
 * batch. A show keeps at most about this many rows more than its log answers
 * for. The same figure as the SQLite store's CHANGE_LOG_DELETE_CHUNK.
 */
export const POSTGRES_CHANGE_LOG_DELETE_CHUNK = 256;

/**
 * Schema version 6: each show's change log starts at a stored version,
 * shows.log_start, as the SQLite store's schema version 5 does.
 *
 * Before, the version step decided what the retention keeps by reading the
 * log from its oldest row (`ORDER BY version LIMIT 1`) and deleted the rows
 * below; readers took min(version) as the oldest version answered for. Every
 * batch deleted a few rows at the log's start, so the next batch's lookup
 * walked the index entries of all rows deleted since the last vacuum before
 * it found a live one: 0.6-1.2 ms per batch under load (bench/PROFILE.md).
 *
 * Now number_show_changes looks only from greatest(latest - keep_versions +
 * 1, log_start), where every index entry is live, and stores the answer as
 * log_start; readers answer too-old below it. The rule is the one of
 * trimChangeLog (core/change-log.ts) and of the SQLite store: past the
 * versions beyond keep_versions, then past those older than keep_ms, never
 * back. Rows below log_start are deleted a chunk at a time, from the start
 * of the chunk the previous log_start was in: rows below that start are gone
 * already (each delete and its log_start commit together), so the DELETE
 * walks no older dead entries either.
 *
 * number_show_changes keeps its signature, so run_seat_batch and
 * run_hold_batch (version 5), which call it, need no change.
 * record_show_changes (version 4 code's version step) becomes
 * number_show_changes plus its NOTIFY, so that it keeps log_start too.
 *
 * An existing show's log starts at its oldest stored row, or after its
 * latest version when it has none: what readers answered before.
 */
export const MIGRATION_6: PostgresMigration = {
  version: 6,
  name: "each show's change log starts at a stored version (log_start); older rows are deleted in chunks",
  sql: `
    ALTER TABLE shows ADD COLUMN log_start bigint NOT NULL DEFAULT 1;
    UPDATE shows sh SET log_start = coalesce(
      (SELECT min(o.version) FROM show_changes o WHERE o.show_id = sh.show_id), sh.version + 1);

    CREATE OR REPLACE FUNCTION number_show_changes(
      change_shows text[], kinds text[], seat_counts integer[], flat_seats integer[], totals integer[],
      open_shows text[], keep_versions bigint, keep_ms bigint
    ) RETURNS TABLE (show_id text, version bigint)
    LANGUAGE plpgsql VOLATILE AS $fn$
    DECLARE
      chunk constant bigint := ${POSTGRES_CHANGE_LOG_DELETE_CHUNK};
      t_now timestamptz := from_epoch_ms(epoch_ms(now()));
      counted record;
      latest bigint;
      now_state text;
      was_start bigint;
      new_start bigint;
      names text[] := '{}';
      firsts bigint[] := '{}';
      lasts bigint[] := '{}';
    BEGIN
      FOR counted IN
        SELECT c.id, count(*) AS n FROM unnest(change_shows) AS c (id) GROUP BY c.id ORDER BY c.id COLLATE "C"
      LOOP
        latest := NULL;
        -- log_start is not changed here, so RETURNING gives the committed
        -- value this transaction now holds the row lock on.
        UPDATE shows sh SET version = sh.version + counted.n WHERE sh.show_id = counted.id
          RETURNING sh.version, sh.state, sh.log_start INTO latest, now_state, was_start;
        IF latest IS NULL THEN
          RAISE EXCEPTION 'show % changed but is not in the store', counted.id;
        END IF;
        IF now_state <> 'open' AND counted.id = ANY (open_shows) THEN
          RAISE EXCEPTION 'show % closed after this batch sold in it', counted.id USING ERRCODE = 'serialization_failure';
        END IF;
        -- A statement of its own after the UPDATE: its snapshot sees every
        -- row written by the batches that held the show row before this one.
        -- The stored rows (all older than this batch's) are searched; when
        -- none is young enough, the log starts at this batch's first kept row.
        SELECT o.version INTO new_start FROM show_changes o
          WHERE o.show_id = counted.id AND o.version >= greatest(latest - keep_versions + 1, was_start)
            AND o.at >= t_now - keep_ms * interval '1 millisecond'
          ORDER BY o.version LIMIT 1;
        new_start := coalesce(new_start, greatest(latest - counted.n + 1, latest - keep_versions + 1));
        IF new_start <> was_start THEN
          UPDATE shows sh SET log_start = new_start WHERE sh.show_id = counted.id;
          IF (new_start - 1) / chunk <> (was_start - 1) / chunk THEN
            DELETE FROM show_changes o WHERE o.show_id = counted.id
              AND o.version >= (was_start - 1) / chunk * chunk + 1 AND o.version < new_start;
          END IF;
        END IF;
        names := names || counted.id;
        firsts := firsts || (latest - counted.n + 1);
        lasts := lasts || latest;
        show_id := counted.id;
        version := latest;
        RETURN NEXT;
      END LOOP;
      INSERT INTO show_changes (show_id, version, kind, seats, total_seats, at)
        SELECT v.id, v.version, v.kind, v.seats, v.total, t_now FROM (
          SELECT c.id, f.first + row_number() OVER (PARTITION BY c.id ORDER BY c.k) - 1 AS version, f.last, c.kind,
                 flat_seats[c.start : c.start + c.n - 1] AS seats, c.total
          FROM (SELECT u.*, (sum(u.n) OVER (ORDER BY u.k) - u.n + 1)::integer AS start
                FROM unnest(change_shows, kinds, seat_counts, totals) WITH ORDINALITY AS u (id, kind, n, total, k)) AS c
          JOIN unnest(names, firsts, lasts) AS f (id, first, last) USING (id)
        ) AS v
        WHERE v.version > v.last - keep_versions;
    END
    $fn$;

    -- Version 4 code's version step: the same, announced in the transaction.
    CREATE OR REPLACE FUNCTION record_show_changes(
      change_shows text[], kinds text[], seat_counts integer[], flat_seats integer[], totals integer[],
      open_shows text[], keep_versions bigint, keep_ms bigint
    ) RETURNS TABLE (show_id text, version bigint)
    LANGUAGE plpgsql VOLATILE AS $fn$
    BEGIN
      FOR show_id, version IN
        SELECT v.show_id, v.version FROM number_show_changes(change_shows, kinds, seat_counts, flat_seats, totals,
          open_shows, keep_versions, keep_ms) AS v
      LOOP
        PERFORM pg_notify('booking_show_changes', show_id || ':' || version);
        RETURN NEXT;
      END LOOP;
    END
    $fn$;
  `,
};
