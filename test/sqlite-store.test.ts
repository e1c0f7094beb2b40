import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { openSqliteDatabase, sqliteBinding } from "../src/stores/sqlite-binding.js";
import { afterAll, describe, expect, it } from "vitest";
import { CHANGE_LOG_DELETE_CHUNK } from "../src/stores/sqlite-batch-shows.js";
import { prepareSqliteStatements } from "../src/stores/sqlite-statements.js";
import { SqliteStore } from "../src/stores/sqlite-store.js";

const dir = await mkdtemp(join(tmpdir(), "booking-sqlite-store-"));

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Opens the file read-only beside the store, runs `read` on it and closes it. */
function readFile<T>(path: string, read: (db: ReturnType<typeof openSqliteDatabase>) => T): T {
  const db = openSqliteDatabase(path, { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

/** The EXPLAIN QUERY PLAN lines of a statement that `pick` chooses, on a fresh store file. */
async function queryPlan(name: string, pick: (sql: ReturnType<typeof prepareSqliteStatements>) => { source: string }, ...parameters: unknown[]): Promise<string[]> {
  const path = join(dir, name);
  await SqliteStore.open(path).close();
  const db = openSqliteDatabase(path);
  try {
    return db
      .prepare(`EXPLAIN QUERY PLAN ${pick(prepareSqliteStatements(db)).source}`)
      .all(...parameters)
      .map((row) => (row as { detail: string }).detail);
  } finally {
    db.close();
  }
}

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
    const count = () => readFile(path, (db) => db.prepare("SELECT count(*) FROM requests").pluck().get());
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

  it("purges request ids from the oldest on, keeping a record that follows a newer one until that one expires", async () => {
    const path = join(dir, "purge-order.sqlite");
    let clock = 1_000_000;
    const store = SqliteStore.open({ path, requestIdRetentionMs: 30_000, now: () => clock });
    const stored = () => readFile(path, (db) => db.prepare("SELECT request_id, created_at FROM requests ORDER BY seq").raw().all());
    const book = (seat: number, requestId: string) => ({ kind: "book", showId: "main", seats: [seat], principal: "alice", isAdmin: false, requestId }) as const;
    try {
      await store.ensureShows([{ id: "main", totalSeats: 10 }]);
      // The first batch purges (nothing yet); the next purge is due a minute later.
      await store.applyBatch([book(1, "a-1")]);
      clock = 1_050_000;
      await store.applyBatch([book(2, "a-2")]);
      // The clock steps back: a-3 is older than a-2 but stored after it.
      clock = 1_020_000;
      await store.applyBatch([book(3, "a-3")]);
      expect(stored()).toEqual([["a-1", 1_000_000], ["a-2", 1_050_000], ["a-3", 1_020_000]]);

      // Purged before the commands at 1_070_000 (cutoff 1_040_000): a-1 goes, a-2 stays, and so does a-3 behind it.
      clock = 1_070_000;
      expect(await store.applyBatch([book(4, "a-4"), book(2, "a-2")])).toEqual([
        { ok: true, seats: [4], replayed: false },
        { ok: true, seats: [2], replayed: true },
      ]);
      expect(stored()).toEqual([["a-2", 1_050_000], ["a-3", 1_020_000], ["a-4", 1_070_000]]);
      // a-3 is kept but expired: its id is new again, and its new record goes to the end.
      expect(await store.applyBatch([book(3, "a-3")])).toEqual([{ ok: false, reason: "SEAT_ALREADY_BOOKED", seats: [3], replayed: false }]);
      expect(stored()).toEqual([["a-2", 1_050_000], ["a-4", 1_070_000], ["a-3", 1_070_000]]);

      // A minute on (cutoff 1_100_000), every record has expired: all go, before the batch adds its own.
      clock = 1_130_000;
      await store.applyBatch([book(5, "a-5")]);
      expect(stored()).toEqual([["a-5", 1_130_000]]);
      clock = 1_200_000;
      await store.applyBatch([book(6, "")]);
      expect(stored()).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("finds a request id through its unique index and purges along the rowid from the start, with no sort", async () => {
    expect(await queryPlan("plans.sqlite", (sql) => sql.findRequest, "alice", "a-1")).toEqual([
      "SEARCH requests USING INDEX requests_key (request_id=? AND principal=?)",
    ]);
    const purge = await queryPlan("plans-purge.sqlite", (sql) => sql.purgeRequests, 0);
    // The DELETE is a rowid range below the first kept record; that record is found by
    // walking the table in rowid order (ORDER BY seq needs no temp B-tree, so LIMIT 1
    // stops at the first match); the fallback is max(seq), one step to the B-tree's end.
    expect(purge).toEqual([
      "SEARCH requests USING INTEGER PRIMARY KEY (rowid<?)",
      "SCALAR SUBQUERY 1",
      "SCAN requests",
      "SCALAR SUBQUERY 2",
      "SEARCH requests",
    ]);
    expect(purge.join("\n")).not.toMatch(/TEMP B-TREE|INDEX/);
  });

  it("answers for the retained change log only, deleting older rows a chunk at a time", async () => {
    const path = join(dir, "log-chunks.sqlite");
    let clock = 1_000_000;
    const store = SqliteStore.open({ path, now: () => clock, changeLog: { maxVersions: 3, maxAgeMs: 60_000 } });
    const rows = () => readFile(path, (db) => db.prepare("SELECT count(*) FROM show_changes").pluck().get() as number);
    try {
      await store.ensureShows([{ id: "main", totalSeats: 1_000 }]);
      const book = (seat: number) => ({ kind: "book", showId: "main", seats: [seat], principal: "alice", isAdmin: false, requestId: "" }) as const;
      let version = 0;
      let mostRows = 0;
      for (let seat = 1; seat <= 2 * CHANGE_LOG_DELETE_CHUNK + 10; seat++) {
        await store.applyBatch([book(seat)]);
        version++;
        // The log answers for exactly the newest three versions, whatever rows are still stored.
        if (version >= 3) expect(await store.changesSince("main", version - 3, 10)).toMatchObject({ kind: "changes", changes: [{ version: version - 2 }, {}, {}] });
        if (version > 3) expect(await store.changesSince("main", version - 4, 10)).toEqual({ kind: "too-old", oldestVersion: version - 2 });
        mostRows = Math.max(mostRows, rows());
      }
      expect(mostRows).toBeLessThanOrEqual(CHANGE_LOG_DELETE_CHUNK + 3);
      expect(rows()).toBeLessThan(CHANGE_LOG_DELETE_CHUNK);
      // By age: a quiet hour later, the next commit's log starts at itself.
      clock += 61_000;
      await store.applyBatch([book(999)]);
      version++;
      expect(await store.changesSince("main", version - 2, 10)).toEqual({ kind: "too-old", oldestVersion: version });
      expect(await store.changesSince("main", version - 1, 10)).toMatchObject({ kind: "changes", changes: [{ version }] });
    } finally {
      await store.close();
    }
  });

  it("keeps a confirmed hold, its bookings and its replay, and a live hold, when closed and reopened", async () => {
    const path = join(dir, "holds-durable.sqlite");
    let clock = 2_000_000;
    const options = { path, now: () => clock };
    const alice = "spiffe://test/alice";
    const hold = (holdId: string, seats: number[]) =>
      ({ kind: "hold", showId: "main", seats, holdId, ttlMs: 60_000, maxHoldsPerPrincipal: 5, principal: alice, isAdmin: false, requestId: "" }) as const;
    const confirm = { kind: "confirm", holdId: "h-1", principal: alice, isAdmin: false, requestId: "c-1" } as const;
    const first = SqliteStore.open(options);
    let confirmed;
    try {
      await first.ensureShows([{ id: "main", totalSeats: 10 }]);
      await first.applyBatch([hold("h-1", [2, 3]), hold("h-2", [5])]);
      clock += 1_000;
      [confirmed] = await first.applyBatch([confirm]);
      expect(confirmed).toMatchObject({ ok: true, seats: [2, 3], hold: { holdId: "h-1", state: "confirmed" } });
    } finally {
      await first.close();
    }
    clock += 1_000;
    const reopened = SqliteStore.open(options);
    try {
      expect(await reopened.getHold("h-1")).toEqual({
        holdId: "h-1",
        showId: "main",
        seats: [2, 3],
        owner: alice,
        createdAt: 2_000_000,
        expiresAt: 2_060_000,
        state: "confirmed",
      });
      expect(await reopened.bookings("main")).toEqual([
        { seat: 2, owner: alice, requestId: "c-1" },
        { seat: 3, owner: alice, requestId: "c-1" },
      ]);
      expect(await reopened.applyBatch([confirm])).toEqual([{ ...confirmed, replayed: true }]);
      expect(await reopened.getHold("h-2")).toMatchObject({ state: "active", seats: [5] });
      expect(await reopened.snapshot("main")).toEqual({
        showId: "main",
        totalSeats: 10,
        bookedCount: 2,
        heldCount: 1,
        available: [1, 4, 6, 7, 8, 9, 10],
        version: 3,
        held: [5],
        state: "open",
      });
      expect(await reopened.applyBatch([{ kind: "book", showId: "main", seats: [5], principal: "spiffe://test/bob", isAdmin: false, requestId: "" }])).toEqual([
        { ok: false, reason: "SEAT_HELD", seats: [5], replayed: false, retryDelayMs: 58_000 },
      ]);
    } finally {
      await reopened.close();
    }
  });

  it("decides hold expiry by its injected clock, not the wall clock: a hold is expired when expiresAt equals now", async () => {
    // A clock far from the wall clock: anything that asked SQLite or Date.now would decide otherwise.
    let clock = 1_000;
    const store = SqliteStore.open({ path: join(dir, "expiry-boundary.sqlite"), now: () => clock });
    const alice = "spiffe://test/alice";
    const bob = "spiffe://test/bob";
    const base = { isAdmin: false, requestId: "" } as const;
    const hold = (holdId: string, seats: number[]) =>
      ({ ...base, kind: "hold", showId: "main", seats, holdId, ttlMs: 100, maxHoldsPerPrincipal: 1, principal: alice }) as const;
    const bookBySeat = (seat: number) => ({ ...base, kind: "book", showId: "main", seats: [seat], principal: bob }) as const;
    try {
      await store.ensureShows([{ id: "main", totalSeats: 5 }]);
      expect(await store.applyBatch([hold("h-1", [2, 3])])).toMatchObject([{ ok: true, hold: { createdAt: 1_000, expiresAt: 1_100 } }]);

      clock = 1_099;
      expect(await store.applyBatch([bookBySeat(2), hold("h-2", [4])])).toEqual([
        { ok: false, reason: "SEAT_HELD", seats: [2], replayed: false, retryDelayMs: 1 },
        { ok: false, reason: "TOO_MANY_HOLDS", seats: [], replayed: false },
      ]);
      expect(await store.getHold("h-1")).toMatchObject({ state: "active" });
      expect(await store.getShow("main")).toMatchObject({ bookedCount: 0, heldCount: 2 });

      clock = 1_100;
      expect(await store.getHold("h-1")).toMatchObject({ state: "expired", expiresAt: 1_100 });
      // Expired by the clock, but a listing shows the latest version until the end is recorded.
      expect(await store.snapshot("main")).toEqual({
        showId: "main",
        totalSeats: 5,
        bookedCount: 0,
        heldCount: 2,
        available: [1, 4, 5],
        version: 1,
        held: [2, 3],
        state: "open",
      });
      expect(await store.lapsedHoldShows()).toEqual(["main"]);
      expect(
        await store.applyBatch([
          { ...base, kind: "confirm", holdId: "h-1", principal: alice },
          { ...base, kind: "extend", holdId: "h-1", principal: alice, ttlMs: 100, maxLifetimeMs: 1_000 },
          bookBySeat(2),
          hold("h-3", [3]),
        ]),
      ).toMatchObject([
        { ok: false, reason: "HOLD_EXPIRED", seats: [2, 3] },
        { ok: false, reason: "HOLD_EXPIRED", seats: [2, 3] },
        { ok: true, seats: [2] },
        { ok: true, seats: [3], hold: { holdId: "h-3", expiresAt: 1_200 } },
      ]);
      expect(await store.getShow("main")).toMatchObject({ bookedCount: 1, heldCount: 1 });
      expect(await store.getHold("h-1")).toMatchObject({ state: "expired" });
      // Booking seat 2 recorded the end of h-1 first, with all its seats.
      const read = await store.changesSince("main", 1, 10);
      expect(read.kind === "changes" && read.changes.map(({ version, kind, seats, at }) => [version, kind, seats, at])).toEqual([
        [2, "hold-ended", [2, 3], 1_100],
        [3, "booked", [2], 1_100],
        [4, "held", [3], 1_100],
      ]);
      expect(await store.lapsedHoldShows()).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("refuses a booking of a seat that a hold earlier in the same batch marked, in a show that had no marks", async () => {
    const store = SqliteStore.open({ path: join(dir, "marks-in-batch.sqlite"), now: () => 5_000 });
    const base = { isAdmin: false, requestId: "" } as const;
    const hold = { ...base, kind: "hold", showId: "main", seats: [2], holdId: "h-1", ttlMs: 1_000, maxHoldsPerPrincipal: 5, principal: "spiffe://test/alice" } as const;
    const book = (seat: number) => ({ ...base, kind: "book", showId: "main", seats: [seat], principal: "spiffe://test/bob" }) as const;
    try {
      await store.ensureShows([{ id: "main", totalSeats: 5 }]);
      // The batch reads the show with no marks; its first booking skips the mark lookup, the hold then marks seat 2.
      expect(await store.applyBatch([book(1), hold, book(2), book(3)])).toEqual([
        { ok: true, seats: [1], replayed: false },
        expect.objectContaining({ ok: true, seats: [2] }),
        { ok: false, reason: "SEAT_HELD", seats: [2], replayed: false, retryDelayMs: 1_000 },
        { ok: true, seats: [3], replayed: false },
      ]);
      expect(await store.snapshot("main")).toMatchObject({ bookedCount: 2, held: [2], available: [4, 5] });
    } finally {
      await store.close();
    }
  });

  it("refuses a multi-seat booking or hold over a seat that a hold earlier in the same batch marked, in a show that had no marks", async () => {
    const store = SqliteStore.open({ path: join(dir, "marks-in-batch-many.sqlite"), now: () => 5_000 });
    const base = { isAdmin: false, requestId: "" } as const;
    const hold = (holdId: string, seats: number[], principal: string) =>
      ({ ...base, kind: "hold", showId: "main", seats, holdId, ttlMs: 1_000, maxHoldsPerPrincipal: 5, principal }) as const;
    const book = (seats: number[]) => ({ ...base, kind: "book", showId: "main", seats, principal: "spiffe://test/bob" }) as const;
    try {
      await store.ensureShows([{ id: "main", totalSeats: 9 }]);
      // The first multi-seat booking skips the mark lookup (no marks yet); the hold then marks 4 and 5.
      expect(await store.applyBatch([book([1, 2]), hold("h-1", [4, 5], "spiffe://test/alice"), book([3, 4]), hold("h-2", [5, 6], "spiffe://test/carol"), book([6, 7])])).toEqual([
        { ok: true, seats: [1, 2], replayed: false },
        expect.objectContaining({ ok: true, seats: [4, 5] }),
        { ok: false, reason: "SEAT_HELD", seats: [4], replayed: false, retryDelayMs: 1_000 },
        { ok: false, reason: "SEAT_HELD", seats: [5], replayed: false, retryDelayMs: 1_000 },
        { ok: true, seats: [6, 7], replayed: false },
      ]);
      expect(await store.snapshot("main")).toMatchObject({ bookedCount: 4, held: [4, 5], available: [3, 8, 9] });
    } finally {
      await store.close();
    }
  });

  it("sees seats another instance on the same file marked at its next batch", async () => {
    const path = join(dir, "marks-two-instances.sqlite");
    const one = SqliteStore.open({ path, now: () => 5_000 });
    const two = SqliteStore.open({ path, now: () => 5_000 });
    const book = (seat: number) => ({ kind: "book", showId: "main", seats: [seat], principal: "spiffe://test/bob", isAdmin: false, requestId: "" }) as const;
    try {
      await one.ensureShows([{ id: "main", totalSeats: 5 }]);
      // two reads the show while it has no marks...
      expect(await two.applyBatch([book(1)])).toMatchObject([{ ok: true }]);
      await one.applyBatch([
        { kind: "hold", showId: "main", seats: [2], holdId: "h-1", ttlMs: 1_000, maxHoldsPerPrincipal: 5, principal: "spiffe://test/alice", isAdmin: false, requestId: "" },
      ]);
      // ...and reads it again, marks included, at its next batch.
      expect(await two.applyBatch([book(2)])).toEqual([{ ok: false, reason: "SEAT_HELD", seats: [2], replayed: false, retryDelayMs: 1_000 }]);
    } finally {
      await one.close();
      await two.close();
    }
  });

  it("reads a show in a batch with one primary-key probe of its hold marks", async () => {
    expect(await queryPlan("batch-show-plan.sqlite", (sql) => sql.batchShowRow, "main")).toEqual([
      expect.stringMatching(/^SEARCH s USING PRIMARY KEY \(show_id=\?\)/),
      "CORRELATED SCALAR SUBQUERY 1",
      expect.stringMatching(/^SEARCH h USING PRIMARY KEY \(show_id=\?\)/),
    ]);
  });

  it("sees a show created, resized or closed through another instance on the same file at its next batch", async () => {
    const path = join(dir, "two-instances.sqlite");
    const one = SqliteStore.open(path);
    const two = SqliteStore.open(path);
    const admin = { principal: "spiffe://test/admin", isAdmin: true, requestId: "" } as const;
    const book = (seat: number, showId = "main") => ({ kind: "book", showId, seats: [seat], principal: "spiffe://test/bob", isAdmin: false, requestId: "" }) as const;
    try {
      await one.ensureShows([{ id: "main", totalSeats: 2 }]);
      expect(await two.applyBatch([book(3), book(1, "late")])).toMatchObject([{ reason: "SEATS_OUT_OF_RANGE" }, { reason: "SHOW_NOT_FOUND" }]);
      await one.applyBatch([
        { ...admin, kind: "resize-show", showId: "main", totalSeats: 3 },
        { ...admin, kind: "create-show", showId: "late", totalSeats: 1, displayName: "" },
      ]);
      expect(await two.applyBatch([book(3), book(1, "late")])).toMatchObject([{ ok: true }, { ok: true }]);
      await one.applyBatch([{ ...admin, kind: "close-show", showId: "main" }]);
      expect(await two.applyBatch([book(2)])).toMatchObject([{ ok: false, reason: "SHOW_CLOSED" }]);
      expect(await two.getShow("main")).toMatchObject({ totalSeats: 3, state: "closed", bookedCount: 1 });
    } finally {
      await one.close();
      await two.close();
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
