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
 * `npm run bench` runs the same measurement (fanout-run.ts) as its watchers
 * section, on each of its stores; this script runs one store with every
 * knob. Not a test: it asserts nothing about time. The figures depend on the machine and what else runs on it (this
 * process shares it with the server); CPU of the server, of this process
 * and of everything else is reported with them, and the load average.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ensureDevPki } from "../src/pki/dev-pki.js";
import { FANOUT_NOTES, FANOUT_STORES, fanoutTable, load, runFanout, type FanoutResult, type FanoutStore } from "./fanout-run.js";
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
if (!(FANOUT_STORES as readonly string[]).includes(values.store)) usageError(`--store must be one of ${FANOUT_STORES.join(", ")}`);
const store = values.store as FanoutStore;

// grpc-js hands the IP address to TLS as the server name (DEP0123): noise here.
const printWarning = process.listeners("warning");
process.removeAllListeners("warning");
process.on("warning", (warning: Error & { code?: string }) => {
  if (warning.code !== "DEP0123") for (const print of printWarning) print(warning);
});


function gitCommit(): string | null {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}


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
    const result = await runFanout(watchers, { store, seats, rate, seconds, perConnection }, work, paths, postgres);
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
    notes: FANOUT_NOTES,
    results,
  };
  await writeFile(values.out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(
    [
      "",
      fanoutTable(results),
      "",
      `delay = commit to delivery, over every delivery; CPU in % of one core from the first write until every watcher had the last version`,
      `machine: ${report.machine.cores} cores (${report.machine.cpuModel}), ${report.machine.memoryGb} GB, Node ${report.machine.node}; commit ${report.commit ?? "?"}`,
      ...FANOUT_NOTES.map((note) => `- ${note}`),
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
