import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBookingClient } from "../client/index.js";
import { PostgresStore } from "../src/stores/postgres-store.js";
import { BookingLedger, seededRandom, type Worker } from "./support/booking-ledger.js";
import { startPostgres } from "./support/postgres-cluster.js";
import { startServerProcess, type ServerProcess } from "./support/server-process.js";
import { DEV_PRINCIPALS, writeTestPki, type WrittenTestPki } from "./support/test-pki.js";

const postgres = await startPostgres();
const SEATS = 80;
const CLIENTS = 60;

describe.skipIf(postgres === undefined)("three server instances on one PostgreSQL", () => {
  let dir: string;
  let pki: WrittenTestPki;
  const servers: ServerProcess[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "booking-instances-"));
    pki = await writeTestPki(join(dir, "certs"));
    // Started together: migrations must serialise on the advisory lock.
    servers.push(
      ...(await Promise.all(
        [0, 1, 2].map(() =>
          startServerProcess([
            "--listen", "127.0.0.1:0",
            "--store", postgres!.url,
            "--shows", `main:${SEATS}`,
            "--certs-dir", pki.paths.dir,
            "--log-level", "warn",
            "--pg-pool-size", "8",
          ]),
        ),
      )),
    );
  }, 60_000);

  afterAll(async () => {
    for (const server of servers) await server.stop();
    await postgres?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it(`never books a seat twice with ${CLIENTS} clients booking and cancelling across the instances`, async () => {
    const ledger = new BookingLedger("main", SEATS);
    const random = seededRandom(7);
    const workers: Worker[] = Array.from({ length: CLIENTS }, (_, index) => {
      const name = index % 2 === 0 ? "alice" : "bob";
      const server = servers[index % servers.length]!;
      return {
        id: `${name}-${index}`,
        principal: DEV_PRINCIPALS[name],
        client: createBookingClient({
          address: server.address,
          ca: pki.paths.caCert,
          cert: pki.paths.clients[name].cert,
          key: pki.paths.clients[name].key,
          retry: { maxAttempts: 1 },
          defaultDeadlineMs: 15_000,
        }),
      };
    });
    try {
      await Promise.all(
        workers.map(async (worker) => {
          for (let step = 0; step < 25; step++) await ledger.step(worker, random);
        }),
      );
      expect(ledger.unknown).toEqual([]);
      expect(ledger.acknowledged).toBeGreaterThan(CLIENTS);
      expect(ledger.refused).toBeGreaterThan(0);

      const expectedFree = Array.from({ length: SEATS }, (_, index) => index + 1).filter((seat) => !ledger.holder.has(seat));
      for (const [index, worker] of workers.slice(0, servers.length).entries()) {
        const listed = await worker.client.showAvailable({});
        expect(listed.availableSeats, `instance ${index}`).toEqual(expectedFree);
        expect(listed.bookedCount).toBe(ledger.holder.size);
      }
      const store = await PostgresStore.open(postgres!.url);
      const bookings = await store.bookings("main");
      await store.close();
      expect(bookings.map((booking) => [booking.seat, booking.owner])).toEqual(
        [...ledger.holder].sort(([a], [b]) => a - b).map(([seat, worker]) => [seat, worker.principal]),
      );
    } finally {
      for (const worker of workers) worker.client.close();
    }
  }, 120_000);
});
