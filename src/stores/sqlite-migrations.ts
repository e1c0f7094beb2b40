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
 * Only booked seats are rows: a 100,000-seat show costs one `shows` row until
 * seats are booked, and its free seats are computed from the booked ones.
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
