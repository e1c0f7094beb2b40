import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryStore } from "../src/stores/memory-store.js";
import { DEV_PRINCIPALS } from "./support/test-pki.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { WatchTestClient } from "./support/watch-client.js";

/** The watcher's bound in this file: past it, the feed ends the watch. */
const MAX_BACKLOG = 2000;
/** Seats each change names, so that an unbounded backlog would show in the heap. */
const SEATS_PER_CHANGE = 50;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

let server: TestServer;
let client: WatchTestClient;

beforeAll(async () => {
  server = await startTestServer({
    // The store keeps a short log, so that only the watch path could grow.
    store: new MemoryStore({ changeLog: { maxVersions: 1000, maxAgeMs: 60 * 60 * 1000 } }),
    shows: [{ id: "main", totalSeats: 1000 }],
    core: { feed: { maxBacklog: MAX_BACKLOG } },
  });
  client = new WatchTestClient(server.address, server.pki.caCert, server.pki.clients.alice);
});

afterAll(async () => {
  client.close();
  await server.stop();
});

/** Lanes of bookings at once; each books its own SEATS_PER_CHANGE seats of the 1000. */
const LANES = 20;

/**
 * Makes `pairs` book-then-cancel rounds (two changes each), LANES at a time
 * on disjoint seats, so every command succeeds; resolves the changes made.
 */
async function churn(pairs: number): Promise<number> {
  const context = { principal: DEV_PRINCIPALS.bob };
  for (let done = 0; done < pairs; done += LANES) {
    await Promise.all(
      Array.from({ length: Math.min(LANES, pairs - done) }, async (_, lane) => {
        const seats = Array.from({ length: SEATS_PER_CHANGE }, (__, index) => 1 + lane * SEATS_PER_CHANGE + index);
        await server.core.book({ showId: "main", seats, requestId: "" }, context);
        await server.core.cancel({ showId: "main", seats, requestId: "" }, context);
      }),
    );
  }
  return pairs * 2;
}

describe("a watcher that stops reading", () => {
  it("is ended with RESOURCE_EXHAUSTED (SLOW_CONSUMER) while the server's heap stays bounded", async () => {
    const watch = client.watch({ showId: "main" });
    await watch.next();
    // Stop reading: grpc-js stops taking data from the connection, HTTP/2 flow control fills,
    // the server's writes stop draining, and changes wait in the watcher.
    watch.call.pause();
    const before = heapAfterGc();

    // The heap is sampled while the watcher lives (its backlog at its largest) and after.
    let changes = 0;
    let peak = before;
    while (server.core.watchers > 0) {
      changes += await churn(200);
      peak = Math.max(peak, heapAfterGc());
      if (changes > 400_000) throw new Error("the watcher was never ended");
    }
    // Keep changes coming after the end: nothing may pile up for the gone watcher.
    changes += await churn(20_000);
    const after = heapAfterGc();
    peak = Math.max(peak, after);

    watch.call.resume();
    const end = await watch.ended;
    expect(end).toMatchObject({ code: status.RESOURCE_EXHAUSTED, reason: "SLOW_CONSUMER" });
    expect(end.details).toContain(`the limit is ${MAX_BACKLOG}`);
    expect(server.server.watchStreams()).toBe(0);

    // Unbounded, a backlog would hold every change: about 8 bytes per seat number in
    // each change's array alone, some 16 MB for these 40,000+ changes of 50 seats.
    const unboundedFloor = changes * SEATS_PER_CHANGE * 8;
    expect(changes).toBeGreaterThan(40_000);
    expect(peak - before).toBeLessThan(unboundedFloor / 4);
    expect(after - before).toBeLessThan(unboundedFloor / 4);
    console.log(
      `slow consumer: ${changes} changes committed while paused; heap after GC: peak +${((peak - before) / 1e6).toFixed(1)} MB, ` +
        `end +${((after - before) / 1e6).toFixed(1)} MB (unbounded floor ${(unboundedFloor / 1e6).toFixed(1)} MB); changes sent before the end: ` +
        `${watch.messages.reduce((sum, message) => sum + (message.event.case === "changes" ? message.event.value.changes.length : 0), 0)}`,
    );
  }, 120_000);
});
