import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BookingClient } from "../client/index.js";
import {
  HoldSeatsRequestSchema,
  HoldSeatsResponseSchema,
  type HoldSeatsRequest,
  type HoldSeatsResponse,
} from "../gen/booking/v1/booking_pb.js";
import { BadRequestSchema } from "../gen/google/rpc/error_details_pb.js";
import { MemoryStore } from "../src/stores/memory-store.js";
import { richStatusOf } from "./support/abuse-status.js";
import { SdkClients } from "./support/sdk-clients.js";
import { sdkFailure as failure } from "./support/sdk-failure.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

/**
 * Refusals found by trying the service from outside with a Python grpcio
 * client: each names every offending seat and the show it is about, and
 * input that cannot mean anything is INVALID_ARGUMENT with the field named,
 * never a lookup that answers NOT_FOUND or a quiet reinterpretation.
 */

const clock = { now: Date.UTC(2026, 10, 30, 12) };
let server: TestServer;
let alice: BookingClient;
let bob: BookingClient;
let admin: BookingClient;
const clients = new SdkClients(() => server);

beforeAll(async () => {
  server = await startTestServer({
    store: new MemoryStore({ now: () => clock.now }),
    shows: [
      { id: "main", totalSeats: 100 },
      { id: "Matinee_2.late", totalSeats: 20 },
    ],
  });
  alice = clients.as(server.pki.clients.alice);
  bob = clients.as(server.pki.clients.bob);
  admin = clients.as(server.pki.clients.admin);
});

afterAll(async () => {
  clients.closeAll();
  await server.stop();
});

/** HoldSeats through plain grpc-js, so that a Duration the SDK would never build can be sent. */
function rawHold(request: HoldSeatsRequest): Promise<{ error: ServiceError | null; response: HoldSeatsResponse | undefined }> {
  const alicePki = server.pki.clients.alice;
  // The certificate names localhost too: a TLS server name that is an IP makes Node warn (DEP0123).
  const client = new Client(server.address, credentials.createSsl(server.pki.caCert, alicePki.key, alicePki.cert), {
    "grpc.ssl_target_name_override": "localhost",
  });
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      "/booking.v1.BookingService/HoldSeats",
      (message: HoldSeatsRequest) => Buffer.from(toBinary(HoldSeatsRequestSchema, message)),
      (bytes: Buffer) => fromBinary(HoldSeatsResponseSchema, bytes),
      request,
      new Metadata(),
      { deadline: Date.now() + 5000 },
      (error, response) => {
        client.close();
        resolve({ error: error ?? null, response });
      },
    );
  });
}

describe("refusals name every offending seat", () => {
  it("names held seats beside booked ones when a booking meets both, and books none", async () => {
    await bob.bookSeats({ seats: [10, 11] });
    await bob.holdSeats({ seats: [12, 13], ttlMs: 60_000 });
    const error = await failure(alice.bookSeats({ seats: [10, 11, 12, 13, 14] }));
    expect([error.code, error.reason, error.message]).toEqual([
      status.ALREADY_EXISTS,
      "SEAT_ALREADY_BOOKED",
      'seats 10, 11 of show "main" are already booked; seats 12, 13 are held',
    ]);
    expect(error.seats).toEqual([10, 11]);
    expect(error.metadata).toMatchObject({ show_id: "main", seats: "10,11", also_reason: "SEAT_HELD", also_seats: "12,13" });
    // Waiting for the holds would not help: the booked seats stay booked.
    expect(error.retryDelayMs).toBeUndefined();
    const listing = await alice.showAvailable({});
    expect(listing.availableSeats).toContain(14);
    expect(listing.bookedCount).toBe(2);
  });

  it("names seats booked by someone else beside seats not booked when a cancel meets both, and cancels none", async () => {
    await alice.bookSeats({ seats: [30] });
    const error = await failure(alice.cancelSeats({ seats: [10, 20, 30] }));
    expect([error.code, error.reason, error.message]).toEqual([
      status.FAILED_PRECONDITION,
      "SEAT_NOT_BOOKED",
      'seat 20 of show "main" is not booked; seat 10 is booked by another principal',
    ]);
    expect(error.metadata).toMatchObject({ seats: "20", also_reason: "SEAT_NOT_OWNED", also_seats: "10" });
    const listing = await alice.showAvailable({});
    expect(listing.availableSeats).not.toContain(30);
    expect(listing.availableSeats).not.toContain(10);
  });

  it("adds nothing when a single rule is broken", async () => {
    const error = await failure(alice.bookSeats({ seats: [10, 15] }));
    expect(error.message).toBe('seat 10 of show "main" is already booked');
    expect(Object.keys(error.metadata).sort()).toEqual(["seats", "show_id"]);
  });
});

