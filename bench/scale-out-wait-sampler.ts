import pg from "pg";

/** A comment in the sampler's query, by which pg_stat_statements readers leave it out. */
export const SAMPLER_MARK = "scale-out-wait-sampler";

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
  /** Of those, the lock PostgreSQL serialises NOTIFYing commits on (held through the commit's WAL flush), in %. */
  readonly notifyQueueWaitPercent: number;
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
  readonly #intervalMs: number;
  readonly #counts = new Map<string, number>();
  #samples = 0;
  #busy = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #error: unknown;

  /** The process id of the sampler's own backend, whose CPU is the sampling's cost to the cluster. */
  readonly backendPid: number;

  private constructor(client: pg.Client, intervalMs: number, backendPid: number) {
    this.#client = client;
    this.backendPid = backendPid;
    this.#intervalMs = intervalMs;
  }

  /** Connects to the database at `databaseUrl` and starts sampling its backends. */
  static async start(databaseUrl: string, intervalMs: number): Promise<WaitSampler> {
    // In the database itself, so the relations of tuple and relation locks resolve to names.
    const client = new pg.Client({ connectionString: databaseUrl, application_name: "scale-out-wait-sampler" });
    await client.connect();
    const pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid ?? 0;
    const sampler = new WaitSampler(client, intervalMs, pid);
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
    const result = await this.#client.query<Activity>({
      name: "scale-out-sample-activity",
      // For a heavyweight-lock wait, the lock it waits for (pg_locks, not granted) names what it is.
      text: `SELECT /* ${SAMPLER_MARK} */ a.state, a.wait_event_type AS type, a.wait_event AS event, left(a.query, 200) AS query,
                    l.classid::regclass::text AS class, l.objid::bigint AS objid, l.relation::regclass::text AS relation
             FROM pg_stat_activity a
             LEFT JOIN LATERAL (SELECT * FROM pg_locks k WHERE k.pid = a.pid AND NOT k.granted LIMIT 1) l ON a.wait_event_type = 'Lock'
             WHERE a.datname = current_database() AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
               AND a.state IS DISTINCT FROM 'idle'`,
    });
    this.#samples++;
    for (const row of result.rows) {
      const key = activityKey(row);
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
      advisoryWaitPercent: share(sum((event) => event.startsWith("Lock:advisory"))),
      notifyQueueWaitPercent: share(sum((event) => event.includes("NOTIFY queue"))),
      byEvent: entries.map(([event, count]) => ({ event, count, sharePercent: share(count) })),
    };
  }
}

interface Activity {
  readonly state: string | null;
  readonly type: string | null;
  readonly event: string | null;
  readonly query: string | null;
  readonly class: string | null;
  readonly objid: string | null;
  readonly relation: string | null;
}

const STATEMENTS = /apply_seat_commands|record_show_changes|\bcommit\b|\bupdate\s+\w+|\bdelete\s+from\s+\w+|\binsert\s+into\s+\w+/i;

/** The counting key of one busy backend: its wait, or "running"; a lock wait names the lock and the statement. */
function activityKey(row: Activity): string {
  const wait = row.type === null ? undefined : `${row.type}:${row.event ?? "?"}`;
  if (row.state !== "active") {
    const state = row.state === null ? "unknown" : row.state.replace("idle in transaction", "in transaction");
    return `${state}, ${wait ?? "no wait"}`;
  }
  if (wait === undefined) return "running";
  if (row.type !== "Lock") return wait;
  // PreCommit_Notify serialises every NOTIFYing commit on a lock of "database 0", held until after the commit's WAL flush.
  const statement = STATEMENTS.exec(row.query ?? "")?.[0]?.toLowerCase().replace(/\s+/g, " ");
  // pg_locks is read a moment after pg_stat_activity, so a short wait may be over (no row): an object lock
  // awaited by COMMIT is still that one, the only object lock a commit takes in PostgreSQL 15.
  const notifyQueue = (row.class === "pg_database" && row.objid === "0") || (row.event === "object" && statement === "commit");
  const what = notifyQueue ? ", NOTIFY queue" : row.relation !== null ? ` on ${row.relation}` : "";
  return `${wait}${what}${statement === undefined ? "" : ` in ${statement}`}`;
}
