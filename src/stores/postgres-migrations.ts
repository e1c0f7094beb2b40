import type { Pool, PoolClient } from "pg";
import { MIGRATION_4 } from "./postgres-migration-4.js";
import { MIGRATION_5 } from "./postgres-migration-5.js";
import { MIGRATION_6 } from "./postgres-migration-6.js";
import { MIGRATION_7 } from "./postgres-migration-7.js";

/** One step of the PostgreSQL schema: applied once, in order, never edited after release. */
export interface PostgresMigration {
  /** 1, 2, 3...: the schema version this step leads to. */
  readonly version: number;
  /** What the step does, for logs and errors. */
  readonly name: string;
  readonly sql: string;
}

/**
 * The PostgreSQL schema, oldest first. Add a step at the end; never change one
 * that has shipped.
 *
 * One row per seat, so that booking is a conditional UPDATE on rows that
 * always exist (they can be locked in seat order, unlike rows not yet
 * inserted), and the primary key makes two owners of a seat unrepresentable.
 * A partial index finds the booked seats of a large, mostly free show.
 */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: "shows, seats and request ids",
    sql: `
      CREATE TABLE shows (
        show_id     text    NOT NULL PRIMARY KEY,
        total_seats integer NOT NULL CHECK (total_seats > 0)
      );
      CREATE TABLE seats (
        show_id    text        NOT NULL REFERENCES shows (show_id),
        seat       integer     NOT NULL CHECK (seat > 0),
        owner      text,
        request_id text,
        booked_at  timestamptz,
        PRIMARY KEY (show_id, seat),
        CHECK ((owner IS NULL) = (request_id IS NULL))
      );
      CREATE INDEX seats_booked ON seats (show_id, seat) WHERE owner IS NOT NULL;
      CREATE TABLE requests (
        principal   text   NOT NULL,
        request_id  text   NOT NULL,
        fingerprint text   NOT NULL,
        outcome     text   NOT NULL,
        created_at  bigint NOT NULL,
        PRIMARY KEY (principal, request_id)
      );
      -- Runs a batch's commands in order in one round trip (see PostgresStore).
      -- Command i names seat_counts[i] seats, the next ones in flat_seats;
      -- seat_shows[k] is the show of flat_seats[k]. It first locks every seat
      -- of the batch in one global (show, seat) order, so concurrent batches
      -- never deadlock; then, for each command, it reads the owners of the
      -- locked seats and changes all of them only when the whole command is
      -- allowed. It reports what it found; the caller decides and checks.
      CREATE FUNCTION apply_seat_commands(
        kinds text[], show_ids text[], seat_counts integer[], flat_seats integer[], seat_shows text[],
        principals text[], request_ids text[], admins boolean[]
      ) RETURNS TABLE (changed integer, found_seats integer, booked_seats integer[], booked_owners text[])
      LANGUAGE plpgsql VOLATILE AS $fn$
      DECLARE
        next_seat integer := 1;
        wanted integer[];
      BEGIN
        IF cardinality(kinds) > 1 THEN
          PERFORM 1 FROM (
            SELECT s.seat FROM unnest(seat_shows, flat_seats) AS t (show_id, seat) JOIN seats s USING (show_id, seat)
            ORDER BY s.show_id COLLATE "C", s.seat FOR UPDATE OF s
          ) AS locked;
        END IF;
        FOR i IN 1 .. cardinality(kinds) LOOP
          wanted := flat_seats[next_seat : next_seat + seat_counts[i] - 1];
          next_seat := next_seat + seat_counts[i];
          SELECT count(*)::integer,
                 coalesce(array_agg(l.seat ORDER BY l.seat) FILTER (WHERE l.owner IS NOT NULL), '{}'),
                 coalesce(array_agg(l.owner ORDER BY l.seat) FILTER (WHERE l.owner IS NOT NULL), '{}')
            INTO found_seats, booked_seats, booked_owners
            FROM (SELECT seat, owner FROM seats WHERE show_id = show_ids[i] AND seat = ANY (wanted)
                  ORDER BY seat FOR UPDATE) AS l;
          changed := 0;
          IF found_seats = cardinality(wanted) THEN
            IF kinds[i] = 'book' AND cardinality(booked_seats) = 0 THEN
              UPDATE seats SET owner = principals[i], request_id = request_ids[i], booked_at = now()
                WHERE show_id = show_ids[i] AND seat = ANY (wanted) AND owner IS NULL;
              GET DIAGNOSTICS changed = ROW_COUNT;
            ELSIF kinds[i] = 'cancel' AND cardinality(booked_seats) = cardinality(wanted)
                  AND (admins[i] OR booked_owners <@ ARRAY[principals[i]]) THEN
              UPDATE seats SET owner = NULL, request_id = NULL, booked_at = NULL
                WHERE show_id = show_ids[i] AND seat = ANY (wanted) AND owner IS NOT NULL;
              GET DIAGNOSTICS changed = ROW_COUNT;
            END IF;
          END IF;
          RETURN NEXT;
        END LOOP;
      END
      $fn$;
    `,
  },
  {
    version: 2,
    name: "index request ids by age, so purging old ones does not scan them all",
    sql: `CREATE INDEX requests_created_at ON requests (created_at);`,
  },
  {
    version: 3,
    name: "show names and states, holds, and seat commands that respect holds",
    sql: `
      ALTER TABLE shows
        ADD COLUMN display_name text        NOT NULL DEFAULT '',
        ADD COLUMN state        text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
        -- now() is stable, so existing rows get the migration's time without a rewrite.
        ADD COLUMN created_at   timestamptz NOT NULL DEFAULT now();
      -- The hold on a seat, copied from its hold so that a booking reads one row per seat.
      -- Both or neither; a lapsed mark stays until the seat is booked or held again.
      ALTER TABLE seats
        ADD COLUMN hold_id         text,
        ADD COLUMN hold_expires_at timestamptz,
        ADD CONSTRAINT seats_hold_mark CHECK ((hold_id IS NULL) = (hold_expires_at IS NULL));
      CREATE INDEX seats_held ON seats (show_id, seat) WHERE hold_expires_at IS NOT NULL;
      CREATE TABLE holds (
        hold_id    text        NOT NULL PRIMARY KEY,
        show_id    text        NOT NULL REFERENCES shows (show_id),
        owner      text        NOT NULL,
        seats      integer[]   NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        -- "active" until confirmed or released, whatever the clock says; readers decide expiry.
        state      text        NOT NULL CHECK (state IN ('active', 'confirmed', 'released'))
      );
      CREATE INDEX holds_active_owner ON holds (owner) WHERE state = 'active';

      -- Times cross to the store as whole epoch milliseconds. Every timestamp
      -- this schema writes is one, so "expires > now()" and the store's
      -- "expiresAt > floor(now() in ms)" agree to the microsecond.
      CREATE FUNCTION epoch_ms(t timestamptz) RETURNS bigint
        LANGUAGE sql STABLE RETURN floor(extract(epoch FROM t) * 1000)::bigint;
      CREATE FUNCTION from_epoch_ms(ms bigint) RETURNS timestamptz
        LANGUAGE sql STABLE RETURN timestamptz 'epoch' + ms * interval '1 millisecond';
      -- Transaction-scoped advisory lock keys: one per principal for the hold
      -- limit, one per show id for creating it. Taken first, in key order.
      CREATE FUNCTION booking_lock_key(name text) RETURNS bigint
        LANGUAGE sql IMMUTABLE RETURN hashtextextended(name, 7302519466318020);

      -- The same batch runner as version 1, for book, cancel and hold. It
      -- takes the advisory locks of the batch's holders, then locks every seat
      -- in (show, seat) order; for each command it reads the locked seats
      -- (owners and hold marks) and the show, changes all of the seats only
      -- when the whole command is allowed at the transaction's now(), and
      -- reports what it found so that the caller decides with the shared
      -- rules and checks the function agreed. Booking clears a lapsed hold mark.
      DROP FUNCTION apply_seat_commands(text[], text[], integer[], integer[], text[], text[], text[], boolean[]);
      CREATE FUNCTION apply_seat_commands(
        kinds text[], show_ids text[], seat_counts integer[], flat_seats integer[], seat_shows text[],
        principals text[], request_ids text[], admins boolean[],
        new_hold_ids text[], ttls_ms bigint[], max_holds integer[]
      ) RETURNS TABLE (
        changed integer, show_total integer, show_state text, found_seats integer[],
        booked_seats integer[], booked_owners text[],
        held_seats integer[], held_by text[], held_until_ms bigint[],
        live_holds integer
      )
      LANGUAGE plpgsql VOLATILE AS $fn$
      DECLARE
        next_seat integer := 1;
        wanted integer[];
        now_ms bigint := epoch_ms(now());
        t_now timestamptz := from_epoch_ms(epoch_ms(now()));
        live_marks integer;
        hold_until timestamptz;
      BEGIN
        PERFORM pg_advisory_xact_lock(k) FROM (
          SELECT DISTINCT booking_lock_key('hold-limit:' || p) AS k
            FROM unnest(kinds, principals) AS t (kind, p) WHERE kind = 'hold' ORDER BY 1
        ) AS keys;
        IF cardinality(kinds) > 1 THEN
          PERFORM 1 FROM (
            SELECT s.seat FROM unnest(seat_shows, flat_seats) AS t (show_id, seat) JOIN seats s USING (show_id, seat)
            ORDER BY s.show_id COLLATE "C", s.seat FOR UPDATE OF s
          ) AS locked;
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
          IF show_total IS NOT NULL AND cardinality(found_seats) = cardinality(wanted) THEN
            IF kinds[i] = 'cancel' THEN
              IF cardinality(booked_seats) = cardinality(wanted) AND (admins[i] OR booked_owners <@ ARRAY[principals[i]]) THEN
                UPDATE seats SET owner = NULL, request_id = NULL, booked_at = NULL
                  WHERE show_id = show_ids[i] AND seat = ANY (wanted) AND owner IS NOT NULL;
                GET DIAGNOSTICS changed = ROW_COUNT;
              END IF;
            ELSIF show_state = 'open' AND cardinality(booked_seats) = 0 AND live_marks = 0 THEN
              IF kinds[i] = 'book' THEN
                UPDATE seats SET owner = principals[i], request_id = request_ids[i], booked_at = t_now,
                                 hold_id = NULL, hold_expires_at = NULL
                  WHERE show_id = show_ids[i] AND seat = ANY (wanted) AND owner IS NULL;
                GET DIAGNOSTICS changed = ROW_COUNT;
              ELSIF kinds[i] = 'hold' THEN
                SELECT count(*)::integer INTO live_holds FROM holds h
                  WHERE h.owner = principals[i] AND h.state = 'active' AND h.expires_at > t_now;
                IF live_holds < max_holds[i] THEN
                  hold_until := from_epoch_ms(now_ms + ttls_ms[i]);
                  INSERT INTO holds (hold_id, show_id, owner, seats, created_at, expires_at, state)
                    VALUES (new_hold_ids[i], show_ids[i], principals[i], wanted, t_now, hold_until, 'active');
                  UPDATE seats SET hold_id = new_hold_ids[i], hold_expires_at = hold_until
                    WHERE show_id = show_ids[i] AND seat = ANY (wanted) AND owner IS NULL;
                  GET DIAGNOSTICS changed = ROW_COUNT;
                END IF;
              END IF;
            END IF;
          END IF;
          RETURN NEXT;
        END LOOP;
      END
      $fn$;
    `,
  },
  MIGRATION_4,
  MIGRATION_5,
  MIGRATION_6,
  MIGRATION_7,
];

