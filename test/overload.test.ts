import { create, toBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BookSeatsRequestSchema, ShowAvailableRequestSchema } from "../gen/booking/v1/booking_pb.js";
import { AbuseChannel, BOOKING_PATHS, SERVING, type CallResult } from "./support/abuse-channel.js";
import { closedLoop, latencies, openLoop } from "./support/abuse-load.js";
import { startAbuseServerProcess, type AbuseServerProcess } from "./support/abuse-server-process.js";
import { countCodes, percentile } from "./support/abuse-stats.js";
import { errorReason, retryDelayMs } from "./support/abuse-status.js";

/**
 * A stadium: listing its free seats is real work for the server (about 100
 * calls/s here), little for a client that keeps the bytes, and far more than
 * refusing a call. With 50,000 seats the hand encoder made listings so cheap
 * (about 460 calls/s) that refusing 10x that many calls cost as much as
 * serving them, and even refusals waited over a second.
 */
const SEATS = 250_000;
const MAX_IN_FLIGHT = 16;
/**
 * How long a health probe waits: three times the Kubernetes default probe
 * timeout (1 s), for a 2-core machine shared with other work. Without load
 * shedding, probes took 6-7 s here.
 */
const PROBE_DEADLINE_MS = 3000;

let server: AbuseServerProcess;
let load: AbuseChannel[];
let probe: AbuseChannel;

const listing = toBinary(ShowAvailableRequestSchema, create(ShowAvailableRequestSchema, { showId: "stadium" }));

/** Nine listings for each booking of a random seat (ALREADY_EXISTS when it was taken). */
function call(index: number): Promise<CallResult> {
  const channel = load[index % load.length];
  if (channel === undefined) throw new Error("no load channel");
  if (index % 10 !== 0) return channel.bytes(BOOKING_PATHS.showAvailable, listing);
  const seat = 1 + Math.floor(Math.random() * SEATS);
  const booking = toBinary(BookSeatsRequestSchema, create(BookSeatsRequestSchema, { showId: "stadium", seats: [seat] }));
  return channel.bytes(BOOKING_PATHS.bookSeats, booking);
}

beforeAll(async () => {
  server = await startAbuseServerProcess({
    core: { shows: [{ id: "stadium", totalSeats: SEATS }], maxQueuedChanges: 64 },
    // Enough streams per connection that no call waits in the client for one;
    // shedding by event-loop lag at main's default target. The overload here
    // lasts 2 s, so the sustained-overload interval is 200 ms rather than
    // main's 1 s, which lets a burst of up to a second through (bench/burst.ts
    // measures that side).
    server: { maxInFlight: MAX_IN_FLIGHT, maxConcurrentStreams: 1000, maxEventLoopLagMs: 100, overloadIntervalMs: 200 },
  });
  const { alice, bob, admin, carol } = server.pki.clients;
  // A large flow-control window, so 150 KB answers are not throttled by the
  // client's own HTTP/2 window while the server is busy.
  load = [alice, bob, admin, carol].map((who) =>
    AbuseChannel.open(server.address, server.pki.caCert, who, {
      channelOptions: { "grpc-node.flow_control_window": 16 * 1024 * 1024 },
    }),
  );
  probe = AbuseChannel.open(server.address, server.pki.caCert, alice);
  for (const channel of [...load, probe]) await channel.ready();
});

afterAll(async () => {
  for (const channel of [...(load ?? []), probe]) channel?.close();
  await server?.stop();
});

describe("BookingServer under ten times the load it can serve", () => {
  it(
    "sheds the excess with RESOURCE_EXHAUSTED and RetryInfo, keeps admitted calls' p99 bounded, and answers health checks throughout",
    async () => {
      // What the server can serve: a closed loop that keeps it busy.
      const unloaded = await closedLoop(1, 1, call);
      const saturated = await closedLoop(8, 1.5, call);
      const served = saturated.results.filter((result) => result.code === status.OK);
      const capacity = served.length / saturated.seconds;
      const saturatedP99 = percentile(latencies(saturated.results, [status.OK]), 0.99);

      const overload = await openLoop({
        perSecond: 10 * capacity,
        seconds: 2,
        call,
        everyMs: 50,
        during: () => probe.health("", { deadline: Date.now() + PROBE_DEADLINE_MS }),
      });
      const codes = countCodes(overload.results);
      const admitted = latencies(overload.results, [status.OK, status.ALREADY_EXISTS]);
      const admittedP99 = percentile(admitted, 0.99);
      const refused = overload.results.filter((result) => result.code === status.RESOURCE_EXHAUSTED);
      const refusedP99 = percentile(latencies(refused, [status.RESOURCE_EXHAUSTED]), 0.99);
      const probeMs = overload.probes.map((result) => result.ms);
      console.info(
        `overload: unloaded p99 ${percentile(latencies(unloaded.results, [status.OK]), 0.99).toFixed(1)} ms; ` +
          `capacity ${capacity.toFixed(0)} calls/s at 8 callers (p99 ${saturatedP99.toFixed(1)} ms); ` +
          `offered ${overload.results.length} calls in 2 s (10x): ${JSON.stringify(codes)}; ` +
          `goodput ${(admitted.length / 2).toFixed(0)} calls/s; ` +
          `admitted p50 ${percentile(admitted, 0.5).toFixed(1)} ms, p99 ${admittedP99.toFixed(1)} ms ` +
          `(${(admittedP99 / saturatedP99).toFixed(1)}x saturated); refused p99 ${refusedP99.toFixed(1)} ms; ` +
          `health ${overload.probes.length} probes ${JSON.stringify(countCodes(overload.probes))}, ` +
          `p99 ${percentile(probeMs, 0.99).toFixed(1)} ms, max ${Math.max(...probeMs).toFixed(1)} ms`,
      );

      // Every call is served, refused as a duplicate seat, or shed; nothing else.
      const expected = ["OK", "ALREADY_EXISTS", "RESOURCE_EXHAUSTED"];
      expect(Object.keys(codes).filter((code) => !expected.includes(code))).toEqual([]);
      expect(admitted.length).toBeGreaterThan(0);
      expect(refused.length).toBeGreaterThan(0);
      // Shed calls say when to come back.
      for (const result of refused) {
        expect({ reason: errorReason(result.trailers), retry: (retryDelayMs(result.trailers) ?? 0) > 0 }).toEqual({
          reason: "OVERLOADED",
          retry: true,
        });
      }
      // Admitted calls wait some times as long as at capacity, not behind the
      // whole excess. Since listings are encoded once per show version, a
      // listing costs the server little more than a refusal, and most of the
      // wait is reading the excess off the sockets: 19-33 times here (with
      // in-flight slots held until the answer is written), against 73-103
      // times when slots were freed at the callback and about 90 times with no
      // shedding at all. A ratio of two measurements on the same machine, not
      // a wall-clock limit.
      expect(admittedP99 / saturatedP99).toBeLessThan(45);
      // Every probe was answered SERVING within its deadline.
      expect(overload.probes.map((result) => `${status[result.code]} ${result.response}`)).toEqual(
        overload.probes.map(() => `OK ${SERVING}`),
      );
    },
    60_000,
  );
});
