import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

/** One parsed JSON line of a child's stdout. */
export type JsonLine = Record<string, unknown>;

/** A node process started by a test, ready by its own account. */
export interface NodeProcess<Ready> {
  /** The process itself, for what the rest of this interface does not offer (stdin). */
  readonly child: ChildProcess;
  readonly pid: number;
  /** What the ready check returned for the line that made the process ready. */
  readonly ready: Ready;
  /** Every JSON line of stdout so far, in order; other lines are in `stdout` only. */
  readonly lines: readonly JsonLine[];
  /** All stdout so far. */
  readonly stdout: string;
  /** All stderr so far. */
  readonly stderr: string;
  /** Resolves with the exit code, or the signal's name, when the process has ended. */
  readonly exited: Promise<number | string>;
  /** Sends `signal` unless the process has already ended; does not wait. */
  kill(signal: NodeJS.Signals): void;
}

/** Options of {@link startNodeProcess}. */
export interface NodeProcessOptions {
  readonly cwd?: string;
  /** Added to (and overriding) this process's environment. */
  readonly env?: Record<string, string>;
  /** Whether the child's stdin is a pipe (`child.stdin`); otherwise it is ignored. */
  readonly stdin?: boolean;
  /** Hears every JSON line, the ready one and those before and after it. */
  readonly onLine?: (line: JsonLine) => void;
  /** Names the process in errors. */
  readonly name: string;
}

/**
 * Starts `node <args>` and waits until `isReady` returns something other
 * than undefined for a JSON line of its stdout (it sees each line after it
 * is added to `lines`). Fails with the process's stderr when it exits
 * first. The caller stops it: kill() and `exited`, or through stdin.
 */
export async function startNodeProcess<Ready>(
  args: readonly string[],
  options: NodeProcessOptions,
  isReady: (line: JsonLine, lines: readonly JsonLine[]) => Ready | undefined,
): Promise<NodeProcess<Ready>> {
  const child = spawn(process.execPath, args, {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { ...process.env, ...options.env },
    stdio: [options.stdin === true ? "pipe" : "ignore", "pipe", "pipe"],
  });
  const lines: JsonLine[] = [];
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  const ready = await new Promise<Ready>((resolve, reject) => {
    // A failed spawn (no such cwd) emits 'error' and may never emit 'exit'.
    child.once("error", reject);
    createInterface({ input: child.stdout! }).on("line", (text) => {
      let line: JsonLine;
      try {
        line = JSON.parse(text) as JsonLine;
      } catch {
        return;
      }
      lines.push(line);
      options.onLine?.(line);
      const value = isReady(line, lines);
      if (value !== undefined) resolve(value);
    });
    void exited.then((code) => reject(new Error(`${options.name} exited (${code}) before it was ready: ${stderr.trim()}`)));
  });
  return {
    child,
    pid: child.pid ?? 0,
    ready,
    lines,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}
