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
];

/** The schema version this code reads and writes. */
export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS.length;

/**
 * Brings a database up to the last of `migrations`, recording the version in
 * `PRAGMA user_version` (0 for a new file). Each step runs in its own
 * `BEGIN IMMEDIATE` transaction together with the version bump, so a crash
 * leaves the database at a whole version, and two processes opening the same
 * file at once apply each step once. Refuses a database newer than the code.
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
  for (const migration of migrations.slice(found)) {
    db.transaction(() => {
      // Another process may have applied this step while we waited for the lock.
      if (userVersion() >= migration.version) return;
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
  return userVersion();
}
