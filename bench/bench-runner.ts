import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { status } from "@grpc/grpc-js";
import { ensureDevPki, type DevPkiPaths } from "../src/pki/dev-pki.js";
import type { HeapReading } from "./alloc-meter.js";
import type { BenchOptions, StoreName } from "./bench-options.js";
import { benchNotes } from "./bench-notes.js";
import { summarizeBurst, type BurstSummary } from "./burst-summary.js";
import { runBurstRound, type BurstRound, type BurstShape } from "./burst-volley.js";
import { runFanout, type FanoutResult } from "./fanout-run.js";
import { GeneratorPool } from "./generator-pool.js";
import type { LoadJob } from "./load-protocol.js";
import { RawBookingClient } from "./raw-client.js";
import { otherLoadCell, otherLoadDisturbs, otherLoadWarning } from "./other-load.js";
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
  /** The watchers section: a row per store and watcher count (empty when --watchers 0). */
  readonly watchers: readonly FanoutResult[];
  /** The burst section: a row per store (empty when --burst-rounds 0). */
  readonly burst: readonly BurstSummary[];
  /** The WARNING about rows disturbed by work outside the benchmark (other-load.ts); null when none was. */
  readonly otherLoadWarning: string | null;
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
    const nodeArgs: string[] = [...options.nodeArgs];
    if (options.cpuProfileDir !== undefined) {
      const dir = resolve(options.cpuProfileDir);
      await mkdir(dir, { recursive: true });
      nodeArgs.push("--cpu-prof", "--cpu-prof-dir", dir);
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
          allocRatioToBaseline:
            run.target === "baseline" || run.server.allocBytesPerCall === null || !(baseline?.server.allocBytesPerCall)
              ? null
              : run.server.allocBytesPerCall / baseline.server.allocBytesPerCall,
        });
      }
    }
    const stores = options.sectionStores.filter((store) => targets.includes(store));
    const watchers = await runWatchers(context, stores);
    const burst = await runBursts(context, stores);
    const warning = otherLoadWarning([
      ...results.map((result) => ({ label: `${result.scenario}/${result.target}`, percent: result.backgroundCpuPercent })),
      ...watchers.map((result) => ({ label: `watchers ${result.watchers}/${result.store}`, percent: result.cpuPercent.other })),
      ...burst.map((summary) => ({ label: `burst/${summary.store}`, percent: summary.otherCpuPercent })),
    ]);
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
      watchers,
      burst,
      otherLoadWarning: warning ?? null,
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
  const allocProbeFile = join(context.work, `alloc-${target}-${scenarioName}-${randomBytes(4).toString("hex")}`);
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
      allocProbeFile,
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
      allocProbeFile,
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
    // Heap bytes the server allocated, read at the window's edges like its CPU;
    // the reading at the close also names the window's longest collection.
    let heapAtOpen: Promise<HeapReading | undefined> = Promise.resolve(undefined);
    let heapAtClose: Promise<HeapReading | undefined> | undefined;
    const totalS = options.warmupS + options.durationS;
    const results = await pool.run(jobs, {
      onGo: () => {
        timers.push(
          setTimeout(() => {
            window.open();
            heapAtOpen = server.heapReading();
            warmupLoop = server.loopMaxSinceLast();
          }, options.warmupS * 1000),
        );
        timers.push(
          setTimeout(() => {
            void window.close();
            heapAtClose = server.heapReading();
          }, totalS * 1000),
        );
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
    heapAtClose ??= server.heapReading();
    const [heapOpen, heapClose] = await Promise.all([heapAtOpen, heapAtClose]);
    const allocatedBytes = heapOpen === undefined || heapClose === undefined ? null : heapClose.allocatedBytes - heapOpen.allocatedBytes;
    const longestGc = heapOpen === undefined || heapClose === undefined ? null : (heapClose.longestGc ?? { ms: 0, type: "-" });

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
      allocatedBytes,
      longestGc,
      bookedAfter,
    });
  } finally {
    await server.stop();
  }
}

/**
 * The watchers section: for each store and watcher count, a fresh server,
 * that many WatchAvailability streams, book/cancel load, and the delay
 * from commit to delivery (fanout-run.ts, as bench/watch-fanout.ts).
 */