describe("a hold that ended is refused with its show named", () => {
  it("names the hold's show in HOLD_CONFIRMED, HOLD_RELEASED and HOLD_EXPIRED", async () => {
    const show = "Matinee_2.late";
    const confirmed = (await alice.holdSeats({ showId: show, seats: [1], ttlMs: 60_000 })).hold!.holdId;
    await alice.confirmHold({ holdId: confirmed });
    const released = (await alice.holdSeats({ showId: show, seats: [2], ttlMs: 60_000 })).hold!.holdId;
    await alice.releaseHold({ holdId: released });
    const expired = (await alice.holdSeats({ showId: show, seats: [3], ttlMs: 60_000 })).hold!.holdId;
    clock.now += 60_001;

    const refusals = await Promise.all([
      failure(alice.confirmHold({ holdId: confirmed })),
      failure(alice.extendHold({ holdId: released })),
      failure(alice.confirmHold({ holdId: expired })),
    ]);
    expect(refusals.map((error) => [error.reason, error.showId, error.metadata["hold_id"], error.seats])).toEqual([
      ["HOLD_CONFIRMED", show, confirmed, [1]],
      ["HOLD_RELEASED", show, released, [2]],
      ["HOLD_EXPIRED", show, expired, [3]],
    ]);
  });

  it("still names no show to a principal who may not see the hold", async () => {
    const holdId = (await alice.holdSeats({ showId: "Matinee_2.late", seats: [5], ttlMs: 60_000 })).hold!.holdId;
    const error = await failure(bob.confirmHold({ holdId }));
    expect([error.reason, error.showId]).toEqual(["HOLD_NOT_FOUND", ""]);
  });
});

