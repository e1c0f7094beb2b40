import type { PostgresMigration } from "./postgres-migrations.js";

/**
 * The batch functions each instance calls for every batch, with their
 * argument types as PostgreSQL names them: these plan their statements once
 * per connection (see MIGRATION_7).
 */
export const GENERIC_PLAN_FUNCTIONS = [
  "run_seat_batch(text[], text[], integer[], integer[], text[], text[], boolean[], text[], bigint[], integer[], text[], bigint, bigint, bigint, bigint)",
  "apply_seat_set(text[], text[], integer[], integer[], text[], text[], text[], boolean[], text[], bigint[], integer[])",
  "run_hold_batch(text[], text[], text[], text[], boolean[], bigint[], bigint[], text[], bigint, bigint, bigint, bigint)",
  "number_show_changes(text[], text[], integer[], integer[], integer[], text[], bigint, bigint)",
] as const;

/** The settings of every function that plans once: keyed plans only, made once. */
const KEYED_GENERIC_PLANS = ["plan_cache_mode = force_generic_plan", "enable_hashjoin = off", "enable_mergejoin = off"] as const;

/**
 * Schema version 7: batches of bookings and cancellations are decided as a
 * set in a handful of statements, and the batch functions plan their
 * statements once per connection instead of once per batch.
 *
 * **Planning.** PL/pgSQL caches a plan per statement and, after five
 * executions, compares the generic plan's estimated cost with the custom
 * plans' average. For the statements that join the batch's arrays with seats
 * (the locking read, the findings, the set-path check, the seat UPDATEs) the
 * generic plan came out dearer, so PostgreSQL planned them anew on every
 * batch: pg_stat_statements with track_planning counted one plan per call
 * for those five, about 330 µs of planning per batch (bench/PROFILE.md,
 * "Round five").
 *
 * A generic plan is made once per connection and kept until the tables'
 * statistics change, so it must not depend on the tables' size: on a fresh
 * database (40 seats) the seat UPDATE was planned as a nested loop with a
 * whole scan of seats_pkey outside. Hash and merge joins are off in these
 * functions, as sequential scans already were (every row they read is
 * reached by a key), and the store analyzes seats whenever it adds seats
 * (PostgresStore, after ensureShows and after a batch that creates or
 * resizes a show), which replaces the plans every connection made while the
 * table was small. test/postgres-seat-batch.test.ts reads the
 * plans through auto_explain before and after a show of 20,000 seats is
 * added and fails on any but the keyed ones.
 *
 * **Bookings and cancellations as a set.** run_seat_batch decides a batch
 * with three PL/pgSQL loops over its commands (the lookups, the copy of the
 * commands that run, and one that fetches each verdict and builds its
 * change rows and request record), and apply_seat_set with a fourth; at
 * 17 commands a batch that was about a third of PostgreSQL's CPU per call.
 * run_book_cancel_batch decides a batch of only book and cancel commands on
 * distinct seats with one statement per step: the lookups, the locking read,
 * the findings of every command (one row each, kept as an array of
 * seat_finding), one UPDATE per kind, one INSERT of the request records,
 * the version step, and the answer. Its answer has run_seat_batch's columns
 * and rows, so the server reads both alike.
 *
 * It declines, returning no row and having changed nothing, when any
 * command's request id has a live record (a replay), when a command names no
 * seat, when a seat repeats, or when a seat carries a hold mark: the server
 * then sends the batch to run_seat_batch, which handles all of those. A mark
 * that appears between its look and its lock fails the transaction with
 * serialization_failure, as in run_seat_batch, and the batch runs again.
 * test/postgres-seat-batch.test.ts compares random batches with the memory
 * store, and checks each way of declining.
 */
