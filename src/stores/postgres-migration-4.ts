import type { PostgresMigration } from "./postgres-migrations.js";

/**
 * Schema version 4: show versions and the change log, and holds whose end
 * by expiry is recorded.
 *
 * - shows.version: the show's latest version (0 until its first change).
 * - show_changes: the retained tail of each show's log, one row per version.
 *   No foreign key: shows are never deleted, and a key check per row would
 *   only lengthen the step that holds the show row (see record_show_changes).
 * - holds.state may be 'expired': the end of a lapsed hold, recorded by the
 *   sweeper's expire-holds command or by a request that took its seats. A
 *   hold is 'active' exactly while all its seats carry its mark. Version 3
 *   left active holds that lost a seat to a booking after they lapsed; they
 *   are recorded as expired here, before version 0 of every show.
 * - apply_seat_commands ends such lapsed holds whole before it books or holds
 *   their seats, and reports what it ended.
 * - record_show_changes numbers a batch's changes: the last step of every
 *   batch transaction.
 */
export const MIGRATION_4: PostgresMigration = {
  version: 4,
  name: "show versions, the change log, and recorded hold expiry",
  sql: `
    ALTER TABLE shows ADD COLUMN version bigint NOT NULL DEFAULT 0;
    CREATE TABLE show_changes (
      show_id     text        NOT NULL,
      version     bigint      NOT NULL,
      kind        text        NOT NULL CHECK (kind IN ('booked', 'released', 'held', 'hold-ended', 'resized', 'closed')),
      seats       integer[]   NOT NULL,
      total_seats integer,
      at          timestamptz NOT NULL,
      PRIMARY KEY (show_id, version)
    );
    ALTER TABLE holds
      DROP CONSTRAINT holds_state_check,
      ADD CONSTRAINT holds_state_check CHECK (state IN ('active', 'confirmed', 'released', 'expired'));
    -- The sweeper's questions: which shows have lapsed active holds, and which holds of a show.
    CREATE INDEX holds_active_expiry ON holds (expires_at, show_id) WHERE state = 'active';

    WITH lost AS (
      UPDATE holds h SET state = 'expired'
      WHERE h.state = 'active' AND (
        SELECT count(*) FROM seats s WHERE s.show_id = h.show_id AND s.seat = ANY (h.seats) AND s.hold_id = h.hold_id
      ) < cardinality(h.seats)
      RETURNING h.hold_id, h.show_id, h.seats
    )
    UPDATE seats s SET hold_id = NULL, hold_expires_at = NULL
    FROM lost WHERE s.show_id = lost.show_id AND s.seat = ANY (lost.seats) AND s.hold_id = lost.hold_id;

    -- Version 3's batch runner, and: a lapsed hold that marks a seat a book or
    -- hold takes is ended first, all its seats (state 'expired', marks
    -- cleared), and reported in ended_holds (ended_counts[k] of ended_seats
    -- each, ascending). Its row and seats must be locked before any other
    -- seat: with prelocked_holds NULL the function takes every lock itself
    -- (advisory, then the rows of lapsed holds marking the batch's seats, in
    -- id order, then all those seats in (show, seat) order); otherwise the
    -- caller took them all and names the lapsed holds it locked. A lapsed
    -- hold found on a locked seat that was not locked first (it appeared
    -- between the unlocked look and the locks) fails the transaction with
    -- serialization_failure, and the caller runs the batch again.
    DROP FUNCTION apply_seat_commands(text[], text[], integer[], integer[], text[], text[], text[], boolean[], text[], bigint[], integer[]);
    CREATE FUNCTION apply_seat_commands(
      kinds text[], show_ids text[], seat_counts integer[], flat_seats integer[], seat_shows text[],
      principals text[], request_ids text[], admins boolean[],
      new_hold_ids text[], ttls_ms bigint[], max_holds integer[], prelocked_holds text[]
    ) RETURNS TABLE (
      changed integer, show_total integer, show_state text, found_seats integer[],
      booked_seats integer[], booked_owners text[],
      held_seats integer[], held_by text[], held_until_ms bigint[],
      live_holds integer,
      ended_holds text[], ended_counts integer[], ended_seats integer[]
    )
    LANGUAGE plpgsql VOLATILE AS $fn$
    DECLARE
      next_seat integer := 1;
      wanted integer[];
      now_ms bigint := epoch_ms(now());
      t_now timestamptz := from_epoch_ms(epoch_ms(now()));
      live_marks integer;
      hold_until timestamptz;
      locked_holds text[] := prelocked_holds;
      ended_id text;
      freed integer[];
    BEGIN
      IF locked_holds IS NULL THEN
        PERFORM pg_advisory_xact_lock(k) FROM (
          SELECT DISTINCT booking_lock_key('hold-limit:' || p) AS k
            FROM unnest(kinds, principals) AS t (kind, p) WHERE kind = 'hold' ORDER BY 1
        ) AS keys;
        SELECT coalesce(array_agg(l.hold_id), '{}') INTO locked_holds FROM (
          SELECT h.hold_id FROM holds h
          WHERE h.hold_id IN (
            SELECT s.hold_id FROM unnest(seat_shows, flat_seats) AS t (show_id, seat) JOIN seats s USING (show_id, seat)
            WHERE s.hold_expires_at <= t_now
          ) AND h.state = 'active'
          ORDER BY h.hold_id COLLATE "C" FOR UPDATE
        ) AS l;
        IF cardinality(kinds) > 1 OR cardinality(locked_holds) > 0 THEN
          PERFORM 1 FROM (
            SELECT s.seat FROM seats s JOIN (
              SELECT show_id, seat FROM unnest(seat_shows, flat_seats) AS t (show_id, seat)
              UNION
              SELECT h.show_id, unnest(h.seats) FROM holds h WHERE h.hold_id = ANY (locked_holds)
            ) AS w USING (show_id, seat)
            ORDER BY s.show_id COLLATE "C", s.seat FOR UPDATE OF s
          ) AS locked;
        END IF;
      END IF;
      FOR i IN 1 .. cardinality(kinds) LOOP
        wanted := flat_seats[next_seat : next_seat + seat_counts[i] - 1];
        next_seat := next_seat + seat_counts[i];
        SELECT coalesce(array_agg(l.seat ORDER BY l.seat), '{}'),
               coalesce(array_agg(l.seat ORDER BY l.seat) FILTER (WHERE l.owner IS NOT NULL), '{}'),
               coalesce(array_agg(l.owner ORDER BY l.seat) FILTER (WHERE l.owner IS NOT NULL), '{}'),
               coalesce(array_agg(l.seat ORDER BY l.seat) FILTER (WHERE l.hold_id IS NOT NULL), '{}'),
               coalesce(array_agg(l.hold_id ORDER BY l.seat) FILTER (WHERE l.hold_id IS NOT NULL), '{}'),
               coalesce(array_agg(epoch_ms(l.hold_expires_at) ORDER BY l.seat) FILTER (WHERE l.hold_id IS NOT NULL), '{}'),
               count(*) FILTER (WHERE l.hold_expires_at > t_now)
          INTO found_seats, booked_seats, booked_owners, held_seats, held_by, held_until_ms, live_marks
          FROM (SELECT s.seat, s.owner, s.hold_id, s.hold_expires_at FROM seats s
                WHERE s.show_id = show_ids[i] AND s.seat = ANY (wanted) ORDER BY s.seat FOR UPDATE) AS l;
        -- Read after the seats are locked: a resize that held them is committed by now.
        show_total := NULL;
        show_state := NULL;
        SELECT sh.total_seats, sh.state INTO show_total, show_state FROM shows sh WHERE sh.show_id = show_ids[i];
        changed := 0;
        live_holds := NULL;
        ended_holds := '{}';
        ended_counts := '{}';
        ended_seats := '{}';
        IF show_total IS NOT NULL AND cardinality(found_seats) = cardinality(wanted) THEN
          IF kinds[i] = 'cancel' THEN
            IF cardinality(booked_seats) = cardinality(wanted) AND (admins[i] OR booked_owners <@ ARRAY[principals[i]]) THEN
              UPDATE seats SET owner = NULL, request_id = NULL, booked_at = NULL
                WHERE show_id = show_ids[i] AND seat = ANY (wanted) AND owner IS NOT NULL;
              GET DIAGNOSTICS changed = ROW_COUNT;
            END IF;
          ELSIF show_state = 'open' AND cardinality(booked_seats) = 0 AND live_marks = 0 THEN
            IF kinds[i] = 'hold' THEN
              SELECT count(*)::integer INTO live_holds FROM holds h
                WHERE h.owner = principals[i] AND h.state = 'active' AND h.expires_at > t_now;
            END IF;
            IF kinds[i] = 'book' OR (kinds[i] = 'hold' AND live_holds < max_holds[i]) THEN
              -- Every mark left on these seats is a lapsed hold's: end each whole, in id order.
              FOR ended_id IN SELECT d.x FROM (SELECT DISTINCT x FROM unnest(held_by) AS x) AS d ORDER BY d.x COLLATE "C" LOOP
                IF NOT ended_id = ANY (locked_holds) THEN
                  RAISE EXCEPTION 'lapsed hold % was not locked before the seats it marks', ended_id
                    USING ERRCODE = 'serialization_failure';
                END IF;
                UPDATE holds SET state = 'expired' WHERE hold_id = ended_id;
                WITH cleared AS (
                  UPDATE seats s SET hold_id = NULL, hold_expires_at = NULL FROM holds h
                  WHERE h.hold_id = ended_id AND s.show_id = h.show_id AND s.seat = ANY (h.seats) AND s.hold_id = ended_id
                  RETURNING s.seat
                )
                SELECT coalesce(array_agg(c.seat ORDER BY c.seat), '{}') INTO freed FROM cleared AS c;
                ended_holds := ended_holds || ended_id;
                ended_counts := ended_counts || cardinality(freed);
                ended_seats := ended_seats || freed;
              END LOOP;
              IF kinds[i] = 'book' THEN
                UPDATE seats SET owner = principals[i], request_id = request_ids[i], booked_at = t_now
                  WHERE show_id = show_ids[i] AND seat = ANY (wanted) AND owner IS NULL AND hold_id IS NULL;
                GET DIAGNOSTICS changed = ROW_COUNT;
              ELSE
                hold_until := from_epoch_ms(now_ms + ttls_ms[i]);
                INSERT INTO holds (hold_id, show_id, owner, seats, created_at, expires_at, state)
                  VALUES (new_hold_ids[i], show_ids[i], principals[i], wanted, t_now, hold_until, 'active');
                UPDATE seats SET hold_id = new_hold_ids[i], hold_expires_at = hold_until
                  WHERE show_id = show_ids[i] AND seat = ANY (wanted) AND owner IS NULL AND hold_id IS NULL;
                GET DIAGNOSTICS changed = ROW_COUNT;
              END IF;
            END IF;
          END IF;
        END IF;
        RETURN NEXT;
      END LOOP;
    END
    $fn$;

    -- The version step, the last statement of a batch before COMMIT. Change k
    -- is of show change_shows[k], in batch order, with seat_counts[k] of
    -- flat_seats and totals[k] (resizes; else NULL). For each changed show,
    -- in id order ("C", as every lock of shows): one UPDATE takes the next n
    -- versions (the row lock that makes versions gap-free and equal to
    -- commit order); a show in open_shows that is no longer open fails the
    -- transaction with serialization_failure (a close committed after this
    -- batch decided a sale there: the rerun refuses it, rather than log a
    -- sale after the close); NOTIFY names the show and its latest version
    -- (delivered at commit); the log loses what the retention no longer
    -- keeps (keep_versions rows, keep_ms of age), an index range on the
    -- primary key that reads from the oldest row only as far as rows are too
    -- old. Then one INSERT adds the numbered rows. Returns each show's latest.
    CREATE FUNCTION record_show_changes(
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
        PERFORM pg_notify('booking_show_changes', counted.id || ':' || latest);
        SELECT min(o.version) INTO fresh_from FROM show_changes o
          WHERE o.show_id = counted.id AND o.at >= t_now - keep_ms * interval '1 millisecond';
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
  `,
};
