import { createRequire } from "node:module";
import type Database from "better-sqlite3";

/** The package the SQLite store opens its databases with, chosen by Node version. */
export interface SqliteBinding {
  /** The name it is installed under in `node_modules`. */
  readonly packageName: "better-sqlite3" | "better-sqlite3-13";
  /** Its exact version (package.json pins it). */
  readonly version: string;
}

/** The first Node major that gets better-sqlite3 13.x. */
const NODE_API_BINDING_FROM_MAJOR = 22;

/**
 * better-sqlite3 12.x wraps `node::ObjectWrap`, whose cleanup hook Node 24
 * changed: a statement collected by the GC aborts the process
 * (`Assertion failed: (env) != nullptr`). 13.x is built on Node-API and is
 * fine on Node 22 and 24, but requires Node 22 and crashes (SIGSEGV) on
 * Node 20. So Node 20 keeps 12.x and Node 22+ gets 13.x, installed under the
 * npm alias `better-sqlite3-13`. Both have the same JavaScript API, which
 * @types/better-sqlite3 describes.
 */
function chooseBinding(nodeVersion: string): SqliteBinding["packageName"] {
  const major = Number(nodeVersion.split(".")[0]);
  return major >= NODE_API_BINDING_FROM_MAJOR ? "better-sqlite3-13" : "better-sqlite3";
}

let loaded: { readonly binding: SqliteBinding; readonly Database: typeof Database } | undefined;

/**
 * Loads the binding for this Node on first use (synchronously, with
 * `require`, so the other one is never loaded into the process: loading
 * 12.x on Node 24 is enough to risk the abort).
 */
function load(): NonNullable<typeof loaded> {
  if (loaded === undefined) {
    const packageName = chooseBinding(process.versions.node);
    const require = createRequire(import.meta.url);
    const constructor = require(packageName) as typeof Database;
    const { version } = require(`${packageName}/package.json`) as { version: string };
    loaded = { binding: { packageName, version }, Database: constructor };
  }
  return loaded;
}

/**
 * Opens (creating unless `readonly` or `fileMustExist`) the SQLite database
 * at `path` with the binding this Node version needs. Every database in the
 * process, including those tests open to look inside a store's file, should
 * come from here.
 */
export function openSqliteDatabase(path: string, options?: Database.Options): Database.Database {
  return new (load().Database)(path, options);
}

/** Which binding {@link openSqliteDatabase} uses in this process (loads it if not yet loaded). */
export function sqliteBinding(): SqliteBinding {
  return load().binding;
}
