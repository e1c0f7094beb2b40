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

// One short run for the whole file: every scenario on the baseline and the memory store, and small watchers and burst sections.
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "bench-smoke-"));
  const out = join(dir, "results.json");
  ({ stdout } = await run(
    process.execPath,
    [BENCH_ENTRY, "--stores", "memory", "--warmup", "0.2", "--duration", "1", "--concurrency", "16", "--connections", "2", "--show-seats", "20000", "--out", out,
     "--watchers", "5", "--watch-seconds", "1", "--watch-rate", "50", "--burst-rounds", "1", "--burst-calls", "200", "--burst-connections", "10"],
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
      expect(result.server.allocBytesPerCall).toBeGreaterThan(0);
      // Read by the allocation probe in every server, the baseline's too ("-": no collection in the window).
      expect(result.server.longestGc).toMatchObject({ ms: expect.any(Number), type: expect.any(String) });
      if (result.target === "baseline") expect(result.ratioToBaseline).toBeNull();
      else expect(result.ratioToBaseline).toBeGreaterThan(0);
      if (result.target !== "baseline") expect(result.allocRatioToBaseline).toBeGreaterThan(0);
    }
    expect(report.machine.cores).toBeGreaterThan(0);
    // Issue 11's seven goals; those this run has the figures for are decided.
    expect(report.goals).toHaveLength(7);
    const memoryCpu = report.goals.find((goal) => goal.goal.startsWith("memory CPU per call"));
    expect(memoryCpu?.met).not.toBeNull();
    expect(report.goals.find((goal) => goal.goal.startsWith("postgres (server"))?.met).toBeNull();
  });

  it("books seats in the booking scenarios and leaves the show empty after cleaning up", () => {
    for (const scenario of ["book-1", "book-4", "hot-seat", "hold-confirm"]) {
      const memory = resultOf(scenario, "memory");
      expect(memory.seatsBookedPerSecond).toBeGreaterThan(0);
      expect(memory.consistency).toEqual({ bookedAfter: 0, cleanupFailures: 0 });
    }
    const fourSeats = resultOf("book-4", "memory");
    const booked = (fourSeats.codes["BookSeats"]?.["OK"] ?? 0) * 4;
    expect(fourSeats.seatsBookedPerSecond * report.settings.durationS).toBe(booked);
  });

  it("holds, confirms and cancels in hold-confirm, on the service and the baseline, every call OK", () => {
    for (const target of ["baseline", "memory"]) {
      const result = resultOf("hold-confirm", target);
      const ok = (method: string): number => result.codes[method]?.["OK"] ?? 0;
      expect(ok("HoldSeats")).toBeGreaterThan(0);
      expect(ok("ConfirmHold")).toBeGreaterThan(0);
      expect(ok("CancelSeats")).toBeGreaterThan(0);
      // Each slot goes hold, confirm, cancel: the counts in the window differ by at most one round per slot.
      expect(Math.abs(ok("HoldSeats") - ok("CancelSeats"))).toBeLessThanOrEqual(16);
      expect(result.errorsByCode).toEqual({});
      expect(result.calls).toBe(ok("HoldSeats") + ok("ConfirmHold") + ok("CancelSeats"));
    }
  });

  it("runs the watchers section: every change delivered to every watcher, with the delays", () => {
    expect(report.watchers).toHaveLength(1);
    const [watchers] = report.watchers;
    expect(watchers?.store).toBe("memory");
    expect(watchers?.watchers).toBe(5);
    expect(watchers?.deliveries.missed).toBe(0);
    expect(watchers?.deliveries.received).toBe(5 * (watchers?.changesCommitted ?? Number.NaN));
    expect(watchers?.delayMs.p50).toBeLessThanOrEqual(watchers?.delayMs.p99 ?? Number.NaN);
    expect(stdout).toMatch(/^memory\s+5\s+1\s/m);
  });

  it("runs the burst section against the default limits: one seat booked once, every call answered", () => {
    expect(report.burst).toHaveLength(1);
    const [burst] = report.burst;
    expect(burst?.rounds).toHaveLength(1);
    const codes = burst?.rounds[0]?.codes ?? {};
    expect(Object.values(codes).reduce((sum, count) => sum + count, 0)).toBe(200);
    expect(codes["OK"]).toBe(1);
    expect(stdout).toMatch(/^burst: 200 BookSeats/m);
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
      .map((block) => block.split("\n").filter((line) => /^(book-1|book-4|hot-seat|hold-confirm|show-available)\s+(baseline|memory)\s/.test(line)));
    expect(results).toHaveLength(10);
    expect(diagnostics).toHaveLength(10);
  });
});
