import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import type { DevPkiPaths } from "../src/pki/dev-pki.js";
import { WatcherFleet } from "./fanout-watchers.js";
import { LatencyHistogram } from "./latency-histogram.js";
import { otherLoadCell } from "./other-load.js";
import { alignedTable, markdownTableOf } from "./text-table.js";
import { cpuTimeMs, machineCpuTicks, peakRssBytes, treeCpuTimeMs } from "./process-stats.js";
import { RawBookingClient } from "./raw-client.js";
import { startBookingService } from "./target-process.js";
import type { ThrowawayPostgres } from "./throwaway-postgres.js";

/** The stores a fan-out run can use. */
export const FANOUT_STORES = ["memory", "sqlite", "postgres"] as const;

/** One of {@link FANOUT_STORES}. */
export type FanoutStore = (typeof FANOUT_STORES)[number];

/** How one fan-out run loads the server (the watcher count aside). */
export interface FanoutSettings {
  readonly store: FanoutStore;
  /** Seats of the show; the writes go round them. */
  readonly seats: number;
  /** Book/cancel calls per second, one seat each. */
  readonly rate: number;
  /** Seconds of write load. */
  readonly seconds: number;
  /** Watch streams per HTTP/2 connection. */
  readonly perConnection: number;
}

/** What one watcher count came to: a row of the table, an entry of the JSON. */
export interface FanoutResult {
  readonly watchers: number;
  readonly connections: number;
  readonly store: FanoutStore;
  /** Time until every watcher had its snapshot, ms. */
  readonly subscribeMs: number;
  readonly writes: { readonly calls: number; readonly byCode: Record<string, number>; readonly p50Ms: number; readonly p99Ms: number };
  /** Versions committed during the load: the last version minus the one every snapshot had. */
  readonly changesCommitted: number;
  readonly deliveries: {
    /** Σ over watchers of the versions after its snapshot up to the last one. */
    readonly expected: number;
    /** Changes applied in order (version = previous + 1). */
    readonly received: number;
    /** expected − received: skipped by a gap, or never arrived (a stream that ended, or still missing when the wait gave up). */
    readonly missed: number;
    readonly duplicates: number;
    /** Watchers that applied every version. */
    readonly completeWatchers: number;
    /** Streams that ended by themselves, by status. */
    readonly streamsEnded: Record<string, number>;
    /** Changes per message: above 1 when the server sent changes that had waited together. */
    readonly changesPerMessage: number;
  };
  /** Commit to arrival, over every change applied, ms. */
  readonly delayMs: { readonly p50: number; readonly p99: number; readonly p999: number; readonly max: number; readonly mean: number };
  /** From the last write answered until every watcher had the last version, ms. */
  readonly catchUpMs: number;
  /** From the first write until every watcher had the last version: what the CPU figures cover. */
  readonly windowMs: number;
  /** CPU in % of one core over the window; other = the machine's busy time not in these processes. */
  readonly cpuPercent: { readonly server: number | null; readonly bench: number; readonly postgres: number | null; readonly other: number | null };
  readonly serverPeakRssMb: number | null;
  readonly loadAverage: { readonly atStart: readonly number[]; readonly atEnd: readonly number[] };
}

const round = (value: number, digits = 2): number => Math.round(value * 10 ** digits) / 10 ** digits;
/** The 1, 5 and 15-minute load averages, rounded. */
export const load = (): number[] => loadavg().map((value) => round(value));

/** The show's current version, read through the service. */
async function showVersion(client: RawBookingClient): Promise<number> {
  const reply = await client.callAsync("showAvailable", { showId: "main" }, 30_000);
  if (reply.code !== status.OK) throw new Error(`ShowAvailable failed: ${status[reply.code]} ${reply.error?.details ?? ""}`);
  return Number((reply.response as { version: bigint }).version);
}

/**
 * Books seat k and then cancels it, k going round the show, one call every
 * 1/rate s whether or not earlier calls answered (a cancel goes out once
 * its seat's booking answered OK). Resolves when every call answered.
 */
