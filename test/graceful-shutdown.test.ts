import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBookingClient, isBookingError } from "../client/index.js";
import { startServerProcess } from "./support/server-process.js";
import { writeTestPki, type WrittenTestPki } from "./support/test-pki.js";

let dir: string;
let pki: WrittenTestPki;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "booking-shutdown-"));
  pki = await writeTestPki(join(dir, "certs"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("SIGTERM", () => {
  it("drains calls in flight, exits 0 and loses no acknowledged booking", async () => {
    const database = join(dir, "booking.sqlite");
    const args = ["--listen", "127.0.0.1:0", "--store", `sqlite:${database}`, "--shows", "main:5000", "--certs-dir", pki.paths.dir, "--log-level", "warn"];
    const server = await startServerProcess(args);
    const clients = Array.from({ length: 8 }, () =>
      createBookingClient({
        address: server.address,
        ca: pki.paths.caCert,
        cert: pki.paths.clients.alice.cert,
        key: pki.paths.clients.alice.key,
        retry: { maxAttempts: 1 },
      }),
    );
    const acknowledged: number[] = [];
    const codes = new Map<string, number>();
    let nextSeat = 1;
    let stopping = false;
    const loops = clients.map(async (client) => {
      while (nextSeat <= 5000) {
        const seat = nextSeat++;
        try {
          const response = await client.bookSeats({ seats: [seat] });
          acknowledged.push(...response.seats);
        } catch (error) {
          if (!isBookingError(error)) throw error;
          codes.set(error.codeName, (codes.get(error.codeName) ?? 0) + 1);
          if (stopping) return;
          throw error;
        }
      }
    });
    while (acknowledged.length < 200) await new Promise((resolve) => setImmediate(resolve));
    stopping = true;
    server.kill("SIGTERM");
    const exitCode = await server.exited;
    await Promise.all(loops);
    for (const client of clients) client.close();

    expect(exitCode).toBe(0);
    expect(server.logLines.some((line) => line["msg"] === "stopped")).toBe(true);
    // Every call either completed or failed with a status a client may retry.
    for (const code of codes.keys()) expect(["UNAVAILABLE", "CANCELLED"]).toContain(code);

    const restarted = await startServerProcess(args);
    const reader = createBookingClient({
      address: restarted.address,
      ca: pki.paths.caCert,
      cert: pki.paths.clients.bob.cert,
      key: pki.paths.clients.bob.key,
    });
    const listed = await reader.showAvailable({});
    reader.close();
    await restarted.stop();
    const free = new Set(listed.availableSeats);
    for (const seat of acknowledged) expect(free.has(seat), `acknowledged seat ${seat} was lost`).toBe(false);
    expect(listed.bookedCount).toBeGreaterThanOrEqual(acknowledged.length);
  }, 60_000);
});

describe("the metrics endpoint", () => {
  it("exposes RPC counts, latency, seats, queue, rejections, event-loop delay and store batches", async () => {
    const server = await startServerProcess([
      "--listen", "127.0.0.1:0",
      "--store", "memory",
      "--certs-dir", pki.paths.dir,
      "--metrics-listen", "127.0.0.1:0",
      "--log-level", "warn",
    ]);
    const client = createBookingClient({
      address: server.address,
      ca: pki.paths.caCert,
      cert: pki.paths.clients.alice.cert,
      key: pki.paths.clients.alice.key,
      retry: { maxAttempts: 1 },
    });
    try {
      await client.bookSeats({ seats: [1, 2, 3] });
      const refused = await client.bookSeats({ seats: [3] }).catch((error: unknown) => error);
      expect(isBookingError(refused) && refused.code).toBe(status.ALREADY_EXISTS);
      const text = await (await fetch(`http://${server.metricsAddress}/metrics`)).text();
      expect(text).toContain('booking_rpc_total{method="BookSeats",code="OK"} 1');
      expect(text).toContain('booking_rpc_total{method="BookSeats",code="ALREADY_EXISTS"} 1');
      expect(text).toMatch(/booking_rpc_duration_seconds_count\{method="BookSeats"\} 2/);
      expect(text).toContain('booking_seats{show="main",state="booked"} 3');
      expect(text).toContain('booking_seats{show="main",state="available"} 97');
      expect(text).toContain("booking_in_flight_calls 0");
      expect(text).toContain("booking_queued_changes 0");
      expect(text).toContain("# TYPE booking_rejections_total counter");
      expect(text).toContain("nodejs_eventloop_lag_max_seconds");
      expect(text).toMatch(/booking_store_batch_size_count \d+/);
      expect(text).toMatch(/booking_store_commit_seconds_count \d+/);
      const missing = await fetch(`http://${server.metricsAddress}/other`);
      expect(missing.status).toBe(404);
    } finally {
      client.close();
      await server.stop();
    }
  }, 30_000);
});
