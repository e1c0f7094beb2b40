import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { FromGenerator, GeneratorResult, LoadJob, ToGenerator } from "./load-protocol.js";

const generatorEntry = fileURLToPath(new URL("./load-generator.js", import.meta.url));

/** Hooks of one run: when load starts, and aggregated progress. */
export interface RunHooks {
  /** Called once every generator is connected and `go` has been sent. */
  onGo?(): void;
  /** Completed calls across generators so far (warm-up included). */
  onProgress?(completed: number, elapsedMs: number): void;
}

/**
 * The load-generator processes, forked once and reused for every run, so
 * process start-up never falls inside a measurement. Each run connects
 * afresh (new connections per run and server).
 */
export class GeneratorPool {
  readonly #children: ChildProcess[];

  private constructor(children: ChildProcess[]) {
    this.#children = children;
  }

  /** Forks `count` generators from the compiled bench. */
  static start(count: number, execArgv: readonly string[] = []): GeneratorPool {
    const children = Array.from({ length: count }, () =>
      fork(generatorEntry, [], { stdio: ["ignore", "inherit", "inherit", "ipc"], execArgv: [...execArgv] }),
    );
    return new GeneratorPool(children);
  }

  /** How many generator processes there are. */
  get size(): number {
    return this.#children.length;
  }

  /** Process ids, for CPU accounting. */
  get pids(): number[] {
    return this.#children.map((child) => child.pid ?? 0);
  }

  /**
   * Runs one job per generator (jobs[i] on generator i): all connect, then
   * all start at once. Resolves with their results in order; rejects when
   * any generator fails or dies.
   */
  async run(jobs: readonly LoadJob[], hooks: RunHooks = {}): Promise<GeneratorResult[]> {
    if (jobs.length !== this.#children.length) throw new RangeError(`${jobs.length} jobs for ${this.#children.length} generators`);
    const progress = new Array<number>(jobs.length).fill(0);
    const cleanups: Array<() => void> = [];
    try {
      const phases = this.#children.map((child, index) => {
        const ready = deferred<void>();
        const done = deferred<GeneratorResult>();
        const fail = (error: Error): void => {
          ready.reject(error);
          done.reject(error);
        };
        const onMessage = (message: FromGenerator): void => {
          switch (message.type) {
            case "ready":
              ready.resolve();
              return;
            case "progress":
              progress[index] = message.completed;
              hooks.onProgress?.(progress.reduce((sum, value) => sum + value, 0), message.elapsedMs);
              return;
            case "result":
              done.resolve(message.result);
              return;
            case "failed":
              fail(new Error(`load generator ${index + 1}: ${message.message}`));
              return;
          }
        };
        const onExit = (code: number | null, signal: string | null): void =>
          fail(new Error(`load generator ${index + 1} exited (${code ?? signal})`));
        child.on("message", onMessage);
        child.once("exit", onExit);
        cleanups.push(() => {
          child.off("message", onMessage);
          child.off("exit", onExit);
        });
        return { ready: ready.promise, done: done.promise };
      });
      this.#children.forEach((child, index) => send(child, { type: "prepare", job: jobs[index]! }));
      await Promise.all(phases.map((phase) => phase.ready));
      for (const child of this.#children) send(child, { type: "go" });
      hooks.onGo?.();
      return await Promise.all(phases.map((phase) => phase.done));
    } finally {
      for (const cleanup of cleanups) cleanup();
    }
  }

  /** Asks every generator to exit and waits for it. */
  async close(): Promise<void> {
    await Promise.all(
      this.#children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) {
              resolve();
              return;
            }
            const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
            child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            if (child.connected) send(child, { type: "exit" });
            else child.kill("SIGTERM");
          }),
      ),
    );
  }
}

function send(child: ChildProcess, message: ToGenerator): void {
  child.send(message);
}

interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: Error): void;
}

/** A promise with its settle functions; a rejection nobody awaits yet does not crash the process. */
function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = () => {};
  let reject: (error: Error) => void = () => {};
  const promise = new Promise<T>((onResolve, onReject) => {
    resolve = onResolve;
    reject = onReject;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}
