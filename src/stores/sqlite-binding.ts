import Database from "better-sqlite3";

/**
 * The SQLite binding the SQLite store opens its database with. One seam, so
 * that the binding can be chosen by Node version.
 */
export function openSqliteDatabase(path: string): Database.Database {
  return new Database(path);
}
