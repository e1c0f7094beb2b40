import type { Database } from "better-sqlite3";

/** One step of the SQLite schema: applied once, in order, never edited after release. */
export interface SqliteMigration {
  /** 1, 2, 3...: the schema version this step leads to. */
  readonly version: number;
  /** What the step does, for logs and errors. */
  readonly name: string;
  readonly sql: string;
}

/**
 * The SQLite schema, oldest first. Add a step at the end; never change one
 * that has shipped, since databases already at its version skip it.
 *
 * Only booked and held seats are rows: a 100,000-seat show costs one `shows`
 * row until seats are booked or held, and its free seats are computed from
 * the taken ones.
 */
export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: "shows, booked seats and request ids",
    sql: `
      CREATE TABLE shows (
        show_id     TEXT    NOT NULL PRIMARY KEY,
        total_seats INTEGER NOT NULL CHECK (total_seats > 0)
      ) WITHOUT ROWID;
      CREATE TABLE booked_seats (
        show_id    TEXT    NOT NULL REFERENCES shows (show_id),
        seat       INTEGER NOT NULL CHECK (seat > 0),
        owner      TEXT    NOT NULL,
        request_id TEXT    NOT NULL,
        booked_at  INTEGER NOT NULL,
        PRIMARY KEY (show_id, seat)
      ) WITHOUT ROWID;
      CREATE TABLE requests (
        principal   TEXT    NOT NULL,
        request_id  TEXT    NOT NULL,
        fingerprint TEXT    NOT NULL,
        outcome     TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (principal, request_id)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: "index request ids by age, so purging old ones does not scan them all",
    sql: `CREATE INDEX requests_created_at ON requests (created_at);`,
  },
  {
    version: 3,
    name: "shows gain a name, a state and a creation time; holds and the seats they claim",
    // Shows from before this step were created at an unknown time: they get
    // the time of the upgrade, in epoch ms. A held_seats row marks a seat a
    // hold claims until expires_at; a row at or past it is a lapsed hold, and
    // its seat is free (the store overwrites or deletes such rows as it goes).
    // Holds are never deleted: their ids answer retries and GetHold.
    sql: `
      ALTER TABLE shows ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
      ALTER TABLE shows ADD COLUMN state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed'));
      ALTER TABLE shows ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
      UPDATE shows SET created_at = CAST(round((julianday('now') - 2440587.5) * 86400000) AS INTEGER);
      CREATE TABLE holds (
        hold_id    TEXT    NOT NULL PRIMARY KEY,
        show_id    TEXT    NOT NULL REFERENCES shows (show_id),
        owner      TEXT    NOT NULL,
        seats      TEXT    NOT NULL CHECK (json_valid(seats)),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        state      TEXT    NOT NULL CHECK (state IN ('active', 'confirmed', 'released'))
      ) WITHOUT ROWID;
      CREATE INDEX holds_live_by_owner ON holds (owner, expires_at) WHERE state = 'active';
      CREATE TABLE held_seats (
        show_id    TEXT    NOT NULL REFERENCES shows (show_id),
        seat       INTEGER NOT NULL CHECK (seat > 0),
        hold_id    TEXT    NOT NULL REFERENCES holds (hold_id),
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (show_id, seat)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 4,
    name: "show versions and their change log; a hold's lapse recorded as 'expired'",
    // Existing shows stay at version 0: their log starts after the upgrade.
    // The kind CHECK is an OR chain, not IN (...): SQLite builds a temporary
    // table for an IN list on every row checked, measured at ~1.7 µs per
    // change row, and one is written for nearly every command.
    // SQLite cannot change a CHECK constraint, so holds is rebuilt to allow
    // 'expired' (migrateSqlite turns foreign keys off around the steps, as
    // SQLite's table-rebuild procedure asks, and checks them before commit).
    // From here on a held_seats row exists exactly for the seats of a hold
    // recorded 'active' (lapsed or not): taking a seat of a lapsed hold ends
    // the whole hold first. Before, a lapsed hold's marks could be
    // overwritten or deleted one seat at a time; a hold that lost any mark
    // that way had lapsed, so its end is recorded here (no change row: the
    // listing at version 0 already showed those seats as not held by it).
    sql: `
      ALTER TABLE shows ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE show_changes (
        show_id     TEXT    NOT NULL REFERENCES shows (show_id),
        version     INTEGER NOT NULL CHECK (version > 0),
        kind        TEXT    NOT NULL CHECK (kind = 'booked' OR kind = 'released' OR kind = 'held' OR kind = 'hold-ended' OR kind = 'resized' OR kind = 'closed'),
        seats       TEXT    NOT NULL,
        total_seats INTEGER,
        at          INTEGER NOT NULL,
        PRIMARY KEY (show_id, version)
      ) WITHOUT ROWID;
      CREATE TABLE holds_v4 (
        hold_id    TEXT    NOT NULL PRIMARY KEY,
        show_id    TEXT    NOT NULL REFERENCES shows (show_id),
        owner      TEXT    NOT NULL,
        seats      TEXT    NOT NULL CHECK (json_valid(seats)),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        state      TEXT    NOT NULL CHECK (state IN ('active', 'confirmed', 'released', 'expired'))
      ) WITHOUT ROWID;
      INSERT INTO holds_v4 (hold_id, show_id, owner, seats, created_at, expires_at, state)
        SELECT hold_id, show_id, owner, seats, created_at, expires_at, state FROM holds;
      DROP TABLE holds;
      ALTER TABLE holds_v4 RENAME TO holds;
      CREATE INDEX holds_live_by_owner ON holds (owner, expires_at) WHERE state = 'active';
      CREATE INDEX holds_active_by_expiry ON holds (expires_at, show_id) WHERE state = 'active';
      UPDATE holds SET state = 'expired'
        WHERE state = 'active' AND EXISTS (
          SELECT 1 FROM json_each(holds.seats) AS j
          WHERE NOT EXISTS (SELECT 1 FROM held_seats AS h WHERE h.show_id = holds.show_id AND h.seat = j.value AND h.hold_id = holds.hold_id));
      DELETE FROM held_seats WHERE hold_id IN (SELECT hold_id FROM holds WHERE state <> 'active');
    `,
  },
  {
    version: 5,
    name: "each show's change log starts at a stored version (log_start); older rows are deleted in chunks",
    // The retention decides log_start at every commit, as it decided what to
    // delete before; readers answer too-old below it. Rows below it are
    // deleted in chunks (sqlite-batch-shows.ts), not one DELETE per commit.
    // An existing show's log starts at its oldest row, or after its latest
    // version when it has none.
    sql: `
      ALTER TABLE shows ADD COLUMN log_start INTEGER NOT NULL DEFAULT 1;
      UPDATE shows SET log_start = coalesce(
        (SELECT min(version) FROM show_changes AS c WHERE c.show_id = shows.show_id), version + 1);
    `,
  },
  {
    version: 6,
    name: "request-id records appended in time order to a rowid table, found by a unique (request_id, principal) index: fewer WAL pages per commit",
    // Measured: with records keyed by (principal, request_id) plus the
    // created_at index, a commit of 17 book/cancel calls wrote about 17 WAL
    // pages, ~12 of them for the records and their index: each principal's
    // records sit in the middle of the B-tree, and the index rebalanced
    // three siblings at a time. Appending by rowid with a unique index on
    // (request_id, principal) wrote 6.8 pages per such commit instead of
    // 12.4 with time-ordered (UUIDv7) ids, 27.6 instead of 32.8 with random
    // ids, and cost 6.7 instead of 8.6 µs of CPU per lookup and insert
    // (a standalone experiment on 20,000 records). seq is the rowid, without
    // AUTOINCREMENT (which writes sqlite_sequence on every insert); records
    // are stamped from the store's clock as they are inserted, so seq order
    // is time order, and the purge deletes a prefix of seq instead of using
    // an index on created_at. Existing records are copied oldest first;
    // dropping the old table drops requests_created_at with it.
    sql: `
      CREATE TABLE requests_v6 (
        seq         INTEGER PRIMARY KEY,
        principal   TEXT    NOT NULL,
        request_id  TEXT    NOT NULL,
        fingerprint TEXT    NOT NULL,
        outcome     TEXT    NOT NULL,
        created_at  INTEGER NOT NULL
      );
      INSERT INTO requests_v6 (principal, request_id, fingerprint, outcome, created_at)
        SELECT principal, request_id, fingerprint, outcome, created_at FROM requests ORDER BY created_at, principal, request_id;
      DROP TABLE requests;
      ALTER TABLE requests_v6 RENAME TO requests;
      CREATE UNIQUE INDEX requests_key ON requests (request_id, principal);
    `,
  },
];

