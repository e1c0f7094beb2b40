import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startNodeProcess } from "./node-process.js";

/** The compiled CLI; `npm test` builds it before vitest runs. */
export const CLI_PATH = fileURLToPath(new URL("../../dist/bin/booking.js", import.meta.url));

/** A `booking serve` process started by a test. */
export interface ServerProcess {
  /** The process itself; prefer kill(), stop() and `exited`. */
  readonly child: ChildProcess;
  readonly pid: number;
  /** host:port the server listens on. */
  readonly address: string;
  readonly port: number;
  /** The Prometheus address, when --metrics-listen was given. */
  readonly metricsAddress: string | undefined;
  /** Every JSON log line so far. */
  readonly logLines: readonly Record<string, unknown>[];
  /** All stdout so far (the JSON log). */
  readonly stdout: string;
  /** All stderr so far. */
  readonly stderr: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** Sends a signal, unless the process has ended; does not wait. */
  kill(signal: NodeJS.Signals): void;
  /** Sends a signal (SIGTERM unless given) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Starts `booking serve` with `args` (add `--listen 127.0.0.1:0`) and waits
 * for its "listening" log line, which names the bound address. Fails with the
 * process's stderr when it exits first. The one way tests start the real
 * server as a process; bench/target-process.ts starts it for the benchmark,
 * with its log in a file nobody reads.
 */
export async function startServerProcess(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<ServerProcess> {
  const server = await startNodeProcess(
    [CLI_PATH, "serve", ...args],
    { ...options, name: "booking serve" },
    (line, lines) => {
      if (line["msg"] !== "listening") return undefined;
      // main logs "metrics listening" (when enabled) before "listening".
      const metrics = lines.find((entry) => entry["msg"] === "metrics listening");
      return { address: String(line["address"]), metricsAddress: metrics === undefined ? undefined : String(metrics["metrics"]) };
    },
  );
  const { address, metricsAddress } = server.ready;
  return {
    child: server.child,
    pid: server.pid,
    address,
    port: Number(address.slice(address.lastIndexOf(":") + 1)),
    metricsAddress,
    logLines: server.lines,
    get stdout() {
      return server.stdout;
    },
    get stderr() {
      return server.stderr;
    },
    exited: server.exited,
    kill: (signal) => server.kill(signal),
    stop: async (signal = "SIGTERM") => {
      server.kill(signal);
      return server.exited;
    },
  };
}
