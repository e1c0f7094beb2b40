import { parseArgs } from "node:util";
import pg from "pg";
import { newRequestId } from "../client/request-ids.js";
import { DEFAULT_CHANGE_LOG_RETENTION } from "../src/core/change-log.js";
import { PostgresStore } from "../src/stores/postgres-store.js";
import { treeCpuTimeMs } from "./process-stats.js";
import { startThrowawayPostgres } from "./throwaway-postgres.js";

const USAGE = `usage: npm run bench:pg-batch -- [options]

What one seat batch costs PostgreSQL and the client, by batch size, without
gRPC: one connection sends a batch function (run_book_cancel_batch, the one
a server sends a group of BookSeats and CancelSeats to, and run_seat_batch,
the one it falls back to) N single-seat bookings, then N cancellations of the
same seats, back to back, on a throwaway cluster with
fsync and synchronous_commit on. Each (principal, request id) is fresh, a
time-ordered id as the SDK makes them. Prints, per size: calls/s, PostgreSQL's
CPU per call (the postmaster and its processes, from /proc), this process's
CPU per call (node-postgres encoding the arrays and parsing the rows), and
the function's mean execution time per batch (pg_stat_statements).

  --functions LIST run_book_cancel_batch,run_seat_batch (default: both)
  --sizes LIST     batch sizes (default 1,4,17,64)
  --seconds S      seconds per size (default 5)
  --help`;

const SHOW_SEATS = 100_000;
const BATCH_FUNCTIONS = ["run_book_cancel_batch", "run_seat_batch"];

interface SizeFigures {
  readonly batchFunction: string;
  readonly size: number;
  readonly callsPerSecond: number;
  readonly postgresMicrosPerCall: number;
  readonly clientMicrosPerCall: number;
  readonly functionMsPerBatch: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      functions: { type: "string", default: BATCH_FUNCTIONS.join(",") },
      sizes: { type: "string", default: "1,4,17,64" }, seconds: { type: "string", default: "5" }, help: { type: "boolean" } },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const sizes = values.sizes.split(",").map(Number);
  const batchFunctions = values.functions.split(",");
  const unknown = batchFunctions.find((name) => !BATCH_FUNCTIONS.includes(name));
  if (unknown !== undefined) throw new TypeError(`--functions: no batch function "${unknown}"\n\n${USAGE}`);
  const seconds = Number(values.seconds);
  if (sizes.some((size) => !Number.isInteger(size) || size < 1 || size > 1000) || !(seconds > 0)) {
    throw new TypeError(`--sizes takes whole numbers from 1 to 1000 and --seconds a positive number\n\n${USAGE}`);
  }
  const cluster = await startThrowawayPostgres();
  if ("missing" in cluster) throw new Error(cluster.missing);
  try {
    const url = await cluster.createDatabase("batch_cost");
    const store = await PostgresStore.open(url);
    await store.ensureShows([{ id: "main", totalSeats: SHOW_SEATS }]);
    await store.close();
    console.log(`${cluster.version}\n`);
    console.log("function               batch size  calls/s  PostgreSQL CPU us/call  client CPU us/call  function ms/batch");
    for (const batchFunction of batchFunctions) {
      for (const size of sizes) {
        const figures = await measure(cluster.pid, url, batchFunction, size, seconds, () => cluster.resetCounters(), async () => {
          const counters = await cluster.readCounters("batch_cost");
          return counters.statements.find((statement) => statement.topLevel && statement.query.includes(`${batchFunction}(`));
        });
        printRow(figures);
      }
    }
  } finally {
    await cluster.stop();
  }
}

function printRow(figures: SizeFigures): void {
  console.log(
    `${figures.batchFunction.padEnd(21)}  ${String(figures.size).padStart(10)}  ${figures.callsPerSecond.toFixed(0).padStart(7)}  ${figures.postgresMicrosPerCall
          .toFixed(1)
          .padStart(22)}  ${figures.clientMicrosPerCall.toFixed(1).padStart(18)}  ${figures.functionMsPerBatch.toFixed(3).padStart(17)}`,
  );
}

async function measure(
  postmasterPid: number,
  url: string,
  batchFunction: string,
  size: number,
  seconds: number,
  reset: () => Promise<void>,
  functionFigures: () => Promise<{ readonly calls: number; readonly totalMs: number } | undefined>,
): Promise<SizeFigures> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await reset();
    let calls = 0;
    let next = 0;
    const postgresBefore = treeCpuTimeMs(postmasterPid) ?? 0;
    const clientBefore = process.cpuUsage();
    const started = performance.now();
    while (performance.now() - started < seconds * 1000) {
      const seats = Array.from({ length: size }, (_, index) => 1 + ((next + index) % SHOW_SEATS));
      next += size;
      for (const kind of ["book", "cancel"]) {
        await runBatchFunction(client, batchFunction, kind, seats);
        calls += size;
      }
    }
    const elapsedMs = performance.now() - started;
    const clientUsage = process.cpuUsage(clientBefore);
    const postgresMs = (treeCpuTimeMs(postmasterPid) ?? 0) - postgresBefore;
    const statement = await functionFigures();
    return {
      batchFunction,
      size,
      callsPerSecond: (calls * 1000) / elapsedMs,
      postgresMicrosPerCall: (postgresMs * 1000) / calls,
      clientMicrosPerCall: (clientUsage.user + clientUsage.system) / calls,
      functionMsPerBatch: statement === undefined ? Number.NaN : statement.totalMs / statement.calls,
    };
  } finally {
    await client.end();
  }
}

/** The statement and arguments PostgresStore sends for a batch of single-seat bookings or cancellations. */
async function runBatchFunction(client: pg.Client, batchFunction: string, kind: string, seats: readonly number[]): Promise<void> {
  const count = seats.length;
  const now = Date.now();
  await client.query({
    name: batchFunction,
    text: `SELECT * FROM ${batchFunction}($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $7::boolean[],
             $8::text[], $9::bigint[], $10::int[], $11::text[], $12::bigint, $13::bigint, $14::bigint, $15::bigint)`,
    values: [
      Array(count).fill(kind),
      Array(count).fill("main"),
      Array(count).fill(1),
      seats,
      Array(count).fill("user:bench"),
      seats.map(() => newRequestId(now)),
      Array(count).fill(false),
      Array(count).fill(null),
      Array(count).fill(null),
      Array(count).fill(null),
      seats.map((seat) => `${kind}:main:${seat}`),
      now,
      now - 24 * 3_600_000,
      DEFAULT_CHANGE_LOG_RETENTION.maxVersions,
      DEFAULT_CHANGE_LOG_RETENTION.maxAgeMs,
    ],
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
