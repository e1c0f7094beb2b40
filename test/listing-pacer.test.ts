import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BookingService } from "../gen/booking/v1/booking_pb.js";
import { ListingPacer } from "../src/transport/listing-pacer.js";
import { grpcServiceDefinition } from "../wire/grpc-service-definition.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const definition = grpcServiceDefinition(BookingService);

/** Ends the current event-loop turn: resolves in the next check phase, after immediates already queued. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe("ListingPacer", () => {
  it("lets out one answer larger than the budget per event-loop turn, in arrival order", async () => {
    const pacer = new ListingPacer({ bytesPerTurn: 1000 });
    const released: number[] = [];
    const all = [0, 1, 2, 3, 4].map((index) => pacer.turnFor(5000).then(() => released.push(index)));
    await Promise.resolve();
    expect(released).toEqual([0]);
    const seenAfterTurns: number[] = [];
    for (let turn = 0; turn < 4; turn++) {
      await nextTurn();
      seenAfterTurns.push(released.length);
    }
    await Promise.all(all);
    expect(seenAfterTurns).toEqual([2, 3, 4, 5]);
    expect(released).toEqual([0, 1, 2, 3, 4]);
    expect(pacer.waiting).toBe(0);
  });

  it("lets out answers within the budget in the same turn, and holds the rest for the next", async () => {
    const pacer = new ListingPacer({ bytesPerTurn: 1000 });
    let released = 0;
    const all = Array.from({ length: 15 }, () => pacer.turnFor(100).then(() => released++));
    await Promise.resolve();
    expect(released).toBe(10);
    expect(pacer.waiting).toBe(5);
    await nextTurn();
    expect(released).toBe(15);
    await Promise.all(all);
  });

  it("refuses a budget that is not positive", () => {
    expect(() => new ListingPacer({ bytesPerTurn: 0 })).toThrow(TypeError);
  });
});

describe("ShowAvailable answers of a large show", () => {
  const listings = 48;
  let server: TestServer;
  let client: Client;

  beforeAll(async () => {
    server = await startTestServer({ shows: [{ id: "big", totalSeats: 100_000 }] });
    client = new Client(server.address, credentials.createSsl(server.pki.caCert, server.pki.clients.alice.key, server.pki.clients.alice.cert), {
      "grpc.use_local_subchannel_pool": 1,
      "grpc.enable_retries": 0,
    });
  });

  afterAll(async () => {
    client.close();
    await server.stop();
  });

  /** One call on the shared connection; the answer stays encoded, so the test process does not decode 283 kB per listing. */
  function call(method: "showAvailable" | "bookSeats", request: unknown): Promise<Buffer> {
    const found = definition[method];
    if (found === undefined) throw new TypeError(`unknown method ${method}`);
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(
        found.path,
        found.requestSerialize,
        (bytes: Buffer) => bytes,
        request,
        new Metadata(),
        { deadline: Date.now() + 60_000 },
        (error: ServiceError | null, response?: Buffer) => (error === null && response !== undefined ? resolve(response) : reject(error)),
      );
    });
  }

  it("are spread over turns: a booking sent behind many listings is served before the last of them", async () => {
    // Warm the cache, so that every listing below is served from one encoding.
    const first = await call("showAvailable", { showId: "big" });
    const logged = server.logLines.length;

    const answers = Array.from({ length: listings }, () => call("showAvailable", { showId: "big" }));
    const booked = call("bookSeats", { showId: "big", seats: [7] });
    await Promise.all([...answers, booked]);

    // The order in which the server finished the calls, from its call log.
    const order = server.logLines
      .slice(logged)
      .filter((line) => line["msg"] === "rpc")
      .map((line) => line["method"]);
    expect(order.filter((method) => method === "ShowAvailable")).toHaveLength(listings);
    const bookedAt = order.indexOf("BookSeats");
    expect(bookedAt).toBeGreaterThanOrEqual(0);
    // Unpaced, all the listings are answered in the turn their requests are read, before the booking; paced,
    // one goes out per turn and the booking, a turn or two of work, overtakes most of them.
    expect(bookedAt).toBeLessThan(listings / 2);
    // Pacing delays the bytes; it does not change them (the booking came after the listings were read).
    for (const answer of await Promise.all(answers)) expect(answer.equals(first)).toBe(true);
  });
});
