import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SeatChangeKind } from "../gen/booking/v1/booking_pb.js";
import { AbuseChannel, SERVING } from "./support/abuse-channel.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { WatchTestClient, type WatchStream } from "./support/watch-client.js";

/** Watchers held open during the test, on CONNECTIONS connections (HTTP/2 allows 100 streams on each). */
const WATCHERS = 560;
const CONNECTIONS = 8;

let server: TestServer;
const clients: WatchTestClient[] = [];

beforeAll(async () => {
  server = await startTestServer({ server: { maxWatchStreamsPerPrincipal: WATCHERS, maxInFlight: 8 } });
  for (let index = 0; index < CONNECTIONS; index++) {
    const who = index % 2 === 0 ? server.pki.clients.alice : server.pki.clients.bob;
    clients.push(new WatchTestClient(server.address, server.pki.caCert, who));
  }
});

afterAll(async () => {
  for (const client of clients) client.close();
  await server.stop();
});

describe("a server with hundreds of watchers", () => {
  it("still answers health checks and calls, and every watcher sees the change", async () => {
    const watches: WatchStream[] = Array.from({ length: WATCHERS }, (_, index) =>
      (clients[index % CONNECTIONS] as WatchTestClient).watch({}),
    );
    await Promise.all(watches.map((watch) => watch.next()));
    expect(server.core.watchers).toBe(WATCHERS);
    expect(server.server.watchStreams()).toBe(WATCHERS);
    // Streams hold no in-flight slot: none is in use with all of them open.
    expect(server.server.inFlight()).toBe(0);

    const health = AbuseChannel.open(server.address, server.pki.caCert, server.pki.clients.bob);
    try {
      const check = await health.health();
      expect(check.code).toBe(status.OK);
      expect(check.response).toBe(SERVING);
    } finally {
      health.close();
    }
    const caller = clients[1] as WatchTestClient;
    const booked = await caller.unary("bookSeats", { seats: [7, 8] });
    expect(booked.end.code).toBe(status.OK);
    const listing = await caller.showAvailable({});
    expect(listing.availableSeats).not.toContain(7);

    const seen = await Promise.all(watches.map((watch) => watch.next()));
    for (const message of seen) {
      expect(message.event.case).toBe("changes");
      if (message.event.case === "changes") {
        expect(message.event.value.changes.map((change) => ({ kind: change.kind, seats: change.seats }))).toEqual([
          { kind: SeatChangeKind.BOOKED, seats: [7, 8] },
        ]);
      }
    }
    for (const watch of watches) watch.cancel();
    while (server.core.watchers > 0 || server.server.watchStreams() > 0) await new Promise((resolve) => setImmediate(resolve));
  }, 60_000);
});
