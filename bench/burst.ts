/**
 * `node dist/bench/burst.js` (after `npm run build`): an on-sale, measured
 * from outside. Starts a default `booking serve` (memory store, one show of
 * 100 seats, free ports, a fresh development PKI) and fires `--calls` concurrent
 * BookSeats for one seat over `--connections` new connections, whose TLS
 * handshakes are part of the burst, as they are when an on-sale opens. Then
 * it prints what came back: the share refused with RESOURCE_EXHAUSTED, and
 * the p50/p99 of the calls served (OK or ALREADY_EXISTS). Exactly one call
 * may get OK. Each round gets a fresh server; the server's flags can be
 * changed with `--server-args`, e.g. `--server-args="--max-event-loop-lag-ms 0"`.
 * Refusals are also counted by their message (numbers left out), which
 * names the limit: event-loop lag, or the in-flight bound.
 *
 * Not a scenario of `npm run bench`: those keep each slot's one call in
 * flight for a measured time, on a server started with admission control
 * turned off; a burst is one volley against the defaults. `npm run bench`
 * fires the same volley (burst-volley.ts) in its burst section, on each of
 * its stores; this script keeps the memory store and takes every knob.
 *
 * The figures depend on the machine and what else runs on it; the load
 * average is printed with them.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ensureDevPki } from "../src/pki/dev-pki.js";
import { runBurstRound } from "./burst-volley.js";
import { otherLoadCell } from "./other-load.js";

const USAGE = `usage: node dist/bench/burst.js [--calls N] [--connections N] [--rounds N] [--deadline-ms N] [--server-args="FLAGS"]
  --calls N          concurrent BookSeats for seat 1 of show main (default 1000)
  --connections N    new TLS connections they are spread over (default 50)
  --rounds N         bursts, each against a fresh server (default 3)
  --deadline-ms N    each call's deadline (default 5000, the SDK's)
  --server-args=STR  extra flags for booking serve, split on spaces (write it with =,
                     since the value starts with --)
`;

const { values } = parseArgs({
  options: {
    calls: { type: "string", default: "1000" },
    connections: { type: "string", default: "50" },
    rounds: { type: "string", default: "3" },
    "deadline-ms": { type: "string", default: "5000" },
    "server-args": { type: "string", default: "" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const calls = Number(values.calls);
const connections = Number(values.connections);
const rounds = Number(values.rounds);
const deadlineMs = Number(values["deadline-ms"]);
const serverArgs = values["server-args"].split(" ").filter((arg) => arg !== "");
for (const [name, value] of Object.entries({ calls, connections, rounds, deadlineMs })) {
  if (!(Number.isInteger(value) && value >= 1)) {
    process.stderr.write(`burst: ${name} must be a whole number of at least 1\n\n${USAGE}`);
    process.exit(2);
  }
}

// grpc-js hands the IP address to TLS as the server name (DEP0123): noise here.
const printWarning = process.listeners("warning");
process.removeAllListeners("warning");
process.on("warning", (warning: Error & { code?: string }) => {
  if (warning.code !== "DEP0123") for (const print of printWarning) print(warning);
});

const work = await mkdtemp(join(tmpdir(), "booking-burst-"));
try {
  const { paths } = await ensureDevPki(join(work, "certs"));
  const identity = { certPath: paths.clients.alice.cert, keyPath: paths.clients.alice.key };
  process.stdout.write(
    `burst: ${calls} BookSeats for one seat over ${connections} new connections, deadline ${deadlineMs} ms, ` +
      `server flags: ${serverArgs.length === 0 ? "(defaults)" : serverArgs.join(" ")}\n`,
  );
  for (let round = 1; round <= rounds; round++) {
    const load = loadavg().map((value) => value.toFixed(2)).join(" ");
    const result = await runBurstRound(
      { store: "memory", certsDir: paths.dir, caCertPath: paths.caCert, identity, logPath: join(work, `server-${round}.log`), serverArgs },
      { calls, connections, deadlineMs },
    );
    process.stdout.write(
      `round ${round}: refused ${result.refused}/${calls} (${((100 * result.refused) / calls).toFixed(1)}%), ` +
        `served ${result.served}: p50 ${result.servedP50Ms.toFixed(0)} ms, ` +
        `p99 ${result.servedP99Ms.toFixed(0)} ms; all answered in ${result.wallMs.toFixed(0)} ms; ` +
        `${JSON.stringify(result.codes)}; other CPU ${otherLoadCell(result.cpuPercent.other)}; load average ${load}\n`,
    );
    for (const [message, count] of Object.entries(result.refusedBy)) process.stdout.write(`  refused ${count}: ${message}\n`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
