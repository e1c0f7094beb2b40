import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const probeEntry = fileURLToPath(new URL("./alloc-probe.js", import.meta.url));

/** The node options and environment that load the allocation probe into a child process. */
export function allocProbeLaunch(file: string): { readonly nodeArgs: readonly string[]; readonly env: Readonly<Record<string, string>> } {
  return { nodeArgs: ["--import", probeEntry], env: { BENCH_ALLOC_PROBE_FILE: file } };
}

/** One reading of the probe. */
export interface HeapReading {
  /** Bytes allocated on the process's V8 heap since the probe started. */
  readonly allocatedBytes: number;
  /** The longest garbage collection since the previous reading (or the start), or undefined when none ran. */
  readonly longestGc: { readonly ms: number; readonly type: string } | undefined;
}

/**
 * The parent's side of alloc-probe.ts: asks a process that preloaded the
 * probe for the bytes it has allocated so far and its longest collection
 * since the last reading (SIGUSR2), and reads the answer from the probe's
 * file. Two readings bracket a window.
 */
export class AllocMeter {
  readonly #pid: number;
  readonly #file: string;
  #marks = 0;

  constructor(pid: number, file: string) {
    this.#pid = pid;
    this.#file = file;
  }

  /**
   * Reads the probe; undefined when the process is gone or does not answer
   * within `timeoutMs` (the probe answers from its event loop, so a loop
   * blocked that long delays it).
   */
  async read(timeoutMs = 5000): Promise<HeapReading | undefined> {
    const wanted = ++this.#marks;
    try {
      process.kill(this.#pid, "SIGUSR2");
    } catch {
      return undefined;
    }
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const lines = (await readFile(this.#file, "utf8").catch(() => "")).split("\n").filter((line) => line !== "");
      if (lines.length >= wanted) {
        // A mark that timed out may answer late: the newest line is the freshest reading.
        this.#marks = lines.length;
        return parseReading(lines[lines.length - 1] ?? "");
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return undefined;
  }
}

/** A probe line: "allocated longestMicros type" (see alloc-probe.ts); undefined when it is not one. */
export function parseReading(line: string): HeapReading | undefined {
  const [allocated, longestMicros, type] = line.split(" ");
  const allocatedBytes = Number(allocated);
  if (!Number.isFinite(allocatedBytes)) return undefined;
  const micros = Number(longestMicros);
  const longestGc = type === undefined || type === "-" || !Number.isFinite(micros) ? undefined : { ms: micros / 1000, type };
  return { allocatedBytes, longestGc };
}
