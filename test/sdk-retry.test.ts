import { createServer, type Server } from "node:net";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createBookingClient,
  isBookingError,
  type BookingClient,
  type BookingClientOptions,
  type BookingError,
  type RetryEvent,
} from "../client/index.js";
import type { RpcObserver } from "../src/transport/unary-handler.js";
import { TcpProxy } from "./support/tcp-proxy.js";
import { DEV_PRINCIPALS, createTestPki, type TestPki } from "./support/test-pki.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let pki: TestPki;
let server: TestServer;
let limited: TestServer;
let hangUp: Server;
let hangUpPort: number;
/** Called when a BookSeats call has committed, just before its reply is sent. */
let onBookCommitted: (() => void) | undefined;
const proxies: TcpProxy[] = [];
const clients: BookingClient[] = [];

const observer: RpcObserver = {
  callStarted: () => {},
  callFinished: (method, code) => {
    if (method === "BookSeats" && code === status.OK) onBookCommitted?.();
  },
  callRejected: () => {},
};

beforeAll(async () => {
  pki = await createTestPki();
  server = await startTestServer({ pki, server: { observer } });
  // 2 writes a second, burst 1: a second write right after the first is told to wait ~500 ms.
  limited = await startTestServer({ pki, server: { writeRatePerSecond: 2, writeBurst: 1 } });
  // A "server" that accepts TCP connections and hangs up at once, like one restarting.
  hangUp = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => hangUp.listen(0, "127.0.0.1", resolve));
  const address = hangUp.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  hangUpPort = address.port;
});

afterAll(async () => {
  for (const client of clients) client.close();
  for (const proxy of proxies) await proxy.close();
  await new Promise<void>((resolve) => hangUp.close(() => resolve()));
  await server.stop();
  await limited.stop();
});

async function proxyTo(port: number): Promise<TcpProxy> {
  const proxy = await TcpProxy.start(port);
  proxies.push(proxy);
  return proxy;
}

function client(port: number, options: Partial<BookingClientOptions> = {}): BookingClient {
  const created = createBookingClient({
    address: `127.0.0.1:${port}`,
    ca: pki.caCert,
    cert: pki.clients.alice.cert,
    key: pki.clients.alice.key,
    ...options,
  });
  clients.push(created);
  return created;
}

