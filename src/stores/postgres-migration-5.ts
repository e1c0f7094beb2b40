import type { PostgresMigration } from "./postgres-migrations.js";

/**
 * Schema version 5: a batch of book, cancel and hold commands is one
 * statement, so one round trip and one transaction that holds no lock while
 * it waits for this process; so is a batch of confirm, release and extend
 * commands (run_hold_batch, the same shape).
 *
 * run_seat_batch does, in one call and in the lock order of every batch
 * (see runBatch in postgres-batch.ts): the idempotency lookup, the commands
 * whose request ids are not known yet (through apply_seat_commands), the
 * saving of their request ids, and the version step (number_show_changes).
 * Sent on its own, outside BEGIN/COMMIT, it is its own transaction: every
 * lock it takes is released when it returns, whatever the client does next.
 *
 * An idempotency record written here stores what the command was decided
 * from (the row apply_seat_commands reported, the decision instant, and the
 * hold id, admin flag and hold limit of the first attempt) rather than the
 * outcome, which the shared rules compute in the server from that row: a
 * retry recomputes the same outcome from the same inputs. The row's JSON has
 * a "findings" key; outcomes stored by earlier versions (and by batches
 * with hold actions or show commands) have an "ok" key, and both decode.
 *
 * The NOTIFY that tells every instance about a commit is no longer sent
 * in the batch's transaction: PostgreSQL commits notifying transactions one
 * at a time, across the whole cluster, holding a lock through each one's
 * WAL flush, so every batch of every instance would queue there. The
 * version step is number_show_changes (record_show_changes without the
 * NOTIFY; record_show_changes stays for version 4 code), and the instance
 * sends the NOTIFY right after its commit, in a transaction of its own that
 * changes no data (see PostgresStore).
 *
 * The function runs with enable_seqscan off, and looks request ids up one
 * by one by the full primary key: every row it reads is reached by a key,
 * and a plan made while `requests` was empty (a sequential scan, or a scan
 * of the whole index) cannot outlive the table's growth until autovacuum
 * first analyzes it. test/postgres-seat-batch.test.ts checks the plan.
 */
