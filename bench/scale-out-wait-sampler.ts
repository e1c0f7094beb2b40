import pg from "pg";

/** How often one wait (or "running") was seen among a database's busy backends. */
export interface WaitCount {
  /**
   * "Type:Event" from pg_stat_activity (e.g. "Lock:transactionid",
   * "LWLock:WALWrite", "IO:WALSync"); "running" for an active backend with
   * no wait (on CPU or runnable); "in transaction, Client:ClientRead" for a
   * backend inside a transaction waiting for the server's next statement.
   */
  readonly event: string;
  readonly count: number;
  /** count / every busy-backend observation, in %. */
  readonly sharePercent: number;
}

/** What the sampler saw between start and stop. */
export interface WaitFigures {
  readonly samples: number;
  /** Mean busy (not idle) backends of the database per sample. */
  readonly meanBusyBackends: number;
  /** Busy-backend observations waiting on a heavyweight lock (Lock:*), in %: time instances spent waiting for each other's rows. */
  readonly lockWaitPercent: number;
  /** Of those, advisory locks, in %. */
  readonly advisoryWaitPercent: number;
  readonly byEvent: readonly WaitCount[];
}

/**
 * Samples pg_stat_activity for the client backends of one database every
 * `intervalMs` on a connection of its own, counting what each busy backend
 * is doing or waiting for. Sampling is statistical: a wait shorter than the
 * interval is seen in proportion to how often it happens, which is what
 * "where does the time go" asks. Its own queries cost the cluster a little
 * CPU (counted in PostgreSQL's CPU).
 */
export class WaitSampler {
  readonly #client: pg.Client;
  readonly #database: string;
  readonly #intervalMs: number;
  readonly #counts = new Map<string, number>();
  #samples = 0;
  #busy = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #error: unknown;

  private constructor(client: pg.Client, database: string, intervalMs: number) {
    this.#client = client;
    this.#database = database;
    this.#intervalMs = intervalMs;
  }

  /** Connects to `adminUrl` and starts sampling the backends of `database`. */
  static async start(adminUrl: string, database: string, intervalMs: number): Promise<WaitSampler> {
    const client = new pg.Client({ connectionString: adminUrl, application_name: "scale-out-wait-sampler" });
    await client.connect();
    const sampler = new WaitSampler(client, database, intervalMs);
    sampler.#schedule();
    return sampler;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#sample().then(
        () => this.#schedule(),
        (error: unknown) => {
          this.#error = error;
        },
      );
    }, this.#intervalMs);
  }

  async #sample(): Promise<void> {
    const result = await this.#client.query<{ state: string | null; type: string | null; event: string | null }>({
      name: "scale-out-sample-activity",
      text: `SELECT state, wait_event_type AS type, wait_event AS event FROM pg_stat_activity
             WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()
               AND state IS DISTINCT FROM 'idle'`,
      values: [this.#database],
    });
    this.#samples++;
    for (const row of result.rows) {
      const wait = row.type === null ? undefined : `${row.type}:${row.event ?? "?"}`;
      const key =
        row.state === "active" ? (wait ?? "running") : `${row.state === null ? "unknown" : row.state.replace("idle in transaction", "in transaction")}, ${wait ?? "no wait"}`;
      this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
      this.#busy++;
    }
  }

  /** Stops sampling, closes the connection and returns the counts; rejects if a sample failed. */
  async stop(): Promise<WaitFigures> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    await this.#client.end().catch(() => undefined);
    if (this.#error !== undefined) throw this.#error;
    const share = (count: number): number => (this.#busy === 0 ? 0 : Math.round((count / this.#busy) * 1000) / 10);
    const entries = [...this.#counts.entries()].sort(([, a], [, b]) => b - a);
    const sum = (test: (event: string) => boolean): number => entries.filter(([event]) => test(event)).reduce((total, [, count]) => total + count, 0);
    return {
      samples: this.#samples,
      meanBusyBackends: this.#samples === 0 ? 0 : Math.round((this.#busy / this.#samples) * 100) / 100,
      lockWaitPercent: share(sum((event) => event.startsWith("Lock:"))),
      advisoryWaitPercent: share(sum((event) => event === "Lock:advisory")),
      byEvent: entries.map(([event, count]) => ({ event, count, sharePercent: share(count) })),
    };
  }
}
