/**
 * `npm run bench:scale-out`: 1, 2, 3 ... `booking serve` instances on one
 * PostgreSQL under the book-1 load, spread evenly (see SCALE_OUT_USAGE).
 * Reads the flags, runs {@link runScaleOut}, prints progress to stderr and
 * the tables to stdout, and writes the JSON results (and, if asked,
 * Markdown).
 *
 * Like `npm run bench` it checks nothing about time. It exits 0 unless it
 * could not run (2 for a usage error, 1 for a failure) or a call was
 * answered with a status book-1 does not allow (3), a correctness bug.
 */
import { writeFile } from "node:fs/promises";
import { parseScaleOutOptions, SCALE_OUT_USAGE, ScaleOutUsageError, type ScaleOutOptions } from "./scale-out-options.js";
import { scaleOutMarkdown, scaleOutText } from "./scale-out-report.js";
import { runScaleOut, type ScaleOutReport } from "./scale-out-runner.js";

// grpc-js hands the IP address to TLS as the server name, which Node flags
// (DEP0123) on every connection to 127.0.0.1: noise in the output.
const printWarning = process.listeners("warning");
process.removeAllListeners("warning");
process.on("warning", (warning: Error & { code?: string }) => {
  if (warning.code !== "DEP0123") for (const print of printWarning) print(warning);
});

const argv = process.argv.slice(2);
let options: ScaleOutOptions | "help";
try {
  options = parseScaleOutOptions(argv);
} catch (error) {
  if (!(error instanceof ScaleOutUsageError)) throw error;
  process.stderr.write(`bench:scale-out: ${error.message}\n\n${SCALE_OUT_USAGE}`);
  process.exit(2);
}
if (options === "help") {
  process.stdout.write(SCALE_OUT_USAGE);
  process.exit(0);
}

// The first Ctrl-C lets the current run end and cleans up; a second one exits at once.
let stopRequested = false;
process.on("SIGINT", () => {
  if (stopRequested) process.exit(130);
  stopRequested = true;
  process.stderr.write("\nbench:scale-out: stopping after this run and cleaning up (Ctrl-C again to exit at once)\n");
});

const command = `npm run bench:scale-out${argv.length === 0 ? "" : ` -- ${argv.join(" ")}`}`;
try {
  const report: ScaleOutReport = await runScaleOut(options, command, {
    progress: (line) => process.stderr.write(`${line}\n`),
    stopRequested: () => stopRequested,
  });
  await writeFile(options.outPath, `${JSON.stringify(report, null, 2)}\n`);
  const commit = report.commit.hash === null ? "unknown commit" : `commit ${report.commit.hash.slice(0, 10)}${report.commit.dirty === true ? " (with uncommitted changes)" : ""}`;
  const machine = `${report.machine.cores} cores (${report.machine.cpuModel}), Node ${report.machine.node}`;
  const postgres = report.postgres === null ? "" : `; ${report.postgres.version.split(" on ")[0]}`;
  const disturbed = report.results.filter((result) => result.disturbed);
  process.stdout.write(
    [
      "",
      report.skipped === null ? scaleOutText(report.results) : `skipped: ${report.skipped}`,
      "",
      `${commit}; ${machine}${postgres}`,
      ...(disturbed.length === 0
        ? []
        : [`WARNING: processes outside the benchmark used > 20% of a core during ${disturbed.map((result) => `${result.variant}/${result.instances}`).join(", ")}`]),
      `results: ${options.outPath}`,
      "",
    ].join("\n"),
  );
  if (options.markdownPath !== undefined) {
    await writeFile(options.markdownPath, `${commit}; ${machine}${postgres}\n\n${scaleOutMarkdown(report.results)}\n`);
    process.stdout.write(`markdown: ${options.markdownPath}\n`);
  }
  const unexpected = report.results.reduce((sum, result) => sum + result.unexpected, 0);
  if (unexpected > 0) {
    process.stderr.write(`bench:scale-out: ${unexpected} calls were answered with a status book-1 does not allow\n`);
    process.exitCode = 3;
  }
} catch (error) {
  process.stderr.write(`bench:scale-out: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
}
