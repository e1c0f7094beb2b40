import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { status } from "@grpc/grpc-js";
import { ensureDevPki, type DevPkiPaths } from "../src/pki/dev-pki.js";
import type { BenchOptions, StoreName } from "./bench-options.js";
import { benchNotes } from "./bench-notes.js";
import { GeneratorPool } from "./generator-pool.js";
import type { LoadJob } from "./load-protocol.js";
import { RawBookingClient } from "./raw-client.js";
import { checkGoals, type GoalCheck, type RunResult } from "./report.js";
import { medianRound, summarizeRun } from "./run-summary.js";
import { SCENARIOS, type ScenarioName, type ScenarioShow } from "./scenarios.js";
import { startBaseline, startBookingService, type TargetProcess } from "./target-process.js";
import { startThrowawayPostgres, type ThrowawayPostgres } from "./throwaway-postgres.js";
import { WindowSampler } from "./window-sampler.js";

/** Everything a run produced: the results file's content. */
export interface BenchReport {
  readonly version: 1;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly command: string;
  readonly machine: {
    readonly cores: number;
    readonly cpuModel: string;
    readonly memoryGb: number;
    readonly node: string;
    readonly platform: string;
    readonly postgres: string | null;
    /** 1, 5 and 15-minute load averages when the run started: other work on the machine. */
    readonly loadAverageAtStart: readonly number[];
  };
  readonly settings: Omit<BenchOptions, "outPath" | "markdownPath">;
  readonly notes: readonly string[];
  readonly skipped: ReadonlyArray<{ readonly target: string; readonly reason: string }>;
  readonly results: readonly RunResult[];
  readonly goals: readonly GoalCheck[];
}

/** Where the runner reports progress; `live` may overwrite the previous live line. */
export interface BenchIo {
  progress(line: string): void;
  live(line: string): void;
  /** Set when the user asked to stop: no new run starts. */
  readonly stopRequested?: () => boolean;
}

type Target = "baseline" | StoreName;

interface Context {
  readonly options: BenchOptions;
  readonly io: BenchIo;
  readonly work: string;
  readonly pki: DevPkiPaths;
  readonly pool: GeneratorPool;
  readonly postgres: ThrowawayPostgres | undefined;
  readonly nodeArgs: readonly string[];
  readonly show: ScenarioShow;
}

/**
 * Runs every selected scenario against the baseline and each store, one
 * after another, each on a fresh server process and a fresh store, and
 * returns the report. Starts and always stops its own processes (servers,
 * load generators, a throwaway PostgreSQL) and removes its temp files.
 */
