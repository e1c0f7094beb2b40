import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import type { SeatChange } from "../gen/booking/v1/booking_pb.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { WatchTestClient, type WatchStream } from "./support/watch-client.js";

/**
 * The server replaces each HTTP/2 session's open-streams map with a copy
 * (StreamMapRenewal). The copy must keep every open stream: frames keep
 * reaching a stream opened before any number of renewals, new calls work
 * between them, and the server still drains and stops with a stream open.
 * Renewals are driven by hand here (interval 0), one by timer at the end.
 */
let server: TestServer | undefined;
const clients: WatchTestClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await server?.stop();
  server = undefined;
});

function clientOf(running: TestServer): WatchTestClient {
  const client = new WatchTestClient(running.address, running.pki.caCert, running.pki.clients.alice);
  clients.push(client);
  return client;
}

/** The seat changes a watch has received, in order. */
function changesOf(stream: WatchStream): SeatChange[] {
  return stream.messages.flatMap((message) => (message.event.case === "changes" ? message.event.value.changes : []));
}

async function changeCount(stream: WatchStream, wanted: number): Promise<void> {
  while (changesOf(stream).length < wanted) await stream.next();
}

describe("renewing the sessions' stream maps", () => {
  it("keeps an open watch stream and new calls working across renewals", async () => {
    server = await startTestServer({ server: { streamMapRenewalMs: 0 } });
    const renewal = server.server.streamMaps();
    expect(renewal?.active).toBe(true);
    const client = clientOf(server);
    const watch = client.watch({ showId: "main" });
    await watch.next(); // the snapshot
    for (let seat = 1; seat <= 5; seat++) {
      expect(renewal?.renewNow()).toBe(1);
      const { end } = await client.unary("bookSeats", { showId: "main", seats: [seat] });
      expect(end.code).toBe(status.OK);
      await changeCount(watch, seat);
    }
    expect(renewal?.renewed).toBe(5);
    expect(changesOf(watch).flatMap((change) => change.seats)).toEqual([1, 2, 3, 4, 5]);
    const { end } = await client.unary("cancelSeats", { showId: "main", seats: [1] });
    expect(end.code).toBe(status.OK);
    await changeCount(watch, 6);
    // The map Node reads still holds the watch, and only it, once the unary calls have closed.
    for (let turn = 0; turn < 200 && (renewal?.openStreams ?? 0) > 1; turn++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(renewal?.renewNow()).toBe(1);
    expect(renewal?.openStreams).toBe(1);
    watch.cancel();
    for (let turn = 0; turn < 200 && (renewal?.openStreams ?? 0) > 0; turn++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(renewal?.openStreams).toBe(0);
  });

  it("still drains: a watch open across renewals ends UNAVAILABLE when the server stops", async () => {
    const running = await startTestServer({ server: { streamMapRenewalMs: 0 } });
    server = running;
    const client = clientOf(running);
    const watch = client.watch({ showId: "main" });
    await watch.next();
    running.server.streamMaps()?.renewNow();
    running.server.streamMaps()?.renewNow();
    await running.stop();
    server = undefined;
    expect((await watch.ended).code).toBe(status.UNAVAILABLE);
  });

  it("forgets a session when its connection closes, and renews on its timer", async () => {
    server = await startTestServer({ server: { streamMapRenewalMs: 1 } });
    const renewal = server.server.streamMaps();
    const client = clientOf(server);
    expect((await client.unary("showAvailable", { showId: "small" })).end.code).toBe(status.OK);
    expect(renewal?.sessions).toBe(1);
    const before = renewal?.renewed ?? 0;
    for (let turn = 0; turn < 200 && (renewal?.renewed ?? 0) === before; turn++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(renewal?.renewed).toBeGreaterThan(before);
    client.close();
    for (let turn = 0; turn < 200 && renewal?.sessions !== 0; turn++) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(renewal?.sessions).toBe(0);
  });
});
