import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BookingError, createBookingClient, type BookingClient } from "../client/index.js";
import { startPostgres } from "./support/postgres-cluster.js";
import { startServerProcess, type ServerProcess } from "./support/server-process.js";
import { writeTestPki, type WrittenTestPki } from "./support/test-pki.js";

const postgres = await startPostgres();
/** The seats both instances fight over: few, so that B soon needs a row the paused A has locked. */
const SEATS = 6;
/** B's calls must answer within this; A stays stopped longer. */
const B_DEADLINE_MS = 3_000;
const PAUSE_MS = 4_000;

/** A status that means "no real answer": the call waited on something and gave up. */
const STALLED = new Set(["DEADLINE_EXCEEDED", "UNAVAILABLE", "INTERNAL", "UNKNOWN"]);

describe.skipIf(postgres === undefined)("an instance paused in the middle of its batches (SIGSTOP)", () => {
  let dir: string;
  let pki: WrittenTestPki;
  let a: ServerProcess;
  let b: ServerProcess;
  let monitor: pg.Client;

  const clientOf = (server: ServerProcess, name: "alice" | "bob" | "admin", deadlineMs: number): BookingClient =>
    createBookingClient({
      address: server.address,
      ca: pki.paths.caCert,
      cert: pki.paths.clients[name].cert,
      key: pki.paths.clients[name].key,
      retry: { maxAttempts: 1 },
      defaultDeadlineMs: deadlineMs,
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "booking-paused-"));
    pki = await writeTestPki(join(dir, "certs"));
    const serve = (name: string) =>
      startServerProcess([
        "--listen", "127.0.0.1:0",
        // The default guards: --pg-idle-in-transaction-timeout 1s, --pg-lock-timeout 2s.
        "--store", `${postgres!.url}?application_name=${name}`,
        "--shows", `main:${SEATS}`,
        "--certs-dir", pki.paths.dir,
        "--log-level", "warn",
        "--hold-sweep-interval-ms", "0",
      ]);
    a = await serve("booking-a");
    b = await serve("booking-b");
    monitor = new pg.Client({ connectionString: postgres!.url });
    await monitor.connect();
  }, 60_000);

  afterAll(async () => {
    a?.kill("SIGCONT");
    await monitor?.end();
    await a?.stop();
    await b?.stop();
    await postgres?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  /** A's sessions that sit in an open transaction holding row locks (they have an xid) while A is stopped. */
  const pausedLockHolders = async (): Promise<number[]> => {
    const result = await monitor.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
       WHERE application_name = 'booking-a' AND state = 'idle in transaction' AND backend_xid IS NOT NULL`,
    );
    return result.rows.map((row) => row.pid);
  };

  /** B's sessions waiting for a lock that one of `holders` has. */
  const blockedBy = async (holders: readonly number[]): Promise<number> => {
    const result = await monitor.query<{ n: number }>(
      `SELECT count(*)::integer AS n FROM pg_stat_activity
       WHERE application_name = 'booking-b' AND pg_blocking_pids(pid) && $1::integer[]`,
      [holders],
    );
    return result.rows[0]?.n ?? 0;
  };

  // Checked the other way by hand: with --pg-idle-in-transaction-timeout 0s
  // and --pg-lock-timeout 0s (BOOKING_PG_* in the environment), B finished
  // no call in the 4 s and the test failed.
  it("lets the other instance keep booking: the paused transaction is ended and its locks freed within the idle timeout", async () => {
    const aClients = Array.from({ length: 6 }, (_, i) => clientOf(a, i % 2 === 0 ? "admin" : "alice", 10_000));
    const bClients = Array.from({ length: 6 }, () => clientOf(b, "bob", B_DEADLINE_MS));
    let running = true;
    let bRecording = false;
    const bAnswers: { code: string; startedAt: number; endedAt: number }[] = [];
    // A: the admin resizes the show back and forth above B's seats (batches
    // with show commands take several statements, and hold the show's row
    // and the seats above a shrink between them); alice holds, then confirms
    // or releases, and cancels a confirmed seat (one statement each).
    const aLoop = async (client: BookingClient, worker: number) => {
      if (worker % 2 === 0) {
        for (let step = 0; running; step++) {
          await client.resizeShow({ showId: "main", totalSeats: SEATS + 1 + (step % 2) }).catch((error: unknown) => {
            if (!(error instanceof BookingError)) throw error;
          });
        }
        return;
      }
      for (let step = 0; running; step++) {
        const seat = ((worker + step) % SEATS) + 1;
        try {
          const held = await client.holdSeats({ seats: [seat], ttlMs: 60_000 });
          const holdId = held.hold?.holdId ?? "";
          if (step % 2 === 0) {
            await client.confirmHold({ holdId });
            await client.cancelSeats({ seats: [seat] });
          } else {
            await client.releaseHold({ holdId });
          }
        } catch (error) {
          if (!(error instanceof BookingError)) throw error;
        }
      }
    };
    // B: book then cancel, any of the same seats.
    const bLoop = async (client: BookingClient, worker: number) => {
      for (let step = 0; running; step++) {
        const seat = ((worker * 5 + step) % SEATS) + 1;
        const startedAt = Date.now();
        let code = "OK";
        try {
          await client.bookSeats({ seats: [seat] });
          await client.cancelSeats({ seats: [seat] });
        } catch (error) {
          if (!(error instanceof BookingError)) throw error;
          code = error.codeName;
        }
        if (bRecording) bAnswers.push({ code, startedAt, endedAt: Date.now() });
      }
    };
    const loops = [...aClients.map((client, i) => aLoop(client, i)), ...bClients.map((client, i) => bLoop(client, i))];
    try {
      // Stop A until it is caught in an open transaction holding rows that B then waits for.
      let holders: number[] = [];
      let blocked = 0;
      for (let attempt = 0; attempt < 200 && blocked === 0; attempt++) {
        await bClients[0]!.showAvailable({});
        a.kill("SIGSTOP");
        holders = await pausedLockHolders();
        for (let look = 0; look < 40 && holders.length > 0 && blocked === 0; look++) {
          blocked = await blockedBy(holders);
          if (blocked === 0) holders = await pausedLockHolders();
        }
        if (blocked === 0) a.kill("SIGCONT");
      }
      expect(blocked, "A was caught holding rows that B waited for").toBeGreaterThan(0);
      const pausedAt = Date.now();
      bRecording = true;
      // A stays stopped; B's calls are watched meanwhile.
      while (Date.now() - pausedAt < PAUSE_MS) await bClients[0]!.showAvailable({}, { deadlineMs: B_DEADLINE_MS });
      bRecording = false;
      const stillIdle = await pausedLockHolders();
      a.kill("SIGCONT");

      const during = bAnswers.filter((answer) => answer.startedAt >= pausedAt);
      expect(during.length, "B finished calls while A was stopped").toBeGreaterThan(5);
      expect(during.filter((answer) => STALLED.has(answer.code))).toEqual([]);
      // PostgreSQL ended A's paused transaction: nothing of A's is left open.
      expect(stillIdle).toEqual([]);
    } finally {
      a.kill("SIGCONT");
      running = false;
      await Promise.allSettled(loops);
    }
    // A works again after it resumes, and both instances list the same seats.
    await aClients[0]!.bookSeats({ seats: [1] }).catch(() => undefined);
    const viaA = await aClients[0]!.showAvailable({});
    const viaB = await bClients[0]!.showAvailable({});
    expect(viaA.availableSeats).toEqual(viaB.availableSeats);
    for (const client of [...aClients, ...bClients]) client.close();
  }, 120_000);
});
