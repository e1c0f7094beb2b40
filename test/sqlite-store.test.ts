import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { openSqliteDatabase, sqliteBinding } from "../src/stores/sqlite-binding.js";
import { afterAll, describe, expect, it } from "vitest";
import { SqliteStore } from "../src/stores/sqlite-store.js";

const dir = await mkdtemp(join(tmpdir(), "booking-sqlite-store-"));

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("SqliteStore", () => {
  it("puts its file in WAL mode, so readers never block the writer", async () => {
    const path = join(dir, "pragmas.sqlite");
    await SqliteStore.open(path).close();
    const db = openSqliteDatabase(path, { readonly: true });
    try {
      expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    } finally {
      db.close();
    }
  });

  it("deletes expired request ids from the file, not only ignores them", async () => {
    const path = join(dir, "purge.sqlite");
    let clock = 1_000_000;
    const store = SqliteStore.open({ path, requestIdRetentionMs: 1_000, now: () => clock });
    const count = () => {
      const db = openSqliteDatabase(path, { readonly: true });
      try {
        return db.prepare("SELECT count(*) FROM requests").pluck().get();
      } finally {
        db.close();
      }
    };
    try {
      await store.ensureShows([{ id: "main", totalSeats: 10 }]);
      const command = (seat: number, requestId: string) =>
        ({ kind: "book", showId: "main", seats: [seat], principal: "alice", isAdmin: false, requestId }) as const;
      await store.applyBatch([command(1, "a-1"), command(2, "a-2")]);
      expect(count()).toBe(2);
      clock += 2 * 60_000;
      await store.applyBatch([command(3, "a-3")]);
      expect(count()).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("opens its file with better-sqlite3 12 on Node 20 and 13 on Node 22 and later, never loading the other", async () => {
    const path = join(dir, "binding.sqlite");
    await SqliteStore.open(path).close();
    const major = Number(process.versions.node.split(".")[0]);
    const [chosen, other] = major >= 22 ? ["better-sqlite3-13", "better-sqlite3"] : ["better-sqlite3", "better-sqlite3-13"];
    expect(sqliteBinding().packageName).toBe(chosen);
    const require = createRequire(import.meta.url);
    const loaded = Object.keys(require.cache);
    expect(loaded).toContain(require.resolve(chosen));
    expect(loaded).not.toContain(require.resolve(other));
  });
});
