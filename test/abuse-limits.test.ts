import { create, toBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BookSeatsRequestSchema } from "../gen/booking/v1/booking_pb.js";
import { AbuseChannel, BOOKING_PATHS, SERVING } from "./support/abuse-channel.js";
import { closeRawSession, grpcFrame, openRawSession, rawUnary } from "./support/abuse-h2.js";
import { startAbuseServerProcess, type AbuseServerProcess } from "./support/abuse-server-process.js";
import { mib } from "./support/abuse-stats.js";
import { errorReason } from "./support/abuse-status.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const KIB = 1024;
const MIB = 1024 * KIB;

let server: TestServer;
let alice: AbuseChannel;

/** A BookSeatsRequest whose encoding is exactly `size` bytes: a show id of the right length. */
function requestOfSize(size: number): Uint8Array {
  for (let length = size - 16; length <= size; length++) {
    const request = create(BookSeatsRequestSchema, { showId: "x".repeat(length), seats: [1] });
    const bytes = toBinary(BookSeatsRequestSchema, request);
    if (bytes.length === size) return bytes;
  }
  throw new Error(`no request encodes to exactly ${size} bytes`);
}

beforeAll(async () => {
  server = await startTestServer();
  alice = AbuseChannel.open(server.address, server.pki.caCert, server.pki.clients.alice);
});

afterAll(async () => {
  alice?.close();
  await server?.stop();
});

describe("BookingServer message limits", () => {
  it("answers RESOURCE_EXHAUSTED to a 25,000-seat request larger than the default 64 KiB, and changes nothing", async () => {
    const seats = Array.from({ length: 25_000 }, (_, index) => 100_001 + index);
    expect(toBinary(BookSeatsRequestSchema, create(BookSeatsRequestSchema, { seats })).length).toBeGreaterThan(64 * KIB);
    const result = await alice.booking("bookSeats", { showId: "main", seats });
    expect({ code: status[result.code], details: result.details }).toEqual({
      code: "RESOURCE_EXHAUSTED",
      details: expect.stringContaining("larger than max") as unknown,
    });
    expect((await alice.booking("showAvailable", { showId: "main" })).response).toMatchObject({ bookedCount: 0 });
  });

  it("judges a request of exactly 64 KiB on its content, and refuses one byte more", async () => {
    const channel = AbuseChannel.open(server.address, server.pki.caCert, server.pki.clients.bob);
    try {
      // The content is a show id of almost 64 KiB, which no show can have: INVALID_ARGUMENT.
      const atLimit = await channel.bytes(BOOKING_PATHS.bookSeats, requestOfSize(64 * KIB), { deadline: Date.now() + 5000 });
      const overLimit = await channel.bytes(BOOKING_PATHS.bookSeats, requestOfSize(64 * KIB + 1), {
        deadline: Date.now() + 5000,
      });
      expect(status[atLimit.code]).toBe("INVALID_ARGUMENT");
      expect(status[overLimit.code]).toBe("RESOURCE_EXHAUSTED");
    } finally {
      channel.close();
    }
  });

  it("answers a show id of any length without echoing it whole (NOT_FOUND up to 64 characters, INVALID_ARGUMENT beyond), and the connection keeps working", async () => {
    const channel = AbuseChannel.open(server.address, server.pki.caCert, server.pki.clients.bob);
    try {
      for (const length of [64, 100, 1_000, 30_000, 60_000]) {
        const showId = "s".repeat(length);
        // A bound on waiting, not a timing assertion: a stuck call ends as DEADLINE_EXCEEDED.
        const answer = await channel.booking("showAvailable", { showId }, { deadline: Date.now() + 5000 });
        const echoed = answer.trailers?.get("grpc-status-details-bin")[0]?.length ?? 0;
        expect({ length, code: status[answer.code] }).toEqual({ length, code: length <= 64 ? "NOT_FOUND" : "INVALID_ARGUMENT" });
        expect(answer.details.length + echoed).toBeLessThan(8 * KIB);
        expect(status[(await channel.booking("showAvailable", { showId: "small" })).code]).toBe("OK");
      }
    } finally {
      channel.close();
    }
  });

  it("applies a configured maximum receive size instead of the default", async () => {
    const small = await startTestServer({ pki: server.pki, server: { maxReceiveBytes: 1024 } });
    const channel = AbuseChannel.open(small.address, small.pki.caCert, small.pki.clients.bob);
    try {
      expect(status[(await channel.bytes(BOOKING_PATHS.bookSeats, requestOfSize(1024))).code]).toBe("INVALID_ARGUMENT");
      expect(status[(await channel.bytes(BOOKING_PATHS.bookSeats, requestOfSize(1025))).code]).toBe("RESOURCE_EXHAUSTED");
    } finally {
      channel.close();
      await small.stop();
    }
  });

  it("serves the per-request seat maximum (64) and refuses one seat more with INVALID_ARGUMENT, booking none", async () => {
    const sixtyFour = Array.from({ length: 64 }, (_, index) => index + 1);
    const booked = await alice.booking("bookSeats", { showId: "main", seats: sixtyFour });
    expect(status[booked.code]).toBe("OK");
    await alice.booking("cancelSeats", { showId: "main", seats: sixtyFour });
    const refused = await alice.booking("bookSeats", { showId: "main", seats: [...sixtyFour, 65] });
    expect({ code: status[refused.code], reason: errorReason(refused.trailers) }).toEqual({
      code: "INVALID_ARGUMENT",
      reason: "TOO_MANY_SEATS",
    });
    expect((await alice.booking("showAvailable", { showId: "main" })).response).toMatchObject({ bookedCount: 0 });
  });
});

