import { create, toBinary } from "@bufbuild/protobuf";
import { Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BookSeatsRequestSchema } from "../gen/booking/v1/booking_pb.js";
import { AbuseChannel, BOOKING_PATHS, SERVING, type CallResult } from "./support/abuse-channel.js";
import { closeRawSession, grpcFrame, openRawSession, rawUnary } from "./support/abuse-h2.js";
import { countCodes, tally } from "./support/abuse-stats.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
let alice: AbuseChannel;

/** The codes the server logged for each request id starting with `prefix`. */
function loggedCodes(prefix: string): Map<string, string> {
  const codes = new Map<string, string>();
  for (const line of server.logLines) {
    const id = line["request_id"];
    if (typeof id === "string" && id.startsWith(prefix)) codes.set(id, String(line["code"]));
  }
  return codes;
}

/**
 * Waits until the server has finished with every call sent before on this
 * connection: changes commit in arrival order, so once a change sent after
 * them is answered, theirs are committed (or refused) and logged.
 */
async function barrier(channel: AbuseChannel, seat: number): Promise<void> {
  const result = await channel.booking("bookSeats", { showId: "barrier", seats: [seat] });
  expect(status[result.code]).toBe("OK");
}

beforeAll(async () => {
  server = await startTestServer({
    shows: [
      { id: "main", totalSeats: 400 },
      { id: "barrier", totalSeats: 10 },
    ],
  });
  alice = AbuseChannel.open(server.address, server.pki.caCert, server.pki.clients.alice);
  await alice.ready();
});

afterAll(async () => {
  alice?.close();
  await server?.stop();
});

describe("BookingServer with short deadlines", () => {
  it("answers calls with a 1 ms deadline DEADLINE_EXCEEDED or OK, and applies exactly the bookings it served", async () => {
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, index): Promise<CallResult> => {
        const metadata = new Metadata();
        metadata.set("x-request-id", `one-ms-${index + 1}`);
        const options = { metadata, deadline: Date.now() + 1 };
        return index % 3 === 2
          ? alice.booking("showAvailable", { showId: "main" }, options)
          : alice.booking("bookSeats", { showId: "main", seats: [index + 1] }, options);
      }),
    );
    await barrier(alice, 1);
    const codes = countCodes(results);
    expect(Object.keys(codes).filter((code) => code !== "OK" && code !== "DEADLINE_EXCEEDED")).toEqual([]);
    expect(codes["DEADLINE_EXCEEDED"]).toBeGreaterThan(0);

    // The server's own record: a booking is applied if and only if the server
    // served it (OK in its log), whatever the client saw after its deadline.
    const logged = loggedCodes("one-ms-");
    for (const code of logged.values()) expect(["OK", "DEADLINE_EXCEEDED"]).toContain(code);
    const servedSeats = results.flatMap((result, index) =>
      index % 3 !== 2 && logged.get(`one-ms-${index + 1}`) === "OK" ? [index + 1] : [],
    );
    const snapshot = await server.core.available("main");
    const booked = Array.from({ length: 400 }, (_, index) => index + 1).filter((seat) => !snapshot.available.includes(seat));
    console.info(
      `abuse-deadlines 1 ms: client saw ${JSON.stringify(codes)}; the server logged ${logged.size} of 300 ` +
        `(${JSON.stringify(tally(logged.values()))}), ` +
        `and applied ${booked.length} bookings`,
    );
    expect(booked).toEqual(servedSeats);
    // Every call the client saw succeed is one the server served.
    results.forEach((result, index) => {
      if (result.code === status.OK) expect(logged.get(`one-ms-${index + 1}`)).toBe("OK");
    });
    expect((await alice.health()).response).toBe(SERVING);
  });

  it("does not start a change whose deadline has already passed when it reaches the core", async () => {
    // grpc-js clients never send an expired deadline; a raw client can send a
    // zero timeout, so the deadline has passed by the time the core looks.
    const session = await openRawSession(server.address, server.pki.caCert, server.pki.clients.alice);
    const seats = Array.from({ length: 20 }, (_, index) => 301 + index);
    try {
      const results = await Promise.all(
        seats.map((seat, index) =>
          rawUnary(
            session,
            BOOKING_PATHS.bookSeats,
            grpcFrame(toBinary(BookSeatsRequestSchema, create(BookSeatsRequestSchema, { showId: "main", seats: [seat] }))),
            { "grpc-timeout": index % 2 === 0 ? "0m" : "1n", "x-request-id": `expired-${seat}` },
          ),
        ),
      );
      for (const result of results) expect(result.grpcStatus).toBe(status.DEADLINE_EXCEEDED);
    } finally {
      await closeRawSession(session);
    }
    await barrier(alice, 2);
    const logged = loggedCodes("expired-");
    // Calls that reached a handler were refused by the core, not served.
    expect(logged.size).toBeGreaterThan(0);
    for (const code of logged.values()) expect(code).toBe("DEADLINE_EXCEEDED");
    const snapshot = await server.core.available("main");
    for (const seat of seats) expect(snapshot.available).toContain(seat);
  });
});
