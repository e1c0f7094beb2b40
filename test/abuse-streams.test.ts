import { connect } from "node:http2";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AbuseChannel, BOOKING_PATHS } from "./support/abuse-channel.js";
import {
  closeRawSession,
  grpcFrame,
  openGrpcStream,
  openRawSession,
  pingRoundTrip,
  streamResult,
  type RawH2Result,
} from "./support/abuse-h2.js";
import { tally } from "./support/abuse-stats.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const CAP = 3;
/** An empty ShowAvailableRequest (the default show), framed. */
const EMPTY_REQUEST = grpcFrame(new Uint8Array());

let server: TestServer;
const concurrency = { now: 0, max: 0 };

beforeAll(async () => {
  server = await startTestServer({
    server: {
      maxConcurrentStreams: CAP,
      // Counts calls inside handlers; nothing is refused in this file, so
      // every callFinished ends a started call.
      observer: {
        callStarted: () => {
          concurrency.now++;
          concurrency.max = Math.max(concurrency.max, concurrency.now);
        },
        callFinished: () => void concurrency.now--,
        callRejected: () => undefined,
      },
    },
  });
});

afterAll(async () => {
  await server?.stop();
});

describe("BookingServer cap on concurrent streams per connection", () => {
  it("advertises the cap in its HTTP/2 SETTINGS", async () => {
    const session = await openRawSession(server.address, server.pki.caCert, server.pki.clients.alice);
    try {
      expect(session.remoteSettings.maxConcurrentStreams).toBe(CAP);
    } finally {
      await closeRawSession(session);
    }
  });

  it("serves a call at once while the connection is under the cap", async () => {
    const session = await openRawSession(server.address, server.pki.caCert, server.pki.clients.alice);
    try {
      const held = Array.from({ length: CAP - 1 }, () => openGrpcStream(session, BOOKING_PATHS.showAvailable));
      const heldResults = held.map(streamResult);
      const call = openGrpcStream(session, BOOKING_PATHS.showAvailable);
      const result = streamResult(call);
      call.end(EMPTY_REQUEST);
      // Answered while the other streams are still open.
      expect((await result).grpcStatus).toBe(status.OK);
      for (const stream of held) stream.end(EMPTY_REQUEST);
      for (const done of await Promise.all(heldResults)) expect(done.grpcStatus).toBe(status.OK);
    } finally {
      await closeRawSession(session);
    }
  });

  it("makes a connection's call beyond the cap wait for a free stream, then serves it", async () => {
    const session = await openRawSession(server.address, server.pki.caCert, server.pki.clients.alice);
    try {
      const held = Array.from({ length: CAP }, () => openGrpcStream(session, BOOKING_PATHS.showAvailable));
      const heldResults = held.map(streamResult);
      const extra = openGrpcStream(session, BOOKING_PATHS.showAvailable);
      let extraDone = false;
      const extraResult = streamResult(extra).then((result) => {
        extraDone = true;
        return result;
      });
      extra.end(EMPTY_REQUEST);
      // After a PING round trip everything the client could send has reached
      // the server; the extra stream's HEADERS are still queued in the client.
      await pingRoundTrip(session);
      expect(extraDone).toBe(false);
      expect(session.state.outboundQueueSize).toBeGreaterThanOrEqual(1);
      held[0]?.end(EMPTY_REQUEST);
      expect((await extraResult).grpcStatus).toBe(status.OK);
      for (const stream of held.slice(1)) stream.end(EMPTY_REQUEST);
      for (const done of await Promise.all(heldResults)) expect(done.grpcStatus).toBe(status.OK);
    } finally {
      await closeRawSession(session);
    }
  });

  it("refuses with REFUSED_STREAM the streams a client opens beyond the cap before reading the SETTINGS", async () => {
    // Requests made before the session connects go out with the preface, before
    // the server's SETTINGS can arrive; grpc-js clients wait for them instead.
    const session = connect(`https://${server.address}`, {
      ca: server.pki.caCert,
      cert: server.pki.clients.alice.cert,
      key: server.pki.clients.alice.key,
    });
    try {
      const results: Promise<RawH2Result>[] = [];
      for (let index = 0; index < 3 * CAP; index++) {
        const stream = openGrpcStream(session, BOOKING_PATHS.showAvailable);
        results.push(streamResult(stream));
        stream.end(EMPTY_REQUEST);
      }
      const outcomes = (await Promise.all(results)).map((result) =>
        result.grpcStatus === status.OK ? "OK" : result.rstCode === 7 ? "REFUSED_STREAM" : JSON.stringify(result),
      );
      console.info(`abuse-streams early streams on a cap of ${CAP}: ${JSON.stringify(tally(outcomes))}`);
      expect(outcomes.filter((outcome) => outcome !== "OK" && outcome !== "REFUSED_STREAM")).toEqual([]);
      expect(outcomes.filter((outcome) => outcome === "OK").length).toBeGreaterThanOrEqual(CAP);
    } finally {
      await closeRawSession(session);
    }
  });

  it("serves ten times the cap of concurrent grpc-js calls on one connection, never more than the cap at once", async () => {
    const channel = AbuseChannel.open(server.address, server.pki.caCert, server.pki.clients.bob);
    try {
      await channel.ready();
      concurrency.max = 0;
      const results = await Promise.all(
        Array.from({ length: 10 * CAP }, () => channel.booking("showAvailable", { showId: "main" })),
      );
      expect(results.map((result) => status[result.code])).toEqual(Array.from({ length: 10 * CAP }, () => "OK"));
      expect(concurrency.max).toBeGreaterThan(0);
      expect(concurrency.max).toBeLessThanOrEqual(CAP);
    } finally {
      channel.close();
    }
  });
});
