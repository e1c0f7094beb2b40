import { status } from "@grpc/grpc-js";
import { cpuTimeMs, machineCpuTicks, treeCpuTimeMs } from "./process-stats.js";
import { RawBookingClient, type IdentityFiles } from "./raw-client.js";
import { startBookingService } from "./target-process.js";

/** The shape of one burst. */
export interface BurstShape {
  /** Concurrent BookSeats for seat 1 of show "main". */
  readonly calls: number;
  /** New TLS connections they are spread over. */
  readonly connections: number;
  /** Each call's deadline. */
  readonly deadlineMs: number;
}

/** What one burst came back with, on one fresh server. */
export interface BurstRound {
  readonly codes: Record<string, number>;
  readonly refused: number;
  /** Refusals by their message, numbers left out: which limit refused. */
  readonly refusedBy: Record<string, number>;
  /** Calls served (OK or ALREADY_EXISTS). */
  readonly served: number;
  readonly servedP50Ms: number;
  readonly servedP99Ms: number;
  /** From the first call until the last answer. */
  readonly wallMs: number;
  /** CPU over the burst, in % of one core; other = the machine's busy time outside these processes. */
  readonly cpuPercent: { readonly server: number | null; readonly bench: number; readonly postgres: number | null; readonly other: number | null };
}

/** Where one round runs: a store for a fresh `booking serve` with its default limits. */
export interface BurstServer {
  /** The --store value (a fresh database or file per round). */
  readonly store: string;
  readonly certsDir: string;
  readonly caCertPath: string;
  readonly identity: IdentityFiles;
  readonly logPath: string;
  /** Extra `booking serve` flags, after the defaults. */
  readonly serverArgs: readonly string[];
  /** The PostgreSQL cluster's postmaster, whose CPU is counted apart from "other". */
  readonly postgresPid?: number | undefined;
}

/**
 * An on-sale, measured from outside: starts `booking serve` with the limits
 * it has out of the box (one show "main" of 100 seats) and fires
 * `shape.calls` BookSeats for seat 1 at once over `shape.connections` new
 * connections, whose TLS handshakes are part of the burst, as they are when
 * an on-sale opens. Exactly one call may get OK; the rest are ALREADY_EXISTS
 * or refused with RESOURCE_EXHAUSTED. Stops the server.
 */
export async function runBurstRound(server: BurstServer, shape: BurstShape): Promise<BurstRound> {
  const target = await startBookingService({
    store: server.store,
    certsDir: server.certsDir,
    showId: "main",
    showSeats: 100,
    logLevel: "warn",
    logPath: server.logPath,
    maxConcurrentStreams: 100,
    extraArgs: server.serverArgs,
    nodeArgs: [],
    limits: "defaults",
  });
  try {
    return await fireBurst(target.address, target.pid, server, shape);
  } finally {
    await target.stop();
  }
}

async function fireBurst(address: string, serverPid: number, server: BurstServer, shape: BurstShape): Promise<BurstRound> {
  const clients = Array.from({ length: shape.connections }, (_, index) => new RawBookingClient(address, server.caCertPath, server.identity, `burst-${index}-${Date.now()}`));
  const request = { showId: "main", seats: [1] };
  const cpuBefore = { server: cpuTimeMs(serverPid), postgres: server.postgresPid === undefined ? undefined : treeCpuTimeMs(server.postgresPid) };
  const benchBefore = process.cpuUsage();
  const machineBefore = machineCpuTicks();
  const started = performance.now();
  const replies = await Promise.all(
    Array.from({ length: shape.calls }, async (_, index) => {
      const client = clients[index % clients.length];
      if (client === undefined) throw new Error("no client");
      const callStarted = performance.now();
      const reply = await client.callAsync("bookSeats", request, shape.deadlineMs);
      return { code: reply.code, ms: performance.now() - callStarted, details: reply.error?.details ?? "" };
    }),
  );
  const wallMs = performance.now() - started;
  const percentOf = (ms: number | null): number | null => (ms === null ? null : (100 * ms) / wallMs);
  const delta = (after: number | undefined, before: number | undefined): number | null =>
    after === undefined || before === undefined ? null : after - before;
  const serverCpu = percentOf(delta(cpuTimeMs(serverPid), cpuBefore.server));
  const postgresCpu = percentOf(delta(server.postgresPid === undefined ? undefined : treeCpuTimeMs(server.postgresPid), cpuBefore.postgres));
  const benchUsage = process.cpuUsage(benchBefore);
  const benchCpu = percentOf((benchUsage.user + benchUsage.system) / 1000) ?? 0;
  const machineAfter = machineCpuTicks();
  // /proc/stat counts in ticks of 10 ms, summed over the cores.
  const machineBusy = machineBefore === undefined || machineAfter === undefined ? null : percentOf((machineAfter.busy - machineBefore.busy) * 10);
  for (const client of clients) client.close();

  const codes: Record<string, number> = {};
  const refusedBy: Record<string, number> = {};
  for (const { code, details } of replies) {
    const name = status[code] ?? String(code);
    codes[name] = (codes[name] ?? 0) + 1;
    if (code !== status.RESOURCE_EXHAUSTED) continue;
    const message = details.replace(/\d+/g, "N");
    refusedBy[message] = (refusedBy[message] ?? 0) + 1;
  }
  const servedMs = replies
    .filter(({ code }) => code === status.OK || code === status.ALREADY_EXISTS)
    .map(({ ms }) => ms)
    .sort((a, b) => a - b);
  return {
    codes,
    refused: codes["RESOURCE_EXHAUSTED"] ?? 0,
    refusedBy,
    served: servedMs.length,
    servedP50Ms: percentile(servedMs, 0.5),
    servedP99Ms: percentile(servedMs, 0.99),
    wallMs,
    cpuPercent: {
      server: serverCpu,
      bench: benchCpu,
      postgres: postgresCpu,
      other: machineBusy === null ? null : Math.max(0, machineBusy - benchCpu - (serverCpu ?? 0) - (postgresCpu ?? 0)),
    },
  };
}

/** The p-quantile (0..1) of ascending values; NaN when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
}
