import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  AvailabilityForm,
  BookingError,
  createBookingClient,
  isBookingError,
  SeatChangeKind,
  ShowState,
  type AvailabilityWatch,
  type BookingClient,
  type WatchReconnectedEvent,
  type WatchRetryEvent,
  type WatchUpdate,
} from "../client/index.js";
import { startServerProcess, type ServerProcess } from "./support/server-process.js";
import { writeTestPki, type TestCertificate, type WrittenTestPki } from "./support/test-pki.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { startWatch, type WatchRequestWire, type WatchStream } from "../client/watch-availability.js";
import { WatchAvailabilityResponseSchema } from "../gen/booking/v1/booking_pb.js";

/** A scripted server stream: the test pushes messages and ends it; cancel() ends it CANCELLED, as grpc-js does. */
class FakeStream extends Readable implements WatchStream {
  cancelled = false;

  constructor(readonly address: string, readonly request: WatchRequestWire) {
    super({ objectMode: true, read: () => {} });
  }

  send(event: NonNullable<MessageInitShape<typeof WatchAvailabilityResponseSchema>["event"]>): void {
    this.push(create(WatchAvailabilityResponseSchema, { event } as MessageInitShape<typeof WatchAvailabilityResponseSchema>));
  }

  /** Ends the stream with an error after the messages already sent, as grpc-js does with a status. */
  fail(error: BookingError): void {
    this.push(null);
    this.emit("error", error);
  }

  cancel(): void {
    if (this.cancelled || this.readableEnded) return;
    this.cancelled = true;
    this.fail(new BookingError(status.CANCELLED, "Cancelled on client"));
  }
}

/** A fake server: every subscription is a FakeStream the test scripts through `next()`. */
function fakeServer() {
  const streams: FakeStream[] = [];
  const waiting: ((stream: FakeStream) => void)[] = [];
  return {
    streams,
    open: (address: string, request: WatchRequestWire): FakeStream => {
      const stream = new FakeStream(address, request);
      streams.push(stream);
      waiting.shift()?.(stream);
      return stream;
    },
    /** The subscription number `index` (from 0), once it is made. */
    subscription: (index: number): Promise<FakeStream> =>
      streams[index] !== undefined ? Promise.resolve(streams[index]) : new Promise((resolve) => waiting.push(resolve)),
  };
}

const policy = { maxAttempts: 4, initialBackoffMs: 1, maxBackoffMs: 4 };

function snapshotEvent(version: bigint, free: number[], held: number[] = [], total = 10) {
  return {
    case: "snapshot" as const,
    value: {
      showId: "main",
      version,
      totalSeats: total,
      bookedCount: total - free.length - held.length,
      heldCount: held.length,
      freeSeats: free,
      heldSeats: held,
      state: ShowState.OPEN,
    },
  };
}

function changesEvent(...changes: [version: bigint, kind: SeatChangeKind, seats: number[]][]) {
  return {
    case: "changes" as const,
    value: { showId: "main", changes: changes.map(([version, kind, seats]) => ({ version, kind, seats })) },
  };
}

const range = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, index) => first + index);

