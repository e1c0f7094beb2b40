import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { announceVersions, SHOW_CHANGES_CHANNEL } from "../src/stores/postgres-show-versions.js";
import { VersionAnnouncer } from "../src/stores/postgres-version-announcer.js";
import { startPostgres } from "./support/postgres-cluster.js";

const postgres = await startPostgres();
afterAll(async () => {
  await postgres?.stop();
});

describe.skipIf(postgres === undefined)("VersionAnnouncer", () => {
  it("sends one NOTIFY transaction at a time, each show at its latest version, and every show's last version arrives", async () => {
    const listener = new pg.Client({ connectionString: postgres!.url });
    const pool = new pg.Pool({ connectionString: postgres!.url, max: 4 });
    await listener.connect();
    const heard: string[] = [];
    listener.on("notification", (message) => heard.push(message.payload ?? ""));
    await listener.query(`LISTEN "${SHOW_CHANGES_CHANNEL}"`);
    let sends = 0;
    let inFlight = 0;
    let mostInFlight = 0;
    const announcer = new VersionAnnouncer(async (latest) => {
      sends++;
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      try {
        await announceVersions(pool, latest);
      } finally {
        inFlight--;
      }
    });
    try {
      // 100 batches committing back to back, as under load: two shows, versions rising.
      for (let version = 1; version <= 100; version++) {
        announcer.announce([{ showId: "gala", version }, ...(version % 2 === 0 ? [{ showId: "matinee", version: version / 2 }] : [])]);
      }
      await announcer.settled();
      await expect.poll(() => heard.includes("gala:100") && heard.includes("matinee:50")).toBe(true);
      expect(mostInFlight).toBe(1);
      expect(sends).toBeLessThan(100);
      // Versions only rise per show: a superseded one is never sent after its successor.
      for (const show of ["gala", "matinee"]) {
        const versions = heard.filter((payload) => payload.startsWith(`${show}:`)).map((payload) => Number(payload.split(":")[1]));
        expect(versions).toEqual([...versions].sort((a, b) => a - b));
      }
    } finally {
      await listener.end();
      await pool.end();
    }
  });

  it("goes on with the versions announced after a send that failed", async () => {
    const pool = new pg.Pool({ connectionString: postgres!.url, max: 2 });
    const listener = new pg.Client({ connectionString: postgres!.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on("notification", (message) => heard.push(message.payload ?? ""));
    await listener.query(`LISTEN "${SHOW_CHANGES_CHANNEL}"`);
    let first = true;
    const announcer = new VersionAnnouncer(async (latest) => {
      if (first) {
        first = false;
        // A real failure: the statement PostgreSQL refuses.
        await pool.query("SELECT pg_notify(NULL::text, 'x') FROM no_such_table");
      }
      await announceVersions(pool, latest);
    });
    try {
      announcer.announce([{ showId: "gala", version: 1 }]);
      announcer.announce([{ showId: "gala", version: 2 }]);
      await announcer.settled();
      await expect.poll(() => heard).toContain("gala:2");
      expect(heard).not.toContain("gala:1");
    } finally {
      await listener.end();
      await pool.end();
    }
  });
});
