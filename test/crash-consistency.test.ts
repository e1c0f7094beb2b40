import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBookingClient } from "../client/index.js";
import { SqliteStore } from "../src/stores/sqlite-store.js";
import { BookingLedger, seededRandom, type Worker } from "./support/booking-ledger.js";
import { startServerProcess, type ServerProcess } from "./support/server-process.js";
import { DEV_PRINCIPALS } from "./support/test-pki.js";
import { writeTestPki, type WrittenTestPki } from "./support/test-pki.js";

const CYCLES = 20;
const SEATS = 60;

let dir: string;
let pki: WrittenTestPki;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "booking-crash-"));
  pki = await writeTestPki(join(dir, "certs"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("SQLite store under kill -9", () => {
  it(`keeps every acknowledged change (bookings, cancels, holds and confirmations) and applies none in part across ${CYCLES} crashes`, async () => {
    const database = join(dir, "booking.sqlite");
    const ledger = new BookingLedger("main", SEATS);
    const random = seededRandom(20261125);
    const workers: Worker[] = [];
    const names = ["alice", "bob", "alice", "bob", "alice", "bob"] as const;
    let server: ServerProcess | undefined;
    let settled = 0;
    const connect = (address: string, name: (typeof names)[number]) =>
      createBookingClient({
        address,
        ca: pki.paths.caCert,
        cert: pki.paths.clients[name].cert,
        key: pki.paths.clients[name].key,
        retry: { maxAttempts: 1 },
        defaultDeadlineMs: 5000,
      });

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      server = await startServerProcess([
        "--listen", "127.0.0.1:0",
        "--store", `sqlite:${database}`,
        "--shows", `main:${SEATS}`,
        "--certs-dir", pki.paths.dir,
        "--log-level", "warn",
      ]);
      // The workers stay the same (the ledger knows them); their connections are new.
      if (workers.length === 0) {
        names.forEach((name, index) =>
          workers.push({ id: `${name}-${index}`, principal: DEV_PRINCIPALS[name], client: connect(server!.address, name) }),
        );
      } else {
        workers.forEach((worker, index) => {
          worker.client.close();
          worker.client = connect(server!.address, names[index]!);
        });
      }
      // Outcomes lost in the previous crash are settled before new load.
      settled += await ledger.settleUnknown();

      let running = true;
      const loops = workers.map(async (worker) => {
        while (running) await ledger.step(worker, random);
      });
      // Let some changes commit, then pull the plug at a random moment.
      const target = ledger.acknowledged + 5 + Math.floor(random() * 40);
      while (ledger.acknowledged < target && ledger.refused + ledger.acknowledged < target * 4) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      running = false;
      server.kill("SIGKILL");
      await server.exited;
      await Promise.all(loops);
    }

    // One last start settles the final crash's unknown outcomes.
    server = await startServerProcess([
      "--listen", "127.0.0.1:0",
      "--store", `sqlite:${database}`,
      "--shows", `main:${SEATS}`,
      "--certs-dir", pki.paths.dir,
      "--log-level", "warn",
    ]);
    workers.forEach((worker, index) => {
      worker.client.close();
      worker.client = connect(server!.address, names[index]!);
    });
    settled += await ledger.settleUnknown();
    const listed = await workers[0]!.client.showAvailable({ showId: "main" });
    for (const worker of workers) worker.client.close();
    await server.stop();

    console.info(
      `crash test: ${CYCLES} kills, ${ledger.acknowledged} acknowledged changes, ${ledger.refused} refusals, ` +
        `${settled} unknown outcomes settled by retry, ${ledger.holds.size} holds, ${ledger.holder.size} seats booked at the end`,
    );
    expect(ledger.acknowledged).toBeGreaterThan(CYCLES * 5);
    expect(settled).toBeGreaterThan(0);
    const expectedFree = Array.from({ length: SEATS }, (_, index) => index + 1).filter((seat) => !ledger.holder.has(seat));
    expect(listed.availableSeats).toEqual(expectedFree);
    expect(listed.bookedCount).toBe(ledger.holder.size);

    const store = await SqliteStore.open(database);
    const bookings = await store.bookings("main");
    await store.close();
    expect(new Set(bookings.map((booking) => booking.seat)).size).toBe(bookings.length);
    // No confirmed hold is lost: each is confirmed in the store, its seats booked by its owner.
    const reopened = await SqliteStore.open(database);
    const confirmedHolds = [...ledger.holds.values()].filter((hold) => hold.confirmed);
    expect(confirmedHolds.length).toBeGreaterThan(0);
    for (const hold of confirmedHolds) {
      expect(await reopened.getHold(hold.holdId)).toMatchObject({ state: "confirmed", owner: hold.worker.principal });
    }
    // And no seat is both held and booked: the listing after the restart holds nothing.
    expect((await reopened.snapshot("main"))?.held).toEqual([]);
    await reopened.close();
    expect(bookings.map((booking) => [booking.seat, booking.owner])).toEqual(
      [...ledger.holder].sort(([a], [b]) => a - b).map(([seat, worker]) => [seat, worker.principal]),
    );
  }, 240_000);
});
