import { Readable } from "node:stream";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { BookingError, isBookingError, SeatChangeKind, ShowState, type WatchRetryEvent, type WatchUpdate } from "../client/index.js";
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
