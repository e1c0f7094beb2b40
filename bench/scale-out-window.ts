import pg from "pg";
import { cpuTimeMs, machineCpuTicks, treeCpuTimeMs } from "./process-stats.js";
import {
  counterDelta,
  readCounters,
  readStatements,
  resetStatementsAndWal,
  type PostgresCounterSnapshot,
  type StatementFigures,
} from "./scale-out-postgres-stats.js";
import { WaitSampler, type WaitFigures } from "./scale-out-wait-sampler.js";

/** What {@link ScaleOutWindow} measured between open() and close(). */
export interface ScaleOutWindowFigures {
  readonly seconds: number;
  /** CPU of each server instance in the window, ms (null without /proc). */
  readonly serverCpuMs: ReadonlyArray<number | null>;
  /** CPU of the postmaster and every backend alive at the window's end, ms. */
  readonly postgresCpuMs: number | null;
  /** CPU of the wait sampler's own backend (part of postgresCpuMs), ms. */
  readonly samplerCpuMs: number | null;
  /** CPU of this (the measuring) process: the sampler's client, progress, timers. */
  readonly selfCpuMs: number;
  /** The whole machine's busy CPU, ms summed over cores. */
  readonly machineBusyMs: number | null;
  readonly counters: PostgresCounterSnapshot;
  readonly statements: StatementFigures;
  readonly waits: WaitFigures;
}

interface Start {
  readonly at: number;
  readonly servers: ReadonlyArray<number | undefined>;
  readonly postgres: number | undefined;
  readonly machine: { busy: number; total: number } | undefined;
  readonly self: NodeJS.CpuUsage;
  readonly ready: Promise<{ counters: PostgresCounterSnapshot; sampler: WaitSampler }>;
}

// Linux reports machine CPU in clock ticks; USER_HZ is 100 on every mainstream architecture.
const MS_PER_TICK = 10;

/**
 * The measured window of one run: CPU of the servers, of PostgreSQL and of
 * the whole machine, and PostgreSQL's own account (pg_stat_statements and
 * pg_stat_wal reset at open, database counters as deltas, wait events
 * sampled throughout). One admin connection serves the resets and reads;
 * the sampler has its own.
 */
export class ScaleOutWindow {
  readonly #serverPids: readonly number[];
  readonly #postgresPid: number;
  readonly #adminUrl: string;
  readonly #database: string;
  readonly #databaseUrl: string;
  readonly #sampleMs: number;
  #admin: pg.Client | undefined;
  #start: Start | undefined;
  #result: Promise<ScaleOutWindowFigures> | undefined;

  constructor(options: {
    readonly serverPids: readonly number[];
    readonly postgresPid: number;
    readonly adminUrl: string;
    readonly database: string;
    readonly databaseUrl: string;
    readonly sampleMs: number;
  }) {
    this.#serverPids = options.serverPids;
    this.#postgresPid = options.postgresPid;
    this.#adminUrl = options.adminUrl;
    this.#database = options.database;
    this.#databaseUrl = options.databaseUrl;
    this.#sampleMs = options.sampleMs;
  }

  /** Connects the admin client ahead of the window, so opening it costs no connection set-up. */
  async prepare(): Promise<void> {
    this.#admin = new pg.Client({ connectionString: this.#adminUrl, application_name: "scale-out-window" });
    await this.#admin.connect();
  }

  /** Opens the window: CPU readings now, counter resets and the sampler as soon as they can. */
  open(): void {
    if (this.#start !== undefined) return;
    const admin = this.#admin;
    if (admin === undefined) throw new Error("prepare() first");
    const ready = (async () => {
      await resetStatementsAndWal(admin);
      const counters = await readCounters(admin, this.#database);
      const sampler = await WaitSampler.start(this.#databaseUrl, this.#sampleMs);
      return { counters, sampler };
    })();
    ready.catch(() => undefined);
    this.#start = {
      at: performance.now(),
      servers: this.#serverPids.map((pid) => cpuTimeMs(pid)),
      postgres: treeCpuTimeMs(this.#postgresPid),
      machine: machineCpuTicks(),
      self: process.cpuUsage(),
      ready,
    };
  }

  /** Closes the window (once; later calls return the same figures). */
  close(): Promise<ScaleOutWindowFigures> {
    this.#result ??= this.#measure();
    return this.#result;
  }

  /** Ends the connections; after a failed run, closes the window first so the sampler stops too. */
  async dispose(): Promise<void> {
    if (this.#start !== undefined) await this.close().catch(() => undefined);
    await this.#admin?.end().catch(() => undefined);
    this.#admin = undefined;
  }

  async #measure(): Promise<ScaleOutWindowFigures> {
    this.open();
    const start = this.#start!;
    const seconds = Math.max((performance.now() - start.at) / 1000, 1e-3);
    // Readings first, while the load still runs: the counters' publication lag then matches the opening's.
    const servers = this.#serverPids.map((pid, index) => {
      const now = cpuTimeMs(pid);
      const then = start.servers[index];
      return now === undefined || then === undefined ? null : now - then;
    });
    const postgresNow = treeCpuTimeMs(this.#postgresPid);
    const machine = machineCpuTicks();
    const self = process.cpuUsage(start.self);
    const { counters: startCounters, sampler } = await start.ready;
    // The sampler's backend was started for this window, so all its CPU is the window's.
    const samplerCpu = cpuTimeMs(sampler.backendPid);
    const admin = this.#admin!;
    const waits = await sampler.stop();
    const endCounters = await readCounters(admin, this.#database);
    const statements = await readStatements(admin, this.#database, 10);
    return {
      seconds,
      serverCpuMs: servers,
      postgresCpuMs: postgresNow === undefined || start.postgres === undefined ? null : postgresNow - start.postgres,
      samplerCpuMs: samplerCpu ?? null,
      selfCpuMs: (self.user + self.system) / 1000,
      machineBusyMs: machine === undefined || start.machine === undefined ? null : (machine.busy - start.machine.busy) * MS_PER_TICK,
      counters: counterDelta(startCounters, endCounters, true),
      statements,
      waits,
    };
  }
}