describe("input that cannot mean anything", () => {
  it("refuses a TTL that is not a valid google.protobuf.Duration, and holds nothing", async () => {
    const before = await alice.showAvailable({});
    for (const ttl of [
      { seconds: 60n, nanos: 2_000_000_000 },
      { seconds: 60n, nanos: -1 },
      { seconds: -1n, nanos: 5 },
    ]) {
      const { error } = await rawHold(create(HoldSeatsRequestSchema, { showId: "main", seats: [40], ttl }));
      expect(error?.code).toBe(status.INVALID_ARGUMENT);
      expect(error?.details).toBe(
        `ttl is not a valid google.protobuf.Duration: nanos must be within ±999,999,999 and not of the other sign than seconds, got seconds ${ttl.seconds} and nanos ${ttl.nanos}`,
      );
      const badRequest = richStatusOf(error?.metadata)?.details.find((detail) => detail.typeUrl.endsWith("google.rpc.BadRequest"));
      expect(badRequest).toBeDefined();
      expect(fromBinary(BadRequestSchema, badRequest!.value).fieldViolations.map((violation) => violation.field)).toEqual(["ttl.nanos"]);
    }
    expect((await alice.showAvailable({})).heldCount).toBe(before.heldCount);
    // A well-formed Duration of 60.5 s still holds.
    const { error, response } = await rawHold(create(HoldSeatsRequestSchema, { showId: "main", seats: [40], ttl: { seconds: 60n, nanos: 500_000_000 } }));
    expect(error).toBeNull();
    const expireTime = response!.hold!.expireTime!;
    expect(Number(expireTime.seconds) * 1000 + expireTime.nanos / 1e6 - clock.now).toBe(60_500);
  });

  it("answers INVALID_ARGUMENT for a show id no show can have, on every call that names a show; a well-formed unknown id is NOT_FOUND", async () => {
    const longId = "s".repeat(5000);
    const calls = (showId: string) => [
      alice.bookSeats({ showId, seats: [1] }),
      alice.cancelSeats({ showId, seats: [1] }),
      alice.holdSeats({ showId, seats: [1] }),
      alice.showAvailable({ showId }),
      alice.getShow({ showId }),
      admin.closeShow({ showId }),
    ];
    for (const showId of [longId, "Main Show/../x", "-leading-dash"]) {
      const errors = await Promise.all(calls(showId).map((call) => failure(call)));
      for (const error of errors) {
        expect([error.code, error.reason]).toEqual([status.INVALID_ARGUMENT, "INVALID_ARGUMENT"]);
        expect(error.message).toMatch(/^show_id ".{1,65}" cannot name a show: show ids are 1-64 letters, digits, "_", "\." and "-", starting with a letter or digit$/u);
        expect(error.violations.map((violation) => violation.field)).toEqual(["show_id"]);
      }
    }
    const unknown = await Promise.all(calls("no-such-show").map((call) => failure(call)));
    expect(unknown.map((error) => error.reason)).toEqual(Array(6).fill("SHOW_NOT_FOUND"));
    // An id --shows allows (capitals, "_" and ".") still reaches its show.
    expect((await alice.showAvailable({ showId: "Matinee_2.late" })).totalSeats).toBe(20);
  });

  it("counts a request_id's characters as the client wrote them, not in UTF-16 units, and refuses control characters in it", async () => {
    const booked = await alice.bookSeats({ seats: [50], requestId: "😀".repeat(128) });
    expect(booked.seats).toEqual([50]);
    const error = await failure(alice.bookSeats({ seats: [51], requestId: "😀".repeat(129) }));
    expect([error.code, error.reason, error.message]).toEqual([
      status.INVALID_ARGUMENT,
      "INVALID_REQUEST_ID",
      "request_id is 129 characters long; the maximum is 128",
    ]);
    for (const [requestId, code, position] of [
      ["retry-1\u001b[2J", "U+001B", 8],
      ["a\nb", "U+000A", 2],
      ["abc\u202Edef", "U+202E", 4],
    ] as const) {
      const refused = await failure(alice.bookSeats({ seats: [52], requestId }));
      expect([refused.code, refused.reason, refused.message]).toEqual([
        status.INVALID_ARGUMENT,
        "INVALID_REQUEST_ID",
        `request_id contains the control character ${code} at position ${position}; use printable text`,
      ]);
    }
    expect((await alice.showAvailable({})).availableSeats).toContain(52);
  });

  it("refuses a display name with a control character, and counts its length in characters", async () => {
    for (const [displayName, code, position] of [
      ["Gala\nNight", "U+000A", 5],
      ["\u0000", "U+0000", 1],
      ["Gala \u001b[31mNight", "U+001B", 6],
      ["Gala\u0085", "U+0085", 5],
    ] as const) {
      const error = await failure(admin.createShow({ showId: "gala", totalSeats: 10, displayName }));
      expect([error.code, error.reason, error.message]).toEqual([
        status.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        `display_name contains the control character ${code} at position ${position}; use printable text on one line`,
      ]);
      expect(error.violations.map((violation) => violation.field)).toEqual(["display_name"]);
    }
    await expect(failure(admin.getShow({ showId: "gala" }))).resolves.toMatchObject({ reason: "SHOW_NOT_FOUND" });
    const created = await admin.createShow({ showId: "gala", totalSeats: 10, displayName: "🎭".repeat(200) });
    expect(created.show?.displayName).toBe("🎭".repeat(200));
    const tooLong = await failure(admin.createShow({ showId: "gala-2", totalSeats: 10, displayName: "🎭".repeat(201) }));
    expect(tooLong.message).toBe("display_name is 201 characters long; the maximum is 200");
  });
});