export const MIGRATION_7: PostgresMigration = {
  version: 7,
  name: "bookings and cancellations decided as a set (run_book_cancel_batch); batch functions plan once per connection",
  sql: `
    ${GENERIC_PLAN_FUNCTIONS.map((signature) => KEYED_GENERIC_PLANS.map((setting) => `ALTER FUNCTION ${signature} SET ${setting};`).join("\n    ")).join("\n    ")}

    -- What a book or cancel command found once its seats were locked, and whether it may run.
    CREATE TYPE seat_finding AS (
      i integer, total integer, state text, found_seats integer[], booked_seats integer[], booked_owners text[], allowed boolean
    );

    CREATE FUNCTION run_book_cancel_batch(
      kinds text[], show_ids text[], seat_counts integer[], flat_seats integer[],
      principals text[], request_ids text[], admins boolean[],
      new_hold_ids text[], ttls_ms bigint[], max_holds integer[],
      fingerprints text[], recorded_at bigint, live_after bigint,
      keep_versions bigint, keep_ms bigint
    ) RETURNS TABLE (
      now_ms bigint, stored_fingerprint text, stored_outcome text,
      changed integer, show_total integer, show_state text, found_seats integer[],
      booked_seats integer[], booked_owners text[],
      held_seats integer[], held_by text[], held_until_ms bigint[],
      live_holds integer,
      ended_holds text[], ended_counts integer[], ended_seats integer[],
      changed_shows text[], latest_versions bigint[]
    )
    LANGUAGE plpgsql VOLATILE
    SET enable_seqscan = off
    SET enable_hashjoin = off
    SET enable_mergejoin = off
    SET plan_cache_mode = force_generic_plan
    AS $fn$
    DECLARE
      t_now_ms bigint := epoch_ms(now());
      t_now timestamptz := from_epoch_ms(epoch_ms(now()));
      seat_cmds integer[];
      seat_shows text[];
      findings seat_finding[];
      marked integer;
      expected integer;
      done integer;
      cnt integer;
      saved integer;
      wanted integer;
      c_shows text[];
      c_kinds text[];
      c_counts integer[];
      c_flat integer[];
      c_totals integer[];
      sold_in text[];
    BEGIN
      IF cardinality(kinds) IS NULL
         OR EXISTS (SELECT 1 FROM unnest(kinds, seat_counts) AS t (kind, n) WHERE t.kind NOT IN ('book', 'cancel') OR t.n < 1) THEN
        RETURN;
      END IF;
      -- A live record of any request id: the batch holds a replay.
      -- LIMIT 1 keeps each lookup a scan of the primary key by both columns;
      -- the age is checked after it, so that only the key leads to the row.
      IF EXISTS (
        SELECT 1 FROM unnest(principals, request_ids) AS t (p, rid)
        CROSS JOIN LATERAL (SELECT r.created_at FROM requests r WHERE r.principal = t.p AND r.request_id = t.rid LIMIT 1) AS k
        WHERE t.rid <> '' AND k.created_at >= live_after
      ) THEN
        RETURN;
      END IF;
      SELECT array_agg(u.k ORDER BY u.k, g.j), array_agg(u.s ORDER BY u.k, g.j) INTO seat_cmds, seat_shows
        FROM unnest(show_ids, seat_counts) WITH ORDINALITY AS u (s, c, k), generate_series(1, u.c) AS g (j);
      IF cardinality(flat_seats) IS DISTINCT FROM cardinality(seat_cmds)
         OR (SELECT count(DISTINCT (t.w_show, t.w_seat)) FROM unnest(seat_shows, flat_seats) AS t (w_show, w_seat)) <> cardinality(flat_seats)
         OR EXISTS (SELECT 1 FROM unnest(seat_shows, flat_seats) AS t (w_show, w_seat)
                    JOIN seats s ON s.show_id = t.w_show AND s.seat = t.w_seat WHERE s.hold_id IS NOT NULL) THEN
        RETURN;
      END IF;

      -- The seats, locked in the global order (show, then seat).
      SELECT count(*) FILTER (WHERE l.hold_id IS NOT NULL) INTO marked FROM (
        SELECT s.hold_id FROM seats s JOIN unnest(seat_shows, flat_seats) AS w (w_show, w_seat)
          ON s.show_id = w.w_show AND s.seat = w.w_seat
        ORDER BY s.show_id COLLATE "C", s.seat FOR UPDATE OF s
      ) AS l;
      IF marked > 0 THEN
        RAISE EXCEPTION 'a seat of the batch was held after the batch looked' USING ERRCODE = 'serialization_failure';
      END IF;

      -- Each command's findings, and the verdict apply_seat_set reaches for it.
      SELECT array_agg(ROW(f.i, f.total, f.state, f.f_seats, f.b_seats, f.b_owners,
               f.total IS NOT NULL AND cardinality(f.f_seats) = seat_counts[f.i] AND CASE kinds[f.i]
                 WHEN 'cancel' THEN cardinality(f.b_seats) = seat_counts[f.i] AND (admins[f.i] OR f.b_owners <@ ARRAY[principals[f.i]])
                 ELSE f.state = 'open' AND cardinality(f.b_seats) = 0 END
             )::seat_finding ORDER BY f.i)
        INTO findings
        FROM (
          SELECT w.i, sh.total_seats AS total, sh.state AS state,
                 coalesce(array_agg(s.seat ORDER BY s.seat) FILTER (WHERE s.seat IS NOT NULL), '{}') AS f_seats,
                 coalesce(array_agg(s.seat ORDER BY s.seat) FILTER (WHERE s.owner IS NOT NULL), '{}') AS b_seats,
                 coalesce(array_agg(s.owner ORDER BY s.seat) FILTER (WHERE s.owner IS NOT NULL), '{}') AS b_owners
          FROM unnest(seat_cmds, seat_shows, flat_seats) AS w (i, w_show, w_seat)
          LEFT JOIN seats s ON s.show_id = w.w_show AND s.seat = w.w_seat
          LEFT JOIN shows sh ON sh.show_id = w.w_show
          GROUP BY w.i, sh.total_seats, sh.state
        ) AS f;

      SELECT coalesce(sum(seat_counts[f.i]), 0) INTO expected FROM unnest(findings) AS f WHERE f.allowed;
      -- The seats to change, as a subquery kept whole (OFFSET 0), so that each
      -- is reached by the primary key. The cancellations' test of a booked
      -- seat is written so that it does not imply seats_booked's predicate:
      -- with statistics from when few seats were booked, a plan made once
      -- would otherwise read the whole of seats_booked for every batch.
      UPDATE seats s SET owner = b.p, request_id = b.r, booked_at = t_now
        FROM (SELECT show_ids[f.i] AS b_show, x.seat AS b_seat, principals[f.i] AS p, request_ids[f.i] AS r
              FROM unnest(findings) AS f, unnest(f.found_seats) AS x (seat)
              WHERE f.allowed AND kinds[f.i] = 'book' OFFSET 0) AS b
        WHERE s.show_id = b.b_show AND s.seat = b.b_seat AND s.owner IS NULL AND s.hold_id IS NULL;
      GET DIAGNOSTICS done = ROW_COUNT;
      UPDATE seats s SET owner = NULL, request_id = NULL, booked_at = NULL
        FROM (SELECT show_ids[f.i] AS x_show, x.seat AS x_seat
              FROM unnest(findings) AS f, unnest(f.found_seats) AS x (seat)
              WHERE f.allowed AND kinds[f.i] = 'cancel' OFFSET 0) AS x
        WHERE s.show_id = x.x_show AND s.seat = x.x_seat AND coalesce(s.owner, '') <> '';
      GET DIAGNOSTICS cnt = ROW_COUNT;
      done := done + cnt;
      IF done <> expected THEN
        RAISE EXCEPTION 'the set path changed % seats where it decided %', done, expected;
      END IF;

      -- The request records: what each command was decided from, as run_seat_batch stores it.
      -- Expired records are replaced; a live one means another transaction got there first.
      INSERT INTO requests (principal, request_id, fingerprint, outcome, created_at)
        SELECT principals[f.i], request_ids[f.i], fingerprints[f.i], json_build_object(
            'findings', json_build_object(
              'changed', CASE WHEN f.allowed THEN seat_counts[f.i] ELSE 0 END,
              'show_total', f.total, 'show_state', f.state, 'found_seats', f.found_seats,
              'booked_seats', f.booked_seats, 'booked_owners', f.booked_owners,
              'held_seats', '{}'::integer[], 'held_by', '{}'::text[], 'held_until_ms', '{}'::bigint[],
              'live_holds', NULL::integer,
              'ended_holds', '{}'::text[], 'ended_counts', '{}'::integer[], 'ended_seats', '{}'::integer[]),
            'now_ms', t_now_ms, 'hold_id', new_hold_ids[f.i], 'is_admin', admins[f.i], 'max_holds', max_holds[f.i])::text,
          recorded_at
        FROM unnest(findings) AS f
        WHERE request_ids[f.i] <> ''
        ORDER BY principals[f.i], request_ids[f.i]
        ON CONFLICT (principal, request_id) DO UPDATE
        SET fingerprint = EXCLUDED.fingerprint, outcome = EXCLUDED.outcome, created_at = EXCLUDED.created_at
        WHERE requests.created_at < live_after;
      GET DIAGNOSTICS saved = ROW_COUNT;
      IF saved <> (SELECT count(*) FROM unnest(request_ids) AS r WHERE r <> '') THEN
        RAISE EXCEPTION 'another transaction recorded one of this batch''s request ids first'
          USING ERRCODE = 'serialization_failure';
      END IF;

      -- The change rows: each command that ran, in batch order, with its seats as it named them.
      SELECT coalesce(array_agg(show_ids[f.i] ORDER BY f.i), '{}'),
             coalesce(array_agg(CASE kinds[f.i] WHEN 'book' THEN 'booked' ELSE 'released' END ORDER BY f.i), '{}'),
             coalesce(array_agg(seat_counts[f.i] ORDER BY f.i), '{}'),
             coalesce(array_agg(NULL::integer ORDER BY f.i), '{}'),
             coalesce(array_agg(show_ids[f.i] ORDER BY f.i) FILTER (WHERE kinds[f.i] = 'book'), '{}')
        INTO c_shows, c_kinds, c_counts, c_totals, sold_in
        FROM unnest(findings) AS f WHERE f.allowed;
      SELECT coalesce(array_agg(w.seat ORDER BY w.k), '{}') INTO c_flat
        FROM unnest(seat_cmds, flat_seats) WITH ORDINALITY AS w (i, seat, k)
        JOIN unnest(findings) AS f ON f.i = w.i
        WHERE f.allowed;

      RETURN QUERY
        SELECT t_now_ms, NULL::text, NULL::text,
               CASE WHEN f.allowed THEN seat_counts[f.i] ELSE 0 END, f.total, f.state, f.found_seats,
               f.booked_seats, f.booked_owners, '{}'::integer[], '{}'::text[], '{}'::bigint[], NULL::integer,
               '{}'::text[], '{}'::integer[], '{}'::integer[], NULL::text[], NULL::bigint[]
        FROM unnest(findings) AS f ORDER BY f.i;

      -- Last: the show rows it updates are held only from here to the commit.
      changed_shows := '{}';
      latest_versions := '{}';
      IF cardinality(c_shows) > 0 THEN
        SELECT coalesce(array_agg(v.show_id), '{}'), coalesce(array_agg(v.version), '{}') INTO changed_shows, latest_versions
          FROM number_show_changes(c_shows, c_kinds, c_counts, c_flat, c_totals, sold_in, keep_versions, keep_ms) AS v;
      END IF;
      now_ms := t_now_ms;
      stored_fingerprint := NULL; stored_outcome := NULL;
      changed := NULL; show_total := NULL; show_state := NULL; found_seats := NULL;
      booked_seats := NULL; booked_owners := NULL; held_seats := NULL; held_by := NULL; held_until_ms := NULL;
      live_holds := NULL; ended_holds := NULL; ended_counts := NULL; ended_seats := NULL;
      RETURN NEXT;
    END
    $fn$;
  `,
};
