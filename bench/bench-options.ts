import { parseArgs } from "node:util";
import { OTHER_LOAD_LIMIT_PERCENT } from "./other-load.js";
import { parseScenarioNames, SCENARIO_NAMES, type ScenarioName } from "./scenarios.js";

/** The stores the benchmark can run the service on. */
export const STORE_NAMES = ["memory", "sqlite", "postgres"] as const;

/** One of {@link STORE_NAMES}. */
export type StoreName = (typeof STORE_NAMES)[number];

/** Everything one benchmark run is configured with. */
export interface BenchOptions {
  readonly stores: readonly StoreName[];
  readonly scenarios: readonly ScenarioName[];
  /** Measured seconds per store and scenario, after the warm-up. */
  readonly durationS: number;
  readonly warmupS: number;
  /** Calls kept in flight in total, across every generator. */
  readonly concurrency: number;
  /** gRPC connections per generator process. */
  readonly connections: number;
  /** Load-generator processes. */
  readonly generators: number;
  /** Rounds per store and scenario; the median round is reported. */
  readonly repeat: number;
  /** Seats of the show every scenario uses. */
  readonly showSeats: number;
  /** Seats the hot-seat scenario fights over. */
  readonly hotSeats: number;
  /** Send a fresh request_id with every change, as the SDK does. */
  readonly requestIds: boolean;
  /** The server's --log-level; "info" logs one line per call, as in production. */
  readonly serverLogLevel: string;
  /** Extra `booking serve` arguments, passed as given. */
  readonly serverArgs: readonly string[];
  /** Node options for the service and the baseline alike (V8 flags to try, --trace-gc, ...). */
  readonly nodeArgs: readonly string[];
  /** Directory for server CPU profiles (node --cpu-prof); undefined = no profiling. */
  readonly cpuProfileDir: string | undefined;
  /** Skip the baseline (ratios are then missing). */
  readonly baseline: boolean;
  readonly outPath: string;
  /** Also write the table as Markdown here. */
  readonly markdownPath: string | undefined;
  readonly quick: boolean;
  /** Stores the watchers and burst sections run on (a subset of `stores`). */
  readonly sectionStores: readonly StoreName[];
  /** Watcher counts of the watchers section, each on a fresh server per store; empty = no watchers section. */
  readonly watcherCounts: readonly number[];
  /** Seconds of book/cancel load per watcher count. */
  readonly watchSeconds: number;
  /** Book/cancel calls per second while the watchers watch. */
  readonly watchRate: number;
  /** Bursts per store, each on a fresh server with default limits; 0 = no burst section. */
  readonly burstRounds: number;
  /** Concurrent BookSeats of one burst. */
  readonly burstCalls: number;
  /** New connections one burst is spread over. */
  readonly burstConnections: number;
}

/** A bad flag: the message names it. */
export class BenchUsageError extends Error {
  override readonly name = "BenchUsageError";
}

/** `npm run bench -- --help`. */
export const BENCH_USAGE = `usage: npm run bench -- [options]

Runs \`booking serve\` (mutual TLS) on each store, and a no-op grpc-js server
with the same TLS and message sizes (the baseline), under the same load:
separate load-generator processes keep a fixed number of calls in flight
for a fixed time after a warm-up. Then, on each store, the watchers section
(commit-to-delivery delay of WatchAvailability with N watchers under
book/cancel load) and the burst section (1,000 BookSeats for one seat at
once against a server with its default limits). Prints a table per
section; writes JSON. Rows measured while processes outside the benchmark
used more than ${OTHER_LOAD_LIMIT_PERCENT}% of a core are marked "!" and named in a WARNING line.

  --quick                 short runs, and the sections smaller and on the first
                          store only (about 2 minutes in all on 2 cores)
  --stores LIST           ${STORE_NAMES.join(",")} (default: all; postgres is skipped
                          with a notice when PostgreSQL is not installed)
  --scenarios LIST        ${SCENARIO_NAMES.join(",")} (default: all)
  --duration S            measured seconds per run (default 10, quick 1.5)
  --warmup S              warm-up seconds per run (default 3, quick 0.5)
  --concurrency N         calls in flight in total (default 64)
  --connections N         connections per generator (default 4)
  --generators N          load-generator processes (default 1)
  --repeat N              rounds per store and scenario, targets alternating;
                          the median round is reported (default 1); all
                          stores with --repeat 3 took about 17 minutes on 2
                          busy cores (sections included)
  --show-seats N          seats of the show (default 100000)
  --hot-seats N           seats hot-seat contention fights over (default 8)
  --no-request-ids        send changes without a request_id
  --server-log-level L    the server's --log-level (default info, as in production)
  --server-arg ARG        extra \`booking serve\` argument (repeatable)
  --node-arg ARG          a node option for the service and the baseline alike
                          (repeatable), e.g. --node-arg=--max-semi-space-size=64
  --cpu-prof DIR          write server CPU profiles (node --cpu-prof) to DIR
  --section-stores LIST   stores the watchers and burst sections run on
                          (default: those of --stores; quick: the first of them)
  --watchers LIST         watcher counts of the watchers section, a fresh server
                          each (default 100,1000; quick 100; 0 = no section)
  --watch-seconds S       seconds of book/cancel load per count (default 5,
                          quick 2; bench/watch-fanout.ts alone defaults to 10)
  --watch-rate N          book/cancel calls per second meanwhile (default 200)
  --burst-rounds N        bursts per store, a fresh server each (default 3,
                          quick 1; 0 = no section)
  --burst-calls N         concurrent BookSeats of one burst (default 1000)
  --burst-connections N   new connections a burst is spread over (default 50)
  --no-baseline           skip the baseline server
  --out FILE              results JSON (default bench-results.json)
  --markdown FILE         also write the table as Markdown
  --help
`;