describe("watchAvailability without a server", () => {
  it("hands out the snapshot and then each batch of changes, applied to the seat map", async () => {
    const server = fakeServer();
    const watch = startWatch({ open: server.open, address: "a:1", policy }, { showId: "main" });
    const updates: WatchUpdate[] = [];
    void server.subscription(0).then((stream) => {
      stream.send(snapshotEvent(3n, range(1, 10)));
      stream.send(changesEvent([4n, SeatChangeKind.BOOKED, [1, 2]], [5n, SeatChangeKind.HELD, [3]]));
    });
    for await (const update of watch) {
      updates.push(update);
      if (update.seatMap.version === 5n) break;
    }
    expect(server.streams[0]?.request).toEqual({ showId: "main" });
    expect(updates.map((update) => update.kind)).toEqual(["snapshot", "changes"]);
    expect(updates[0]).toMatchObject({ kind: "snapshot", version: 3n, resumeTooOld: false, freeRanges: [{ first: 1, last: 10 }] });
    expect(updates[1]).toMatchObject({ kind: "changes", version: 5n, resumed: false });
    expect(watch.seatMap).toMatchObject({ version: 5n, freeCount: 7, heldCount: 1, bookedCount: 2 });
    // Breaking out of the loop cancelled the stream.
    expect(server.streams[0]?.cancelled).toBe(true);
  });

  it("resumes after UNAVAILABLE from the last version applied, at the next address, and drops changes it has", async () => {
    const server = fakeServer();
    const retries: WatchRetryEvent[] = [];
    const reconnected: unknown[] = [];
    const watch = startWatch(
      { open: server.open, address: "a:1", policy },
      {},
      {
        addresses: ["a:1", "b:2"],
        retry: { onRetry: (event) => retries.push(event) },
        onReconnected: (event) => reconnected.push(event),
      },
    );
    void (async () => {
      const first = await server.subscription(0);
      first.send(snapshotEvent(3n, range(1, 10)));
      first.send(changesEvent([4n, SeatChangeKind.BOOKED, [1]]));
      first.fail(new BookingError(status.UNAVAILABLE, "Connection dropped"));
      const second = await server.subscription(1);
      second.emit("metadata");
      // Version 4 again (a duplicate), then 5.
      second.send(changesEvent([4n, SeatChangeKind.BOOKED, [1]], [5n, SeatChangeKind.BOOKED, [2]]));
    })();
    const versions: bigint[] = [];
    const resumedFlags: boolean[] = [];
    for await (const update of watch) {
      if (update.kind === "changes") {
        versions.push(...update.changes.map((change) => change.version));
        resumedFlags.push(update.resumed);
      }
      if (update.seatMap.version === 5n) break;
    }
    expect(versions).toEqual([4n, 5n]);
    expect(resumedFlags).toEqual([false, true]);
    expect(server.streams.map((stream) => [stream.address, stream.request])).toEqual([
      ["a:1", { showId: "" }],
      ["b:2", { showId: "main", resumeFromVersion: 4n }],
    ]);
    expect(retries).toMatchObject([{ attempt: 1, address: "b:2", fromVersion: 4n, error: { codeName: "UNAVAILABLE" } }]);
    expect(reconnected).toEqual([{ address: "b:2", fromVersion: 4n }]);
  });

  it("ends the loop with the error an onReconnected callback throws, instead of an uncaught exception, and cancels the stream", async () => {
    const server = fakeServer();
    const mistake = new Error("the app's own bug");
    const watch = startWatch(
      { open: server.open, address: "a:1", policy },
      {},
      {
        onReconnected: () => {
          throw mistake;
        },
      },
    );
    let emitted: "returned" | unknown = "not yet";
    void (async () => {
      const first = await server.subscription(0);
      first.send(snapshotEvent(3n, range(1, 10)));
      first.fail(new BookingError(status.UNAVAILABLE, "Connection dropped"));
      const second = await server.subscription(1);
      try {
        second.emit("metadata");
        emitted = "returned";
      } catch (error) {
        emitted = error;
      }
    })();
    const kinds: string[] = [];
    const loop = (async () => {
      for await (const update of watch) kinds.push(update.kind);
    })();
    await expect(loop).rejects.toBe(mistake);
    expect(emitted).toBe("returned");
    expect(kinds).toEqual(["snapshot"]);
    expect(server.streams[1]?.cancelled).toBe(true);
  });

  it("subscribes again from the last version applied when changes skip a version", async () => {
    const server = fakeServer();
    const watch = startWatch({ open: server.open, address: "a:1", policy }, { showId: "main" });
    void (async () => {
      const first = await server.subscription(0);
      first.send(snapshotEvent(3n, range(1, 10)));
      first.send(changesEvent([5n, SeatChangeKind.BOOKED, [2]]));
      const second = await server.subscription(1);
      second.send(changesEvent([4n, SeatChangeKind.BOOKED, [1]], [5n, SeatChangeKind.BOOKED, [2]]));
    })();
    const seen: bigint[] = [];
    for await (const update of watch) {
      seen.push(update.seatMap.version);
      if (update.seatMap.version === 5n) break;
    }
    expect(seen).toEqual([3n, 5n]);
    expect(server.streams[0]?.cancelled).toBe(true);
    expect(server.streams[1]?.request.resumeFromVersion).toBe(3n);
    expect(watch.seatMap?.seatsWith("booked")).toEqual([1, 2]);
  });

  it("replaces the map when a resume was too old, and resumes after SLOW_CONSUMER", async () => {
    const server = fakeServer();
    const retries: WatchRetryEvent[] = [];
    const watch = startWatch({ open: server.open, address: "a:1", policy }, {}, { retry: { onRetry: (event) => retries.push(event) } });
    void (async () => {
      const first = await server.subscription(0);
      first.send(snapshotEvent(3n, range(1, 10)));
      first.fail(new BookingError(status.RESOURCE_EXHAUSTED, "fell behind", { reason: "SLOW_CONSUMER", retryDelayMs: 0 }));
      const second = await server.subscription(1);
      second.send({ ...snapshotEvent(90n, range(5, 10)), value: { ...snapshotEvent(90n, range(5, 10)).value, resumeTooOld: true } });
    })();
    const updates: WatchUpdate[] = [];
    for await (const update of watch) {
      updates.push(update);
      if (updates.length === 2) break;
    }
    expect(retries).toMatchObject([{ error: { reason: "SLOW_CONSUMER" }, fromVersion: 3n }]);
    expect(updates[1]).toMatchObject({ kind: "snapshot", version: 90n, resumeTooOld: true });
    expect(updates[1]?.seatMap).toBe(updates[0]?.seatMap);
    expect(watch.seatMap).toMatchObject({ version: 90n, freeCount: 6 });
  });

  it("waits as long as RetryInfo asks before subscribing again", async () => {
    const server = fakeServer();
    const retries: WatchRetryEvent[] = [];
    const watch = startWatch({ open: server.open, address: "a:1", policy, random: () => 0 }, {}, { retry: { onRetry: (event) => retries.push(event) } });
    void (async () => {
      (await server.subscription(0)).fail(new BookingError(status.RESOURCE_EXHAUSTED, "busy", { reason: "OVERLOADED", retryDelayMs: 30 }));
      (await server.subscription(1)).send(snapshotEvent(1n, range(1, 10)));
    })();
    const started = Date.now();
    for await (const update of watch) {
      expect(update.kind).toBe("snapshot");
      break;
    }
    expect(retries.map((event) => event.delayMs)).toEqual([30]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(29);
  });

  it("throws a BookingError for a failure it does not resume from, without retrying", async () => {
    const server = fakeServer();
    const watch = startWatch({ open: server.open, address: "a:1", policy }, { showId: "nope" });
    void server.subscription(0).then((stream) => stream.fail(new BookingError(status.NOT_FOUND, 'show "nope" does not exist', { reason: "SHOW_NOT_FOUND" })));
    const error = await (async () => {
      try {
        for await (const _ of watch) throw new Error("expected no update");
      } catch (caught) {
        return caught;
      }
      throw new Error("expected the loop to throw");
    })();
    expect(isBookingError(error) && error.reason).toBe("SHOW_NOT_FOUND");
    expect(server.streams).toHaveLength(1);
  });

  it("gives up after maxAttempts failed subscriptions in a row, when told to", async () => {
    const server = fakeServer();
    const watch = startWatch({ open: server.open, address: "a:1", policy }, {}, { retry: { maxAttempts: 3 } });
    void (async () => {
      for (let index = 0; index < 3; index++) (await server.subscription(index)).fail(new BookingError(status.UNAVAILABLE, "no connection"));
    })();
    const error = await (async () => {
      try {
        for await (const _ of watch) throw new Error("expected no update");
      } catch (caught) {
        return caught;
      }
      throw new Error("expected the loop to throw");
    })();
    expect(error).toMatchObject({ codeName: "UNAVAILABLE", attempts: 3 });
    expect(server.streams).toHaveLength(3);
  });

  it("ends with CANCELLED when the signal aborts, and quietly on close()", async () => {
    const server = fakeServer();
    const controller = new AbortController();
    const aborted = startWatch({ open: server.open, address: "a:1", policy }, {}, { signal: controller.signal });
    void server.subscription(0).then((stream) => {
      stream.send(snapshotEvent(1n, range(1, 10)));
    });
    const error = await (async () => {
      try {
        for await (const _ of aborted) controller.abort();
      } catch (caught) {
        return caught;
      }
      throw new Error("expected the loop to throw");
    })();
    expect(error).toMatchObject({ codeName: "CANCELLED" });
    expect(server.streams[0]?.cancelled).toBe(true);

    const closing = startWatch({ open: server.open, address: "a:1", policy }, {});
    void server.subscription(1).then((stream) => stream.send(snapshotEvent(1n, range(1, 10))));
    const kinds: string[] = [];
    for await (const update of closing) {
      kinds.push(update.kind);
      // Closed from outside the loop while the loop waits for the next message.
      setImmediate(() => closing.close());
    }
    expect(kinds).toEqual(["snapshot"]);
    expect(server.streams[1]?.cancelled).toBe(true);
  });
});

/** Follows a watch in the background: every version it applied, and a way to wait for one. */
function follow(watch: AvailabilityWatch) {
  const versions: bigint[] = [];
  const updates: WatchUpdate[] = [];
  const waiters: { version: bigint; resolve: () => void; reject: (error: unknown) => void }[] = [];
  let failure: unknown;
  const settle = () => {
    const reached = watch.seatMap?.version;
    for (const waiter of [...waiters]) {
      if (failure !== undefined) waiter.reject(failure);
      else if (reached !== undefined && reached >= waiter.version) waiter.resolve();
      else continue;
      waiters.splice(waiters.indexOf(waiter), 1);
    }
  };
  const done = (async () => {
    try {
      for await (const update of watch) {
        updates.push(update);
        if (update.kind === "snapshot") versions.push(update.version);
        else versions.push(...update.changes.map((change) => change.version));
        settle();
      }
    } catch (error) {
      failure = error;
      settle();
    }
  })();
  return {
    versions,
    updates,
    done,
    /** Resolves once the seat map is at `version` or later; rejects if the watch fails first. */
    reach: (version: bigint) =>
      new Promise<void>((resolve, reject) => {
        waiters.push({ version, resolve, reject });
        settle();
      }),
  };
}

/** The seat map equals ShowAvailable, read after the map reached the listing's version with nothing committed since. */
async function expectMapMatchesListing(client: BookingClient, followed: ReturnType<typeof follow>, watch: AvailabilityWatch, showId: string) {
  const listing = await client.showAvailable({ showId, form: AvailabilityForm.BOTH });
  await followed.reach(listing.version);
  const map = watch.seatMap!;
  expect(map.version).toBe(listing.version);
  expect({
    total: map.totalSeats,
    booked: map.bookedCount,
    held: map.heldCount,
    free: map.freeSeats(),
    ranges: map.freeRanges(),
  }).toEqual({
    total: listing.totalSeats,
    booked: listing.bookedCount,
    held: listing.heldCount,
    free: listing.availableSeats,
    ranges: listing.freeRanges.map(({ first, last }) => ({ first, last })),
  });
}

function expectConsecutive(versions: readonly bigint[]): void {
  const first = versions[0] ?? 0n;
  expect(versions).toEqual(versions.map((_, index) => first + BigInt(index)));
}

describe("watchAvailability against a server", () => {
  let server: TestServer;
  const clients: BookingClient[] = [];

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    for (const client of clients) client.close();
    await server.stop();
  });

  const clientAs = (identity: TestCertificate): BookingClient => {
    const client = createBookingClient({ address: server.address, ca: server.pki.caCert, cert: identity.cert, key: identity.key });
    clients.push(client);
    return client;
  };

  it("keeps a SeatMap equal to ShowAvailable at each version through books, holds, confirms, releases, cancels, resizes and a close", async () => {
    const admin = clientAs(server.pki.clients.admin);
    const alice = clientAs(server.pki.clients.alice);
    const bob = clientAs(server.pki.clients.bob);
    await admin.createShow({ showId: "watched", totalSeats: 20 });
    const watch = alice.watchAvailability({ showId: "watched" });
    const followed = follow(watch);
    const check = () => expectMapMatchesListing(alice, followed, watch, "watched");
    await check();

    await alice.bookSeats({ showId: "watched", seats: [1, 2] });
    await check();
    const hold = await bob.holdSeats({ showId: "watched", seats: [5, 6, 7] });
    await check();
    await bob.bookSeats({ showId: "watched", seats: [10] });
    await alice.cancelSeats({ showId: "watched", seats: [1] });
    await check();
    await bob.confirmHold({ holdId: hold.hold!.holdId });
    await check();
    const released = await alice.holdSeats({ showId: "watched", seats: [12, 13] });
    await check();
    await alice.releaseHold({ holdId: released.hold!.holdId });
    await admin.resizeShow({ showId: "watched", totalSeats: 30 });
    await check();
    // Many writers at once: every seat change arrives once, in version order.
    await Promise.all(range(14, 29).map((seat) => (seat % 2 === 0 ? alice : bob).bookSeats({ showId: "watched", seats: [seat] })));
    await check();
    await bob.cancelSeats({ showId: "watched", seats: [29] });
    await admin.resizeShow({ showId: "watched", totalSeats: 28 });
    await admin.closeShow({ showId: "watched" });
    await check();

    expect(watch.seatMap?.state).toBe("closed");
    expect(followed.updates.filter((update) => update.kind === "snapshot")).toHaveLength(1);
    expectConsecutive(followed.versions);
    watch.close();
    await followed.done;
  });

  it("cancels the stream on the server when the loop is left", async () => {
    const alice = clientAs(server.pki.clients.alice);
    // The previous test's watch was closed; its server side ends on the cancel.
    await vi.waitFor(() => expect(server.core.watchers).toBe(0));
    for await (const update of alice.watchAvailability({ showId: "small" })) {
      expect(update.kind).toBe("snapshot");
      expect(server.core.watchers).toBe(1);
      break;
    }
    await vi.waitFor(() => expect(server.core.watchers).toBe(0));
  });

  it("throws NOT_FOUND for an unknown show at once, without retrying", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const retries: WatchRetryEvent[] = [];
    const error = await (async () => {
      try {
        for await (const _ of alice.watchAvailability({ showId: "no-such-show" }, { retry: { onRetry: (event) => retries.push(event) } })) {
          throw new Error("expected no update");
        }
      } catch (caught) {
        return caught;
      }
      throw new Error("expected the loop to throw");
    })();
    expect(error).toMatchObject({ codeName: "NOT_FOUND", reason: "SHOW_NOT_FOUND", attempts: 1 });
    expect(retries).toEqual([]);
  });

  it("ends quietly when the client is closed", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const watch = alice.watchAvailability({});
    const followed = follow(watch);
    await followed.reach(0n);
    alice.close();
    await followed.done;
    expect(followed.updates.map((update) => update.kind)).toEqual(["snapshot"]);
  });
});

