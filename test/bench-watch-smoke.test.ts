import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FanoutResult } from "../bench/fanout-run.js";

const run = promisify(execFile);
/** The compiled script; `npm test` builds it before vitest runs. */
const FANOUT_ENTRY = fileURLToPath(new URL("../dist/bench/watch-fanout.js", import.meta.url));

/** bench-watch-results.json: the fan-out results the script wrote. */
interface FanoutReport {
  readonly results: readonly FanoutResult[];
}

let dir: string;
let report: FanoutReport;
let stdout: string;

// One short run for the whole file: 5 watchers on one connection, 2 s of writes at 50 calls/s.
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "bench-watch-smoke-"));
  const out = join(dir, "results.json");
  ({ stdout } = await run(process.execPath, [FANOUT_ENTRY, "--watchers", "5", "--seconds", "2", "--rate", "50", "--seats", "100", "--out", out], {
    maxBuffer: 16 * 1024 * 1024,
  }));
  report = JSON.parse(await readFile(out, "utf8")) as FanoutReport;
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("bench/watch-fanout.ts", () => {
  it("delivers every committed change to every watcher once, in order", () => {
    expect(report.results).toHaveLength(1);
    const [result] = report.results;
    if (result === undefined) throw new Error("no result");
    expect(result.watchers).toBe(5);
    // Every call of the load answered OK, and each committed one version.
    expect(result.writes.byCode).toEqual({ "BookSeats OK": 50, "CancelSeats OK": 50 });
    expect(result.changesCommitted).toBe(result.writes.calls);
    expect(result.deliveries).toEqual({
      expected: 5 * result.changesCommitted,
      received: 5 * result.changesCommitted,
      missed: 0,
      duplicates: 0,
      completeWatchers: 5,
      streamsEnded: {},
      changesPerMessage: expect.any(Number),
    });
  });

  it("reports the delays in order and prints a row for the watcher count", () => {
    const [result] = report.results;
    expect(result?.delayMs.p50).toBeLessThanOrEqual(result?.delayMs.p99 ?? Number.NaN);
    expect(result?.delayMs.p99).toBeLessThanOrEqual(result?.delayMs.max ?? Number.NaN);
    expect(stdout).toMatch(/^memory\s+5\s+1\s+100\s+500\s+500\s+0\s+0\s/m);
  });
});
