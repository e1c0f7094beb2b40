/**
 * `node dist/bench/burst.js` (after `npm run build`): an on-sale, measured
 * from outside. Starts a default `booking serve` (memory store, one show of
 * 100 seats, port 0, a fresh development PKI) and fires `--calls` concurrent
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
 * turned off; a burst is one volley against the defaults.
 *
 * The figures depend on the machine and what else runs on it; the load
 * average is printed with them.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { status } from "@grpc/grpc-js";
import { ensureDevPki } from "../src/pki/dev-pki.js";
import { RawBookingClient } from "./raw-client.js";

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

const cliEntry = fileURLToPath(new URL("../bin/booking.js", import.meta.url));

/** What one burst came back with. */
interface BurstResult {
  readonly codes: Record<string, number>;
  readonly servedMs: number[];
  readonly refused: number;
  /** Refusals by their message, numbers left out: which limit refused. */
  readonly refusedBy: Record<string, number>;
  readonly wallMs: number;
}

/** Starts `booking serve` on port 0 and resolves its address once it logs "listening". */
async function startServer(certsDir: string): Promise<{ address: string; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [cliEntry, "serve", "--store", "memory", "--listen", "127.0.0.1:0", "--certs-dir", certsDir, "--log-level", "warn", ...serverArgs],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let output = "";
  const address = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      for (const line of output.split("\n")) {
        if (!line.startsWith("{")) continue;
        const entry = JSON.parse(line) as { msg?: string; address?: string };
        if (entry.msg === "listening" && entry.address !== undefined) resolve(entry.address);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    void exited.then(() => reject(new Error(`booking serve exited before listening: ${output.trim()}`)));
  });
  return {
    address,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Fires the burst: every call starts in the same turn, on connections not yet open. */
async function burst(address: string, caCert: string, identity: { certPath: string; keyPath: string }): Promise<BurstResult> {
  const clients = Array.from({ length: connections }, (_, index) => new RawBookingClient(address, caCert, identity, `burst-${index}`));
  const request = { showId: "main", seats: [1] };
  const started = performance.now();
  const replies = await Promise.all(
    Array.from({ length: calls }, async (_, index) => {
      const client = clients[index % clients.length];
      if (client === undefined) throw new Error("no client");
      const callStarted = performance.now();
      const reply = await client.callAsync("bookSeats", request, deadlineMs);
      return { code: reply.code, ms: performance.now() - callStarted, details: reply.error?.details ?? "" };
    }),
  );
  const wallMs = performance.now() - started;
  for (const client of clients) client.close();
  const codes: Record<string, number> = {};
  const refusedBy: Record<string, number> = {};
  for (const { code, details } of replies) {
    codes[status[code]] = (codes[status[code]] ?? 0) + 1;
    if (code !== status.RESOURCE_EXHAUSTED) continue;
    const message = details.replace(/\d+/g, "N");
    refusedBy[message] = (refusedBy[message] ?? 0) + 1;
  }
  const servedMs = replies
    .filter(({ code }) => code === status.OK || code === status.ALREADY_EXISTS)
    .map(({ ms }) => ms)
    .sort((a, b) => a - b);
  return { codes, servedMs, refused: codes["RESOURCE_EXHAUSTED"] ?? 0, refusedBy, wallMs };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
}

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
    const server = await startServer(paths.dir);
    let result: BurstResult;
    try {
      result = await burst(server.address, paths.caCert, identity);
    } finally {
      await server.stop();
    }
    process.stdout.write(
      `round ${round}: refused ${result.refused}/${calls} (${((100 * result.refused) / calls).toFixed(1)}%), ` +
        `served ${result.servedMs.length}: p50 ${percentile(result.servedMs, 0.5).toFixed(0)} ms, ` +
        `p99 ${percentile(result.servedMs, 0.99).toFixed(0)} ms; all answered in ${result.wallMs.toFixed(0)} ms; ` +
        `${JSON.stringify(result.codes)}; load average ${load}\n`,
    );
    for (const [message, count] of Object.entries(result.refusedBy)) process.stdout.write(`  refused ${count}: ${message}\n`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