describe("BookingServer with compressed requests", () => {
  it.each([
    { algorithm: "gzip", key: 2 },
    { algorithm: "deflate", key: 1 },
  ])("answers RESOURCE_EXHAUSTED to a $algorithm message that inflates past 64 KiB", async ({ key }) => {
    const channel = AbuseChannel.open(server.address, server.pki.caCert, server.pki.clients.bob, {
      channelOptions: { "grpc.default_compression_algorithm": key },
    });
    try {
      // 1 MB of request that compresses to about 1 KiB: only its inflation crosses the limit.
      const bomb = await channel.booking("bookSeats", { showId: "a".repeat(1_000_000), seats: [1] });
      expect({ code: status[bomb.code], details: bomb.details }).toEqual({
        code: "RESOURCE_EXHAUSTED",
        details: "Received message that decompresses to a size larger than 65536",
      });
      // The same channel still compresses, and a small compressed request is served.
      expect(status[(await channel.booking("bookSeats", { showId: "small", seats: [5] })).code]).toBe("OK");
      await channel.booking("cancelSeats", { showId: "small", seats: [5] });
    } finally {
      channel.close();
    }
  });
});

describe("BookingServer process under decompression bombs", () => {
  let target: AbuseServerProcess;

  beforeAll(async () => {
    target = await startAbuseServerProcess();
  });

  afterAll(async () => {
    await target?.stop();
  });

  it("refuses sixteen concurrent 60 MiB bombs without inflating them whole: peak memory grows by far less than one", async () => {
    // The most a deflate stream inflates: about 1000:1, so 60 MiB of zeros
    // fits in one compressed message under the 64 KiB frame limit.
    const bomb = gzipSync(Buffer.alloc(60 * MIB), { level: 9 });
    expect(bomb.length).toBeLessThan(64 * KIB);
    const session = await openRawSession(target.address, target.pki.caCert, target.pki.clients.alice);
    try {
      const before = await target.memory();
      const results = await Promise.all(
        Array.from({ length: 16 }, () =>
          rawUnary(session, BOOKING_PATHS.bookSeats, grpcFrame(bomb, true), { "grpc-encoding": "gzip" }),
        ),
      );
      const after = await target.memory();
      console.info(
        `abuse-limits bombs: 16 x ${mib(60 * MIB)} inflated (${bomb.length} bytes each on the wire); ` +
          `server peak rss ${mib(before.peakRss)} -> ${mib(after.peakRss)}, rss after GC ${mib(after.rss)}`,
      );
      for (const result of results) {
        expect({ status: result.grpcStatus, message: result.grpcMessage }).toEqual({
          status: status.RESOURCE_EXHAUSTED,
          message: "Received message that decompresses to a size larger than 65536",
        });
      }
      // Inflating even one bomb whole would take 60 MiB; sixteen, 960 MiB.
      expect(after.peakRss - before.peakRss).toBeLessThan(48 * MIB);
    } finally {
      await closeRawSession(session);
    }
    const check = AbuseChannel.open(target.address, target.pki.caCert, target.pki.clients.bob);
    try {
      expect((await check.health()).response).toBe(SERVING);
    } finally {
      check.close();
    }
  });
});
