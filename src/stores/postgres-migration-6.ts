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
 * number_show_changes keeps its signature, so its callers (run_hold_batch
 * of version 5, run_seat_batch, recordShowChanges) call it unchanged.
 * record_show_changes (version 4 code's version step) becomes
 * number_show_changes plus its NOTIFY, so that it keeps log_start too.
 *
 * An existing show's log starts at its oldest stored row, or after its
 * latest version when it has none: what readers answered before.
 *
 * Holds take the set path too: apply_seat_set decides book, cancel and hold
 * commands on distinct, unmarked seats with a handful of statements for the
 * whole batch (one INSERT of the holds, one UPDATE of their seats), where
 * apply_seat_commands' loop took five statements per hold. run_seat_batch is
 * version 5's with that one change (the set path no longer excludes holds,
 * and calls apply_seat_set); apply_book_cancel_set is no longer called.
 * test/postgres-seat-batch.test.ts compares random batches with holds, hold
 * limits reached, with the memory store.
 */
export const MIGRATION_6: PostgresMigration = {
  version: 6,
  name: "each show's change log starts at a stored version (log_start), older rows deleted in chunks; holds on the set path",
  sql: `
    ALTER TABLE shows ADD COLUMN log_start bigint NOT NULL DEFAULT 1;
    UPDATE shows sh SET log_start = coalesce(
      (SELECT min(o.version) FROM show_changes o WHERE o.show_id = sh.show_id), sh.version + 1);

    -- Only an index scan in key order finds the first young row without
    -- reading the rest: with stale statistics (a log that grew since the
    -- last ANALYZE) the planner may otherwise read every retained row in a
    -- bitmap scan and sort them (seen: 4 ms for 10,000 rows).
    CREATE OR REPLACE FUNCTION number_show_changes(
      change_shows text[], kinds text[], seat_counts integer[], flat_seats integer[], totals integer[],
      open_shows text[], keep_versions bigint, keep_ms bigint
    ) RETURNS TABLE (show_id text, version bigint)
    LANGUAGE plpgsql VOLATILE
    SET enable_seqscan = off
    SET enable_bitmapscan = off
    AS $fn$
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

    -- Book, cancel and hold commands that share no seat, on seats no hold
    -- marks: apply_seat_commands' verdicts and rows, reached with a handful
    -- of statements for the whole batch (version 5's apply_book_cancel_set,
    -- which it replaces in run_seat_batch, plus holds). Such commands affect
    -- each other only through the hold limit: a hold counts the principal's
    -- live holds, those of earlier holds of the batch included, so the
    -- commands are decided in order with a count per principal, read once
    -- after the principals' advisory locks (taken first, as the loop does).
    -- The caller checks that no seat repeats and that no seat carried a hold
    -- mark before the seats were locked; a mark found once they are locked
    -- fails the transaction with serialization_failure, and the batch runs
    -- again.
    CREATE FUNCTION apply_seat_set(
      kinds text[], show_ids text[], seat_counts integer[], flat_seats integer[], seat_shows text[],
      principals text[], request_ids text[], admins boolean[],
      new_hold_ids text[], ttls_ms bigint[], max_holds integer[]
    ) RETURNS TABLE (
      changed integer, show_total integer, show_state text, found_seats integer[],
      booked_seats integer[], booked_owners text[],
      held_seats integer[], held_by text[], held_until_ms bigint[],
      live_holds integer,
      ended_holds text[], ended_counts integer[], ended_seats integer[]
    )
    LANGUAGE plpgsql VOLATILE
    SET enable_seqscan = off
    AS $fn$
    DECLARE
      n integer := cardinality(kinds);
      t_now_ms bigint := epoch_ms(now());
      t_now timestamptz := from_epoch_ms(epoch_ms(now()));
      seat_cmds integer[] := '{}';
      starts integer[] := '{}';
      next_seat integer := 1;
      marked integer;
      found record;
      ci integer;
      allowed boolean;
      p_names text[] := '{}';
      p_live integer[] := '{}';
      pos integer;
      b_shows text[] := '{}'; b_seats integer[] := '{}'; b_owners text[] := '{}'; b_ids text[] := '{}';
      x_shows text[] := '{}'; x_seats integer[] := '{}';
      h_ids text[] := '{}'; h_shows text[] := '{}'; h_owners text[] := '{}'; h_starts integer[] := '{}';
      h_counts integer[] := '{}'; h_untils bigint[] := '{}';
      u_shows text[] := '{}'; u_seats integer[] := '{}'; u_ids text[] := '{}'; u_untils bigint[] := '{}';
      expected integer := 0;
      done integer := 0;
      cnt integer;
    BEGIN
      FOR k IN 1 .. n LOOP
        seat_cmds := seat_cmds || array_fill(k, ARRAY[seat_counts[k]]);
        starts := starts || next_seat;
        next_seat := next_seat + seat_counts[k];
      END LOOP;
      PERFORM pg_advisory_xact_lock(l.k) FROM (
        SELECT DISTINCT booking_lock_key('hold-limit:' || t.p) AS k
          FROM unnest(kinds, principals) AS t (kind, p) WHERE t.kind = 'hold' ORDER BY 1
      ) AS l;
      SELECT count(*) FILTER (WHERE l.hold_id IS NOT NULL) INTO marked FROM (
        SELECT s.hold_id FROM seats s JOIN unnest(seat_shows, flat_seats) AS w (w_show, w_seat)
          ON s.show_id = w.w_show AND s.seat = w.w_seat
        ORDER BY s.show_id COLLATE "C", s.seat FOR UPDATE OF s
      ) AS l;
      IF marked > 0 THEN
        RAISE EXCEPTION 'a seat of the batch was held after the batch looked' USING ERRCODE = 'serialization_failure';
      END IF;
      -- Each holder's live holds, counted as the loop counts them (under the advisory lock).
      IF 'hold' = ANY (kinds) THEN
        SELECT coalesce(array_agg(c.owner), '{}'), coalesce(array_agg(c.live), '{}') INTO p_names, p_live FROM (
          SELECT h.owner, count(*)::integer AS live FROM holds h
          WHERE h.owner = ANY (SELECT t.p FROM unnest(kinds, principals) AS t (kind, p) WHERE t.kind = 'hold')
            AND h.state = 'active' AND h.expires_at > t_now
          GROUP BY h.owner
        ) AS c;
      END IF;
      FOR found IN
        SELECT w.i, sh.total_seats AS total, sh.state AS state,
               coalesce(array_agg(s.seat ORDER BY s.seat) FILTER (WHERE s.seat IS NOT NULL), '{}') AS f_seats,
               coalesce(array_agg(s.seat ORDER BY s.seat) FILTER (WHERE s.owner IS NOT NULL), '{}') AS b_seats,
               coalesce(array_agg(s.owner ORDER BY s.seat) FILTER (WHERE s.owner IS NOT NULL), '{}') AS b_owners
        FROM unnest(seat_cmds, seat_shows, flat_seats) AS w (i, w_show, w_seat)
        LEFT JOIN seats s ON s.show_id = w.w_show AND s.seat = w.w_seat
        LEFT JOIN shows sh ON sh.show_id = w.w_show
        GROUP BY w.i, sh.total_seats, sh.state
        ORDER BY w.i
      LOOP
        ci := found.i;
        show_total := found.total;
        show_state := found.state;
        found_seats := found.f_seats;
        booked_seats := found.b_seats;
        booked_owners := found.b_owners;
        live_holds := NULL;
        allowed := false;
        IF show_total IS NOT NULL AND cardinality(found_seats) = seat_counts[ci] THEN
          IF kinds[ci] = 'cancel' THEN
            allowed := cardinality(booked_seats) = seat_counts[ci]
              AND (admins[ci] OR booked_owners <@ ARRAY[principals[ci]]);
          ELSIF show_state = 'open' AND cardinality(booked_seats) = 0 THEN
            IF kinds[ci] = 'book' THEN
              allowed := true;
            ELSIF kinds[ci] = 'hold' THEN
              pos := array_position(p_names, principals[ci]);
              IF pos IS NULL THEN
                p_names := p_names || principals[ci];
                p_live := p_live || 0;
                pos := cardinality(p_names);
              END IF;
              live_holds := p_live[pos];
              allowed := live_holds < max_holds[ci];
              -- A hold made here is live at the batch's instant, as the loop's next count would find it.
              IF allowed AND ttls_ms[ci] > 0 THEN
                p_live[pos] := p_live[pos] + 1;
              END IF;
            END IF;
          END IF;
        END IF;
        IF allowed THEN
          expected := expected + seat_counts[ci];
          IF kinds[ci] = 'cancel' THEN
            x_shows := x_shows || array_fill(show_ids[ci], ARRAY[seat_counts[ci]]);
            x_seats := x_seats || found_seats;
          ELSIF kinds[ci] = 'book' THEN
            b_shows := b_shows || array_fill(show_ids[ci], ARRAY[seat_counts[ci]]);
            b_seats := b_seats || found_seats;
            b_owners := b_owners || array_fill(principals[ci], ARRAY[seat_counts[ci]]);
            b_ids := b_ids || array_fill(request_ids[ci], ARRAY[seat_counts[ci]]);
          ELSE
            h_ids := h_ids || new_hold_ids[ci];
            h_shows := h_shows || show_ids[ci];
            h_owners := h_owners || principals[ci];
            h_starts := h_starts || starts[ci];
            h_counts := h_counts || seat_counts[ci];
            h_untils := h_untils || (t_now_ms + ttls_ms[ci]);
            u_shows := u_shows || array_fill(show_ids[ci], ARRAY[seat_counts[ci]]);
            u_seats := u_seats || found_seats;
            u_ids := u_ids || array_fill(new_hold_ids[ci], ARRAY[seat_counts[ci]]);
            u_untils := u_untils || array_fill(t_now_ms + ttls_ms[ci], ARRAY[seat_counts[ci]]);
          END IF;
        END IF;
        changed := CASE WHEN allowed THEN seat_counts[ci] ELSE 0 END;
        held_seats := '{}'; held_by := '{}'; held_until_ms := '{}';
        ended_holds := '{}'; ended_counts := '{}'; ended_seats := '{}';
        RETURN NEXT;
      END LOOP;
      IF cardinality(b_seats) > 0 THEN
        UPDATE seats s SET owner = b.p, request_id = b.r, booked_at = t_now
          FROM unnest(b_shows, b_seats, b_owners, b_ids) AS b (b_show, b_seat, p, r)
          WHERE s.show_id = b.b_show AND s.seat = b.b_seat AND s.owner IS NULL AND s.hold_id IS NULL;
        GET DIAGNOSTICS cnt = ROW_COUNT;
        done := done + cnt;
      END IF;
      IF cardinality(x_seats) > 0 THEN
        UPDATE seats s SET owner = NULL, request_id = NULL, booked_at = NULL
          FROM unnest(x_shows, x_seats) AS x (x_show, x_seat)
          WHERE s.show_id = x.x_show AND s.seat = x.x_seat AND s.owner IS NOT NULL;
        GET DIAGNOSTICS cnt = ROW_COUNT;
        done := done + cnt;
      END IF;
      IF cardinality(h_ids) > 0 THEN
        -- A hold's seats as its command named them, as the loop stores them.
        INSERT INTO holds (hold_id, show_id, owner, seats, created_at, expires_at, state)
          SELECT h.id, h.sh_id, h.owner, flat_seats[h.st : h.st + h.k_count - 1], t_now, from_epoch_ms(h.ms_until), 'active'
          FROM unnest(h_ids, h_shows, h_owners, h_starts, h_counts, h_untils) AS h (id, sh_id, owner, st, k_count, ms_until);
        UPDATE seats s SET hold_id = u.id, hold_expires_at = from_epoch_ms(u.ms_until)
          FROM unnest(u_shows, u_seats, u_ids, u_untils) AS u (u_show, u_seat, id, ms_until)
          WHERE s.show_id = u.u_show AND s.seat = u.u_seat AND s.owner IS NULL AND s.hold_id IS NULL;
        GET DIAGNOSTICS cnt = ROW_COUNT;
        done := done + cnt;
      END IF;
      IF done <> expected THEN
        RAISE EXCEPTION 'the set path changed % seats where it decided %', done, expected;
      END IF;
    END
    $fn$;

    -- Version 5's run_seat_batch, with batches holding seats on the set path too.
    CREATE OR REPLACE FUNCTION run_seat_batch(
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
    AS $fn$
    DECLARE
      n integer := cardinality(kinds);
      t_now_ms bigint := epoch_ms(now());
      stored_fps text[] := array_fill(NULL::text, ARRAY[n]);
      stored_outs text[] := array_fill(NULL::text, ARRAY[n]);
      known record;
      r_kinds text[] := '{}';
      r_shows text[] := '{}';
      r_counts integer[] := '{}';
      r_flat integer[] := '{}';
      r_seat_shows text[] := '{}';
      r_principals text[] := '{}';
      r_ids text[] := '{}';
      r_admins boolean[] := '{}';
      r_holds text[] := '{}';
      r_ttls bigint[] := '{}';
      r_max integer[] := '{}';
      c_shows text[] := '{}';
      c_kinds text[] := '{}';
      c_counts integer[] := '{}';
      c_flat integer[] := '{}';
      c_totals integer[] := '{}';
      sold_in text[] := '{}';
      s_principals text[] := '{}';
      s_ids text[] := '{}';
      s_fps text[] := '{}';
      s_outs text[] := '{}';
      next_seat integer;
      wanted integer[];
      applied record;
      ran refcursor;
      ended_from integer;
      saved integer;
    BEGIN
      -- One primary-key lookup per request id: a join of the batch with
      -- requests may be planned as a whole-index scan while the table is
      -- small, and keep that plan as it grows.
      FOR i IN 1 .. n LOOP
        CONTINUE WHEN request_ids[i] = '';
        -- Age is checked after the lookup, so that only the key can lead to the row.
        SELECT r.fingerprint, r.outcome, r.created_at INTO known FROM requests r
          WHERE r.principal = principals[i] AND r.request_id = request_ids[i];
        IF FOUND AND known.created_at >= live_after THEN
          stored_fps[i] := known.fingerprint;
          stored_outs[i] := known.outcome;
        END IF;
      END LOOP;

      next_seat := 1;
      FOR i IN 1 .. n LOOP
        wanted := flat_seats[next_seat : next_seat + seat_counts[i] - 1];
        next_seat := next_seat + seat_counts[i];
        CONTINUE WHEN stored_fps[i] IS NOT NULL;
        r_kinds := r_kinds || kinds[i];
        r_shows := r_shows || show_ids[i];
        r_counts := r_counts || seat_counts[i];
        r_flat := r_flat || wanted;
        r_seat_shows := r_seat_shows || array_fill(show_ids[i], ARRAY[seat_counts[i]]);
        r_principals := r_principals || principals[i];
        r_ids := r_ids || request_ids[i];
        r_admins := r_admins || admins[i];
        r_holds := r_holds || new_hold_ids[i];
        r_ttls := r_ttls || ttls_ms[i];
        r_max := r_max || max_holds[i];
      END LOOP;

      -- Book, cancel and hold commands on distinct seats that no hold marks
      -- (the common case) take the set path; anything else, the loop.
      IF cardinality(r_kinds) > 0
         AND (SELECT count(DISTINCT (t.w_show, t.w_seat)) FROM unnest(r_seat_shows, r_flat) AS t (w_show, w_seat)) = cardinality(r_flat)
         AND NOT EXISTS (SELECT 1 FROM unnest(r_seat_shows, r_flat) AS t (w_show, w_seat)
                         JOIN seats s ON s.show_id = t.w_show AND s.seat = t.w_seat WHERE s.hold_id IS NOT NULL) THEN
        OPEN ran FOR SELECT * FROM apply_seat_set(r_kinds, r_shows, r_counts, r_flat, r_seat_shows,
          r_principals, r_ids, r_admins, r_holds, r_ttls, r_max);
      ELSIF cardinality(r_kinds) > 0 THEN
        OPEN ran FOR SELECT * FROM apply_seat_commands(r_kinds, r_shows, r_counts, r_flat, r_seat_shows,
          r_principals, r_ids, r_admins, r_holds, r_ttls, r_max, NULL);
      END IF;

      next_seat := 1;
      FOR i IN 1 .. n LOOP
        wanted := flat_seats[next_seat : next_seat + seat_counts[i] - 1];
        next_seat := next_seat + seat_counts[i];
        now_ms := t_now_ms;
        stored_fingerprint := stored_fps[i];
        stored_outcome := stored_outs[i];
        IF stored_fingerprint IS NOT NULL THEN
          changed := NULL; show_total := NULL; show_state := NULL; found_seats := NULL;
          booked_seats := NULL; booked_owners := NULL; held_seats := NULL; held_by := NULL; held_until_ms := NULL;
          live_holds := NULL; ended_holds := NULL; ended_counts := NULL; ended_seats := NULL;
          RETURN NEXT;
          CONTINUE;
        END IF;
        FETCH ran INTO applied;
        changed := applied.changed;
        show_total := applied.show_total;
        show_state := applied.show_state;
        found_seats := applied.found_seats;
        booked_seats := applied.booked_seats;
        booked_owners := applied.booked_owners;
        held_seats := applied.held_seats;
        held_by := applied.held_by;
        held_until_ms := applied.held_until_ms;
        live_holds := applied.live_holds;
        ended_holds := applied.ended_holds;
        ended_counts := applied.ended_counts;
        ended_seats := applied.ended_seats;
        IF changed > 0 THEN
          -- The lapsed holds it ended (each whole, in id order), then its own change.
          ended_from := 1;
          FOR k IN 1 .. coalesce(cardinality(ended_holds), 0) LOOP
            c_shows := c_shows || show_ids[i];
            c_kinds := c_kinds || 'hold-ended'::text;
            c_counts := c_counts || ended_counts[k];
            c_flat := c_flat || ended_seats[ended_from : ended_from + ended_counts[k] - 1];
            c_totals := c_totals || NULL::integer;
            ended_from := ended_from + ended_counts[k];
          END LOOP;
          c_shows := c_shows || show_ids[i];
          c_kinds := c_kinds || CASE kinds[i] WHEN 'book' THEN 'booked' WHEN 'hold' THEN 'held' ELSE 'released' END;
          c_counts := c_counts || seat_counts[i];
          c_flat := c_flat || wanted;
          c_totals := c_totals || NULL::integer;
          IF kinds[i] <> 'cancel' THEN
            sold_in := sold_in || show_ids[i];
          END IF;
        END IF;
        IF request_ids[i] <> '' THEN
          s_principals := s_principals || principals[i];
          s_ids := s_ids || request_ids[i];
          s_fps := s_fps || fingerprints[i];
          s_outs := s_outs || json_build_object(
            'findings', json_build_object(
              'changed', changed, 'show_total', show_total, 'show_state', show_state, 'found_seats', found_seats,
              'booked_seats', booked_seats, 'booked_owners', booked_owners,
              'held_seats', held_seats, 'held_by', held_by, 'held_until_ms', held_until_ms,
              'live_holds', live_holds,
              'ended_holds', ended_holds, 'ended_counts', ended_counts, 'ended_seats', ended_seats),
            'now_ms', t_now_ms, 'hold_id', new_hold_ids[i], 'is_admin', admins[i], 'max_holds', max_holds[i])::text;
        END IF;
        RETURN NEXT;
      END LOOP;

      IF cardinality(s_ids) > 0 THEN
        -- Expired records are replaced; a live one means another transaction got there first.
        INSERT INTO requests (principal, request_id, fingerprint, outcome, created_at)
          SELECT p, r, f, o, recorded_at FROM unnest(s_principals, s_ids, s_fps, s_outs) AS t (p, r, f, o)
          ORDER BY p, r
          ON CONFLICT (principal, request_id) DO UPDATE
          SET fingerprint = EXCLUDED.fingerprint, outcome = EXCLUDED.outcome, created_at = EXCLUDED.created_at
          WHERE requests.created_at < live_after;
        GET DIAGNOSTICS saved = ROW_COUNT;
        IF saved <> cardinality(s_ids) THEN
          RAISE EXCEPTION 'another transaction recorded one of this batch''s request ids first'
            USING ERRCODE = 'serialization_failure';
        END IF;
      END IF;

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