async function driveWrites(client: RawBookingClient, { seats, rate, seconds }: FanoutSettings): Promise<FanoutResult["writes"]> {
  const byCode: Record<string, number> = {};
  const latency = new LatencyHistogram();
  const answers: Promise<boolean>[] = [];
  const call = async (method: "bookSeats" | "cancelSeats", seat: number): Promise<boolean> => {
    const started = performance.now();
    const reply = await client.callAsync(method, { showId: "main", seats: [seat] }, 30_000);
    latency.record((performance.now() - started) * 1000);
    const key = `${method === "bookSeats" ? "BookSeats" : "CancelSeats"} ${status[reply.code]}`;
    byCode[key] = (byCode[key] ?? 0) + 1;
    return reply.code === status.OK;
  };
  let booking: Promise<boolean> = Promise.resolve(false);
  const operation = (index: number): void => {
    const seat = (Math.floor(index / 2) % seats) + 1;
    if (index % 2 === 0) {
      booking = call("bookSeats", seat);
      answers.push(booking);
    } else {
      answers.push(booking.then((booked) => (booked ? call("cancelSeats", seat) : false)));
    }
  };
  const total = Math.round(rate * seconds);
  const started = performance.now();
  for (let issued = 0; issued < total; ) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000) + 1);
    while (issued < due) operation(issued++);
    if (issued < total) await new Promise((resolve) => setTimeout(resolve, Math.max(0, (issued * 1000) / rate - (performance.now() - started))));
  }
  await Promise.all(answers);
  return { calls: total, byCode, p50Ms: round(latency.percentile(50) / 1000), p99Ms: round(latency.percentile(99) / 1000) };
}

