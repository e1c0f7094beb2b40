import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The compiled CLI; `npm test` builds it before vitest runs. */
export const CLI_PATH = fileURLToPath(new URL("../../dist/bin/booking.js", import.meta.url));

/** A `booking serve` process started by a test. */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly address: string;
  /** The Prometheus address, when --metrics-listen was given. */
  readonly metricsAddress: string | undefined;
  /** Every JSON log line so far. */
  readonly logLines: Record<string, unknown>[];
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Starts `booking serve` with `args` (add `--listen 127.0.0.1:0`) and waits
 * for its "listening" log line, which names the bound address. Fails with the
 * process's stderr when it exits first.
 */
export async function startServerProcess(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI_PATH, "serve", ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logLines: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  const ready = new Promise<{ address: string; metricsAddress: string | undefined }>((resolve, reject) => {
    let metricsAddress: string | undefined;
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logLines.push(entry);
      // main logs "metrics listening" (when enabled) before "listening".
      if (entry["msg"] === "metrics listening") metricsAddress = String(entry["metrics"]);
      if (entry["msg"] === "listening") resolve({ address: String(entry["address"]), metricsAddress });
    });
    void exited.then((code) => reject(new Error(`booking serve exited (${code}) before listening: ${stderr.trim()}`)));
  });
  const { address, metricsAddress } = await ready;
  return {
    child,
    address,
    metricsAddress,
    logLines,
    exited,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
