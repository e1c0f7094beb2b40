/**
 * `npm run bench`: the benchmark's entry point. Reads the flags, runs
 * {@link runBench}, prints progress to stderr and the table to stdout, and
 * writes the JSON results (and, if asked, a Markdown table).
 *
 * The benchmark is not a test: it checks nothing about time. It prints the
 * issue's goals with the measured ratios, and exits 0 unless it could not
 * run (2 for a usage error, 1 for a failure) or a call was answered with a
 * status its scenario does not allow, a watcher missed a change or a burst
 * booked its seat twice (3), since those are correctness bugs.
 */
import { writeFile } from "node:fs/promises";
import { BENCH_USAGE, BenchUsageError, parseBenchOptions, type BenchOptions } from "./bench-options.js";
import { runBench } from "./bench-runner.js";
import { burstMarkdown, burstTable } from "./burst-summary.js";
import { callCostMarkdown, callCostTable } from "./cost-per-call.js";
import { FANOUT_NOTES, fanoutMarkdown, fanoutTable } from "./fanout-run.js";
import { diagnosticsTable, goalLines, markdownTable, textTable } from "./report.js";

// grpc-js hands the IP address to TLS as the server name, which Node flags
// (DEP0123) on every connection to 127.0.0.1: noise in the benchmark's output.
const printWarning = process.listeners("warning");
process.removeAllListeners("warning");
process.on("warning", (warning: Error & { code?: string }) => {
  if (warning.code !== "DEP0123") for (const print of printWarning) print(warning);
});

const argv = process.argv.slice(2);
let options: BenchOptions | "help";
try {
  options = parseBenchOptions(argv);
} catch (error) {
  if (!(error instanceof BenchUsageError)) throw error;
  process.stderr.write(`bench: ${error.message}\n\n${BENCH_USAGE}`);
  process.exit(2);
}
if (options === "help") {
  process.stdout.write(BENCH_USAGE);
  process.exit(0);
}

// The first Ctrl-C lets the current run end and cleans up (servers, PostgreSQL, temp files); a second one exits at once.
let stopRequested = false;
process.on("SIGINT", () => {
  if (stopRequested) process.exit(130);
  stopRequested = true;
  process.stderr.write("\nbench: stopping after this run and cleaning up (Ctrl-C again to exit at once)\n");
});

const tty = process.stderr.isTTY;
let liveShown = false;
const command = `npm run bench${argv.length === 0 ? "" : ` -- ${argv.join(" ")}`}`;
try {
  const report = await runBench(options, command, {
    progress: (line) => {
      if (liveShown) process.stderr.write("\r\x1b[2K");
      liveShown = false;
      process.stderr.write(`${line}\n`);
    },
    live: (line) => {
      if (!tty) return;
      process.stderr.write(`\r\x1b[2K${line}`);
      liveShown = true;
    },
    stopRequested: () => stopRequested,
  });
  if (liveShown) process.stderr.write("\r\x1b[2K");
  await writeFile(options.outPath, `${JSON.stringify(report, null, 2)}\n`);
  const machine = `${report.machine.cores} cores (${report.machine.cpuModel}), ${report.machine.memoryGb} GB, Node ${report.machine.node}`;
  const table = textTable(report.results);
  const warning = report.otherLoadWarning === null ? [] : [report.otherLoadWarning, ""];
  process.stdout.write(
    [
      "",
      table,
      "",
      "where the time went (CPU in % of one core; 'other' = work outside the benchmark on this machine):",
      diagnosticsTable(report.results),
      "",
      "cost per call (CPU: the server's, plus PostgreSQL's own for postgres, as a ratio to the baseline server's; V8 heap bytes allocated):",
      callCostTable(report.results),
      "",
      ...(report.watchers.length === 0
        ? []
        : [
            `watchers: commit-to-delivery delay of WatchAvailability, ${options.watchRate} book/cancel calls/s for ${options.watchSeconds} s, a fresh server per row:`,
            fanoutTable(report.watchers),
            ...FANOUT_NOTES.map((note) => `  (${note})`),
            "",
          ]),
      ...(report.burst.length === 0
        ? []
        : [
            `burst: ${options.burstCalls} BookSeats for one seat at once over ${options.burstConnections} new connections, default limits, a fresh server per round (refused = RESOURCE_EXHAUSTED; served = OK or ALREADY_EXISTS; medians over the rounds):`,
            burstTable(report.burst),
            "",
          ]),
      ...warning,
      `machine: ${machine}${report.machine.postgres === null ? "" : `; ${report.machine.postgres.split(" on ")[0]}`}`,
      ...report.skipped.map((skip) => `skipped ${skip.target}: ${skip.reason}`),
      "",
      "goals (ratios to the baseline in this run; informative, not assertions):",
      ...goalLines(report.goals),
      "",
      ...report.notes.map((note) => `- ${note}`),
      "",
      `results: ${options.outPath}`,
      "",
    ].join("\n"),
  );
  if (options.markdownPath !== undefined) {
    const sections = [
      markdownTable(report.results),
      "Cost per call (CPU: the server's, plus PostgreSQL's own for postgres, as a ratio to the baseline server's; V8 heap bytes allocated):",
      callCostMarkdown(report.results),
      ...(report.watchers.length === 0 ? [] : ["Watchers (commit-to-delivery delay):", fanoutMarkdown(report.watchers)]),
      ...(report.burst.length === 0 ? [] : ["Burst (one volley against the default limits):", burstMarkdown(report.burst)]),
      ...(report.otherLoadWarning === null ? [] : [`**${report.otherLoadWarning}**`]),
    ];
    await writeFile(options.markdownPath, `${sections.join("\n\n")}\n`);
    process.stdout.write(`markdown: ${options.markdownPath}\n`);
  }
  if (report.otherLoadWarning !== null) process.stderr.write(`bench: ${report.otherLoadWarning}\n`);
  const unexpected = report.results.reduce((sum, result) => sum + result.unexpected, 0);
  if (unexpected > 0) {
    process.stderr.write(`bench: ${unexpected} calls were answered with a status their scenario does not allow (see "errors by code")\n`);
    process.exitCode = 3;
  }
  const missed = report.watchers.reduce((sum, result) => sum + result.deliveries.missed + result.deliveries.duplicates, 0);
  if (missed > 0) {
    process.stderr.write(`bench: ${missed} watch deliveries were missed or duplicated (see the watchers table)\n`);
    process.exitCode = 3;
  }
  const doubleBooked = report.burst.filter((summary) => summary.rounds.some((round) => (round.codes["OK"] ?? 0) > 1));
  if (doubleBooked.length > 0) {
    process.stderr.write(`bench: a burst booked one seat more than once on ${doubleBooked.map((summary) => summary.store).join(", ")}\n`);
    process.exitCode = 3;
  }
} catch (error) {
  process.stderr.write(`${liveShown ? "\n" : ""}bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
