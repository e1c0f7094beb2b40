/**
 * `node dist/bench/watch-fanout.js` (after `npm run build`): live seat-map
 * fan-out, measured from outside. For each watcher count it starts a fresh
 * `booking serve` (memory store unless `--store` says otherwise, one show,
 * mutual TLS, port 0 style free ports), opens that many WatchAvailability
 * streams on a few connections (`--per-connection` to each) and waits for
 * every snapshot. Then one more connection books and cancels one seat at a
 * time at `--rate` calls/s for `--seconds` (open loop: calls go out on
 * schedule, answered or not); every answered call commits one change.
 * Once the load stops it waits until every watcher has the last version.
 *
 * Each watcher's changes are checked: every version after its snapshot
 * exactly once, in order; gaps, duplicates and streams that ended count as
 * misses. For every change a watcher applies, the delivery delay is its
 * arrival here minus its commit_time. commit_time is the server's wall
 * clock and the arrival this process's: one clock only because both run on
 * this machine. It prints a table and writes JSON (`--out`).
 *
 * Not a scenario of `npm run bench` and not a test: it asserts nothing about
 * time. The figures depend on the machine and what else runs on it (this
 * process shares it with the server); CPU of the server, of this process
 * and of everything else is reported with them, and the load average.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { status } from "@grpc/grpc-js";
import { ensureDevPki, type DevPkiPaths } from "../src/pki/dev-pki.js";
import { WatcherFleet } from "./fanout-watchers.js";
import { LatencyHistogram } from "./latency-histogram.js";
import { cpuTimeMs, machineCpuTicks, peakRssBytes, treeCpuTimeMs } from "./process-stats.js";
import { RawBookingClient } from "./raw-client.js";
import { startBookingService } from "./target-process.js";
import { startThrowawayPostgres, type ThrowawayPostgres } from "./throwaway-postgres.js";

const USAGE = `usage: node dist/bench/watch-fanout.js [options]
  --watchers LIST       watcher counts, one fresh server each (default 100,1000)
  --seconds S           seconds of write load per count (default 10)
  --rate N              book/cancel calls per second, one seat each (default 200)
  --store STORE         memory, sqlite or postgres (default memory; postgres starts a
                        throwaway cluster and needs initdb and pg_ctl)
  --per-connection N    watch streams per HTTP/2 connection (default 50)
  --seats N             seats of the show (default 1000)
  --out FILE            results JSON (default bench-watch-results.json)
`;

const STORES = ["memory", "sqlite", "postgres"] as const;
type Store = (typeof STORES)[number];

const { values } = parseArgs({
  options: {
    watchers: { type: "string", default: "100,1000" },
    seconds: { type: "string", default: "10" },
    rate: { type: "string", default: "200" },
    store: { type: "string", default: "memory" },
    "per-connection": { type: "string", default: "50" },
    seats: { type: "string", default: "1000" },
    out: { type: "string", default: "bench-watch-results.json" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const usageError = (message: string): never => {
  process.stderr.write(`watch-fanout: ${message}\n\n${USAGE}`);
  process.exit(2);
};
const watcherCounts = values.watchers.split(",").map((entry) => Number(entry.trim()));
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const perConnection = Number(values["per-connection"]);
const seats = Number(values.seats);
if (!watcherCounts.every((count) => Number.isInteger(count) && count >= 1)) usageError("--watchers must list whole numbers of at least 1");
if (!(Number.isFinite(seconds) && seconds > 0)) usageError("--seconds must be a number above 0");
if (!(Number.isFinite(rate) && rate > 0)) usageError("--rate must be a number above 0");
if (!(Number.isInteger(perConnection) && perConnection >= 1)) usageError("--per-connection must be a whole number of at least 1");
if (!(Number.isInteger(seats) && seats >= 2)) usageError("--seats must be a whole number of at least 2");
if (!(STORES as readonly string[]).includes(values.store)) usageError(`--store must be one of ${STORES.join(", ")}`);
const store = values.store as Store;

// grpc-js hands the IP address to TLS as the server name (DEP0123): noise here.
const printWarning = process.listeners("warning");
process.removeAllListeners("warning");
process.on("warning", (warning: Error & { code?: string }) => {
  if (warning.code !== "DEP0123") for (const print of printWarning) print(warning);
});

/** What one watcher count came to: a row of the table, an entry of the JSON. */
interface FanoutResult {
  readonly watchers: number;
  readonly connections: number;
  readonly store: Store;
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
const load = (): number[] => loadavg().map((value) => round(value));

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
async function driveWrites(client: RawBookingClient): Promise<FanoutResult["writes"]> {
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

async function runOnce(watchers: number, work: string, pki: DevPkiPaths, postgres: ThrowawayPostgres | undefined): Promise<FanoutResult> {
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
    const writes = await driveWrites(writer);
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

function textTable(results: readonly FanoutResult[]): string {
  const header = ["watchers", "conns", "committed", "expected", "received", "missed", "dup", "chg/msg", "p50 ms", "p99 ms", "max ms", "catch-up ms", "server CPU", "bench CPU", "other CPU", "peak RSS MB", "load avg"];
  const rows = results.map((result) => [
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
    result.cpuPercent.other === null ? "?" : `${result.cpuPercent.other}%`,
    result.serverPeakRssMb === null ? "?" : String(result.serverPeakRssMb),
    result.loadAverage.atStart.join(" "),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  return [header, ...rows].map((row) => row.map((cell, column) => cell.padStart(widths[column] ?? 0)).join("  ")).join("\n");
}

function gitCommit(): string | null {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

const NOTES = [
  "delay = arrival at the watcher (this process's wall clock) - commit_time (the server's wall clock); one clock, since both run on this machine",
  "commit_time has whole milliseconds (truncated), so a delay reads up to 1 ms long; arrival is read to a fraction of a millisecond",
  "commit_time is taken when the change is decided: memory as it applies it; sqlite inside the batch transaction, before COMMIT's fsync; postgres the transaction's now(), its start. On the durable stores the delay includes the commit",
  "the watchers run in this process, on the same machine as the server: the delay includes their own queueing (see bench CPU)",
];

const startedAt = new Date().toISOString();
const work = await mkdtemp(join(tmpdir(), "booking-watch-fanout-"));
let postgres: ThrowawayPostgres | undefined;
try {
  const { paths } = await ensureDevPki(join(work, "certs"));
  if (store === "postgres") {
    const started = await startThrowawayPostgres();
    if ("missing" in started) throw new Error(`--store postgres: ${started.missing}`);
    postgres = started;
  }
  process.stdout.write(
    `watch-fanout: ${store} store, ${seats} seats, ${rate} book/cancel calls/s for ${seconds} s, ${perConnection} watchers per connection; ` +
      `load average ${load().join(" ")}\n`,
  );
  const results: FanoutResult[] = [];
  for (const watchers of watcherCounts) {
    const result = await runOnce(watchers, work, paths, postgres);
    results.push(result);
    const ended = Object.entries(result.deliveries.streamsEnded).map(([reason, count]) => `${count} x ${reason}`);
    process.stdout.write(
      `  ${watchers} watchers: ${result.changesCommitted} changes, ${result.deliveries.received}/${result.deliveries.expected} deliveries, ` +
        `${result.deliveries.missed} missed, p50 ${result.delayMs.p50} ms, p99 ${result.delayMs.p99} ms, max ${result.delayMs.max} ms` +
        `${ended.length === 0 ? "" : `; streams ended: ${ended.join(", ")}`}; writes ${JSON.stringify(result.writes.byCode)}\n`,
    );
  }
  const report = {
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    command: `node dist/bench/watch-fanout.js ${process.argv.slice(2).join(" ")}`.trim(),
    commit: gitCommit(),
    machine: {
      cores: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? "unknown",
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      postgres: postgres?.version ?? null,
    },
    settings: { store, seats, rate, seconds, perConnection, watcherCounts },
    notes: NOTES,
    results,
  };
  await writeFile(values.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(
    [
      "",
      textTable(results),
      "",
      `delay = commit to delivery, over every delivery; CPU in % of one core from the first write until every watcher had the last version`,
      `machine: ${report.machine.cores} cores (${report.machine.cpuModel}), ${report.machine.memoryGb} GB, Node ${report.machine.node}; commit ${report.commit ?? "?"}`,
      ...NOTES.map((note) => `- ${note}`),
      `results: ${values.out}`,
      "",
    ].join("\n"),
  );
  const missed = results.reduce((sum, result) => sum + result.deliveries.missed + result.deliveries.duplicates, 0);
  if (missed > 0) {
    process.stderr.write(`watch-fanout: ${missed} deliveries missed or duplicated (see the table)\n`);
    process.exitCode = 3;
  }
} finally {
  await postgres?.stop();
  await rm(work, { recursive: true, force: true });
}
