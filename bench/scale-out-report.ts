import type { ScaleOutResult } from "./scale-out-result.js";

/** A table: header, rows, and which columns are numbers (right-aligned). */
interface Table {
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
  readonly numeric: ReadonlySet<number>;
}

const fixed = (value: number | null | undefined, digits: number, suffix = ""): string =>
  value === null || value === undefined ? "-" : `${value.toFixed(digits)}${suffix}`;

const latency = (value: number): string => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));

/** Throughput, latency and CPU per instance count; "*" marks a run other processes disturbed. */
function throughputTable(results: readonly ScaleOutResult[]): Table {
  return {
    header: ["variant", "instances", "calls/s", "per instance", "p50 ms", "p99 ms", "errors", "servers CPU", "server us/call", "postgres CPU", "of which sampler", "postgres us/call", "other CPU"],
    rows: results.map((result) => {
      const errors = Object.entries(result.errorsByCode).map(([code, count]) => `${code} ${count}`);
      if (result.unexpected > 0) errors.push(`${result.unexpected} UNEXPECTED`);
      return [
        result.variant,
        String(result.instances),
        result.callsPerSecond.toFixed(0),
        result.perInstance.map((instance) => instance.callsPerSecond.toFixed(0)).join(" / "),
        latency(result.latencyMs.p50),
        latency(result.latencyMs.p99),
        errors.length === 0 ? "-" : errors.join(", "),
        fixed(result.serverCpuPercent, 0, "%"),
        fixed(result.serverCpuMicrosPerCall, 0),
        fixed(result.postgres.cpuPercent, 0, "%"),
        fixed(result.postgres.samplerCpuPercent, 1, "%"),
        fixed(result.postgres.cpuMicrosPerCall, 0),
        `${fixed(result.backgroundCpuPercent, 0, "%")}${result.disturbed ? " *" : ""}`,
      ];
    }),
    numeric: new Set([1, 2, 4, 5, 7, 8, 9, 10, 11, 12]),
  };
}

/** What PostgreSQL did: transactions, WAL flushes, and what its busy backends were waiting for. */
function postgresTable(results: readonly ScaleOutResult[]): Table {
  return {
    header: ["variant", "instances", "commits/s", "batch commits/s", "rollbacks/s", "calls/batch", "WAL flushes/s", "flushes/batch", "ms/flush", "busy backends", "Lock waits", "advisory", "NOTIFY lock", "top waits (share of busy-backend samples)"],
    rows: results.map((result) => {
      const pg = result.postgres;
      return [
        result.variant,
        String(result.instances),
        pg.commitsPerSecond.toFixed(0),
        pg.batchCommitsPerSecond.toFixed(0),
        pg.rollbacksPerSecond.toFixed(1),
        fixed(pg.callsPerCommit, 1),
        pg.walSyncsPerSecond.toFixed(0),
        fixed(pg.walSyncsPerCommit, 2),
        pg.meanWalSyncMs.toFixed(2),
        pg.waits.meanBusyBackends.toFixed(2),
        `${pg.waits.lockWaitPercent.toFixed(1)}%`,
        `${pg.waits.advisoryWaitPercent.toFixed(1)}%`,
        `${pg.waits.notifyQueueWaitPercent.toFixed(1)}%`,
        pg.waits.byEvent
          .slice(0, 5)
          .map((wait) => `${wait.event} ${wait.sharePercent.toFixed(0)}%`)
          .join(", "),
      ];
    }),
    numeric: new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
  };
}

/** The top statements of each run by execution time ("(in fn)" = run inside a function, counted in its caller too). */
function statementsTable(results: readonly ScaleOutResult[], perRun: number): Table {
  return {
    header: ["variant", "instances", "calls", "mean ms", "total ms", "share", "statement"],
    rows: results.flatMap((result) =>
      result.postgres.statements.top.slice(0, perRun).map((statement) => [
        result.variant,
        String(result.instances),
        String(statement.calls),
        statement.meanMs.toFixed(3),
        statement.totalMs.toFixed(0),
        `${statement.sharePercent.toFixed(0)}%`,
        `${statement.topLevel ? "" : "(in fn) "}${statement.query.slice(0, 70)}`,
      ]),
    ),
    numeric: new Set([1, 2, 3, 4, 5]),
  };
}

function aligned(table: Table): string {
  const rows = [[...table.header], ...table.rows.map((row) => [...row])];
  const widths = table.header.map((_, index) => Math.max(...rows.map((cells) => (cells[index] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, index) => (table.numeric.has(index) ? cell.padStart(widths[index]!) : cell.padEnd(widths[index]!)))
      .join("  ")
      .trimEnd();
  return [line(table.header), widths.map((width) => "-".repeat(width)).join("  "), ...table.rows.map(line)].join("\n");
}

function markdown(table: Table): string {
  const line = (cells: readonly string[]): string => `| ${cells.map((cell) => cell.replace(/\|/g, "\\|")).join(" | ")} |`;
  return [line(table.header), line(table.header.map((_, index) => (table.numeric.has(index) ? "---:" : "---"))), ...table.rows.map(line)].join("\n");
}

const CAPTIONS = [
  "throughput and CPU (CPU in % of one core; us/call = CPU per call, summed over processes; 'other' = work outside the benchmark, * above 20 %):",
  "inside PostgreSQL (counters over the measured window; batch commits = COMMIT statements and batch-function calls, commits = every transaction; waits sampled from pg_stat_activity):",
  "top statements by execution time (pg_stat_statements, reset at the start of each window; share of top-level time):",
];

/** The three tables as aligned text, each under its caption. */
export function scaleOutText(results: readonly ScaleOutResult[]): string {
  const tables = [throughputTable(results), postgresTable(results), statementsTable(results, 5)];
  return tables.map((table, index) => `${CAPTIONS[index]}\n${aligned(table)}`).join("\n\n");
}

/** The three tables as Markdown, each under its caption. */
export function scaleOutMarkdown(results: readonly ScaleOutResult[]): string {
  const tables = [throughputTable(results), postgresTable(results), statementsTable(results, 5)];
  return tables.map((table, index) => `${CAPTIONS[index]}\n\n${markdown(table)}`).join("\n\n");
}
