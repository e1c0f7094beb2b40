import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ensureDevPki, type DevPkiPaths } from "../src/pki/dev-pki.js";
import { GeneratorPool } from "./generator-pool.js";
import type { LoadJob } from "./load-protocol.js";
import { startScaleOutCluster, type ScaleOutCluster } from "./scale-out-cluster.js";
import type { ScaleOutOptions, ScaleOutVariant } from "./scale-out-options.js";
import { medianScaleOutRound, summarizeScaleOut, type InstanceFigures, type ScaleOutResult } from "./scale-out-result.js";
import { ScaleOutWindow } from "./scale-out-window.js";
import { startBookingService, type TargetProcess } from "./target-process.js";

/** Everything a scale-out run produced: the results file's content. */
export interface ScaleOutReport {
  readonly version: 1;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly command: string;
  /** `git rev-parse HEAD` of the measured tree (null outside a git checkout), and whether it had uncommitted changes. */
  readonly commit: { readonly hash: string | null; readonly dirty: boolean | null };
  readonly machine: {
    readonly cores: number;
    readonly cpuModel: string;
    readonly memoryGb: number;
    readonly node: string;
    readonly loadAverageAtStart: readonly number[];
  };
  readonly postgres: { readonly version: string; readonly settings: Readonly<Record<string, string>> } | null;
  readonly settings: Omit<ScaleOutOptions, "outPath" | "markdownPath">;
  /** Set when PostgreSQL is not installed: nothing ran. */
  readonly skipped: string | null;
  readonly results: readonly ScaleOutResult[];
}

/** Where the runner reports progress. */
export interface ScaleOutIo {
  progress(line: string): void;
  /** Set when the user asked to stop: no new run starts. */
  readonly stopRequested?: () => boolean;
}

interface Context {
  readonly options: ScaleOutOptions;
  readonly io: ScaleOutIo;
  readonly work: string;
  readonly pki: DevPkiPaths;
  readonly cluster: ScaleOutCluster;
}

const run = promisify(execFile);

/**
 * For each variant and instance count (and round), on one throwaway
 * cluster: a fresh database, that many `booking serve` instances on it, one
 * load generator per instance, a warm-up, then the measured window. Starts
 * and always stops its own processes and removes its temporary files.
 */