/** The schema version this code reads and writes. */
export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS.length;

/**
 * The advisory lock every instance takes while migrating, so that servers
 * starting together apply each step exactly once. An arbitrary constant that
 * other applications sharing the database are unlikely to use.
 */
export const MIGRATION_LOCK_KEY = 7_302_519_466_318_020n;

/**
 * Brings the database up to the last of `migrations`, under a session-level
 * `pg_advisory_lock` held on one connection for the whole run. Versions are
 * recorded in `schema_migrations`; each step and its record commit together.
 * After applying any step it runs ANALYZE. Refuses a database newer than the
 * code.
 *
 * Returns the version the database is at afterwards.
 */
export async function migratePostgres(
  pool: Pool,
  migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS,
): Promise<number> {
  return (await migratePostgresFrom(pool, migrations)).version;
}

/** {@link migratePostgres}, also saying the version the database was at before: 0 for an empty one. */
export async function migratePostgresFrom(
  pool: Pool,
  migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS,
): Promise<{ readonly foundVersion: number; readonly version: number }> {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new TypeError(`PostgreSQL migration "${migration.name}" has version ${migration.version}, expected ${index + 1}`);
    }
  });
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY.toString()]);
    try {
      await client.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
           version    integer     NOT NULL PRIMARY KEY,
           name       text        NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const found = await currentVersion(client);
      if (found > migrations.length) {
        throw new Error(
          `the PostgreSQL database is at schema version ${found}, newer than this server's ${migrations.length}; upgrade the server`,
        );
      }
      const pending = migrations.slice(found);
      for (const migration of pending) {
        await client.query("BEGIN");
        try {
          await client.query(migration.sql);
          await client.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [
            migration.version,
            migration.name,
          ]);
          await client.query("COMMIT");
        } catch (error) {
          await client.query("ROLLBACK");
          throw error;
        }
      }
      // Fresh statistics now, so that plans over the changed tables do not wait for autovacuum.
      if (pending.length > 0) await client.query("ANALYZE");
      return { foundVersion: found, version: await currentVersion(client) };
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY.toString()]);
    }
  } catch (error) {
    broken = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    // A connection that failed mid-migration may hold a lock or a transaction: discard it.
    client.release(broken);
  }
}

async function currentVersion(client: PoolClient): Promise<number> {
  const result = await client.query<{ version: number | null }>("SELECT max(version) AS version FROM schema_migrations");
  return result.rows[0]?.version ?? 0;
}