describe("watchAvailability across server restarts", () => {
  let dir: string;
  let certs: WrittenTestPki;
  let server: ServerProcess | undefined;

  const serve = (listen: string) =>
    startServerProcess(
      ["--store", `sqlite:${join(dir, "booking.sqlite")}`, "--listen", listen, "--certs-dir", certs.paths.dir, "--shows", "main:100"],
      { cwd: dir },
    );

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "booking-sdk-watch-"));
    certs = await writeTestPki(join(dir, "certs"));
    server = await serve("127.0.0.1:0");
  });

  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("resumes after a shutdown and after a kill -9 from the last version applied: no gap, no duplicate, no second snapshot", async () => {
    const first = server!;
    const address = first.address;
    const tls = { ca: certs.pki.caCert, cert: certs.pki.clients.alice.cert, key: certs.pki.clients.alice.key };
    const alice = createBookingClient({ address, ...tls, retry: { maxAttempts: 20, initialBackoffMs: 20, maxBackoffMs: 200 } });
    const retries: WatchRetryEvent[] = [];
    const reconnected: WatchReconnectedEvent[] = [];
    const watch = alice.watchAvailability(
      { form: AvailabilityForm.SEATS },
      { retry: { onRetry: (event) => retries.push(event) }, onReconnected: (event) => reconnected.push(event) },
    );
    const followed = follow(watch);
    try {
      await alice.bookSeats({ seats: [1, 2] });
      await alice.holdSeats({ seats: [3, 4] });
      await expectMapMatchesListing(alice, followed, watch, "main");
      const beforeShutdown = watch.seatMap!.version;

      // SIGTERM: the server ends the stream with UNAVAILABLE and stops.
      await first.stop("SIGTERM");
      server = await serve(address);
      await alice.bookSeats({ seats: [5] });
      await alice.cancelSeats({ seats: [1] });
      await expectMapMatchesListing(alice, followed, watch, "main");
      expect(reconnected[0]).toEqual({ address, fromVersion: beforeShutdown });

      // kill -9: the connection just drops.
      const beforeKill = watch.seatMap!.version;
      await server.stop("SIGKILL");
      server = await serve(address);
      await alice.bookSeats({ seats: [6, 7, 8] });
      await expectMapMatchesListing(alice, followed, watch, "main");
      expect(reconnected[reconnected.length - 1]).toEqual({ address, fromVersion: beforeKill });

      expect(retries.length).toBeGreaterThanOrEqual(2);
      expect(retries.every((event) => event.error.codeName === "UNAVAILABLE")).toBe(true);
      expect(followed.updates.filter((update) => update.kind === "snapshot")).toHaveLength(1);
      expect(followed.updates.filter((update) => update.kind === "changes" && update.resumed).length).toBe(2);
      expectConsecutive(followed.versions);
    } finally {
      alice.close();
      await followed.done;
    }
  });
});
