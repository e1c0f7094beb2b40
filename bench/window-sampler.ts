import type { PostgresCounters, ThrowawayPostgres } from "./throwaway-postgres.js";
import { cpuTimeMs, machineCpuTicks, treeCpuTimeMs } from "./process-stats.js";

/** What {@link WindowSampler} measured between open() and close(). */
export interface WindowFigures {
  readonly serverCpuPercent: number | null;
  readonly machineCpuPercent: number | null;
  readonly postgresCpuPercent: number | null;
  /** PostgreSQL runs: what the cluster did in the window (pg_stat_wal, pg_stat_statements). */
  readonly postgres: PostgresCounters | null;
  readonly seconds: number;
}

/**
 * CPU use of the server (and PostgreSQL), and of the whole machine, between
 * open() and close(); with PostgreSQL, also its WAL and statement
 * counters for the run's database (PostgreSQL publishes them with up to a
 * second's delay, so short windows read them roughly).
 */
export class WindowSampler {
  readonly #pid: number;
  readonly #postgres: { readonly cluster: ThrowawayPostgres; readonly database: string } | undefined;
  #start: { at: number; server?: number; machine?: { busy: number; total: number }; postgres?: number; reset?: Promise<void> } | undefined;
  #result: Promise<WindowFigures> | undefined;

  constructor(pid: number, postgres: { readonly cluster: ThrowawayPostgres; readonly database: string } | undefined) {
    this.#pid = pid;
    this.#postgres = postgres;
  }

  open(): void {
    if (this.#start !== undefined) return;
    this.#start = {
      at: performance.now(),
      ...optional("server", cpuTimeMs(this.#pid)),
      ...optional("machine", machineCpuTicks()),
      ...optional("postgres", this.#postgres === undefined ? undefined : treeCpuTimeMs(this.#postgres.cluster.pid)),
      ...optional("reset", this.#postgres?.cluster.resetCounters().catch(() => undefined)),
    };
  }

  close(): Promise<WindowFigures> {
    this.#result ??= this.#measure();
    return this.#result;
  }

  async #measure(): Promise<WindowFigures> {
    this.open();
    const start = this.#start!;
    const seconds = Math.max((performance.now() - start.at) / 1000, 1e-3);
    const server = cpuTimeMs(this.#pid);
    const machine = machineCpuTicks();
    const postgresCpu = this.#postgres === undefined ? undefined : treeCpuTimeMs(this.#postgres.cluster.pid);
    await start.reset;
    const postgres = this.#postgres === undefined ? null : await this.#postgres.cluster.readCounters(this.#postgres.database).catch(() => null);
    const percent = (end: number | undefined, begin: number | undefined): number | null =>
      end === undefined || begin === undefined ? null : ((end - begin) / 10 / seconds);
    return {
      seconds,
      serverCpuPercent: percent(server, start.server),
      postgresCpuPercent: percent(postgresCpu, start.postgres),
      machineCpuPercent:
        machine === undefined || start.machine === undefined || machine.total === start.machine.total
          ? null
          : ((machine.busy - start.machine.busy) / (machine.total - start.machine.total)) * 100,
      postgres,
    };
  }
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