/** Resolves once `ready()` holds, checking every 20 ms; rejects after `timeoutMs` or when `failed()` names a reason. */
async function until(ready: () => boolean, failed: () => string | undefined, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ready()) {
    const reason = failed();
    if (reason !== undefined) throw new Error(`${what}: ${reason}`);
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * One watcher count on a fresh `booking serve` of `settings.store`: opens
 * `watchers` WatchAvailability streams, waits for every snapshot, drives
 * the writes, waits until every watcher has the last version (or 30 s
 * without progress), and checks and times every delivery. Stops the server.
 */
export async function runFanout(
  watchers: number,
  settings: FanoutSettings,
  work: string,
  pki: DevPkiPaths,
  postgres: ThrowawayPostgres | undefined,
): Promise<FanoutResult> {
  const { store, seats, perConnection } = settings;
  const unique = randomBytes(4).toString("hex");
  const storeSpec =
    store === "memory"
      ? "memory"
      : store === "sqlite"
        ? `sqlite:${join(work, `fanout-${watchers}-${unique}.sqlite`)}`
        : await (postgres as ThrowawayPostgres).createDatabase(`fanout_${watchers}_${unique}`);
  const server = await startBookingService({
    store: storeSpec,
    certsDir: pki.dir,
    showId: "main",
    showSeats: seats,
    logLevel: "info",
    logPath: join(work, `server-${watchers}.log`),
    maxConcurrentStreams: Math.max(100, perConnection),
    extraArgs: ["--max-watch-streams-per-principal", String(watchers), "--max-watch-streams", String(Math.max(watchers, 10_000))],
    nodeArgs: [],
  });
  const alice = { certPath: pki.clients.alice.cert, keyPath: pki.clients.alice.key };
  const writer = new RawBookingClient(server.address, pki.caCert, { certPath: pki.clients.bob.cert, keyPath: pki.clients.bob.key }, `writer-${unique}`);
  let fleet: WatcherFleet | undefined;
  try {
    await writer.connect(30_000);
    const startVersion = await showVersion(writer);
    const subscribing = performance.now();
    const watching = new WatcherFleet(server.address, pki.caCert, alice, watchers, perConnection, `watch-${unique}`);
    fleet = watching;
    const firstEnd = (): string | undefined => watching.tallies.find((tally) => tally.ended !== undefined)?.ended;
    await until(() => watching.subscribed === watchers, firstEnd, 120_000, `subscribing ${watchers} watchers`);
    const subscribeMs = performance.now() - subscribing;
    const loadAtStart = load();

    const cpuBefore = { server: cpuTimeMs(server.pid), postgres: postgres === undefined ? undefined : treeCpuTimeMs(postgres.pid) };
    const benchBefore = process.cpuUsage();
    const machineBefore = machineCpuTicks();
    const windowStart = performance.now();
    const writes = await driveWrites(writer, settings);
    const lastAnswer = performance.now();
    const lastVersion = await showVersion(writer);
    // Every open watcher reaches the last version, or the wait gives up after 30 s without progress.
    let progress = { lowest: watching.lowestVersion(), at: performance.now() };
    while (watching.lowestVersion() < lastVersion) {
      const lowest = watching.lowestVersion();
      if (lowest > progress.lowest) progress = { lowest, at: performance.now() };
      if (performance.now() - progress.at > 30_000) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const caughtUp = performance.now();
    const windowMs = caughtUp - windowStart;
    const benchCpu = process.cpuUsage(benchBefore);
    const machineAfter = machineCpuTicks();
    const serverAfter = cpuTimeMs(server.pid);
    const postgresAfter = postgres === undefined ? undefined : treeCpuTimeMs(postgres.pid);
    const percentOf = (ms: number): number => round((100 * ms) / windowMs, 1);
    const serverCpu = cpuBefore.server === undefined || serverAfter === undefined ? null : percentOf(serverAfter - cpuBefore.server);
    const postgresCpu = cpuBefore.postgres === undefined || postgresAfter === undefined ? null : percentOf(postgresAfter - cpuBefore.postgres);
    const benchPercent = percentOf((benchCpu.user + benchCpu.system) / 1000);
    // /proc/stat counts in ticks of 10 ms.
    const machineBusy = machineBefore === undefined || machineAfter === undefined ? null : percentOf((machineAfter.busy - machineBefore.busy) * 10);
    const other = machineBusy === null ? null : round(Math.max(0, machineBusy - benchPercent - (serverCpu ?? 0) - (postgresCpu ?? 0)), 1);
    const peak = peakRssBytes(server.pid);

    let expected = 0;
    let received = 0;
    let duplicates = 0;
    let messages = 0;
    let completeWatchers = 0;
    const streamsEnded: Record<string, number> = {};
    for (const tally of watching.tallies) {
      expected += lastVersion - (tally.snapshotVersion ?? startVersion);
      received += tally.received;
      duplicates += tally.duplicates;
      messages += tally.messages;
      if (tally.received === lastVersion - (tally.snapshotVersion ?? startVersion) && tally.skipped === 0 && tally.duplicates === 0) completeWatchers++;
      if (tally.ended !== undefined) {
        const reason = tally.ended.replace(/\d+/g, "N");
        streamsEnded[reason] = (streamsEnded[reason] ?? 0) + 1;
      }
    }
    const { delays } = watching;
    return {
      watchers,
      connections: watching.connections,
      store,
      subscribeMs: round(subscribeMs, 0),
      writes,
      changesCommitted: lastVersion - startVersion,
      deliveries: {
        expected,
        received,
        missed: expected - received,
        duplicates,
        completeWatchers,
        streamsEnded,
        changesPerMessage: messages === 0 ? 0 : round(received / messages),
      },
      delayMs: {
        p50: round(delays.percentile(50) / 1000),
        p99: round(delays.percentile(99) / 1000),
        p999: round(delays.percentile(99.9) / 1000),
        max: round(delays.max / 1000),
        mean: round(delays.mean / 1000),
      },
      catchUpMs: round(caughtUp - lastAnswer, 0),
      windowMs: round(windowMs, 0),
      cpuPercent: { server: serverCpu, bench: benchPercent, postgres: postgresCpu, other },
      serverPeakRssMb: peak === undefined ? null : round(peak / 2 ** 20, 0),
      loadAverage: { atStart: loadAtStart, atEnd: load() },
    };
  } finally {
    fleet?.close();
    writer.close();
    await server.stop();
  }
}

const fanoutHeader = ["store", "watchers", "conns", "committed", "expected", "received", "missed", "dup", "chg/msg", "p50 ms", "p99 ms", "max ms", "catch-up ms", "server CPU", "bench CPU", "other CPU", "peak RSS MB", "load avg"];
const fanoutRight = new Set(fanoutHeader.map((_, index) => index).filter((index) => index > 0));

function fanoutRow(result: FanoutResult): string[] {
  return [
    result.store,
    String(result.watchers),
    String(result.connections),
    String(result.changesCommitted),
    String(result.deliveries.expected),
    String(result.deliveries.received),
    String(result.deliveries.missed),
    String(result.deliveries.duplicates),
    String(result.deliveries.changesPerMessage),
    String(result.delayMs.p50),
    String(result.delayMs.p99),
    String(result.delayMs.max),
    String(result.catchUpMs),
    result.cpuPercent.server === null ? "?" : `${result.cpuPercent.server}%`,
    `${result.cpuPercent.bench}%`,
    otherLoadCell(result.cpuPercent.other),
    result.serverPeakRssMb === null ? "?" : String(result.serverPeakRssMb),
    result.loadAverage.atStart.join(" "),
  ];
}

/** The results as an aligned text table, a row per store and watcher count. */
export function fanoutTable(results: readonly FanoutResult[]): string {
  return alignedTable(fanoutHeader, results.map(fanoutRow), fanoutRight);
}

/** The same table in Markdown. */
export function fanoutMarkdown(results: readonly FanoutResult[]): string {
  return markdownTableOf(fanoutHeader, results.map(fanoutRow), fanoutRight);
}

/** How the fan-out figures were taken, in sentences. */
export const FANOUT_NOTES = [
  "delay = arrival at the watcher (this process's wall clock) - commit_time (the server's wall clock); one clock, since both run on this machine",
  "commit_time has whole milliseconds (truncated), so a delay reads up to 1 ms long; arrival is read to a fraction of a millisecond",
  "commit_time is taken when the change is decided: memory as it applies it; sqlite inside the batch transaction, before COMMIT's fsync; postgres the transaction's now(), its start. On the durable stores the delay includes the commit",
  "the watchers run in this process, on the same machine as the server: the delay includes their own queueing (see bench CPU)",
];
