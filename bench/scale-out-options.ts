import { parseArgs } from "node:util";

/**
 * How the load meets the shows: `own-show` gives every instance a show of
 * its own (instances share only the database), `hot-show` has every
 * instance sell in one show (they also share its row, the version counter
 * every batch updates).
 */
export const SCALE_OUT_VARIANTS = ["own-show", "hot-show"] as const;

/** One of {@link SCALE_OUT_VARIANTS}. */
export type ScaleOutVariant = (typeof SCALE_OUT_VARIANTS)[number];

/** Everything one scale-out run is configured with. */
export interface ScaleOutOptions {
  /** Instance counts to measure, in order, e.g. [1, 2, 3]. */
  readonly instances: readonly number[];
  readonly variants: readonly ScaleOutVariant[];
  /** Measured seconds per instance count and variant, after the warm-up. */
  readonly durationS: number;
  readonly warmupS: number;
  /** Calls kept in flight in total, spread evenly over the instances. */
  readonly concurrency: number;
  /** gRPC connections per instance (each instance has its own load generator). */
  readonly connections: number;
  /** Rounds per instance count and variant; the median round (by aggregate calls/s) is reported. */
  readonly repeat: number;
  /** Seats of each show. */
  readonly showSeats: number;
  /** How often pg_stat_activity is sampled, ms. */
  readonly sampleMs: number;
  /** Each instance's --pg-pool-size. */
  readonly pgPoolSize: number;
  /** The servers' --log-level. */
  readonly serverLogLevel: string;
  readonly outPath: string;
  readonly markdownPath: string | undefined;
}

/** A bad flag: the message names it. */
export class ScaleOutUsageError extends Error {
  override readonly name = "ScaleOutUsageError";
}

/** `npm run bench:scale-out -- --help`. */
export const SCALE_OUT_USAGE = `usage: npm run bench:scale-out -- [options]

Runs 1, 2, 3 ... \`booking serve --store postgres://...\` instances (mutual TLS)
on ONE throwaway PostgreSQL cluster (fsync=on, synchronous_commit=on,
pg_stat_statements, track_io_timing) and spreads the book-1 load (book one
seat, cancel it; every call slot in seats of its own) evenly over them: one
load-generator process per instance. For each instance count it reports
aggregate and per-instance calls/s, latency, server and PostgreSQL CPU per
call, pg_stat_statements' top statements, wait events sampled from
pg_stat_activity, commits and rollbacks, and WAL flushes. Prints tables;
writes JSON.

  --instances LIST        instance counts (default 1,2,3)
  --variants LIST         ${SCALE_OUT_VARIANTS.join(",")} (default both): own-show gives each
                          instance a show of its own; hot-show has all sell in one
  --duration S            measured seconds per run (default 8)
  --warmup S              warm-up seconds per run (default 2)
  --concurrency N         calls in flight in total, split evenly (default 48)
  --connections N         connections per instance (default 2)
  --repeat N              rounds per instance count; the median round by
                          aggregate calls/s is reported (default 1)
  --show-seats N          seats per show (default 10000)
  --sample-ms N           pg_stat_activity sampling interval (default 20)
  --pg-pool-size N        each instance's --pg-pool-size (default 10)
  --server-log-level L    the servers' --log-level (default info, as in production)
  --out FILE              results JSON (default bench-scale-out.json)
  --markdown FILE         also write the tables as Markdown
  --help
`;

const flags = {
  instances: { type: "string" },
  variants: { type: "string" },
  duration: { type: "string" },
  warmup: { type: "string" },
  concurrency: { type: "string" },
  connections: { type: "string" },
  repeat: { type: "string" },
  "show-seats": { type: "string" },
  "sample-ms": { type: "string" },
  "pg-pool-size": { type: "string" },
  "server-log-level": { type: "string" },
  out: { type: "string" },
  markdown: { type: "string" },
  help: { type: "boolean" },
} as const;

/** Reads the flags; "help" when --help was given. Throws {@link ScaleOutUsageError} naming a bad flag. */
export function parseScaleOutOptions(argv: readonly string[]): ScaleOutOptions | "help" {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: flags, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ScaleOutUsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help === true) return "help";
  const number = (name: string, raw: string | undefined, fallback: number, min: number, integer: boolean): number => {
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || (integer && !Number.isSafeInteger(value))) {
      throw new ScaleOutUsageError(`--${name} must be ${integer ? "a whole number" : "a number"} >= ${min}, got "${raw}"`);
    }
    return value;
  };
  const instances = (values.instances ?? "1,2,3")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .map((entry) => number("instances", entry, 0, 1, true));
  if (instances.length === 0) throw new ScaleOutUsageError("--instances names no instance count");
  const variants = (values.variants ?? SCALE_OUT_VARIANTS.join(","))
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  const unknown = variants.find((name) => !(SCALE_OUT_VARIANTS as readonly string[]).includes(name));
  if (unknown !== undefined) throw new ScaleOutUsageError(`unknown variant "${unknown}"; choose from ${SCALE_OUT_VARIANTS.join(", ")}`);
  if (variants.length === 0) throw new ScaleOutUsageError("--variants names no variant");
  const options: ScaleOutOptions = {
    instances: [...new Set(instances)],
    variants: [...new Set(variants)] as ScaleOutVariant[],
    durationS: number("duration", values.duration, 8, 0.5, false),
    warmupS: number("warmup", values.warmup, 2, 0, false),
    concurrency: number("concurrency", values.concurrency, 48, 1, true),
    connections: number("connections", values.connections, 2, 1, true),
    repeat: number("repeat", values.repeat, 1, 1, true),
    showSeats: number("show-seats", values["show-seats"], 10_000, 1, true),
    sampleMs: number("sample-ms", values["sample-ms"], 20, 5, true),
    pgPoolSize: number("pg-pool-size", values["pg-pool-size"], 10, 1, true),
    serverLogLevel: values["server-log-level"] ?? "info",
    outPath: values.out ?? "bench-scale-out.json",
    markdownPath: values.markdown,
  };
  const most = Math.max(...options.instances);
  if (options.concurrency < most) throw new ScaleOutUsageError(`--concurrency ${options.concurrency} leaves some of ${most} instances without load`);
  if (options.concurrency > options.showSeats) {
    throw new ScaleOutUsageError(`--show-seats ${options.showSeats} is too small for ${options.concurrency} slots of one seat each`);
  }
  return options;
}