export const MIGRATION_5: PostgresMigration = {
  version: 5,
  name: "a batch of seat commands in one statement",
  sql: `
    -- Book and cancel commands that share no seat, on seats no hold marks:
    -- apply_seat_commands' verdicts, reached with a handful of statements
    -- for the whole batch instead of several per command. Such commands
    -- cannot affect each other, so deciding them together decides each as
    -- the loop would in order. Same arguments (hold ones unused) and rows as
    -- apply_seat_commands. The caller checks that no seat repeats and that
    -- no seat carried a hold mark before the seats were locked; a mark found
    -- once they are locked (a hold committed in between) fails the
    -- transaction with serialization_failure, and the batch runs again.
    CREATE FUNCTION apply_book_cancel_set(
      kinds text[], show_ids text[], seat_counts integer[], flat_seats integer[], seat_shows text[],
      principals text[], request_ids text[], admins boolean[]
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
      t_now timestamptz := from_epoch_ms(epoch_ms(now()));
      seat_cmds integer[] := '{}';
      marked integer;
      found record;
      allowed boolean[] := array_fill(false, ARRAY[n]);
      b_shows text[] := '{}'; b_seats integer[] := '{}'; b_owners text[] := '{}'; b_ids text[] := '{}';
      x_shows text[] := '{}'; x_seats integer[] := '{}';
      expected integer := 0;
      done integer := 0;
      cnt integer;
    BEGIN
      FOR i IN 1 .. n LOOP
        seat_cmds := seat_cmds || array_fill(i, ARRAY[seat_counts[i]]);
      END LOOP;
      SELECT count(*) FILTER (WHERE l.hold_id IS NOT NULL) INTO marked FROM (
        SELECT s.hold_id FROM seats s JOIN unnest(seat_shows, flat_seats) AS w (w_show, w_seat)
          ON s.show_id = w.w_show AND s.seat = w.w_seat
        ORDER BY s.show_id COLLATE "C", s.seat FOR UPDATE OF s
      ) AS l;
      IF marked > 0 THEN
        RAISE EXCEPTION 'a seat of the batch was held after the batch looked' USING ERRCODE = 'serialization_failure';
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
        show_total := found.total;
        show_state := found.state;
        found_seats := found.f_seats;
        booked_seats := found.b_seats;
        booked_owners := found.b_owners;
        IF show_total IS NOT NULL AND cardinality(found_seats) = seat_counts[found.i] THEN
          IF kinds[found.i] = 'cancel' THEN
            allowed[found.i] := cardinality(booked_seats) = seat_counts[found.i]
              AND (admins[found.i] OR booked_owners <@ ARRAY[principals[found.i]]);
          ELSE
            allowed[found.i] := show_state = 'open' AND cardinality(booked_seats) = 0;
          END IF;
        END IF;
        IF allowed[found.i] THEN
          expected := expected + seat_counts[found.i];
          IF kinds[found.i] = 'cancel' THEN
            x_shows := x_shows || array_fill(show_ids[found.i], ARRAY[seat_counts[found.i]]);
            x_seats := x_seats || found_seats;
          ELSE
            b_shows := b_shows || array_fill(show_ids[found.i], ARRAY[seat_counts[found.i]]);
            b_seats := b_seats || found_seats;
            b_owners := b_owners || array_fill(principals[found.i], ARRAY[seat_counts[found.i]]);
            b_ids := b_ids || array_fill(request_ids[found.i], ARRAY[seat_counts[found.i]]);
          END IF;
        END IF;
        changed := CASE WHEN allowed[found.i] THEN seat_counts[found.i] ELSE 0 END;
        held_seats := '{}'; held_by := '{}'; held_until_ms := '{}';
        live_holds := NULL;
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
      IF done <> expected THEN
        RAISE EXCEPTION 'the set path changed % seats where it decided %', done, expected;
      END IF;
    END
    $fn$;

    -- The version step, as record_show_changes (version 4) does it, minus
    -- the NOTIFY: the caller announces the versions after its commit.
    CREATE FUNCTION number_show_changes(
      change_shows text[], kinds text[], seat_counts integer[], flat_seats integer[], totals integer[],
      open_shows text[], keep_versions bigint, keep_ms bigint
    ) RETURNS TABLE (show_id text, version bigint)
    LANGUAGE plpgsql VOLATILE AS $fn$
    DECLARE
      t_now timestamptz := from_epoch_ms(epoch_ms(now()));
      counted record;
      latest bigint;
      now_state text;
      fresh_from bigint;
      names text[] := '{}';
      firsts bigint[] := '{}';
      lasts bigint[] := '{}';
    BEGIN
      FOR counted IN
        SELECT c.id, count(*) AS n FROM unnest(change_shows) AS c (id) GROUP BY c.id ORDER BY c.id COLLATE "C"
      LOOP
        latest := NULL;
        UPDATE shows sh SET version = sh.version + counted.n WHERE sh.show_id = counted.id
          RETURNING sh.version, sh.state INTO latest, now_state;
        IF latest IS NULL THEN
          RAISE EXCEPTION 'show % changed but is not in the store', counted.id;
        END IF;
        IF now_state <> 'open' AND counted.id = ANY (open_shows) THEN
          RAISE EXCEPTION 'show % closed after this batch sold in it', counted.id USING ERRCODE = 'serialization_failure';
        END IF;
        -- The oldest version young enough to keep: walk the key from the
        -- oldest row and stop at the first (version 4's min() read them all).
        SELECT o.version INTO fresh_from FROM show_changes o
          WHERE o.show_id = counted.id AND o.at >= t_now - keep_ms * interval '1 millisecond'
          ORDER BY o.version LIMIT 1;
        DELETE FROM show_changes o WHERE o.show_id = counted.id
          AND o.version < greatest(latest - keep_versions + 1, coalesce(fresh_from, latest));
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

    -- Command i's request id is recorded when request_ids[i] is not '': the
    -- caller sends each (principal, request id) at most once per batch. A
    -- command whose id has a record created at or after live_after is not
    -- run; its row carries stored_fingerprint and stored_outcome, and no
    -- findings. Every row carries now_ms, the instant the batch was decided
    -- at. After the n command rows comes one more: changed_shows and
    -- latest_versions, each changed show's latest version, to announce once
    -- committed (NULL on command rows). recorded_at is the records' created_at (the caller's clock, as
    -- live_after is, so that retention is counted on one clock). A record
    -- another transaction wrote first fails this one with
    -- serialization_failure; the caller runs the batch again and replays it.
    CREATE FUNCTION run_seat_batch(
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

      -- Book and cancel commands on distinct seats that no hold marks (the
      -- common case) take the set path; anything else, the loop.
      IF cardinality(r_kinds) > 0 AND NOT ('hold' = ANY (r_kinds))
         AND (SELECT count(DISTINCT (t.w_show, t.w_seat)) FROM unnest(r_seat_shows, r_flat) AS t (w_show, w_seat)) = cardinality(r_flat)
         AND NOT EXISTS (SELECT 1 FROM unnest(r_seat_shows, r_flat) AS t (w_show, w_seat)
                         JOIN seats s ON s.show_id = t.w_show AND s.seat = t.w_seat WHERE s.hold_id IS NOT NULL) THEN
        OPEN ran FOR SELECT * FROM apply_book_cancel_set(r_kinds, r_shows, r_counts, r_flat, r_seat_shows,
          r_principals, r_ids, r_admins);
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

    -- A batch of only confirm, release and extend commands in one
    -- statement, as run_seat_batch does for seat commands: the lookup of
    -- request ids, the commands, the saving of their ids and the version
    -- step. Locks, in the global order: the rows of the holds acted on, by
    -- id, then all their seats, by (show, seat); show rows only in the
    -- version step. Each command reads its hold as locked (h_*: found, show,
    -- owner, seats, times in epoch ms, stored state, the show's state, and
    -- how many of its seats still carry its mark) and changes it only when
    -- the shared rules (decideHoldCommand) allow: the owner (or, for a
    -- release, an admin), an active hold not lapsed at the batch's instant
    -- (a hold that lost a mark counts as lapsed), and for a confirm an open
    -- show. An extend moves the expiry to least(now + ttl, creation + the
    -- lifetime cap). The caller judges each row with those rules and checks
    -- the change count. The trailer row carries the versions to announce.
    CREATE FUNCTION run_hold_batch(
      kinds text[], hold_ids text[], principals text[], request_ids text[], admins boolean[],
      ttls_ms bigint[], max_lifetimes_ms bigint[],
      fingerprints text[], recorded_at bigint, live_after bigint,
      keep_versions bigint, keep_ms bigint
    ) RETURNS TABLE (
      now_ms bigint, stored_fingerprint text, stored_outcome text, changed integer,
      h_found boolean, h_show_id text, h_owner text, h_seats integer[], h_created_ms bigint, h_expires_ms bigint,
      h_state text, h_show_state text, h_carried integer,
      changed_shows text[], latest_versions bigint[]
    )
    LANGUAGE plpgsql VOLATILE
    SET enable_seqscan = off
    AS $fn$
    DECLARE
      n integer := cardinality(kinds);
      t_now_ms bigint := epoch_ms(now());
      t_now timestamptz := from_epoch_ms(epoch_ms(now()));
      stored_fps text[] := array_fill(NULL::text, ARRAY[n]);
      stored_outs text[] := array_fill(NULL::text, ARRAY[n]);
      run_ids text[] := '{}';
      known record;
      lapse_at bigint;
      new_expiry bigint;
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
      saved integer;
    BEGIN
      FOR i IN 1 .. n LOOP
        IF request_ids[i] <> '' THEN
          SELECT r.fingerprint, r.outcome, r.created_at INTO known FROM requests r
            WHERE r.principal = principals[i] AND r.request_id = request_ids[i];
          IF FOUND AND known.created_at >= live_after THEN
            stored_fps[i] := known.fingerprint;
            stored_outs[i] := known.outcome;
            CONTINUE;
          END IF;
        END IF;
        run_ids := run_ids || hold_ids[i];
      END LOOP;

      PERFORM 1 FROM (
        SELECT h.hold_id FROM holds h WHERE h.hold_id = ANY (run_ids) ORDER BY h.hold_id COLLATE "C" FOR UPDATE
      ) AS locked_holds;
      PERFORM 1 FROM (
        SELECT s.seat FROM seats s
        JOIN (SELECT h.show_id AS w_show, unnest(h.seats) AS w_seat FROM holds h WHERE h.hold_id = ANY (run_ids)) AS w
          ON s.show_id = w.w_show AND s.seat = w.w_seat
        ORDER BY s.show_id COLLATE "C", s.seat FOR UPDATE OF s
      ) AS locked_seats;

      changed_shows := NULL;
      latest_versions := NULL;
      FOR i IN 1 .. n LOOP
        now_ms := t_now_ms;
        stored_fingerprint := stored_fps[i];
        stored_outcome := stored_outs[i];
        changed := NULL;
        h_found := NULL; h_show_id := NULL; h_owner := NULL; h_seats := NULL; h_created_ms := NULL;
        h_expires_ms := NULL; h_state := NULL; h_show_state := NULL; h_carried := NULL;
        IF stored_fingerprint IS NOT NULL THEN
          RETURN NEXT;
          CONTINUE;
        END IF;
        SELECT h.show_id, h.owner, h.seats, epoch_ms(h.created_at), epoch_ms(h.expires_at), h.state, sh.state,
               (SELECT count(*)::integer FROM seats s WHERE s.show_id = h.show_id AND s.seat = ANY (h.seats) AND s.hold_id = h.hold_id)
          INTO h_show_id, h_owner, h_seats, h_created_ms, h_expires_ms, h_state, h_show_state, h_carried
          FROM holds h JOIN shows sh ON sh.show_id = h.show_id WHERE h.hold_id = hold_ids[i];
        h_found := FOUND;
        changed := 0;
        IF h_found AND (h_owner = principals[i] OR (admins[i] AND kinds[i] = 'release')) THEN
          lapse_at := CASE WHEN h_carried < cardinality(h_seats) THEN least(h_expires_ms, t_now_ms) ELSE h_expires_ms END;
          IF h_state = 'active' AND lapse_at > t_now_ms THEN
            IF kinds[i] = 'confirm' AND h_show_state = 'open' THEN
              UPDATE holds h SET state = 'confirmed' WHERE h.hold_id = hold_ids[i];
              UPDATE seats s SET owner = principals[i], request_id = request_ids[i], booked_at = t_now,
                                 hold_id = NULL, hold_expires_at = NULL
                WHERE s.show_id = h_show_id AND s.seat = ANY (h_seats) AND s.hold_id = hold_ids[i] AND s.owner IS NULL;
              GET DIAGNOSTICS changed = ROW_COUNT;
            ELSIF kinds[i] = 'release' THEN
              UPDATE holds h SET state = 'released' WHERE h.hold_id = hold_ids[i];
              UPDATE seats s SET hold_id = NULL, hold_expires_at = NULL
                WHERE s.show_id = h_show_id AND s.seat = ANY (h_seats) AND s.hold_id = hold_ids[i];
              GET DIAGNOSTICS changed = ROW_COUNT;
            ELSIF kinds[i] = 'extend' THEN
              new_expiry := least(t_now_ms + ttls_ms[i], h_created_ms + max_lifetimes_ms[i]);
              UPDATE holds h SET expires_at = from_epoch_ms(new_expiry) WHERE h.hold_id = hold_ids[i];
              UPDATE seats s SET hold_expires_at = from_epoch_ms(new_expiry)
                WHERE s.show_id = h_show_id AND s.seat = ANY (h_seats) AND s.hold_id = hold_ids[i];
              GET DIAGNOSTICS changed = ROW_COUNT;
            END IF;
            -- An extend changes no seat's availability and takes no version.
            IF changed > 0 AND kinds[i] <> 'extend' THEN
              c_shows := c_shows || h_show_id;
              c_kinds := c_kinds || CASE kinds[i] WHEN 'confirm' THEN 'booked' ELSE 'hold-ended' END;
              IF kinds[i] = 'confirm' THEN
                sold_in := sold_in || h_show_id;
              END IF;
              c_counts := c_counts || cardinality(h_seats);
              c_flat := c_flat || h_seats;
              c_totals := c_totals || NULL::integer;
            END IF;
          END IF;
        END IF;
        IF request_ids[i] <> '' THEN
          s_principals := s_principals || principals[i];
          s_ids := s_ids || request_ids[i];
          s_fps := s_fps || fingerprints[i];
          s_outs := s_outs || json_build_object(
            'hold_findings', json_build_object(
              'changed', changed, 'found', h_found, 'show_id', h_show_id, 'owner', h_owner, 'seats', h_seats,
              'created_ms', h_created_ms, 'expires_ms', h_expires_ms, 'state', h_state,
              'show_state', h_show_state, 'carried', h_carried),
            'now_ms', t_now_ms, 'is_admin', admins[i], 'max_lifetime_ms', max_lifetimes_ms[i])::text;
        END IF;
        RETURN NEXT;
      END LOOP;

      IF cardinality(s_ids) > 0 THEN
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

      changed_shows := '{}';
      latest_versions := '{}';
      IF cardinality(c_shows) > 0 THEN
        SELECT coalesce(array_agg(v.show_id), '{}'), coalesce(array_agg(v.version), '{}') INTO changed_shows, latest_versions
          FROM number_show_changes(c_shows, c_kinds, c_counts, c_flat, c_totals, sold_in, keep_versions, keep_ms) AS v;
      END IF;
      now_ms := t_now_ms;
      stored_fingerprint := NULL; stored_outcome := NULL; changed := NULL;
      h_found := NULL; h_show_id := NULL; h_owner := NULL; h_seats := NULL; h_created_ms := NULL;
      h_expires_ms := NULL; h_state := NULL; h_show_state := NULL; h_carried := NULL;
      RETURN NEXT;
    END
    $fn$;
  `,
};