/** The schema version this code reads and writes. */
export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS.length;

/**
 * Brings a database up to the last of `migrations`, recording the version in
 * `PRAGMA user_version` (0 for a new file). Each step runs in its own
 * `BEGIN IMMEDIATE` transaction together with the version bump, so a crash
 * leaves the database at a whole version, and two processes opening the same
 * file at once apply each step once. Refuses a database newer than the code.
 * Foreign keys are off while steps run (and checked before each commits).
 *
 * Returns the version the database is at afterwards.
 */
export function migrateSqlite(db: Database, migrations: readonly SqliteMigration[] = SQLITE_MIGRATIONS): number {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new TypeError(`SQLite migration "${migration.name}" has version ${migration.version}, expected ${index + 1}`);
    }
  });
  const userVersion = (): number => db.pragma("user_version", { simple: true }) as number;
  const latest = migrations.length;
  const found = userVersion();
  if (found > latest) {
    throw new Error(`the SQLite database is at schema version ${found}, newer than this server's ${latest}; upgrade the server`);
  }
  if (found === latest) return found;
  // A step may rebuild a table that others reference, which SQLite allows
  // only with foreign keys off; they are checked before each step commits.
  const foreignKeys = db.pragma("foreign_keys", { simple: true }) === 1;
  db.pragma("foreign_keys = OFF");
  try {
    for (const migration of migrations.slice(found)) {
      db.transaction(() => {
        // Another process may have applied this step while we waited for the lock.
        if (userVersion() >= migration.version) return;
        db.exec(migration.sql);
        const broken = db.pragma("foreign_key_check") as unknown[];
        if (broken.length > 0) throw new Error(`SQLite migration "${migration.name}" breaks ${broken.length} foreign key references`);
        db.pragma(`user_version = ${migration.version}`);
      }).immediate();
    }
  } finally {
    if (foreignKeys) db.pragma("foreign_keys = ON");
  }
  return userVersion();
}
