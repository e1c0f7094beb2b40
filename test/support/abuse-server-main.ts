/**
 * Entry point of the server process that abuse tests start (see
 * abuse-server-process.ts): the real BookingServer over mTLS with a memory
 * store, alone in its process so that its memory can be read and so that the
 * load generator does not share its event loop.
 *
 * argv[2] is a JSON {@link AbuseServerConfig}. It prints one JSON line
 * {"port": N} when listening, answers each "memory" line on stdin with one
 * JSON line of memory figures (after a full GC), and drains and exits when
 * stdin ends.
 */
import { readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { runInNewContext } from "node:vm";
import { setFlagsFromString } from "node:v8";
import { ServerCredentials } from "@grpc/grpc-js";
import { pino } from "pino";
import { BookingCore } from "../../src/core/booking-core.js";
import { MemoryStore } from "../../src/stores/memory-store.js";
import { createBookingServer } from "../../src/transport/booking-server.js";
import type { AbuseServerConfig, MemoryFigures } from "./abuse-server-process.js";

const config = JSON.parse(process.argv[2] ?? "{}") as AbuseServerConfig;
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const core = await BookingCore.open({ store: new MemoryStore(), ...config.core });
const server = createBookingServer({
  core,
  // Logs are formatted and written as in production, to a sink nobody reads.
  logger: pino({ level: "info" }, pino.destination({ dest: "/dev/null", sync: false })),
  credentials: ServerCredentials.createSsl(
    await readFile(config.caCert),
    [{ cert_chain: await readFile(config.serverCert), private_key: await readFile(config.serverKey) }],
    true,
  ),
  ...config.server,
});
const port = await server.listen("127.0.0.1:0");
process.stdout.write(`${JSON.stringify({ port })}\n`);

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line.trim() !== "memory") return;
  gc();
  const usage = process.memoryUsage();
  const figures: MemoryFigures = {
    heapUsed: usage.heapUsed,
    rss: usage.rss,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    peakRss: kilobytes("VmHWM") * 1024,
  };
  process.stdout.write(`${JSON.stringify({ memory: figures })}\n`);
});
lines.on("close", () => {
  void server
    .shutdown(1000)
    .then(() => core.close())
    .then(() => process.exit(0));
});

function kilobytes(field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(readFileSync("/proc/self/status", "utf8"));
  return match?.[1] === undefined ? Number.NaN : Number(match[1]);
}
