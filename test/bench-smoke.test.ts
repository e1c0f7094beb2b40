import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BenchReport } from "../bench/bench-runner.js";
import type { RunResult } from "../bench/report.js";
import { SCENARIO_NAMES } from "../bench/scenarios.js";

const run = promisify(execFile);
/** The compiled entry; `npm test` builds it before vitest runs. */
const BENCH_ENTRY = fileURLToPath(new URL("../dist/bench/run.js", import.meta.url));

let dir: string;
let report: BenchReport;
let stdout: string;

// One short run for the whole file: every scenario on the baseline and the memory store.
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "bench-smoke-"));
  const out = join(dir, "results.json");
  ({ stdout } = await run(
    process.execPath,
    [BENCH_ENTRY, "--stores", "memory", "--warmup", "0.2", "--duration", "1", "--concurrency", "16", "--connections", "2", "--show-seats", "20000", "--out", out],
    { maxBuffer: 16 * 1024 * 1024 },
  ));
  report = JSON.parse(await readFile(out, "utf8")) as BenchReport;
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function resultOf(scenario: string, target: string): RunResult {
  const result = report.results.find((entry) => entry.scenario === scenario && entry.target === target);
  if (result === undefined) throw new Error(`no result for ${scenario} on ${target}`);
  return result;
}

describe("npm run bench", () => {
  it("runs every scenario on the baseline and the memory store and writes the figures the issue asks for", () => {
    expect(report.results.map((result) => `${result.scenario}/${result.target}`)).toEqual(
      SCENARIO_NAMES.flatMap((scenario) => [`${scenario}/baseline`, `${scenario}/memory`]),
    );
    for (const result of report.results) {
      expect(result.calls).toBeGreaterThan(0);
      expect(result.callsPerSecond).toBeGreaterThan(0);
      expect(result.latencyMs.p50).toBeLessThanOrEqual(result.latencyMs.p99);
      expect(result.latencyMs.p99).toBeLessThanOrEqual(result.latencyMs.p999);
      expect(typeof result.server.peakRssMb).toBe("number");
      expect(typeof result.server.loopMaxMs).toBe("number");
      if (result.target === "baseline") expect(result.ratioToBaseline).toBeNull();
      else expect(result.ratioToBaseline).toBeGreaterThan(0);
    }
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.goals.map((goal) => goal.goal)).toHaveLength(4);
  });

  it("books seats in the booking scenarios and leaves the show empty after cleaning up", () => {
    for (const scenario of ["book-1", "book-4", "hot-seat"]) {
      const memory = resultOf(scenario, "memory");
      expect(memory.seatsBookedPerSecond).toBeGreaterThan(0);
      expect(memory.consistency).toEqual({ bookedAfter: 0, cleanupFailures: 0 });
    }
    const fourSeats = resultOf("book-4", "memory");
    const booked = (fourSeats.codes["BookSeats"]?.["OK"] ?? 0) * 4;
    expect(fourSeats.seatsBookedPerSecond * report.settings.durationS).toBe(booked);
  });

  it("refuses most hot-seat bookings with ALREADY_EXISTS and answers nothing any scenario does not expect", () => {
    const hot = resultOf("hot-seat", "memory");
    const refused = hot.codes["BookSeats"]?.["ALREADY_EXISTS"] ?? 0;
    expect(refused).toBeGreaterThan(0);
    expect(Object.keys(hot.errorsByCode)).toEqual(["ALREADY_EXISTS"]);
    const unexpected = report.results
      .filter((result) => result.unexpected > 0)
      .map((result) => `${result.scenario}/${result.target}: ${result.unexpectedSamples.join("; ")}`);
    expect(unexpected).toEqual([]);
  });

  it("prints the results table with a row per scenario and target, then where the time went", () => {
    const [results, diagnostics] = stdout
      .split("\n\n")
      .filter((block) => /^scenario\s+target\s/m.test(block))
      .map((block) => block.split("\n").filter((line) => /^(book-1|book-4|hot-seat|show-available)\s+(baseline|memory)\s/.test(line)));
    expect(results).toHaveLength(8);
    expect(diagnostics).toHaveLength(8);
  });
});
