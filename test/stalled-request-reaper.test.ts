import { create, toBinary } from "@bufbuild/protobuf";
import { constants } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BookSeatsRequestSchema, WatchAvailabilityRequestSchema } from "../gen/booking/v1/booking_pb.js";
import { grpcFrame, openGrpcStream, openRawSession, pingRoundTrip, rawUnary, streamResult } from "./support/abuse-h2.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;

beforeAll(async () => {
  // A timeout whose own checks (every 15 s) never run during the test: the test runs the checks.
  server = await startTestServer({ server: { requestArrivalTimeoutMs: 60_000 } });
});

afterAll(async () => {
  await server.stop();
});

describe("a stream whose request stalls", () => {
  it("is cancelled once it has been open across a timeout's worth of checks; complete calls and open watch streams are not", async () => {
    const reaper = server.server.stalledRequests;
    const session = await openRawSession(server.address, server.pki.caCert, server.pki.clients.alice);
    try {
      // A watch: its request is whole and its half is ended; the stream then stays open for changes.
      const watch = openGrpcStream(session, "/booking.v1.BookingService/WatchAvailability");
      const watchEnded = streamResult(watch);
      const firstMessage = new Promise<void>((resolve) => watch.once("data", () => resolve()));
      watch.end(grpcFrame(toBinary(WatchAvailabilityRequestSchema, create(WatchAvailabilityRequestSchema, { showId: "small" }))));
      await firstMessage;

      // Announces a 100-byte message, sends one byte of it, and never the rest.
      const stalled = openGrpcStream(session, "/booking.v1.BookingService/BookSeats");
      const stalledEnded = streamResult(stalled);
      stalled.write(Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.from([8])]));
      await pingRoundTrip(session);

      // Seen by a check, then open for fewer checks than a timeout holds (4 at one every 15 s): left alone.
      for (let check = 0; check < 4; check++) expect(reaper.checkNow()).toBe(0);
      // Open a whole timeout since a check saw it: cancelled.
      expect(reaper.checkNow()).toBe(1);
      expect((await stalledEnded).rstCode).toBe(constants.NGHTTP2_CANCEL);

      // A whole call made now is answered, and the watch still streams.
      const booked = await rawUnary(
        session,
        "/booking.v1.BookingService/BookSeats",
        grpcFrame(toBinary(BookSeatsRequestSchema, create(BookSeatsRequestSchema, { showId: "small", seats: [2] }))),
      );
      expect(booked.grpcStatus).toBe(0);
      for (let check = 0; check < 5; check++) expect(reaper.checkNow()).toBe(0);
      await pingRoundTrip(session);
      expect(watch.closed).toBe(false);
      expect(reaper.cancelled).toBe(1);
      watch.close();
      expect((await watchEnded).rstCode).toBe(constants.NGHTTP2_NO_ERROR);
    } finally {
      // A stream left open would hold a graceful close forever.
      session.destroy();
    }
  });
});