async function failure(promise: Promise<unknown>): Promise<BookingError> {
  try {
    await promise;
  } catch (error) {
    if (isBookingError(error)) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

function bookLogLines(target: TestServer, requestId: string | undefined): Record<string, unknown>[] {
  return target.logLines.filter((line) => line["method"] === "BookSeats" && line["request_id"] === requestId);
}

describe("createBookingClient retries", () => {
  it("retries a booking whose reply was lost after the commit with the same request id, and gets the replayed outcome", async () => {
    const proxy = await proxyTo(server.port);
    const events: RetryEvent[] = [];
    const alice = client(proxy.port, { retry: { initialBackoffMs: 20, onRetry: (event) => events.push(event) } });
    onBookCommitted = () => {
      onBookCommitted = undefined;
      proxy.resetConnections(); // the reply is not written yet: it is lost with the connection
    };

    const booked = await alice.bookSeats({ seats: [5, 6] });

    expect(booked.seats).toEqual([5, 6]);
    expect(booked.owner).toBe(DEV_PRINCIPALS.alice);
    expect(booked.replayed).toBe(true);
    expect(events).toHaveLength(1);
    expect(events[0]?.error.codeName).toBe("UNAVAILABLE");
    const requestId = events[0]?.requestId;
    // A time-ordered (version 7) UUID, made by the SDK.
    expect(requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Both attempts reached the server under one id, and both succeeded: one booking, one replay.
    expect(bookLogLines(server, requestId).map((line) => line["code"])).toEqual(["OK", "OK"]);
    const snapshot = await alice.showAvailable({});
    expect(snapshot.availableSeats).not.toContain(5);
    expect(snapshot.availableSeats).not.toContain(6);
  });

  it("retries a call whose connection is refused until the server answers, sending it once", async () => {
    const proxy = await proxyTo(hangUpPort);
    const events: RetryEvent[] = [];
    const alice = client(proxy.port, {
      retry: {
        maxAttempts: 20,
        initialBackoffMs: 10,
        maxBackoffMs: 100,
        onRetry: (event) => {
          events.push(event);
          proxy.retarget(server.port); // the server is back
        },
      },
    });

    const booked = await alice.bookSeats({ seats: [10] });

    expect(booked.replayed).toBe(false);
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.every((event) => event.error.code === status.UNAVAILABLE)).toBe(true);
    expect(new Set(events.map((event) => event.requestId)).size).toBe(1);
    expect(bookLogLines(server, events[0]?.requestId).map((line) => line["code"])).toEqual(["OK"]);
  });

  it("gives up after maxAttempts with UNAVAILABLE, the request id and the number of attempts", async () => {
    const proxy = await proxyTo(hangUpPort);
    const events: RetryEvent[] = [];
    const alice = client(proxy.port, {
      retry: { maxAttempts: 3, initialBackoffMs: 10, onRetry: (event) => events.push(event) },
    });

    const error = await failure(alice.bookSeats({ seats: [11] }, { requestId: "sdk-retry-gives-up" }));

    expect(error.codeName).toBe("UNAVAILABLE");
    expect(error.attempts).toBe(3);
    expect(error.requestId).toBe("sdk-retry-gives-up");
    expect(events.map((event) => event.attempt)).toEqual([1, 2]);
  });

  it("stops with CANCELLED when the caller aborts while it waits to retry", async () => {
    const proxy = await proxyTo(hangUpPort);
    const controller = new AbortController();
    const alice = client(proxy.port, { retry: { maxAttempts: 10, onRetry: () => controller.abort() } });

    const error = await failure(alice.showAvailable({}, { signal: controller.signal }));

    expect(error.codeName).toBe("CANCELLED");
    expect(error.attempts).toBe(1);
  });

  it("ends a call waiting to retry when the client closes, with FAILED_PRECONDITION, not when the wait would have ended", async () => {
    const proxy = await proxyTo(hangUpPort);
    // A wait of at least an hour: were close() not to end it, the test would time out.
    const alice = client(proxy.port, {
      defaultDeadlineMs: 7_200_000,
      retry: { maxAttempts: 10, initialBackoffMs: 3_600_000, maxBackoffMs: 3_600_000, onRetry: () => alice.close() },
    });

    const error = await failure(alice.bookSeats({ seats: [12] }, { requestId: "sdk-retry-closed" }));

    expect([error.codeName, error.message, error.attempts, error.requestId]).toEqual([
      "FAILED_PRECONDITION",
      "the booking client is closed",
      1,
      "sdk-retry-closed",
    ]);
  });

  it("does not retry a refusal, and reports its reason, show and seats", async () => {
    const events: RetryEvent[] = [];
    const alice = client(server.port, { retry: { onRetry: (event) => events.push(event) } });
    await alice.bookSeats({ seats: [20, 21] });

    const error = await failure(alice.bookSeats({ seats: [19, 20, 21] }));

    expect(error.code).toBe(status.ALREADY_EXISTS);
    expect(error.codeName).toBe("ALREADY_EXISTS");
    expect(error.reason).toBe("SEAT_ALREADY_BOOKED");
    expect(error.domain).toBe("booking.v1");
    expect(error.showId).toBe("main");
    expect(error.seats).toEqual([20, 21]);
    expect(error.message).toContain("20, 21");
    expect(error.attempts).toBe(1);
    expect(error.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(events).toEqual([]);
  });

  it("reports field violations from google.rpc.BadRequest", async () => {
    const alice = client(server.port);

    const error = await failure(alice.bookSeats({ seats: [0, 101] }));

    expect(error.codeName).toBe("INVALID_ARGUMENT");
    expect(error.reason).toBe("INVALID_SEATS");
    expect(error.seats).toEqual([0, 101]);
    expect(error.violations.length).toBeGreaterThan(0);
    expect(error.violations.every((violation) => violation.field.startsWith("seats"))).toBe(true);
  });

  it("uses a request id given in the call options, so a repeated call is replayed", async () => {
    const alice = client(server.port);

    const first = await alice.bookSeats({ seats: [30] }, { requestId: "sdk-retry-options-id" });
    const again = await alice.bookSeats({ seats: [30] }, { requestId: "sdk-retry-options-id" });

    expect([first.replayed, again.replayed]).toEqual([false, true]);
    expect(bookLogLines(server, "sdk-retry-options-id")).toHaveLength(2);
  });

  it("accepts request ids that metadata cannot carry, such as non-ASCII ones", async () => {
    const alice = client(server.port);

    const first = await alice.bookSeats({ seats: [31], requestId: "réservation n° 31" });
    const again = await alice.bookSeats({ seats: [31], requestId: "réservation n° 31" });

    expect([first.replayed, again.replayed]).toEqual([false, true]);
  });

  it("waits out RESOURCE_EXHAUSTED for the delay the server's RetryInfo asks, then succeeds", async () => {
    const events: RetryEvent[] = [];
    const alice = client(limited.port, { retry: { onRetry: (event) => events.push(event) } });
    await alice.bookSeats({ seats: [1] });

    const booked = await alice.bookSeats({ seats: [2] });

    expect(booked.seats).toEqual([2]);
    expect(events.length).toBeGreaterThanOrEqual(1);
    const told = events[0]?.error;
    expect(told?.codeName).toBe("RESOURCE_EXHAUSTED");
    expect(told?.reason).toBe("RATE_LIMITED");
    expect(told?.retryDelayMs).toBeGreaterThan(0);
    expect(events[0]?.delayMs).toBeGreaterThanOrEqual(told?.retryDelayMs ?? Infinity);
  });

  it("does not retry RESOURCE_EXHAUSTED when retries are off, and reports the delay asked for", async () => {
    const alice = client(limited.port, { retry: { maxAttempts: 1 } });
    await alice.bookSeats({ seats: [3] }).catch(() => undefined); // spend the burst, whoever had it

    const error = await failure(alice.bookSeats({ seats: [4] }));

    expect(error.codeName).toBe("RESOURCE_EXHAUSTED");
    expect(error.retryDelayMs).toBeGreaterThan(0);
    expect(error.attempts).toBe(1);
  });
});