async function runWatchers(context: Context, stores: readonly StoreName[]): Promise<FanoutResult[]> {
  const { options, io } = context;
  const results: FanoutResult[] = [];
  const total = stores.length * options.watcherCounts.length;
  for (const store of stores) {
    for (const watchers of options.watcherCounts) {
      if (io.stopRequested?.() === true) throw new Error("stopped on request");
      io.progress(
        `[watchers ${results.length + 1}/${total}] ${watchers} watchers on ${store}: ${options.watchRate} book/cancel calls/s for ${options.watchSeconds} s, commit-to-delivery delay`,
      );
      const result = await runFanout(
        watchers,
        { store, seats: 1000, rate: options.watchRate, seconds: options.watchSeconds, perConnection: 50 },
        context.work,
        context.pki,
        context.postgres,
      );
      io.progress(
        `    ${result.deliveries.received}/${result.deliveries.expected} deliveries, ${result.deliveries.missed} missed, ` +
          `delay p50 ${result.delayMs.p50} ms, p99 ${result.delayMs.p99} ms${otherLoadNote(result.cpuPercent.other)}`,
      );
      results.push(result);
    }
  }
  return results;
}

/**
 * The burst section: for each store, `burstRounds` volleys of
 * `burstCalls` BookSeats for one seat, each against a fresh server with
 * its default limits (burst-volley.ts, as bench/burst.ts).
 */
async function runBursts(context: Context, stores: readonly StoreName[]): Promise<BurstSummary[]> {
  const { options, io, pki } = context;
  if (options.burstRounds === 0) return [];
  const shape: BurstShape = { calls: options.burstCalls, connections: options.burstConnections, deadlineMs: 5000 };
  const summaries: BurstSummary[] = [];
  for (const store of stores) {
    const rounds: BurstRound[] = [];
    for (let round = 1; round <= options.burstRounds; round++) {
      if (io.stopRequested?.() === true) throw new Error("stopped on request");
      io.progress(
        `[burst] ${store}${options.burstRounds > 1 ? ` (round ${round}/${options.burstRounds})` : ""}: ` +
          `${shape.calls} BookSeats for one seat at once over ${shape.connections} new connections, default limits`,
      );
      const result = await runBurstRound(
        {
          store: await storeSpec(context, store, "burst"),
          certsDir: pki.dir,
          caCertPath: pki.caCert,
          identity: { certPath: pki.clients.alice.cert, keyPath: pki.clients.alice.key },
          logPath: join(context.work, `server-${store}-burst.log`),
          serverArgs: options.serverArgs,
          postgresPid: store === "postgres" ? context.postgres?.pid : undefined,
        },
        shape,
      );
      io.progress(
        `    refused ${((100 * result.refused) / shape.calls).toFixed(1)}%, served ${result.served}: p99 ${result.servedP99Ms.toFixed(0)} ms; ` +
          `${JSON.stringify(result.codes)}${otherLoadNote(result.cpuPercent.other)}`,
      );
      rounds.push(result);
    }
    summaries.push(summarizeBurst(store, shape, rounds));
  }
  return summaries;
}

/** A fresh, empty store for one run (a new file or database every time); `label` names it. */
async function storeSpec(context: Context, target: StoreName, scenario: string): Promise<string> {
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
  return (
    `    ${Math.round(result.callsPerSecond)} calls/s, p99 ${result.latencyMs.p99.toFixed(2)} ms, loop max ${result.server.loopMaxMs?.toFixed(1) ?? "?"} ms` +
    `, CPU: server ${percent(result.server.cpuPercent)}, generators ${percent(result.generators.cpuPercent)}` +
    (result.postgres === undefined ? "" : `, postgres ${percent(result.postgres.cpuPercent)}`) +
    otherLoadNote(result.backgroundCpuPercent) +
    (result.unexpected > 0 ? `; ${result.unexpected} UNEXPECTED answers: ${result.unexpectedSamples.join("; ")}` : "")
  );
}

/** The progress line's note on a disturbed measurement (the rule is other-load.ts's). */
function otherLoadNote(percent: number | null): string {
  return otherLoadDisturbs(percent) ? `; other processes used ${otherLoadCell(percent)} of a core meanwhile` : "";
}

function percent(value: number | null): string {
  return value === null ? "?" : `${value.toFixed(0)}%`;
}
