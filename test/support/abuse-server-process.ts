import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BookingCoreOptions } from "../../src/core/booking-core.js";
import type { BookingServerOptions } from "../../src/transport/booking-server.js";
import { startNodeProcess } from "./node-process.js";
import { createTestPki, DEV_PRINCIPALS, writeTestPki, type TestPki } from "./test-pki.js";

/** What the server process is started with (JSON on its command line). */
export interface AbuseServerConfig {
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly core: Omit<BookingCoreOptions, "store">;
  readonly server: AbuseServerLimits;
}

/**
 * The server's limits a test may set. maxEventLoopLagMs (load shedding by
 * event-loop lag) is the option proposed with the overload test; a server
 * without it ignores it, since the options are spread into
 * createBookingServer.
 */
export type AbuseServerLimits = Partial<
  Pick<BookingServerOptions, "maxInFlight" | "maxReceiveBytes" | "maxConcurrentStreams" | "overloadIntervalMs">
> & { readonly maxEventLoopLagMs?: number };

/** Memory of the server process after a full GC, in bytes. */
export interface MemoryFigures {
  readonly heapUsed: number;
  readonly rss: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /** Peak resident set size since the process started (VmHWM). */
  readonly peakRss: number;
}

/** A booking server in a child process. */
export interface AbuseServerProcess {
  readonly address: string;
  readonly pki: TestPki;
  readonly pid: number;
  /** Runs a full GC in the server and reads its memory. */
  memory(): Promise<MemoryFigures>;
  /** Drains the server and waits for the process to exit. */
  stop(): Promise<void>;
}

/** Options of {@link startAbuseServerProcess}. */
export interface AbuseServerProcessOptions {
  readonly core?: Partial<Omit<BookingCoreOptions, "store">>;
  readonly server?: AbuseServerConfig["server"];
}

const ENTRY = fileURLToPath(new URL("./abuse-server-main.ts", import.meta.url));
const REPOSITORY = fileURLToPath(new URL("../../", import.meta.url));

/**
 * Starts abuse-server-main.ts under tsx with a fresh test PKI: shows main
 * (100 seats) and small (5) unless given, admin = the dev admin. The process
 * is a real server on 127.0.0.1:0; stop() must be called in teardown. Not
 * `booking serve` (startServerProcess) because the heap after a full GC can
 * only be read inside the process.
 */
export async function startAbuseServerProcess(options: AbuseServerProcessOptions = {}): Promise<AbuseServerProcess> {
  const dir = await mkdtemp(join(tmpdir(), "abuse-server-"));
  const { pki, paths } = await writeTestPki(dir, await createTestPki());
  const config: AbuseServerConfig = {
    caCert: paths.caCert,
    serverCert: paths.serverCert,
    serverKey: paths.serverKey,
    core: {
      shows: [
        { id: "main", totalSeats: 100 },
        { id: "small", totalSeats: 5 },
      ],
      admins: [DEV_PRINCIPALS.admin],
      ...options.core,
    },
    server: options.server ?? {},
  };
  const replies: ((line: Record<string, unknown>) => void)[] = [];
  const server = await startNodeProcess(
    ["--import", "tsx", ENTRY, JSON.stringify(config)],
    {
      cwd: REPOSITORY,
      stdin: true,
      name: "the abuse server",
      onLine: (line) => {
        if (typeof line["port"] !== "number") replies.shift()?.(line);
      },
    },
    (line) => (typeof line["port"] === "number" ? line["port"] : undefined),
  ).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  const port = server.ready;
  return {
    address: `127.0.0.1:${port}`,
    pki,
    pid: server.pid,
    memory: () =>
      new Promise<MemoryFigures>((resolve) => {
        replies.push((line) => resolve(line["memory"] as MemoryFigures));
        server.child.stdin?.write("memory\n");
      }),
    stop: async () => {
      server.child.stdin?.end();
      // Draining takes at most the server's 1 s grace; a hung process is killed.
      const kill = setTimeout(() => server.kill("SIGKILL"), 10_000);
      await server.exited;
      clearTimeout(kill);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
