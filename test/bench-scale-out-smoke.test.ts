import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findPostgresBinaries } from "../bench/postgres-cluster.js";
import type { ScaleOutReport } from "../bench/scale-out-runner.js";

const run = promisify(execFile);
/** The compiled entry; `npm test` builds it before vitest runs. */
const ENTRY = fileURLToPath(new URL("../dist/bench/scale-out.js", import.meta.url));
// CI must not skip: there a missing PostgreSQL fails the test instead.
const installed = (await findPostgresBinaries()) !== undefined || process.env["CI"] === "true";

describe.skipIf(!installed)("npm run bench:scale-out", () => {
  let dir: string;
  let report: ScaleOutReport;
  let stdout: string;

  // One short run for the whole file: 1 and 2 instances, both variants, on one throwaway cluster.
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "bench-scale-out-smoke-"));
    const out = join(dir, "results.json");
    ({ stdout } = await run(
      process.execPath,
      [ENTRY, "--instances", "1,2", "--warmup", "0.3", "--duration", "1.5", "--concurrency", "8", "--show-seats", "200", "--sample-ms", "10", "--server-log-level", "warn", "--out", out],
      { maxBuffer: 16 * 1024 * 1024 },
    ));
    report = JSON.parse(await readFile(out, "utf8")) as ScaleOutReport;
  }, 180_000);

  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("measures every instance count in both variants with calls on every instance and no errors", () => {
    expect(report.skipped).toBeNull();
    expect(report.results.map((result) => `${result.variant}/${result.instances}`)).toEqual([
      "own-show/1",
      "own-show/2",
      "hot-show/1",
      "hot-show/2",
    ]);
    for (const result of report.results) {
      expect(result.callsPerSecond).toBeGreaterThan(0);
      expect(result.perInstance).toHaveLength(result.instances);
      for (const instance of result.perInstance) expect(instance.callsPerSecond).toBeGreaterThan(0);
      expect(result.errorsByCode).toEqual({});
      expect(result.unexpected).toBe(0);
      expect(result.cleanupFailures).toBe(0);
      expect(result.latencyMs.p50).toBeLessThanOrEqual(result.latencyMs.p99);
    }
  });

  it("reads PostgreSQL's own account: statements, wait samples, commits and WAL flushes, with durability on", () => {
    expect(report.postgres?.settings["fsync"]).toBe("on");
    expect(report.postgres?.settings["synchronous_commit"]).toBe("on");
    for (const result of report.results) {
      const { statements, waits } = result.postgres;
      expect(statements.tracked).toBeGreaterThan(0);
      // The batches' one statement (book and cancel batches run as one call of it).
      expect(statements.top.some((statement) => statement.query.includes("run_book_cancel_batch("))).toBe(true);
      expect(statements.commitStatements).toBeGreaterThan(0);
      expect(waits.samples).toBeGreaterThan(0);
      expect(result.postgres.walSyncsPerSecond).toBeGreaterThan(0);
      expect(result.serverCpuMicrosPerCall).toBeGreaterThan(0);
    }
  });

  it("prints the three tables with a row per variant and instance count", () => {
    const rows = stdout.split("\n").filter((line) => /^(own-show|hot-show)\s+[12]\s/.test(line));
    // Two tables with one row per run, and the statements table with several per run.
    expect(rows.length).toBeGreaterThanOrEqual(4 * 3);
    expect(stdout).toContain("top statements by execution time");
  });
});
