import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { announceVersions, SHOW_CHANGES_CHANNEL } from "../src/stores/postgres-show-versions.js";
import { VersionAnnouncer } from "../src/stores/postgres-version-announcer.js";
import { startPostgres } from "./support/postgres-cluster.js";

const postgres = await startPostgres();
afterAll(async () => {
  await postgres?.stop();
});

describe("VersionAnnouncer's gap between sends (injected clock)", () => {
  it("starts sends at least minGapMs apart, the versions announced meanwhile going together in the next", async () => {
    let clock = 1_000;
    const waits: { readonly ms: number; readonly resume: () => void }[] = [];
    const sent: string[][] = [];
    let finishSend: () => void = () => undefined;
    const announcer = new VersionAnnouncer(
      (latest) => {
        sent.push(latest.map(({ showId, version }) => `${showId}:${version}`));
        return new Promise<void>((resolve) => (finishSend = resolve));
      },
      { minGapMs: 20, now: () => clock, sleep: (ms) => new Promise<void>((resume) => waits.push({ ms, resume })) },
    );
    const flush = () => new Promise((resolve) => setImmediate(resolve));

    announcer.announce([{ showId: "gala", version: 1 }]);
    await flush();
    // The first send goes at once: no send started in the last 20 ms.
    expect(sent).toEqual([["gala:1"]]);
    expect(waits).toEqual([]);

    // Two batches commit while it is in flight; it ends 5 ms after it started.
    announcer.announce([{ showId: "gala", version: 2 }]);
    announcer.announce([{ showId: "gala", version: 3 }, { showId: "matinee", version: 1 }]);
    clock += 5;
    finishSend();
    await flush();
    // The next waits out the rest of the gap, and nothing is sent meanwhile.
    expect(waits.map((wait) => wait.ms)).toEqual([15]);
    expect(sent).toHaveLength(1);
    announcer.announce([{ showId: "matinee", version: 2 }]);
    clock += 15;
    waits[0]!.resume();
    await flush();
    expect(sent[1]).toEqual(["gala:3", "matinee:2"]);
    finishSend();

    // Idle for longer than the gap: the next send goes at once again.
    clock += 100;
    await flush();
    announcer.announce([{ showId: "gala", version: 4 }]);
    await flush();
    expect(sent[2]).toEqual(["gala:4"]);
    expect(waits).toHaveLength(1);
    finishSend();
    await announcer.settled();
  });
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
    }, { minGapMs: 0 });
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
    }, { minGapMs: 0 });
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
