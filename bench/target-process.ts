import { fork, spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { SERVER_NODE_OPTIONS } from "../src/server-node-options.js";
import { AllocMeter, allocProbeLaunch, type HeapReading } from "./alloc-meter.js";
import type { BaselineServerConfig, FromBaseline, ToBaseline } from "./baseline-protocol.js";
import { freePort } from "./free-port.js";
import { peakRssBytes } from "./process-stats.js";
import { metricSum, parsePrometheusText } from "./prometheus-text.js";

const cliEntry = fileURLToPath(new URL("../bin/booking.js", import.meta.url));
const baselineEntry = fileURLToPath(new URL("./baseline-server.js", import.meta.url));

/** What the benchmark reads from a server at the end of a run. */
export interface ServerFigures {
  /** VmHWM: the largest resident set the process ever had. */
  readonly peakRssBytes: number | undefined;
  /** Group commit over the whole run (warm-up included); booking servers only. */
  readonly batches?: { readonly count: number; readonly meanSize: number; readonly meanCommitMs: number };
}

/** A server process under load: the real service or the baseline. */
export interface TargetProcess {
  readonly pid: number;
  /** host:port of its gRPC port. */
  readonly address: string;
  /**
   * The largest event-loop delay since the previous call (the first period
   * starts when the server is ready), and starts a new period.
   */
  loopMaxSinceLast(): Promise<number | undefined>;
  /**
   * Bytes allocated on its V8 heap since it started (two readings bracket a
   * window) and its longest collection since the previous reading;
   * undefined when it was started without the allocation probe or the probe
   * did not answer.
   */
  heapReading(): Promise<HeapReading | undefined>;
  /** Reads its figures; call before stop. */
  figures(): Promise<ServerFigures>;
  /** SIGTERM, then waits for the exit (SIGKILL after 20 s). */
  stop(): Promise<void>;
}

/** How to start `booking serve` for one run. */
export interface ServiceLaunch {
  /** The --store value. */
  readonly store: string;
  readonly certsDir: string;
  readonly showId: string;
  readonly showSeats: number;
  readonly logLevel: string;
  /** The server's stdout (its JSON log) goes here. */
  readonly logPath: string;
  readonly maxConcurrentStreams: number;
  readonly extraArgs: readonly string[];
  /** Options for node itself (--cpu-prof ...). */
  readonly nodeArgs: readonly string[];
  /**
   * "off" (the default): admission limits far above the offered load, so the
   * benchmark measures the service, not its refusals. "defaults": the
   * limits `booking serve` has out of the box (the burst measures those).
   */
  readonly limits?: "off" | "defaults";
  /** Preload alloc-probe.ts, answering into this file; undefined = no probe. */
  readonly allocProbeFile?: string | undefined;
}

/**
 * Starts `booking serve` as its own process with mutual TLS, on free
 * ports, with admission limits far above the offered load unless
 * `limits` says "defaults" (the benchmark measures the service, not its
 * refusals) and the metrics endpoint on.
 * Ready when /metrics answers; that first scrape also starts the first
 * event-loop period (prom-client resets its delay histogram on every
 * scrape). A scrape also reads every show's seats for the booking_seats
 * gauge, which costs the server about a millisecond per 100,000 seats.
 * Tests start `booking serve` with test/support/server-process.ts instead,
 * which reads the JSON log through a pipe; here the log goes straight to a
 * file, so the measuring process spends nothing on it.
 */
export async function startBookingService(launch: ServiceLaunch): Promise<TargetProcess> {
  let lastError: unknown;
  // A free port can be taken between finding it and binding it: try others.
  for (let attempt = 0; attempt < 3; attempt++) {
    const [port, metricsPort] = [await freePort(), await freePort()];
    try {
      return await launchService(launch, port, metricsPort);
    } catch (error) {
      lastError = error;
      if (!String(error).includes("EADDRINUSE") && !String(error).includes("address already in use")) break;
    }
  }
  throw lastError;
}

// Admission far above the offered load; and every hold-confirm slot may keep a hold, more than the default 20 live holds per principal.
const LIMITS_OFF = [
  "--max-in-flight", "1000000",
  "--max-queued", "1000000",
  "--max-event-loop-lag-ms", "0",
  "--max-holds-per-principal", "1000000",
];

async function launchService(launch: ServiceLaunch, port: number, metricsPort: number): Promise<TargetProcess> {
  const probe = launch.allocProbeFile === undefined ? undefined : allocProbeLaunch(launch.allocProbeFile);
  const args = [
    // As `npm start` and the `booking` command run it.
    ...SERVER_NODE_OPTIONS,
    ...launch.nodeArgs,
    ...(probe?.nodeArgs ?? []),
    cliEntry,
    "serve",
    "--listen", `127.0.0.1:${port}`,
    "--metrics-listen", `127.0.0.1:${metricsPort}`,
    "--store", launch.store,
    "--shows", `${launch.showId}:${launch.showSeats}`,
    "--certs-dir", launch.certsDir,
    "--log-level", launch.logLevel,
    ...((launch.limits ?? "off") === "off" ? LIMITS_OFF : []),
    "--max-concurrent-streams", String(launch.maxConcurrentStreams),
    "--shutdown-grace-ms", "5000",
    ...launch.extraArgs,
  ];
  const log = openSync(launch.logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, args, { stdio: ["ignore", log, "pipe"], env: { ...process.env, ...probe?.env } });
  } finally {
    closeSync(log);
  }
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    if (stderr.length < 16_384) stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const scrape = async (): Promise<string | undefined> => {
    try {
      const response = await fetch(metricsUrl);
      return response.ok ? await response.text() : undefined;
    } catch {
      return undefined;
    }
  };
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const deadline = Date.now() + 120_000;
  while ((await scrape()) === undefined) {
    if (!alive()) throw new Error(`booking serve exited (${child.exitCode ?? child.signalCode}) before serving: ${stderr.trim()}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`booking serve did not answer on ${metricsUrl} within 120 s: ${stderr.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pid = child.pid ?? 0;
  const meter = launch.allocProbeFile === undefined ? undefined : new AllocMeter(pid, launch.allocProbeFile);
  return {
    pid,
    address: `127.0.0.1:${port}`,
    heapReading: async () => meter?.read(),
    async loopMaxSinceLast() {
      const text = await scrape();
      const seconds = text === undefined ? undefined : metricSum(parsePrometheusText(text), "nodejs_eventloop_lag_max_seconds");
      return seconds === undefined ? undefined : seconds * 1000;
    },
    async figures() {
      const peak = peakRssBytes(pid);
      const text = await scrape();
      if (text === undefined) return { peakRssBytes: peak };
      const samples = parsePrometheusText(text);
      const batchCount = metricSum(samples, "booking_store_batch_size_count") ?? 0;
      const batchSum = metricSum(samples, "booking_store_batch_size_sum") ?? 0;
      const commitSum = metricSum(samples, "booking_store_commit_seconds_sum") ?? 0;
      return {
        peakRssBytes: peak,
        batches: {
          count: batchCount,
          meanSize: batchCount === 0 ? 0 : batchSum / batchCount,
          meanCommitMs: batchCount === 0 ? 0 : (commitSum * 1000) / batchCount,
        },
      };
    },
    stop: () => stopProcess(child, exited),
  };
}

/** Forks the baseline server and waits until it listens. */
export async function startBaseline(
  config: BaselineServerConfig,
  nodeArgs: readonly string[],
  allocProbeFile?: string,
): Promise<TargetProcess> {
  const probe = allocProbeFile === undefined ? undefined : allocProbeLaunch(allocProbeFile);
  const child = fork(baselineEntry, [JSON.stringify(config)], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    // The service's Node options, so that the comparison is of the code alone.
    execArgv: [...SERVER_NODE_OPTIONS, ...nodeArgs, ...(probe?.nodeArgs ?? [])],
    env: { ...process.env, ...probe?.env },
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.on("message", (message: FromBaseline) => {
      if (message.type === "listening") resolve(message.port);
    });
    void exited.then(() => reject(new Error(`the baseline server exited (${child.exitCode ?? child.signalCode}) before listening`)));
  });
  const pid = child.pid ?? 0;
  const meter = allocProbeFile === undefined ? undefined : new AllocMeter(pid, allocProbeFile);
  return {
    pid,
    address: `127.0.0.1:${port}`,
    heapReading: async () => meter?.read(),
    loopMaxSinceLast: () =>
      new Promise<number | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), 5000);
        const onMessage = (message: FromBaseline): void => {
          if (message.type !== "loop") return;
          clearTimeout(timer);
          child.off("message", onMessage);
          resolve(message.loopMaxMs);
        };
        child.on("message", onMessage);
        const request: ToBaseline = { type: "loop" };
        child.send(request);
      }),
    figures: async () => ({ peakRssBytes: peakRssBytes(pid) }),
    stop: () => stopProcess(child, exited),
  };
}

async function stopProcess(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(timer);
}
