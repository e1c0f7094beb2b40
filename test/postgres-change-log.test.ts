import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { POSTGRES_CHANGE_LOG_DELETE_CHUNK as CHUNK } from "../src/stores/postgres-migration-6.js";
import { PostgresStore } from "../src/stores/postgres-store.js";
import { startPostgres } from "./support/postgres-cluster.js";

const postgres = await startPostgres();
afterAll(async () => {
  await postgres?.stop();
});

const alice = "spiffe://test/alice";
const book = (seat: number) => ({ kind: "book", showId: "main", seats: [seat], principal: alice, isAdmin: false, requestId: "" }) as const;

describe.skipIf(postgres === undefined)("PostgreSQL change log start (log_start, schema version 6)", () => {
  it("answers for exactly the retained versions while rows below the start are deleted a chunk at a time", async () => {
    const url = await postgres!.createDatabase();
    const store = await PostgresStore.open({ connectionString: url, changeLog: { maxVersions: 3, maxAgeMs: 3_600_000 } });
    const db = new pg.Pool({ connectionString: url, max: 1 });
    const log = async () =>
      (
        await db.query<{ rows: number; lowest: number | null; log_start: number }>(
          `SELECT (SELECT count(*)::int FROM show_changes) AS rows, (SELECT min(version)::int FROM show_changes) AS lowest,
                  log_start::int FROM shows WHERE show_id = 'main'`,
        )
      ).rows[0]!;
    try {
      await store.ensureShows([{ id: "main", totalSeats: 1_000 }]);
      let version = 0;
      let mostRows = 0;
      for (let seat = 1; seat <= 2 * CHUNK + 10; seat++) {
        await store.applyBatch([book(seat)]);
        version++;
        // The log answers for exactly the newest three versions, whatever rows are still stored.
        if (version >= 3) {
          expect(await store.changesSince("main", version - 3, 10)).toMatchObject({ kind: "changes", changes: [{ version: version - 2 }, {}, {}] });
        }
        if (version > 3) expect(await store.changesSince("main", version - 4, 10)).toEqual({ kind: "too-old", oldestVersion: version - 2 });
        const now = await log();
        expect(now.log_start).toBe(Math.max(1, version - 2));
        // Nothing is stored below the start of the chunk log_start is in.
        expect(now.lowest).toBeGreaterThanOrEqual(Math.floor((now.log_start - 1) / CHUNK) * CHUNK + 1);
        mostRows = Math.max(mostRows, now.rows);
      }
      expect(mostRows).toBeLessThanOrEqual(CHUNK + 3);
      expect((await log()).rows).toBeLessThan(CHUNK);
      // By age: rows an hour old no longer count, so the next commit's log starts at itself.
      await db.query("UPDATE show_changes SET at = at - interval '2 hours'");
      await store.applyBatch([book(999)]);
      version++;
      expect(await store.changesSince("main", version - 2, 10)).toEqual({ kind: "too-old", oldestVersion: version });
      expect(await store.changesSince("main", version - 1, 10)).toMatchObject({ kind: "changes", changes: [{ version }] });
    } finally {
      await db.end();
      await store.close();
    }
  });

  it("keeps the stored rows that are young enough when the oldest aged out, and starts at the first young one", async () => {
    const url = await postgres!.createDatabase();
    const store = await PostgresStore.open({ connectionString: url, changeLog: { maxVersions: 100, maxAgeMs: 3_600_000 } });
    const db = new pg.Pool({ connectionString: url, max: 1 });
    try {
      await store.ensureShows([{ id: "main", totalSeats: 100 }]);
      for (let seat = 1; seat <= 5; seat++) await store.applyBatch([book(seat)]);
      // Versions 1-3 are two hours old; 4 and 5 are fresh.
      await db.query("UPDATE show_changes SET at = at - interval '2 hours' WHERE version <= 3");
      await store.applyBatch([book(6)]);
      expect(await store.changesSince("main", 2, 10)).toEqual({ kind: "too-old", oldestVersion: 4 });
      expect(await store.changesSince("main", 3, 10)).toMatchObject({ kind: "changes", changes: [{ version: 4 }, { version: 5 }, { version: 6 }] });
    } finally {
      await db.end();
      await store.close();
    }
  });
});
