import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { credentials, makeGenericClientConstructor, Metadata, status, type Client, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isBookingError, type BookingClient } from "../client/index.js";
import { grpcServiceDefinition } from "../wire/grpc-service-definition.js";
import { BookingService } from "../gen/booking/v1/booking_pb.js";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { createForeignClient, DEV_PRINCIPALS, type TestCertificate } from "./support/test-pki.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { SdkClients } from "./support/sdk-clients.js";
import { sdkFailure } from "./support/sdk-failure.js";

let server: TestServer;
const clients = new SdkClients(() => server);

function clientAs(identity: TestCertificate): BookingClient {
  return clients.as(identity);
}

const failure = sdkFailure;

beforeAll(async () => {
  server = await startTestServer({ core: { maxSeatsPerRequest: 8 } });
});

afterAll(async () => {
  clients.closeAll();
  await server.stop();
});

describe("BookingService over mutual TLS", () => {
  it("books, lists and cancels seats for the certificate's principal", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const booked = await alice.bookSeats({ showId: "small", seats: [2, 1] });
    expect(booked.showId).toBe("small");
    expect(booked.seats).toEqual([1, 2]);
    expect(booked.owner).toBe(DEV_PRINCIPALS.alice);
    const listed = await alice.showAvailable({ showId: "small" });
    expect({ total: listed.totalSeats, booked: listed.bookedCount, free: listed.availableSeats }).toEqual({
      total: 5,
      booked: 2,
      free: [3, 4, 5],
    });
    const cancelled = await alice.cancelSeats({ showId: "small", seats: [1] });
    expect(cancelled.seats).toEqual([1]);
    expect((await alice.showAvailable({ showId: "small" })).availableSeats).toEqual([1, 3, 4, 5]);
  });

  it("uses the default show when show_id is empty", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const booked = await alice.bookSeats({ seats: [50] });
    expect(booked.showId).toBe("main");
    expect((await alice.showAvailable({})).availableSeats).not.toContain(50);
  });

  it("takes the Common Name as principal when the certificate has no URI SAN", async () => {
    const carol = clientAs(server.pki.clients.carol);
    expect((await carol.bookSeats({ seats: [60] })).owner).toBe("carol");
  });

  it.each([
    { case: "an empty seat list", seats: [], seatsNamed: [], text: "at least one seat" },
    { case: "seat 0", seats: [0, 3], seatsNamed: [0], text: "seat 0 not in 1-100" },
    { case: "a seat beyond the show", seats: [101, 7], seatsNamed: [101], text: "seat 101 not in 1-100" },
    { case: "a repeated seat", seats: [9, 9], seatsNamed: [9], text: "seat 9 repeated" },
  ])("answers INVALID_ARGUMENT with BadRequest details for $case", async ({ seats, seatsNamed, text }) => {
    const alice = clientAs(server.pki.clients.alice);
    const error = await failure(alice.bookSeats({ showId: "main", seats }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.reason).toBe("INVALID_SEATS");
    expect(error.message).toContain(text);
    expect(error.seats).toEqual(seatsNamed);
    expect(error.violations.map((violation) => violation.field)).toContain("seats");
    expect((await alice.showAvailable({})).availableSeats).toEqual(expect.arrayContaining([3, 7]));
  });

  it("answers INVALID_ARGUMENT when a request names more seats than the maximum", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const error = await failure(alice.bookSeats({ seats: [1, 2, 3, 4, 5, 6, 7, 8, 9] }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.reason).toBe("TOO_MANY_SEATS");
    expect(error.message).toContain("at most 8 seats");
  });

  it("answers NOT_FOUND for an unknown show, on every method", async () => {
    const alice = clientAs(server.pki.clients.alice);
    for (const call of [
      () => alice.bookSeats({ showId: "gala", seats: [1] }),
      () => alice.cancelSeats({ showId: "gala", seats: [1] }),
      () => alice.showAvailable({ showId: "gala" }),
    ]) {
      const error = await failure(call());
      expect(error.code).toBe(status.NOT_FOUND);
      expect(error.reason).toBe("SHOW_NOT_FOUND");
      expect(error.message).toContain('show "gala"');
    }
  });

  it("answers ALREADY_EXISTS naming every taken seat, and books none of the request", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const bob = clientAs(server.pki.clients.bob);
    await alice.bookSeats({ seats: [10, 12] });
    const error = await failure(bob.bookSeats({ seats: [10, 11, 12] }));
    expect(error.code).toBe(status.ALREADY_EXISTS);
    expect(error.reason).toBe("SEAT_ALREADY_BOOKED");
    expect(error.seats).toEqual([10, 12]);
    expect(error.showId).toBe("main");
    expect(error.message).toBe('seats 10, 12 of show "main" are already booked');
    expect((await bob.showAvailable({})).availableSeats).toContain(11);
  });

  it("answers FAILED_PRECONDITION when cancelling a seat that is not booked", async () => {
    const alice = clientAs(server.pki.clients.alice);
    await alice.bookSeats({ seats: [20] });
    const error = await failure(alice.cancelSeats({ seats: [20, 21] }));
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.reason).toBe("SEAT_NOT_BOOKED");
    expect(error.seats).toEqual([21]);
    expect((await alice.showAvailable({})).availableSeats).not.toContain(20);
  });

  it("answers PERMISSION_DENIED when bob cancels alice's seat, and lets an admin cancel it", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const bob = clientAs(server.pki.clients.bob);
    const admin = clientAs(server.pki.clients.admin);
    await alice.bookSeats({ seats: [30, 31] });
    const error = await failure(bob.cancelSeats({ seats: [30] }));
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.reason).toBe("SEAT_NOT_OWNED");
    expect(error.seats).toEqual([30]);
    expect(error.message).not.toContain(DEV_PRINCIPALS.alice);
    expect((await admin.cancelSeats({ seats: [30, 31] })).seats).toEqual([30, 31]);
    expect((await bob.showAvailable({})).availableSeats).toEqual(expect.arrayContaining([30, 31]));
  });

  it("replays a request id's outcome and refuses its reuse for another request", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const first = await alice.bookSeats({ seats: [40], requestId: "e2e-replay-1" });
    const again = await alice.bookSeats({ seats: [40], requestId: "e2e-replay-1" });
    expect(first.replayed).toBe(false);
    expect(again.replayed).toBe(true);
    expect(again.seats).toEqual([40]);
    const reused = await failure(alice.bookSeats({ seats: [41], requestId: "e2e-replay-1" }));
    expect(reused.code).toBe(status.INVALID_ARGUMENT);
    expect(reused.reason).toBe("REQUEST_ID_REUSED");
    expect((await alice.showAvailable({})).availableSeats).toContain(41);
  });

  it("sends google.rpc.Status details in grpc-status-details-bin and echoes a request id", async () => {
    const Raw = makeGenericClientConstructor(grpcServiceDefinition(BookingService), "BookingService");
    const raw = new Raw(
      server.address,
      credentials.createSsl(server.pki.caCert, server.pki.clients.bob.key, server.pki.clients.bob.cert),
    ) as Client & Record<string, (request: unknown, metadata: Metadata, callback: (error: ServiceError | null) => void) => { on(event: string, listener: (metadata: Metadata) => void): void }>;
    const metadata = new Metadata();
    metadata.set("x-request-id", "trace-me-42");
    let echoed: unknown;
    const error = await new Promise<ServiceError | null>((resolve) => {
      const call = raw["bookSeats"]?.({ seats: [0, 200, 5, 5] }, metadata, resolve);
      call?.on("metadata", (headers: Metadata) => (echoed = headers.get("x-request-id")[0]));
    });
    raw.close();
    expect(echoed).toBe("trace-me-42");
    expect(error?.code).toBe(status.INVALID_ARGUMENT);
    const bytes = error?.metadata.get("grpc-status-details-bin")[0];
    expect(bytes).toBeInstanceOf(Buffer);
    const details = fromBinary(StatusSchema, bytes as Buffer);
    expect(details.code).toBe(status.INVALID_ARGUMENT);
    expect(details.message).toBe(error?.details);
    const info = details.details.map((any) => anyUnpack(any, ErrorInfoSchema)).find((value) => value !== undefined);
    expect(info?.reason).toBe("INVALID_SEATS");
    expect(info?.domain).toBe("booking.v1");
    expect(info?.metadata["seats"]).toBe("0,5,200");
    const badRequest = details.details.map((any) => anyUnpack(any, BadRequestSchema)).find((value) => value !== undefined);
    expect(badRequest?.fieldViolations.map((violation) => violation.description)).toEqual([
      'seats 0, 200 outside 1-100 for show "main"',
      "seat 5 named more than once",
    ]);
    const line = server.logLines.find((entry) => entry["request_id"] === "trace-me-42");
    expect(line).toMatchObject({ method: "BookSeats", principal: DEV_PRINCIPALS.bob, code: "INVALID_ARGUMENT" });
    expect(typeof line?.["duration_ms"]).toBe("number");
  });

  it("refuses a client without a certificate", async () => {
    const Raw = makeGenericClientConstructor(grpcServiceDefinition(BookingService), "BookingService");
    const raw = new Raw(server.address, credentials.createSsl(server.pki.caCert)) as Client &
      Record<string, (request: unknown, options: object, callback: (error: ServiceError | null) => void) => void>;
    const error = await new Promise<ServiceError | null>((resolve) =>
      raw["showAvailable"]?.({}, { deadline: Date.now() + 5000 }, resolve),
    );
    raw.close();
    expect(error?.code).toBe(status.UNAVAILABLE);
  });

  it("refuses a client whose certificate comes from another CA", async () => {
    const stranger = clientAs(await createForeignClient());
    const error = await failure(stranger.showAvailable({}));
    expect(error.code).toBe(status.UNAVAILABLE);
  });

  it("never books a seat twice under 200 concurrent clients, and ShowAvailable agrees with the successes", async () => {
    const crowd = Array.from({ length: 200 }, (_, index) =>
      clientAs(index % 2 === 0 ? server.pki.clients.alice : server.pki.clients.bob),
    );
    const before = await crowd[0]!.showAvailable({ showId: "small" });
    const attempts = crowd.map((client, index) => {
      const seat = (index % 5) + 1;
      const seats = seat === 5 ? [5] : [seat, seat + 1];
      return client.bookSeats({ showId: "small", seats }).then(
        (response) => ({ ok: true as const, seats: response.seats }),
        (error: unknown) => {
          expect(isBookingError(error) && error.code).toBe(status.ALREADY_EXISTS);
          return { ok: false as const, seats: [] };
        },
      );
    });
    const results = await Promise.all(attempts);
    const won = results.flatMap((result) => (result.ok ? result.seats : []));
    expect(new Set(won).size).toBe(won.length);
    for (const seat of won) expect(before.availableSeats).toContain(seat);
    const after = await crowd[1]!.showAvailable({ showId: "small" });
    expect(after.bookedCount).toBe(before.bookedCount + won.length);
    expect(after.availableSeats.filter((seat) => won.includes(seat))).toEqual([]);
  });
});
