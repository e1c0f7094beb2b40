import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { BookingCoreOptions } from "../../src/core/booking-core.js";
import type { BookingServerOptions } from "../../src/transport/booking-server.js";
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
  Pick<BookingServerOptions, "maxInFlight" | "maxReceiveBytes" | "maxConcurrentStreams">
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
 * is a real server on 127.0.0.1:0; stop() must be called in teardown.
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
  const child = spawn(process.execPath, ["--import", "tsx", ENTRY, JSON.stringify(config)], {
    cwd: REPOSITORY,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const replies: ((line: Record<string, unknown>) => void)[] = [];
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    lines.on("line", (text) => {
      const line = JSON.parse(text) as Record<string, unknown>;
      if (typeof line["port"] === "number") resolve(line["port"]);
      else replies.shift()?.(line);
    });
    void exited.then(() => reject(new Error(`the abuse server exited before listening: ${stderr.trim()}`)));
  }).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  return {
    address: `127.0.0.1:${port}`,
    pki,
    pid: childPid(child),
    memory: () =>
      new Promise<MemoryFigures>((resolve) => {
        replies.push((line) => resolve(line["memory"] as MemoryFigures));
        child.stdin?.write("memory\n");
      }),
    stop: async () => {
      child.stdin?.end();
      // Draining takes at most the server's 1 s grace; a hung process is killed.
      const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(kill);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function childPid(child: ChildProcess): number {
  if (child.pid === undefined) throw new Error("the abuse server process did not start");
  return child.pid;
}
