import { spawn } from "node:child_process";
import { CLI_PATH } from "./server-process.js";

/** How a `booking` command line ended. */
export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The environment a test's CLI run gets: this process's, without any
 * BOOKING_* variable of the developer's shell, plus `extra`.
 */
export function cliEnvironment(extra: Record<string, string>): Record<string, string> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("BOOKING_")));
  return { ...inherited, ...extra } as Record<string, string>;
}

/**
 * Runs the built `booking` binary to its end in `cwd` (where ./certs holds
 * the development certificates), against `address`.
 */
export function runBooking(
  args: readonly string[],
  options: { readonly cwd: string; readonly address: string; readonly env?: Record<string, string> },
): Promise<Run> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    cwd: options.cwd,
    env: cliEnvironment({ BOOKING_ADDRESS: options.address, ...options.env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** The non-empty lines of a command's output. */
export function lines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}