export async function runBench(options: BenchOptions, command: string, io: BenchIo): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const loadAverageAtStart = loadavg().map((value) => Math.round(value * 100) / 100);
  const work = await mkdtemp(join(tmpdir(), "booking-bench-"));
  const skipped: Array<{ target: string; reason: string }> = [];
  let postgres: ThrowawayPostgres | undefined;
  let pool: GeneratorPool | undefined;
  try {
    const { paths: pki } = await ensureDevPki(join(work, "certs"));
    if (options.stores.includes("postgres")) {
      io.progress("starting a throwaway PostgreSQL cluster (fsync on) ...");
      const started = await startThrowawayPostgres();
      if ("missing" in started) {
        skipped.push({ target: "postgres", reason: started.missing });
        io.progress(`NOTICE: skipping postgres: ${started.missing}`);
      } else {
        postgres = started;
      }
    }
    let nodeArgs: string[] = [];
    if (options.cpuProfileDir !== undefined) {
      const dir = resolve(options.cpuProfileDir);
      await mkdir(dir, { recursive: true });
      nodeArgs = ["--cpu-prof", "--cpu-prof-dir", dir];
    }
    pool = GeneratorPool.start(options.generators);
    const context: Context = {
      options,
      io,
      work,
      pki,
      pool,
      postgres,
      nodeArgs,
      show: { showId: "main", totalSeats: options.showSeats, hotSeats: options.hotSeats },
    };
    const targets: Target[] = [
      ...(options.baseline ? (["baseline"] as const) : []),
      ...options.stores.filter((store) => store !== "postgres" || postgres !== undefined),
    ];
    const results: RunResult[] = [];
    const total = options.scenarios.length * targets.length * options.repeat;
    let done = 0;
    for (const scenario of options.scenarios) {
      const rounds = new Map<Target, RunResult[]>(targets.map((target) => [target, []]));
      // Rounds alternate the targets, so a burst of other work on the machine hits them alike.
      for (let round = 1; round <= options.repeat; round++) {
        for (const target of targets) {
          if (io.stopRequested?.() === true) throw new Error("stopped on request");
          done++;
          const label = options.repeat > 1 ? ` (round ${round}/${options.repeat})` : "";
          io.progress(`[${done}/${total}] ${scenario} on ${target}${label}: ${SCENARIOS[scenario].description}`);
          const result = await runOne(context, scenario, target);
          io.progress(progressLine(result));
          rounds.get(target)?.push(result);
        }
      }
      const medians = targets.map((target) => medianRound(rounds.get(target) ?? []));
      const baseline = medians.find((run) => run.target === "baseline");
      for (const run of medians) {
        results.push({
          ...run,
          ratioToBaseline:
            run.target === "baseline" || baseline === undefined || baseline.callsPerSecond === 0
              ? null
              : run.callsPerSecond / baseline.callsPerSecond,
        });
      }
    }
    const { outPath: _out, markdownPath: _markdown, ...settings } = options;
    return {
      version: 1,
      startedAt,
      finishedAt: new Date().toISOString(),
      command,
      machine: {
        cores: availableParallelism(),
        cpuModel: cpus()[0]?.model ?? "unknown",
        memoryGb: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        platform: `${process.platform} ${process.arch}`,
        postgres: postgres?.version ?? null,
        loadAverageAtStart,
      },
      settings,
      notes: benchNotes(options, availableParallelism()),
      skipped,
      results,
      goals: checkGoals(results),
    };
  } finally {
    await pool?.close();
    await postgres?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function runOne(context: Context, scenarioName: ScenarioName, target: Target): Promise<RunResult> {
  const { options, io, pki, pool, show } = context;
  const scenario = SCENARIOS[scenarioName];
  const maxConcurrentStreams = Math.max(100, Math.ceil(options.concurrency / (options.generators * options.connections)) * 2);
  let server: TargetProcess;
  let store = "";
  if (target === "baseline") {
    server = await startBaseline(
      {
        caCertPath: pki.caCert,
        serverCertPath: pki.serverCert,
        serverKeyPath: pki.serverKey,
        showId: show.showId,
        showSeats: show.totalSeats,
        maxConcurrentStreams,
      },
      context.nodeArgs,
    );
  } else {
    store = await storeSpec(context, target, scenarioName);
    server = await startBookingService({
      store,
      certsDir: pki.dir,
      showId: show.showId,
      showSeats: show.totalSeats,
      logLevel: options.serverLogLevel,
      logPath: join(context.work, `server-${target}-${scenarioName}.log`),
      maxConcurrentStreams,
      extraArgs: options.serverArgs,
      nodeArgs: context.nodeArgs,
    });
  }
  try {
    const generators = pool.size;
    const jobs: LoadJob[] = Array.from({ length: generators }, (_, index) => {
      const slots = Array.from({ length: options.concurrency }, (_, slot) => slot).filter((slot) => slot % generators === index);
      return {
        address: server.address,
        caCertPath: pki.caCert,
        identities: [pki.clients.alice, pki.clients.bob].map((files) => ({ certPath: files.cert, keyPath: files.key })),
        connections: Math.min(options.connections, slots.length),
        slots,
        totalSlots: options.concurrency,
        scenario: scenarioName,
        show,
        warmupMs: options.warmupS * 1000,
        durationMs: options.durationS * 1000,
        deadlineMs: 30_000,
        requestIds: options.requestIds,
        runTag: `${scenarioName}/${target}/${index}/${Date.now()}`,
      };
    });

    // CPU and PostgreSQL counters are read at the window's edges, on the parent's clock.
    const cluster = target === "postgres" ? context.postgres : undefined;
    const window = new WindowSampler(
      server.pid,
      cluster === undefined ? undefined : { cluster, database: new URL(store).pathname.slice(1) },
    );
    const timers: NodeJS.Timeout[] = [];
    let last = { completed: 0, at: performance.now() };
    let warmupLoop: Promise<number | undefined> = Promise.resolve(undefined);
    const totalS = options.warmupS + options.durationS;
    const results = await pool.run(jobs, {
      onGo: () => {
        timers.push(
          setTimeout(() => {
            window.open();
            warmupLoop = server.loopMaxSinceLast();
          }, options.warmupS * 1000),
        );
        timers.push(setTimeout(() => void window.close(), totalS * 1000));
      },
      onProgress: (completed, elapsedMs) => {
        const now = performance.now();
        if (now - last.at < 900) return;
        const rate = ((completed - last.completed) * 1000) / (now - last.at);
        last = { completed, at: now };
        const phase = elapsedMs < options.warmupS * 1000 ? "warm-up" : "measuring";
        io.live(`    ${(elapsedMs / 1000).toFixed(0).padStart(3)}/${totalS.toFixed(0)} s  ${phase}  ${Math.round(rate)} calls/s`);
      },
    });
    for (const timer of timers) clearTimeout(timer);
    const measured = await window.close();

    let bookedAfter: number | null = null;
    if (scenario.leavesShowEmpty && target !== "baseline") bookedAfter = await bookedSeats(server.address, pki, show.showId);
    const loopMaxMs = await server.loopMaxSinceLast();
    const warmupLoopMaxMs = await warmupLoop;
    const figures = await server.figures();
    return summarizeRun(scenarioName, target, results, options.durationS, {
      peakRssMb: figures.peakRssBytes === undefined ? null : figures.peakRssBytes / 2 ** 20,
      loopMaxMs: loopMaxMs ?? null,
      warmupLoopMaxMs: warmupLoopMaxMs ?? null,
      ...(figures.batches === undefined
        ? {}
        : { batches: { ...figures.batches, busyPercent: (figures.batches.count * figures.batches.meanCommitMs) / (totalS * 10) } }),
      measured,
      bookedAfter,
    });
  } finally {
    await server.stop();
  }
}

/** A fresh, empty store for one run (a new file or database every time). */
async function storeSpec(context: Context, target: StoreName, scenario: ScenarioName): Promise<string> {
  const unique = randomBytes(4).toString("hex");
  switch (target) {
    case "memory":
      return "memory";
    case "sqlite":
      return `sqlite:${join(context.work, `bench-${scenario}-${unique}.sqlite`)}`;
    case "postgres": {
      if (context.postgres === undefined) throw new Error("postgres is not running");
      return context.postgres.createDatabase(`bench_${scenario.replace(/-/g, "_")}_${unique}`);
    }
  }
}

/** Seats still booked in the show, read through the service itself. */
async function bookedSeats(address: string, pki: DevPkiPaths, showId: string): Promise<number | null> {
  const client = new RawBookingClient(address, pki.caCert, { certPath: pki.clients.admin.cert, keyPath: pki.clients.admin.key }, "check");
  try {
    const reply = await client.callAsync("showAvailable", { showId }, 30_000);
    if (reply.code !== status.OK) return null;
    return (reply.response as { bookedCount: number }).bookedCount;
  } finally {
    client.close();
  }
}

function progressLine(result: RunResult): string {
  const background = result.backgroundCpuPercent ?? 0;
  return (
    `    ${Math.round(result.callsPerSecond)} calls/s, p99 ${result.latencyMs.p99.toFixed(2)} ms, loop max ${result.server.loopMaxMs?.toFixed(1) ?? "?"} ms` +
    `, CPU: server ${percent(result.server.cpuPercent)}, generators ${percent(result.generators.cpuPercent)}` +
    (result.postgres === undefined ? "" : `, postgres ${percent(result.postgres.cpuPercent)}`) +
    (background > 20 ? `; WARNING: other processes used ${background.toFixed(0)}% of a core meanwhile` : "") +
    (result.unexpected > 0 ? `; ${result.unexpected} UNEXPECTED answers: ${result.unexpectedSamples.join("; ")}` : "")
  );
}

function percent(value: number | null): string {
  return value === null ? "?" : `${value.toFixed(0)}%`;
}