export async function runScaleOut(options: ScaleOutOptions, command: string, io: ScaleOutIo): Promise<ScaleOutReport> {
  const startedAt = new Date().toISOString();
  const loadAverageAtStart = loadavg().map((value) => Math.round(value * 100) / 100);
  const work = await mkdtemp(join(tmpdir(), "booking-scale-out-"));
  let cluster: ScaleOutCluster | undefined;
  const { outPath: _out, markdownPath: _markdown, ...settings } = options;
  const commit = await commitOfTree();
  const report = (results: ScaleOutResult[], skipped: string | null): ScaleOutReport => ({
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    command,
    commit,
    machine: {
      cores: availableParallelism(),
      cpuModel: cpus()[0]?.model ?? "unknown",
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      loadAverageAtStart,
    },
    postgres: cluster === undefined ? null : { version: cluster.version, settings: cluster.settings },
    settings,
    skipped,
    results,
  });
  try {
    const { paths: pki } = await ensureDevPki(join(work, "certs"));
    io.progress("starting a throwaway PostgreSQL cluster (fsync=on, synchronous_commit=on, pg_stat_statements) ...");
    const started = await startScaleOutCluster();
    if ("missing" in started) {
      io.progress(`NOTICE: nothing to measure: ${started.missing}`);
      return report([], started.missing);
    }
    cluster = started;
    const context: Context = { options, io, work, pki, cluster };
    const results: ScaleOutResult[] = [];
    const total = options.variants.length * options.instances.length * options.repeat;
    let done = 0;
    for (const variant of options.variants) {
      const rounds = new Map<number, ScaleOutResult[]>(options.instances.map((count) => [count, []]));
      // Rounds alternate the instance counts, so a burst of other work hits them alike.
      for (let round = 1; round <= options.repeat; round++) {
        for (const count of options.instances) {
          if (io.stopRequested?.() === true) throw new Error("stopped on request");
          done++;
          const label = options.repeat > 1 ? ` (round ${round}/${options.repeat})` : "";
          io.progress(`[${done}/${total}] ${variant}, ${count} instance(s)${label}`);
          const result = await runOne(context, variant, count);
          io.progress(progressLine(result));
          rounds.get(count)?.push(result);
        }
      }
      for (const count of options.instances) results.push(medianScaleOutRound(rounds.get(count) ?? []));
    }
    return report(results, null);
  } finally {
    await cluster?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function runOne(context: Context, variant: ScaleOutVariant, count: number): Promise<ScaleOutResult> {
  const { options, pki, cluster } = context;
  const database = `scale_${variant.replace("-", "_")}_${count}_${randomBytes(4).toString("hex")}`;
  const url = await cluster.createDatabase(database);
  // own-show: instance i sells in show i alone; hot-show: every instance in one show.
  const showOf = (instance: number): string => (variant === "own-show" ? `show${instance}` : "main");
  const servers: TargetProcess[] = [];
  let pool: GeneratorPool | undefined;
  let window: ScaleOutWindow | undefined;
  try {
    // One at a time: the first migrates the fresh database, the others find it done.
    for (let instance = 0; instance < count; instance++) {
      servers.push(
        await startBookingService({
          store: url,
          certsDir: pki.dir,
          showId: showOf(instance),
          showSeats: options.showSeats,
          logLevel: options.serverLogLevel,
          logPath: join(context.work, `${database}-server-${instance}.log`),
          maxConcurrentStreams: Math.max(100, options.concurrency * 2),
          extraArgs: ["--pg-pool-size", String(options.pgPoolSize)],
          nodeArgs: [],
        }),
      );
    }
    pool = GeneratorPool.start(count);
    const jobs: LoadJob[] = servers.map((server, instance) => {
      const slots = Array.from({ length: options.concurrency }, (_, slot) => slot).filter((slot) => slot % count === instance);
      return {
        address: server.address,
        caCertPath: pki.caCert,
        identities: [pki.clients.alice, pki.clients.bob].map((files) => ({ certPath: files.cert, keyPath: files.key })),
        connections: Math.min(options.connections, slots.length),
        slots,
        // Slots are numbered over the whole run, so no two ever want the same seat, even in one show.
        totalSlots: options.concurrency,
        scenario: "book-1",
        show: { showId: showOf(instance), totalSeats: options.showSeats, hotSeats: 1 },
        warmupMs: options.warmupS * 1000,
        durationMs: options.durationS * 1000,
        deadlineMs: 30_000,
        requestIds: true,
        runTag: `scale-out/${database}/${instance}`,
      };
    });
    const opened = new ScaleOutWindow({
      serverPids: servers.map((server) => server.pid),
      postgresPid: cluster.pid,
      adminUrl: cluster.adminUrl,
      database,
      databaseUrl: url,
      sampleMs: options.sampleMs,
    });
    window = opened;
    await opened.prepare();
    const timers: NodeJS.Timeout[] = [];
    const results = await pool.run(jobs, {
      onGo: () => {
        timers.push(setTimeout(() => opened.open(), options.warmupS * 1000));
        timers.push(setTimeout(() => void opened.close().catch(() => undefined), (options.warmupS + options.durationS) * 1000));
      },
    });
    for (const timer of timers) clearTimeout(timer);
    const figures = await opened.close();
    const batches: Array<InstanceFigures["batches"]> = [];
    for (const server of servers) batches.push((await server.figures()).batches ?? null);
    return summarizeScaleOut(variant, results, figures, batches, options.durationS);
  } finally {
    await window?.dispose();
    await pool?.close();
    await Promise.all(servers.map((server) => server.stop()));
    await cluster.dropDatabase(database).catch(() => undefined);
  }
}

/** The commit being measured, so figures can be tied to code. */
async function commitOfTree(): Promise<ScaleOutReport["commit"]> {
  try {
    const cwd = fileURLToPath(new URL(".", import.meta.url));
    const hash = (await run("git", ["rev-parse", "HEAD"], { cwd })).stdout.trim();
    const dirty = (await run("git", ["status", "--porcelain", "--untracked-files=no"], { cwd })).stdout.trim() !== "";
    return { hash, dirty };
  } catch {
    return { hash: null, dirty: null };
  }
}

function progressLine(result: ScaleOutResult): string {
  const percent = (value: number | null): string => (value === null ? "?" : `${value.toFixed(0)}%`);
  return (
    `    ${Math.round(result.callsPerSecond)} calls/s (${result.perInstance.map((instance) => Math.round(instance.callsPerSecond)).join(" + ")})` +
    `, p99 ${result.latencyMs.p99.toFixed(1)} ms, CPU: servers ${percent(result.serverCpuPercent)}, postgres ${percent(result.postgres.cpuPercent)}` +
    `, lock waits ${result.postgres.waits.lockWaitPercent.toFixed(1)}%` +
    (result.disturbed ? `; WARNING: other processes used ${result.backgroundCpuPercent?.toFixed(0)}% of a core meanwhile` : "") +
    (result.unexpected > 0 ? `; ${result.unexpected} UNEXPECTED answers: ${result.unexpectedSamples.join("; ")}` : "")
  );
}
