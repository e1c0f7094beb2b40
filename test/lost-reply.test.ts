import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBookingClient } from "../client/index.js";
import { SqliteStore } from "../src/stores/sqlite-store.js";
import { startServerProcess, type ServerProcess } from "./support/server-process.js";
import { TcpProxy } from "./support/tcp-proxy.js";
import { DEV_PRINCIPALS, writeTestPki, type WrittenTestPki } from "./support/test-pki.js";

let dir: string;
let pki: WrittenTestPki;
const processes: ServerProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "booking-lost-reply-"));
  pki = await writeTestPki(join(dir, "certs"));
});

afterAll(async () => {
  for (const server of processes) await server.stop("SIGKILL");
  await rm(dir, { recursive: true, force: true });
});

function serve(database: string, port = 0): Promise<ServerProcess> {
  return startServerProcess([
    "--listen", `127.0.0.1:${port}`,
    "--store", `sqlite:${database}`,
    "--certs-dir", pki.paths.dir,
    "--log-level", "warn",
  ]).then((server) => {
    processes.push(server);
    return server;
  });
}

/** Waits until the database file shows `seat` booked, reading it like an auditor would. */
async function committed(database: string, seat: number): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const store = await SqliteStore.open(database);
    const booked = (await store.bookings("main")).some((booking) => booking.seat === seat);
    await store.close();
    if (booked) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`seat ${seat} never reached the database`);
}

describe("a booking whose reply is lost", () => {
  it("is replayed, not repeated, when the SDK retries it with the same request id after a crash", async () => {
    const database = join(dir, "booking.sqlite");
    const first = await serve(database);
    const port = first.port;
    const proxy = await TcpProxy.start(port);
    const client = createBookingClient({
      address: `127.0.0.1:${proxy.port}`,
      ca: pki.paths.caCert,
      cert: pki.paths.clients.alice.cert,
      key: pki.paths.clients.alice.key,
      retry: { maxAttempts: 20, initialBackoffMs: 50, maxBackoffMs: 200 },
      defaultDeadlineMs: 20_000,
    });
    try {
      await client.showAvailable({});
      proxy.dropReplies = true;
      const booking = client.bookSeats({ seats: [7, 8] });
      // The commit happens; its reply is lost; then the server dies.
      await committed(database, 7);
      first.kill("SIGKILL");
      await first.exited;
      proxy.resetConnections();
      proxy.dropReplies = false;
      // The same port, so the SDK's retries through the proxy reach the new process.
      await serve(database, port);

      const response = await booking;
      expect(response.seats).toEqual([7, 8]);
      expect(response.owner).toBe(DEV_PRINCIPALS.alice);
      expect(response.replayed).toBe(true);

      const listed = await client.showAvailable({});
      expect(listed.bookedCount).toBe(2);
      const store = await SqliteStore.open(database);
      const bookings = await store.bookings("main");
      await store.close();
      expect(bookings.map((entry) => entry.seat)).toEqual([7, 8]);
      expect(new Set(bookings.map((entry) => entry.requestId)).size).toBe(1);
    } finally {
      client.close();
      await proxy.close();
    }
  }, 60_000);
});
