import type { Server as HttpServer } from "node:http";
import { ServerCredentials } from "@grpc/grpc-js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HoldSeatsResponse } from "../gen/booking/v1/booking_pb.js";
import { BookingCore } from "../src/core/booking-core.js";
import { MemoryStore } from "../src/stores/memory-store.js";
import { createBookingServer } from "../src/transport/booking-server.js";
import { createBookingMetrics, serveMetrics, type BookingMetrics } from "../src/transport/metrics.js";
import { createTestPki, DEV_PRINCIPALS } from "./support/test-pki.js";
import type { TestServer } from "./support/test-server.js";
import { WatchTestClient } from "./support/watch-client.js";

let core: BookingCore;
let metrics: BookingMetrics;
let server: TestServer;
let metricsServer: HttpServer;
let metricsUrl: string;
let alice: WatchTestClient;

beforeAll(async () => {
  core = await BookingCore.open({
    store: new MemoryStore(),
    shows: [
      { id: "main", totalSeats: 20 },
      { id: "small", totalSeats: 5 },
    ],
    admins: [DEV_PRINCIPALS.admin],
  });
  metrics = createBookingMetrics(core);
  server = await startTestServerWith(core, metrics);
  metricsServer = await serveMetrics(metrics.registry, "127.0.0.1", 0);
  const address = metricsServer.address();
  if (address === null || typeof address === "string") throw new Error("no metrics port");
  metricsUrl = `http://127.0.0.1:${address.port}/metrics`;
  alice = new WatchTestClient(server.address, server.pki.caCert, server.pki.clients.alice);
});

afterAll(async () => {
  alice.close();
  metricsServer.close();
  await server.stop();
});

/** A test server around a core the metrics already observe (startTestServer makes its own core). */
async function startTestServerWith(existing: BookingCore, withMetrics: BookingMetrics): Promise<TestServer> {
  const pki = await createTestPki();
  const logLines: Record<string, unknown>[] = [];
  const booking = createBookingServer({
    core: existing,
    logger: pino({ level: "info" }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) }),
    credentials: ServerCredentials.createSsl(pki.caCert, [{ cert_chain: pki.server.cert, private_key: pki.server.key }], true),
    observer: withMetrics.observer,
  });
  const port = await booking.listen("127.0.0.1:0");
  return {
    address: `127.0.0.1:${port}`,
    port,
    pki,
    core: existing,
    server: booking,
    logLines,
    stop: async () => {
      await booking.shutdown(1000);
      await existing.close();
    },
  };
}

async function scrape(): Promise<string> {
  const response = await fetch(metricsUrl);
  expect(response.status).toBe(200);
  return response.text();
}

/** The value of one sample line, e.g. `booking_holds_total{event="created"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("the metrics endpoint", () => {
  it("shows holds created, confirmed and released, held seats per show, watchers and changes sent", async () => {
    const watch = alice.watch({});
    await watch.next();
    const hold = async (seats: number[]): Promise<string> => {
      const { response } = await alice.unary<HoldSeatsResponse>("holdSeats", { seats, ttl: { seconds: 600n } });
      if (response?.hold === undefined) throw new Error("no hold");
      return response.hold.holdId;
    };
    const confirmed = await hold([1, 2]);
    const released = await hold([3]);
    await hold([4, 5, 6]);
    await alice.unary("confirmHold", { holdId: confirmed });
    await alice.unary("releaseHold", { holdId: released });
    // A replayed hold is not a new one.
    await alice.unary("holdSeats", { seats: [9], requestId: "once" });
    await alice.unary("holdSeats", { seats: [9], requestId: "once" });
    await alice.unary("holdSeats", { showId: "small", seats: [1] });
    // Six changes: four holds, a confirmation, a release.
    let changes = 0;
    while (changes < 6) {
      const message = await watch.next();
      if (message.event.case === "changes") changes += message.event.value.changes.length;
    }

    const text = await scrape();
    expect(sample(text, 'booking_holds_total{event="created"}')).toBe(5);
    expect(sample(text, 'booking_holds_total{event="confirmed"}')).toBe(1);
    expect(sample(text, 'booking_holds_total{event="released"}')).toBe(1);
    expect(sample(text, 'booking_seats{show="main",state="held"}')).toBe(4);
    expect(sample(text, 'booking_seats{show="main",state="booked"}')).toBe(2);
    expect(sample(text, 'booking_seats{show="main",state="available"}')).toBe(14);
    expect(sample(text, 'booking_seats{show="small",state="held"}')).toBe(1);
    expect(sample(text, "booking_watchers")).toBe(1);
    expect(sample(text, "booking_watch_changes_sent_total")).toBe(6);

    watch.cancel();
    while (core.watchers > 0) await new Promise((resolve) => setImmediate(resolve));
    const after = await scrape();
    expect(sample(after, "booking_watchers")).toBe(0);
    // The stream is counted once it ends, and kept out of the latency histogram.
    expect(sample(after, 'booking_rpc_total{method="WatchAvailability",code="CANCELLED"}')).toBe(1);
    expect(after).not.toContain('booking_rpc_duration_seconds_count{method="WatchAvailability"}');
  });

  it("reports shows created at run time, and counts sweeper runs", async () => {
    const admin = new WatchTestClient(server.address, server.pki.caCert, server.pki.clients.admin);
    await admin.unary("createShow", { showId: "late", totalSeats: 7 });
    admin.close();
    metrics.sweepFinished("ok");
    metrics.sweepFinished("failed");
    const text = await scrape();
    expect(sample(text, 'booking_seats{show="late",state="available"}')).toBe(7);
    expect(sample(text, 'booking_hold_expiry_sweeps_total{outcome="ok"}')).toBe(1);
    expect(sample(text, 'booking_hold_expiry_sweeps_total{outcome="failed"}')).toBe(1);
  });
});

describe("hold expiry metrics", () => {
  it("counts holds the sweeper records as expired, by the store's clock", async () => {
    const clock = { now: 2_000_000_000_000 };
    const expiring = await BookingCore.open({ store: new MemoryStore({ now: () => clock.now }), shows: [{ id: "main", totalSeats: 10 }] });
    const own = createBookingMetrics(expiring);
    for (const seats of [[1], [2, 3]]) await expiring.hold({ showId: "", seats, requestId: "", ttlMs: 5_000 }, { principal: DEV_PRINCIPALS.alice });
    expect(await expiring.expireLapsedHolds()).toBe(0);
    clock.now += 5_000;
    expect(await expiring.expireLapsedHolds()).toBe(1);
    const text = await own.registry.metrics();
    expect(sample(text, 'booking_holds_total{event="created"}')).toBe(2);
    expect(sample(text, 'booking_holds_total{event="expired"}')).toBe(2);
    await expiring.close();
  });
});