const flags = {
  quick: { type: "boolean" },
  stores: { type: "string" },
  scenarios: { type: "string" },
  duration: { type: "string" },
  warmup: { type: "string" },
  concurrency: { type: "string" },
  connections: { type: "string" },
  generators: { type: "string" },
  repeat: { type: "string" },
  "show-seats": { type: "string" },
  "hot-seats": { type: "string" },
  "no-request-ids": { type: "boolean" },
  "server-log-level": { type: "string" },
  "server-arg": { type: "string", multiple: true },
  "node-arg": { type: "string", multiple: true },
  "cpu-prof": { type: "string" },
  "no-baseline": { type: "boolean" },
  "section-stores": { type: "string" },
  watchers: { type: "string" },
  "watch-seconds": { type: "string" },
  "watch-rate": { type: "string" },
  "burst-rounds": { type: "string" },
  "burst-calls": { type: "string" },
  "burst-connections": { type: "string" },
  out: { type: "string" },
  markdown: { type: "string" },
  help: { type: "boolean" },
} as const;

/** "memory,sqlite" -> ["memory", "sqlite"]; throws naming an unknown store. */
function storeList(list: string): StoreName[] {
  const stores = list.split(",").map((name) => name.trim()).filter((name) => name !== "") as StoreName[];
  const unknown = stores.find((name) => !(STORE_NAMES as readonly string[]).includes(name));
  if (unknown !== undefined) throw new BenchUsageError(`unknown store "${unknown}"; choose from ${STORE_NAMES.join(", ")}`);
  return stores;
}

/** "100,1000" -> [100, 1000]; "0" -> [] (no watchers section). */
function watcherCounts(list: string): number[] {
  const counts = list.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "").map(Number);
  if (!counts.every((count) => Number.isSafeInteger(count) && count >= 0)) {
    throw new BenchUsageError(`--watchers must list whole numbers (0 = no watchers section), got "${list}"`);
  }
  return [...new Set(counts.filter((count) => count > 0))];
}

/** Reads the benchmark's flags; "help" when --help was given. */
export function parseBenchOptions(argv: readonly string[]): BenchOptions | "help" {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: flags, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new BenchUsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help === true) return "help";
  const quick = values.quick === true;
  const number = (name: string, raw: string | undefined, fallback: number, min: number, integer: boolean): number => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || (integer && !Number.isSafeInteger(value))) {
      throw new BenchUsageError(`--${name} must be ${integer ? "a whole number" : "a number"} >= ${min}, got "${raw}"`);
    }
    return value;
  };
  const stores: StoreName[] = [...new Set(values.stores === undefined ? STORE_NAMES : storeList(values.stores))];
  let sectionStores = quick ? stores.slice(0, 1) : stores;
  if (values["section-stores"] !== undefined) {
    sectionStores = storeList(values["section-stores"]).filter((name) => stores.includes(name));
  }
  let scenarios: ScenarioName[] = [...SCENARIO_NAMES];
  if (values.scenarios !== undefined) {
    try {
      scenarios = parseScenarioNames(values.scenarios);
    } catch (error) {
      throw new BenchUsageError(error instanceof Error ? error.message : String(error));
    }
  }
  const options: BenchOptions = {
    stores,
    sectionStores,
    scenarios,
    durationS: number("duration", values.duration, quick ? 1.5 : 10, 0.1, false),
    warmupS: number("warmup", values.warmup, quick ? 0.5 : 3, 0, false),
    concurrency: number("concurrency", values.concurrency, 64, 1, true),
    connections: number("connections", values.connections, 4, 1, true),
    generators: number("generators", values.generators, 1, 1, true),
    repeat: number("repeat", values.repeat, 1, 1, true),
    showSeats: number("show-seats", values["show-seats"], 100_000, 1, true),
    hotSeats: number("hot-seats", values["hot-seats"], 8, 1, true),
    requestIds: values["no-request-ids"] !== true,
    serverLogLevel: values["server-log-level"] ?? "info",
    serverArgs: values["server-arg"] ?? [],
    nodeArgs: values["node-arg"] ?? [],
    cpuProfileDir: values["cpu-prof"],
    baseline: values["no-baseline"] !== true,
    outPath: values.out ?? "bench-results.json",
    markdownPath: values.markdown,
    quick,
    watcherCounts: watcherCounts(values.watchers ?? (quick ? "100" : "100,1000")),
    watchSeconds: number("watch-seconds", values["watch-seconds"], quick ? 2 : 5, 0.1, false),
    watchRate: number("watch-rate", values["watch-rate"], 200, 1, false),
    burstRounds: number("burst-rounds", values["burst-rounds"], quick ? 1 : 3, 0, true),
    burstCalls: number("burst-calls", values["burst-calls"], 1000, 1, true),
    burstConnections: number("burst-connections", values["burst-connections"], 50, 1, true),
  };
  if (options.stores.length === 0 && !options.baseline) throw new BenchUsageError("nothing to run: no stores and --no-baseline");
  if (options.scenarios.length === 0) throw new BenchUsageError("--scenarios names no scenario");
  if (options.hotSeats > options.showSeats) throw new BenchUsageError("--hot-seats must not exceed --show-seats");
  if (options.concurrency * 4 > options.showSeats) {
    throw new BenchUsageError(`--show-seats ${options.showSeats} is too small for ${options.concurrency} slots of 4-seat blocks`);
  }
  if (options.generators > options.concurrency) throw new BenchUsageError("--generators must not exceed --concurrency");
  return options;
}
