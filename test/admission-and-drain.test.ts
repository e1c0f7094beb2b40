import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { credentials, makeGenericClientConstructor, status, type Client, type ClientReadableStream } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBookingClient, isBookingError, type BookingClient } from "../client/index.js";
import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
  type HealthCheckResponse,
} from "../gen/grpc/health/v1/health_pb.js";
import { RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import { rawCall } from "./support/raw-client.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;
const clients: BookingClient[] = [];

beforeAll(async () => {
  server = await startTestServer({
    server: { readRatePerSecond: 20, readBurst: 20, writeRatePerSecond: 1000, writeBurst: 1000 },
  });
});

afterAll(async () => {
  for (const client of clients) client.close();
  await server.stop();
});

describe("per-principal rate limits", () => {
  it("refuses a flood of ShowAvailable with RESOURCE_EXHAUSTED and RetryInfo, while another client's bookings all go through", async () => {
    const credentialsOf = (name: "alice" | "bob") =>
      credentials.createSsl(server.pki.caCert, server.pki.clients[name].key, server.pki.clients[name].cert);
    const flood = Array.from({ length: 200 }, () => rawCall(server.address, credentialsOf("bob"), "showAvailable", {}));
    const alice = createBookingClient({
      address: server.address,
      ca: server.pki.caCert,
      cert: server.pki.clients.alice.cert,
      key: server.pki.clients.alice.key,
      retry: { maxAttempts: 1 },
    });
    clients.push(alice);
    const bookings = Array.from({ length: 50 }, (_, index) => alice.bookSeats({ seats: [index + 1] }));

    const floodOutcomes = await Promise.all(flood);
    const booked = await Promise.all(bookings);
    expect(booked.flatMap((response) => response.seats)).toHaveLength(50);

    const limited = floodOutcomes.filter((outcome) => outcome.error?.code === status.RESOURCE_EXHAUSTED);
    const served = floodOutcomes.filter((outcome) => outcome.error === null);
    expect(served.length).toBeGreaterThanOrEqual(20);
    expect(limited.length + served.length).toBe(200);
    expect(limited.length).toBeGreaterThan(100);
    const first = limited[0]!.error!;
    expect(first.details).toMatch(/exceeded its read rate limit; retry in \d+ ms/);
    const details = fromBinary(StatusSchema, first.metadata.get("grpc-status-details-bin")[0] as Buffer);
    const retry = details.details.map((any) => anyUnpack(any, RetryInfoSchema)).find((value) => value !== undefined);
    expect(Number(retry?.retryDelay?.nanos ?? 0) + Number(retry?.retryDelay?.seconds ?? 0n) * 1e9).toBeGreaterThan(0);
  });

  it("lets the SDK wait out RetryInfo and succeed", async () => {
    let retriedAfterRetryInfo = 0;
    const retrying = createBookingClient({
      address: server.address,
      ca: server.pki.caCert,
      cert: server.pki.clients.bob.cert,
      key: server.pki.clients.bob.key,
      retry: { maxAttempts: 5, onRetry: (event) => void (event.error.retryDelayMs !== undefined && retriedAfterRetryInfo++) },
    });
    clients.push(retrying);
    // Bob's read budget is spent by the flood above; every call below must
    // still succeed, because the SDK waits as long as RetryInfo says.
    for (let call = 0; call < 40; call++) {
      const listed = await retrying.showAvailable({});
      expect(listed.totalSeats).toBe(100);
    }
    expect(retriedAfterRetryInfo).toBeGreaterThan(0);
  });
});

describe("draining", () => {
  it("turns health NOT_SERVING before the server stops", async () => {
    const draining = await startTestServer();
    const HealthClient = makeGenericClientConstructor(
      {
        watch: {
          path: `/${Health.typeName}/Watch`,
          requestStream: false,
          responseStream: true,
          requestSerialize: (request: unknown) => Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, request as object))),
          requestDeserialize: (bytes: Buffer) => fromBinary(HealthCheckRequestSchema, bytes),
          responseSerialize: () => Buffer.alloc(0),
          responseDeserialize: (bytes: Buffer) => fromBinary(HealthCheckResponseSchema, bytes),
        },
      },
      "Health",
    );
    const health = new HealthClient(
      draining.address,
      credentials.createSsl(draining.pki.caCert, draining.pki.clients.alice.key, draining.pki.clients.alice.cert),
    ) as unknown as Client & { watch(request: object): ClientReadableStream<HealthCheckResponse> };
    const seen: HealthCheckResponse_ServingStatus[] = [];
    const stream = health.watch({ service: "booking.v1.BookingService" });
    const notServing = new Promise<void>((resolve) => {
      stream.on("data", (response: HealthCheckResponse) => {
        seen.push(response.status);
        if (response.status === HealthCheckResponse_ServingStatus.NOT_SERVING) resolve();
      });
    });
    stream.on("error", () => {});
    while (seen.length === 0) await new Promise((resolve) => setImmediate(resolve));
    const stopped = draining.stop();
    await notServing;
    stream.cancel();
    health.close();
    await stopped;
    expect(seen).toEqual([HealthCheckResponse_ServingStatus.SERVING, HealthCheckResponse_ServingStatus.NOT_SERVING]);
  });
});
