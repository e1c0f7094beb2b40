import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteDatabase } from "../src/stores/sqlite-binding.js";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { migratePostgres, POSTGRES_MIGRATIONS, POSTGRES_SCHEMA_VERSION } from "../src/stores/postgres-migrations.js";
import { PostgresStore } from "../src/stores/postgres-store.js";
import { migrateSqlite, SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from "../src/stores/sqlite-migrations.js";
import { SqliteStore } from "../src/stores/sqlite-store.js";
import type { SeatStore } from "../src/core/seat-store.js";
import { startPostgres } from "./support/postgres-cluster.js";

const postgres = await startPostgres();
const dir = await mkdtemp(join(tmpdir(), "booking-migrations-"));

afterAll(async () => {
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

const alice = "spiffe://test/alice";

/**
 * What a store upgraded to a stored change-log start answers, for the
 * database both upgrade tests write (show "main" at version 7 keeping 5-7,
 * "quiet" at version 1 with no rows kept, "new" with no change), and after
 * one more booking in "main".
 */
async function expectLogStartAnswers(store: SeatStore): Promise<void> {
  expect(await store.changesSince("main", 4, 10)).toMatchObject({ kind: "changes", changes: [{ version: 5 }, { version: 6 }, { version: 7 }] });
  expect(await store.changesSince("main", 3, 10)).toEqual({ kind: "too-old", oldestVersion: 5 });
  expect(await store.changesSince("quiet", 0, 10)).toEqual({ kind: "too-old", oldestVersion: 2 });
  expect(await store.changesSince("quiet", 1, 10)).toEqual({ kind: "changes", changes: [] });
  expect(await store.changesSince("new", 0, 10)).toEqual({ kind: "changes", changes: [] });
  await store.applyBatch([{ kind: "book", showId: "main", seats: [8], principal: alice, isAdmin: false, requestId: "" }]);
}
const replayOfBooking = { kind: "book", showId: "main", seats: [4, 5], principal: alice, isAdmin: false, requestId: "a-1" } as const;

describe("SQLite migrations", () => {
  it("create the latest schema in a new file", async () => {
    const path = join(dir, "new.sqlite");
    const store = SqliteStore.open(path);
    await store.close();
    const db = openSqliteDatabase(path, { readonly: true });
    try {
      expect(db.pragma("user_version", { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
      const names = db.prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all();
      expect(names).toEqual([
        "booked_seats",
        "held_seats",
        "holds",
        "holds_active_by_expiry",
        "holds_live_by_owner",
        "requests",
        "requests_key",
        "show_changes",
        "shows",
      ]);
    } finally {
      db.close();
    }
  });

  it("upgrade a version-1 database to the latest version, keeping its seats and request ids", async () => {
    const path = join(dir, "v1.sqlite");
    const old = openSqliteDatabase(path);
    expect(migrateSqlite(old, SQLITE_MIGRATIONS.slice(0, 1))).toBe(1);
    old.exec(`
      INSERT INTO shows VALUES ('main', 10);
      INSERT INTO booked_seats VALUES ('main', 4, '${alice}', 'a-1', ${Date.now()}), ('main', 5, '${alice}', 'a-1', ${Date.now()});
      INSERT INTO requests VALUES ('${alice}', 'a-1', 'book:main:4,5', '{"ok":true,"seats":[4,5]}', ${Date.now()});
    `);
    old.close();

    const store = SqliteStore.open(path);
    try {
      await store.ensureShows([{ id: "main", totalSeats: 10 }]);
      expect(await store.bookings("main")).toEqual([
        { seat: 4, owner: alice, requestId: "a-1" },
        { seat: 5, owner: alice, requestId: "a-1" },
      ]);
      expect(await store.applyBatch([replayOfBooking])).toEqual([{ ok: true, seats: [4, 5], replayed: true }]);
    } finally {
      await store.close();
    }
    const db = openSqliteDatabase(path, { readonly: true });
    expect(db.pragma("user_version", { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
    db.close();
  });

  it("upgrade a version-2 database to shows with names, states and holds, keeping every booking and request id", async () => {
    const path = join(dir, "v2.sqlite");
    const bob = "spiffe://test/bob";
    const old = openSqliteDatabase(path);
    expect(migrateSqlite(old, SQLITE_MIGRATIONS.slice(0, 2))).toBe(2);
    const bookedAt = Date.now() - 60_000;
    old.exec(`
      INSERT INTO shows VALUES ('main', 10), ('side', 3);
      INSERT INTO booked_seats VALUES
        ('main', 4, '${alice}', 'a-1', ${bookedAt}), ('main', 5, '${alice}', 'a-1', ${bookedAt}),
        ('main', 9, '${bob}', '', ${bookedAt}), ('side', 1, '${bob}', 'b-1', ${bookedAt});
      INSERT INTO requests VALUES
        ('${alice}', 'a-1', 'book:main:4,5', '{"ok":true,"seats":[4,5]}', ${bookedAt}),
        ('${bob}', 'b-1', 'book:side:1', '{"ok":true,"seats":[1]}', ${bookedAt}),
        ('${bob}', 'b-2', 'book:main:4', '{"ok":false,"reason":"SEAT_ALREADY_BOOKED","seats":[4]}', ${bookedAt});
    `);
    old.close();

    const upgradeStart = Date.now();
    let clock = 5_000_000;
    const store = SqliteStore.open({ path, now: () => clock });
    const upgradeEnd = Date.now();
    try {
      // A configured size that differs from the stored one changes nothing.
      const [main, side] = await store.ensureShows([{ id: "main", totalSeats: 10 }, { id: "side", totalSeats: 30 }]);
      expect(main).toMatchObject({ id: "main", displayName: "", totalSeats: 10, state: "open", bookedCount: 3, heldCount: 0 });
      expect(side).toMatchObject({ id: "side", totalSeats: 3, state: "open", bookedCount: 1 });
      // Shows from before the upgrade were created, as far as anyone knows, when it ran.
      expect(main?.createdAt).toBeGreaterThanOrEqual(upgradeStart - 1);
      expect(main?.createdAt).toBeLessThanOrEqual(upgradeEnd + 1);
      expect(await store.bookings("main")).toEqual([
        { seat: 4, owner: alice, requestId: "a-1" },
        { seat: 5, owner: alice, requestId: "a-1" },
        { seat: 9, owner: bob, requestId: "" },
      ]);
      expect(await store.bookings("side")).toEqual([{ seat: 1, owner: bob, requestId: "b-1" }]);
      expect(
        await store.applyBatch([
          replayOfBooking,
          { kind: "book", showId: "side", seats: [1], principal: bob, isAdmin: false, requestId: "b-1" },
          { kind: "book", showId: "main", seats: [4], principal: bob, isAdmin: false, requestId: "b-2" },
        ]),
      ).toEqual([
        { ok: true, seats: [4, 5], replayed: true },
        { ok: true, seats: [1], replayed: true },
        { ok: false, reason: "SEAT_ALREADY_BOOKED", seats: [4], replayed: true },
      ]);

      // The new features work on the upgraded file: holds, confirm, shows made, resized and closed.
      const hold = { kind: "hold", showId: "main", seats: [6, 7], principal: bob, isAdmin: false, requestId: "", ttlMs: 1_000, maxHoldsPerPrincipal: 5 } as const;
      const [held] = await store.applyBatch([{ ...hold, holdId: "h-1" }]);
      expect(held).toMatchObject({ ok: true, seats: [6, 7], hold: { holdId: "h-1", expiresAt: clock + 1_000, state: "active" } });
      expect(await store.snapshot("main")).toEqual({
        showId: "main",
        totalSeats: 10,
        bookedCount: 3,
        heldCount: 2,
        available: [1, 2, 3, 8, 10],
        version: 1,
        held: [6, 7],
        state: "open",
      });
      expect(await store.applyBatch([{ kind: "book", showId: "main", seats: [6], principal: alice, isAdmin: false, requestId: "" }])).toEqual([
        { ok: false, reason: "SEAT_HELD", seats: [6], replayed: false, retryDelayMs: 1_000 },
      ]);
      clock += 10;
      expect(await store.applyBatch([{ kind: "confirm", holdId: "h-1", principal: bob, isAdmin: false, requestId: "c-1" }])).toMatchObject([
        { ok: true, seats: [6, 7], hold: { state: "confirmed" } },
      ]);
      expect(await store.getShow("main")).toMatchObject({ bookedCount: 5, heldCount: 0 });
      const admin = { principal: "spiffe://test/admin", isAdmin: true, requestId: "" };
      expect(
        await store.applyBatch([
          { ...admin, kind: "resize-show", showId: "main", totalSeats: 8 },
          { ...admin, kind: "resize-show", showId: "main", totalSeats: 12 },
          { ...admin, kind: "create-show", showId: "late", totalSeats: 2, displayName: "Late show" },
          { ...admin, kind: "close-show", showId: "side" },
        ]),
      ).toMatchObject([
        { ok: false, reason: "SHOW_SHRINK_BLOCKED", seats: [9], totalSeats: 10 },
        { ok: true, show: { id: "main", totalSeats: 12, bookedCount: 5 } },
        { ok: true, show: { id: "late", displayName: "Late show", totalSeats: 2, createdAt: clock } },
        { ok: true, show: { id: "side", state: "closed" } },
      ]);
      expect((await store.listShows("", 10)).map((show) => [show.id, show.totalSeats, show.state])).toEqual([
        ["late", 2, "open"],
        ["main", 12, "open"],
        ["side", 3, "closed"],
      ]);
    } finally {
      await store.close();
    }
    const db = openSqliteDatabase(path, { readonly: true });
    try {
      expect(db.pragma("user_version", { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
      expect(db.prepare("SELECT count(*) FROM requests").pluck().get()).toBe(4);
    } finally {
      db.close();
    }
  });

  it("upgrade a version-3 database to versions and the change log, keeping shows, bookings, holds and request ids", async () => {
    const path = join(dir, "v3.sqlite");
    const bob = "spiffe://test/bob";
    const old = openSqliteDatabase(path);
    old.pragma("foreign_keys = ON");
    expect(migrateSqlite(old, SQLITE_MIGRATIONS.slice(0, 3))).toBe(3);
    const at = 1_000_000;
    // h-live lives on; h-lapsed lapsed with its marks intact; h-cut lapsed and lost seat 3 to h-live
    // and seat 4 to a booking (the v3 rules overwrote or deleted a lapsed mark one seat at a time).
    old.exec(`
      INSERT INTO shows (show_id, total_seats, display_name, state, created_at) VALUES ('main', 10, 'Main', 'open', ${at}), ('side', 3, '', 'closed', ${at});
      INSERT INTO booked_seats VALUES ('main', 4, '${bob}', 'b-1', ${at}), ('main', 9, '${alice}', '', ${at}), ('main', 1, '${alice}', '', ${at});
      INSERT INTO requests VALUES ('${bob}', 'b-1', 'book:main:4', '{"ok":true,"seats":[4]}', ${at});
      INSERT INTO holds VALUES
        ('h-cut', 'main', '${alice}', '[2,3,4]', ${at}, ${at + 100}, 'active'),
        ('h-live', 'main', '${bob}', '[3,5]', ${at + 200}, ${at + 10_000}, 'active'),
        ('h-lapsed', 'main', '${alice}', '[6,7]', ${at}, ${at + 100}, 'active'),
        ('h-done', 'main', '${alice}', '[1]', ${at}, ${at + 100}, 'confirmed'),
        ('h-gone', 'main', '${bob}', '[8]', ${at}, ${at + 100}, 'released');
      INSERT INTO held_seats VALUES
        ('main', 2, 'h-cut', ${at + 100}), ('main', 3, 'h-live', ${at + 10_000}), ('main', 5, 'h-live', ${at + 10_000}),
        ('main', 6, 'h-lapsed', ${at + 100}), ('main', 7, 'h-lapsed', ${at + 100});
    `);
    old.close();

    const clock = at + 1_000;
    const store = SqliteStore.open({ path, now: () => clock });
    try {
      expect(await store.listShows("", 10)).toEqual([
        { id: "main", displayName: "Main", totalSeats: 10, state: "open", createdAt: at, bookedCount: 3, heldCount: 4 },
        { id: "side", displayName: "", totalSeats: 3, state: "closed", createdAt: at, bookedCount: 0, heldCount: 0 },
      ]);
      // Every show starts at version 0 with an empty log; a hold that lost a mark had lapsed, and is recorded as ended.
      expect(await store.snapshot("main")).toEqual({
        showId: "main",
        totalSeats: 10,
        bookedCount: 3,
        heldCount: 4,
        available: [2, 8, 10],
        version: 0,
        held: [3, 5, 6, 7],
        state: "open",
      });
      expect(await store.changesSince("main", 0, 10)).toEqual({ kind: "changes", changes: [] });
      expect((await store.getHold("h-cut"))?.state).toBe("expired");
      expect(await store.getHold("h-live")).toEqual({
        holdId: "h-live",
        showId: "main",
        seats: [3, 5],
        owner: bob,
        createdAt: at + 200,
        expiresAt: at + 10_000,
        state: "active",
      });
      expect([(await store.getHold("h-done"))?.state, (await store.getHold("h-gone"))?.state]).toEqual(["confirmed", "released"]);
      expect((await store.bookings("main")).map((booking) => booking.seat)).toEqual([1, 4, 9]);
      expect(await store.applyBatch([{ kind: "book", showId: "main", seats: [4], principal: bob, isAdmin: false, requestId: "b-1" }])).toEqual([
        { ok: true, seats: [4], replayed: true },
      ]);

      // The sweeper records the lapse that the upgrade kept; the new state is allowed by the rebuilt table.
      expect(await store.lapsedHoldShows()).toEqual(["main"]);
      await store.applyBatch([{ kind: "expire-holds", showId: "main", principal: "server", isAdmin: false, requestId: "" }]);
      expect(await store.changesSince("main", 0, 10)).toMatchObject({ kind: "changes", changes: [{ version: 1, kind: "hold-ended", seats: [6, 7] }] });
      expect((await store.getHold("h-lapsed"))?.state).toBe("expired");
      expect(await store.applyBatch([{ kind: "release", holdId: "h-live", principal: bob, isAdmin: false, requestId: "" }])).toMatchObject([{ ok: true }]);
      expect(await store.snapshot("main")).toMatchObject({ version: 2, held: [], available: [2, 3, 5, 6, 7, 8, 10] });
    } finally {
      await store.close();
    }
    const db = openSqliteDatabase(path, { readonly: true });
    try {
      expect(db.pragma("user_version", { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
      expect(db.pragma("foreign_key_check")).toEqual([]);
    } finally {
      db.close();
    }
  });

  it("upgrade a version-4 database so that each show's log starts at its oldest stored change", async () => {
    const path = join(dir, "v4.sqlite");
    const old = openSqliteDatabase(path);
    expect(migrateSqlite(old, SQLITE_MIGRATIONS.slice(0, 4))).toBe(4);
    const at = 1_000_000;
    // "main" was trimmed to versions 5-7; "quiet" changed once and lost it by age; "new" never changed.
    old.exec(`
      INSERT INTO shows (show_id, total_seats, display_name, state, created_at, version) VALUES
        ('main', 10, '', 'open', ${at}, 7), ('quiet', 10, '', 'open', ${at}, 1), ('new', 10, '', 'open', ${at}, 0);
      INSERT INTO booked_seats VALUES ('main', 5, '${alice}', '', ${at}), ('main', 6, '${alice}', '', ${at}), ('main', 7, '${alice}', '', ${at});
      INSERT INTO show_changes (show_id, version, kind, seats, total_seats, at) VALUES
        ('main', 5, 'booked', '[5]', NULL, ${at}), ('main', 6, 'booked', '[6]', NULL, ${at}), ('main', 7, 'booked', '[7]', NULL, ${at});
    `);
    old.close();
    const store = SqliteStore.open({ path, now: () => at + 1_000 });
    try {
      await expectLogStartAnswers(store);
      expect(await store.changesSince("main", 4, 10)).toMatchObject({ kind: "changes", changes: [{ version: 5 }, {}, {}, { version: 8 }] });
    } finally {
      await store.close();
    }
  });

  it("upgrade a version-5 database to request-id records in time order, which still answer retries", async () => {
    const path = join(dir, "v5.sqlite");
    const bob = "spiffe://test/bob";
    const old = openSqliteDatabase(path);
    expect(migrateSqlite(old, SQLITE_MIGRATIONS.slice(0, 5))).toBe(5);
    const at = 1_000_000;
    // Keyed by (principal, request_id), so stored out of time order; b-old has outlived a 1 s retention.
    old.exec(`
      INSERT INTO shows (show_id, total_seats, display_name, state, created_at) VALUES ('main', 10, '', 'open', ${at});
      INSERT INTO booked_seats VALUES ('main', 4, '${alice}', 'a-1', ${at + 300}), ('main', 5, '${alice}', 'a-1', ${at + 300}), ('main', 7, '${bob}', 'b-1', ${at + 100});
      INSERT INTO requests VALUES
        ('${alice}', 'a-1', 'book:main:4,5', '{"ok":true,"seats":[4,5]}', ${at + 300}),
        ('${bob}', 'b-1', 'book:main:7', '{"ok":true,"seats":[7]}', ${at + 100}),
        ('${bob}', 'b-2', 'book:main:4', '{"ok":false,"reason":"SEAT_ALREADY_BOOKED","seats":[4]}', ${at + 400}),
        ('${bob}', 'b-old', 'book:main:9', '{"ok":true,"seats":[9]}', ${at - 5_000});
    `);
    const before = old.prepare("SELECT principal, request_id, fingerprint, outcome, created_at FROM requests ORDER BY created_at").all();
    old.close();

    // Read the file as the upgrade left it, before the store's first batch purges anything.
    const upgraded = openSqliteDatabase(path);
    try {
      expect(migrateSqlite(upgraded, SQLITE_MIGRATIONS.slice(0, 6))).toBe(6);
      // Every record kept as it was, seq following created_at.
      expect(upgraded.prepare("SELECT principal, request_id, fingerprint, outcome, created_at FROM requests ORDER BY seq").all()).toEqual(before);
      expect(upgraded.prepare("SELECT seq FROM requests ORDER BY created_at").pluck().all()).toEqual([1, 2, 3, 4]);
      const indexes = upgraded.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'requests' ORDER BY name").pluck().all();
      expect(indexes).toEqual(["requests_key"]);
      expect(upgraded.prepare("SELECT \"unique\" FROM pragma_index_list('requests') WHERE name = 'requests_key'").pluck().get()).toBe(1);
      expect(upgraded.prepare("SELECT name FROM pragma_index_info('requests_key') ORDER BY seqno").pluck().all()).toEqual(["request_id", "principal"]);
    } finally {
      upgraded.close();
    }

    const store = SqliteStore.open({ path, now: () => at + 500, requestIdRetentionMs: 1_000 });
    try {
      expect(
        await store.applyBatch([
          replayOfBooking,
          { kind: "book", showId: "main", seats: [7], principal: bob, isAdmin: false, requestId: "b-1" },
          { kind: "book", showId: "main", seats: [4], principal: bob, isAdmin: false, requestId: "b-2" },
          // The same id for a different command is refused; the same id of another principal is a new request.
          { kind: "book", showId: "main", seats: [8], principal: alice, isAdmin: false, requestId: "a-1" },
          { kind: "book", showId: "main", seats: [8], principal: bob, isAdmin: false, requestId: "a-1" },
          // Expired (and purged by this batch): a new request.
          { kind: "book", showId: "main", seats: [9], principal: bob, isAdmin: false, requestId: "b-old" },
        ]),
      ).toEqual([
        { ok: true, seats: [4, 5], replayed: true },
        { ok: true, seats: [7], replayed: true },
        { ok: false, reason: "SEAT_ALREADY_BOOKED", seats: [4], replayed: true },
        { ok: false, reason: "REQUEST_ID_REUSED", seats: [8], replayed: false },
        { ok: true, seats: [8], replayed: false },
        { ok: true, seats: [9], replayed: false },
      ]);
      expect((await store.bookings("main")).map((booking) => booking.seat)).toEqual([4, 5, 7, 8, 9]);
    } finally {
      await store.close();
    }
    const db = openSqliteDatabase(path, { readonly: true });
    try {
      expect(db.pragma("user_version", { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
      // The expired record was purged; the new ones were appended after the copied ones.
      expect(db.prepare("SELECT seq, principal, request_id FROM requests ORDER BY seq").raw().all()).toEqual([
        [2, bob, "b-1"],
        [3, alice, "a-1"],
        [4, bob, "b-2"],
        [5, bob, "a-1"],
        [6, bob, "b-old"],
      ]);
    } finally {
      db.close();
    }
  });

  it("leave an up-to-date database as it is when opened again", async () => {
    const path = join(dir, "twice.sqlite");
    await SqliteStore.open(path).close();
    const db = openSqliteDatabase(path);
    try {
      expect(migrateSqlite(db)).toBe(SQLITE_SCHEMA_VERSION);
    } finally {
      db.close();
    }
  });

  it("refuse a database written by a newer version", () => {
    const path = join(dir, "future.sqlite");
    const db = openSqliteDatabase(path);
    db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => SqliteStore.open(path)).toThrow(
      new RegExp(`schema version ${SQLITE_SCHEMA_VERSION + 1}, newer than this server's ${SQLITE_SCHEMA_VERSION}`),
    );
  });
});

const pgSuite = postgres === undefined ? describe.skip : describe;

pgSuite("PostgreSQL migrations", () => {
  async function withPool<T>(url: string, work: (pool: pg.Pool) => Promise<T>): Promise<T> {
    const pool = new pg.Pool({ connectionString: url, max: 2 });
    try {
      return await work(pool);
    } finally {
      await pool.end();
    }
  }

  const versions = (pool: pg.Pool) =>
    pool.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version").then((result) => result.rows.map((row) => row.version));

  it("create the latest schema in an empty database, and say so", async () => {
    const url = await postgres!.createDatabase();
    const created = await PostgresStore.open(url);
    expect(created.schema).toEqual({ foundVersion: 0, version: POSTGRES_SCHEMA_VERSION });
    await created.close();
    const reopened = await PostgresStore.open(url);
    expect(reopened.schema).toEqual({ foundVersion: POSTGRES_SCHEMA_VERSION, version: POSTGRES_SCHEMA_VERSION });
    await reopened.close();
    await withPool(url, async (pool) => {
      expect(await versions(pool)).toEqual(POSTGRES_MIGRATIONS.map((migration) => migration.version));
      const indexes = await pool.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE tablename = 'requests' ORDER BY indexname");
      expect(indexes.rows.map((row) => row.indexname)).toEqual(["requests_created_at", "requests_pkey"]);
    });
  });

  it("upgrade a version-1 database to the latest version, keeping its seats and request ids", async () => {
    const url = await postgres!.createDatabase();
    await withPool(url, async (pool) => {
      expect(await migratePostgres(pool, POSTGRES_MIGRATIONS.slice(0, 1))).toBe(1);
      await pool.query(`
        INSERT INTO shows VALUES ('main', 10);
        INSERT INTO seats (show_id, seat) SELECT 'main', g FROM generate_series(1, 10) AS g;
        UPDATE seats SET owner = '${alice}', request_id = 'a-1', booked_at = now() WHERE seat IN (4, 5);
        INSERT INTO requests VALUES ('${alice}', 'a-1', 'book:main:4,5', '{"ok":true,"seats":[4,5]}', ${Date.now()});
      `);
    });
    const store = await PostgresStore.open(url);
    expect(store.schema).toEqual({ foundVersion: 1, version: POSTGRES_SCHEMA_VERSION });
    try {
      await store.ensureShows([{ id: "main", totalSeats: 10 }]);
      expect(await store.bookings("main")).toEqual([
        { seat: 4, owner: alice, requestId: "a-1" },
        { seat: 5, owner: alice, requestId: "a-1" },
      ]);
      expect(await store.applyBatch([replayOfBooking])).toEqual([{ ok: true, seats: [4, 5], replayed: true }]);
    } finally {
      await store.close();
    }
    await withPool(url, async (pool) => expect(await versions(pool)).toEqual(POSTGRES_MIGRATIONS.map((migration) => migration.version)));
  });

  it("upgrade a version-2 database to holds and show states, keeping every booking and request id, and use the new features on it", async () => {
    const url = await postgres!.createDatabase();
    const bob = "spiffe://test/bob";
    await withPool(url, async (pool) => {
      expect(await migratePostgres(pool, POSTGRES_MIGRATIONS.slice(0, 2))).toBe(2);
      await pool.query(`
        INSERT INTO shows VALUES ('main', 10), ('late', 3);
        INSERT INTO seats (show_id, seat) SELECT 'main', g FROM generate_series(1, 10) AS g;
        INSERT INTO seats (show_id, seat) SELECT 'late', g FROM generate_series(1, 3) AS g;
        UPDATE seats SET owner = '${alice}', request_id = 'a-1', booked_at = now() WHERE show_id = 'main' AND seat IN (4, 5);
        UPDATE seats SET owner = '${bob}', request_id = 'b-1', booked_at = now() WHERE show_id = 'late' AND seat = 2;
        INSERT INTO requests VALUES
          ('${alice}', 'a-1', 'book:main:4,5', '{"ok":true,"seats":[4,5]}', ${Date.now()}),
          ('${bob}', 'b-1', 'book:late:2', '{"ok":true,"seats":[2]}', ${Date.now()}),
          ('${bob}', 'b-2', 'book:main:4', '{"ok":false,"reason":"SEAT_ALREADY_BOOKED","seats":[4]}', ${Date.now()});
      `);
    });
    const store = await PostgresStore.open(url);
    try {
      const shows = await store.ensureShows([{ id: "main", totalSeats: 10 }]);
      expect(shows).toEqual([expect.objectContaining({ id: "main", displayName: "", totalSeats: 10, state: "open", bookedCount: 2, heldCount: 0 })]);
      expect((await store.listShows("", 10)).map((show) => [show.id, show.bookedCount])).toEqual([["late", 1], ["main", 2]]);
      expect(await store.bookings("main")).toEqual([
        { seat: 4, owner: alice, requestId: "a-1" },
        { seat: 5, owner: alice, requestId: "a-1" },
      ]);
      expect(await store.bookings("late")).toEqual([{ seat: 2, owner: bob, requestId: "b-1" }]);
      expect(
        await store.applyBatch([
          replayOfBooking,
          { kind: "book", showId: "late", seats: [2], principal: bob, isAdmin: false, requestId: "b-1" },
          { kind: "book", showId: "main", seats: [4], principal: bob, isAdmin: false, requestId: "b-2" },
        ]),
      ).toEqual([
        { ok: true, seats: [4, 5], replayed: true },
        { ok: true, seats: [2], replayed: true },
        { ok: false, reason: "SEAT_ALREADY_BOOKED", seats: [4], replayed: true },
      ]);

      const common = { principal: alice, isAdmin: false, requestId: "" };
      const [held] = await store.applyBatch([{ kind: "hold", showId: "main", seats: [6, 7], holdId: "h-1", ttlMs: 60_000, maxHoldsPerPrincipal: 3, ...common }]);
      expect(held).toMatchObject({ ok: true, seats: [6, 7], hold: { holdId: "h-1", state: "active" } });
      expect(await store.applyBatch([{ kind: "book", showId: "main", seats: [7], principal: bob, isAdmin: false, requestId: "" }])).toEqual([
        expect.objectContaining({ ok: false, reason: "SEAT_HELD", seats: [7] }),
      ]);
      expect(await store.snapshot("main")).toEqual({
        showId: "main",
        totalSeats: 10,
        bookedCount: 2,
        heldCount: 2,
        available: [1, 2, 3, 8, 9, 10],
        version: 1,
        held: [6, 7],
        state: "open",
      });
      expect(await store.applyBatch([{ kind: "confirm", holdId: "h-1", ...common }])).toEqual([expect.objectContaining({ ok: true, seats: [6, 7] })]);
      expect((await store.getHold("h-1"))?.state).toBe("confirmed");
      expect((await store.bookings("main")).map((booking) => booking.seat)).toEqual([4, 5, 6, 7]);
    } finally {
      await store.close();
    }
    await withPool(url, async (pool) => {
      expect(await versions(pool)).toEqual(POSTGRES_MIGRATIONS.map((migration) => migration.version));
      // Statistics exist right after the upgrade, without waiting for autovacuum.
      const analyzed = await pool.query<{ relname: string }>(
        "SELECT relname FROM pg_stat_user_tables WHERE relname IN ('shows', 'seats', 'holds') AND last_analyze IS NOT NULL ORDER BY relname",
      );
      expect(analyzed.rows.map((row) => row.relname)).toEqual(["holds", "seats", "shows"]);
    });
  });

  it("upgrade a version-3 database to show versions and the change log: every show at version 0, holds that lost a seat recorded as expired", async () => {
    const url = await postgres!.createDatabase();
    const bob = "spiffe://test/bob";
    await withPool(url, async (pool) => {
      expect(await migratePostgres(pool, POSTGRES_MIGRATIONS.slice(0, 3))).toBe(3);
      // Version 3 left a lapsed hold's mark until its seat was taken, and the hold active:
      // h-lost lost seat 8 to bob after it lapsed; h-lapsed lapsed untouched; h-live is live.
      await pool.query(`
        INSERT INTO shows (show_id, total_seats, display_name) VALUES ('main', 10, 'Main');
        INSERT INTO seats (show_id, seat) SELECT 'main', g FROM generate_series(1, 10) AS g;
        UPDATE seats SET owner = '${alice}', request_id = 'a-1', booked_at = now() WHERE seat IN (4, 5);
        UPDATE seats SET owner = '${bob}', request_id = 'b-1', booked_at = now() WHERE seat = 8;
        INSERT INTO holds (hold_id, show_id, owner, seats, created_at, expires_at, state) VALUES
          ('h-live', 'main', '${alice}', '{6,7}', now(), now() + interval '1 hour', 'active'),
          ('h-lost', 'main', '${alice}', '{8,9}', now() - interval '2 minutes', now() - interval '1 minute', 'active'),
          ('h-lapsed', 'main', '${bob}', '{10}', now() - interval '2 minutes', now() - interval '1 minute', 'active');
        UPDATE seats s SET hold_id = h.hold_id, hold_expires_at = h.expires_at FROM holds h
          WHERE s.show_id = h.show_id AND s.seat = ANY (h.seats) AND s.owner IS NULL;
        INSERT INTO requests VALUES ('${alice}', 'a-1', 'book:main:4,5', '{"ok":true,"seats":[4,5]}', ${Date.now()});
      `);
    });
    const store = await PostgresStore.open(url);
    try {
      // A listing shows version 0: the lapsed hold still recorded active holds its seat.
      expect(await store.snapshot("main")).toEqual({
        showId: "main",
        totalSeats: 10,
        bookedCount: 3,
        heldCount: 3,
        available: [1, 2, 3, 9],
        version: 0,
        held: [6, 7, 10],
        state: "open",
      });
      expect(await store.getShow("main")).toMatchObject({ displayName: "Main", bookedCount: 3, heldCount: 3 });
      expect(await store.changesSince("main", 0, 10)).toEqual({ kind: "changes", changes: [] });
      expect((await store.getHold("h-lost"))?.state).toBe("expired");
      expect((await store.getHold("h-live"))?.state).toBe("active");
      expect(await store.lapsedHoldShows()).toEqual(["main"]);
      expect(await store.applyBatch([replayOfBooking])).toEqual([{ ok: true, seats: [4, 5], replayed: true }]);
      await store.applyBatch([
        { kind: "expire-holds", showId: "main", principal: "server", isAdmin: true, requestId: "" },
        { kind: "book", showId: "main", seats: [9, 10], principal: bob, isAdmin: false, requestId: "" },
      ]);
      const read = await store.changesSince("main", 0, 10);
      expect(read.kind === "changes" && read.changes.map(({ version, kind, seats }) => [version, kind, seats])).toEqual([
        [1, "hold-ended", [10]],
        [2, "booked", [9, 10]],
      ]);
      expect(await store.lapsedHoldShows()).toEqual([]);
      expect(await store.snapshot("main")).toMatchObject({ version: 2, held: [6, 7], bookedCount: 5 });
    } finally {
      await store.close();
    }
    await withPool(url, async (pool) => {
      expect(await versions(pool)).toEqual(POSTGRES_MIGRATIONS.map((migration) => migration.version));
      const holds = await pool.query<{ hold_id: string; state: string }>("SELECT hold_id, state FROM holds ORDER BY hold_id");
      expect(holds.rows.map((row) => [row.hold_id, row.state])).toEqual([
        ["h-lapsed", "expired"],
        ["h-live", "active"],
        ["h-lost", "expired"],
      ]);
    });
  });

  it("upgrade a version-5 database so that each show's log starts at its oldest stored change", async () => {
    const url = await postgres!.createDatabase();
    await withPool(url, async (pool) => {
      expect(await migratePostgres(pool, POSTGRES_MIGRATIONS.slice(0, 5))).toBe(5);
      // "main" was trimmed to versions 5-7; "quiet" changed once and lost it by age; "new" never changed.
      await pool.query(`
        INSERT INTO shows (show_id, total_seats, display_name, version) VALUES ('main', 10, '', 7), ('quiet', 10, '', 1), ('new', 10, '', 0);
        INSERT INTO seats (show_id, seat) SELECT s, g FROM unnest(ARRAY['main', 'quiet', 'new']) AS s, generate_series(1, 10) AS g;
        UPDATE seats SET owner = '${alice}', request_id = 'a-' || seat, booked_at = now() WHERE show_id = 'main' AND seat IN (5, 6, 7);
        INSERT INTO show_changes (show_id, version, kind, seats, total_seats, at) VALUES
          ('main', 5, 'booked', '{5}', NULL, now()), ('main', 6, 'booked', '{6}', NULL, now()), ('main', 7, 'booked', '{7}', NULL, now());
      `);
    });
    const store = await PostgresStore.open(url);
    try {
      await expectLogStartAnswers(store);
      await store.applyBatch([{ kind: "book", showId: "new", seats: [1], principal: alice, isAdmin: false, requestId: "" }]);
      expect(await store.changesSince("main", 4, 10)).toMatchObject({ kind: "changes", changes: [{ version: 5 }, {}, {}, { version: 8 }] });
      expect(await store.changesSince("main", 3, 10)).toEqual({ kind: "too-old", oldestVersion: 5 });
      expect(await store.changesSince("new", 0, 10)).toMatchObject({ kind: "changes", changes: [{ version: 1, kind: "booked", seats: [1] }] });
    } finally {
      await store.close();
    }
    await withPool(url, async (pool) => {
      expect(await versions(pool)).toEqual(POSTGRES_MIGRATIONS.map((migration) => migration.version));
      const starts = await pool.query<{ show_id: string; log_start: string }>("SELECT show_id, log_start FROM shows ORDER BY show_id");
      expect(starts.rows.map((row) => [row.show_id, Number(row.log_start)])).toEqual([
        ["main", 5],
        ["new", 1],
        ["quiet", 2],
      ]);
    });
  });

  it("migrate once when several instances open the same empty database at once", async () => {
    const url = await postgres!.createDatabase();
    const stores = await Promise.all(Array.from({ length: 5 }, () => PostgresStore.open({ connectionString: url, poolSize: 2 })));
    try {
      await Promise.all(stores.map((store) => store.ensureShows([{ id: "main", totalSeats: 1000 }])));
      expect((await stores[4]!.snapshot("main"))?.available).toHaveLength(1000);
      await withPool(url, async (pool) => {
        expect(await versions(pool)).toEqual(POSTGRES_MIGRATIONS.map((migration) => migration.version));
        const seats = await pool.query<{ count: number }>("SELECT count(*)::int AS count FROM seats");
        expect(seats.rows[0]?.count).toBe(1000);
      });
    } finally {
      for (const store of stores) await store.close();
    }
  });

  it("refuse a database written by a newer version", async () => {
    const url = await postgres!.createDatabase();
    await (await PostgresStore.open(url)).close();
    await withPool(url, (pool) => pool.query("INSERT INTO schema_migrations (version, name) VALUES ($1, 'from the future')", [POSTGRES_SCHEMA_VERSION + 1]));
    await expect(PostgresStore.open(url)).rejects.toThrow(
      `schema version ${POSTGRES_SCHEMA_VERSION + 1}, newer than this server's ${POSTGRES_SCHEMA_VERSION}`,
    );
  });
});
