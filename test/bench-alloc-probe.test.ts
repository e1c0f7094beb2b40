import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AllocMeter, allocProbeLaunch, parseReading } from "../bench/alloc-meter.js";

// allocProbeLaunch names the probe next to alloc-meter's own file, here the TypeScript source, which node cannot
// preload; so the test preloads the compiled probe. `npm test` builds dist/ before vitest runs.
const probeEntry = new URL("../dist/bench/alloc-probe.js", import.meta.url).pathname;

/**
 * A child that, for each "alloc N" line on stdin, allocates N MB of short-lived
 * 1,000-slot arrays (about 8 kB each on the V8 heap, none kept) and answers "done".
 */
const CHILD = `
let sink;
process.stdin.setEncoding("utf8");
let buffered = "";
process.stdin.on("data", (chunk) => {
  buffered += chunk;
  let end;
  while ((end = buffered.indexOf("\\n")) >= 0) {
    const line = buffered.slice(0, end);
    buffered = buffered.slice(end + 1);
    const megabytes = Number(line.split(" ")[1]);
    const arrays = Math.round((megabytes * 2 ** 20) / (1000 * 8 + 16));
    for (let index = 0; index < arrays; index++) sink = new Array(1000);
    process.stdout.write("done\\n");
  }
});
process.stdout.write("ready\\n");
`;

let dir: string;
let child: ChildProcessWithoutNullStreams;
let meter: AllocMeter;

async function line(): Promise<string> {
  const [chunk] = (await once(child.stdout, "data")) as [Buffer];
  return chunk.toString().trim();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "bench-alloc-probe-"));
  const file = join(dir, "alloc");
  const launch = allocProbeLaunch(file);
  child = spawn(process.execPath, ["--import", probeEntry, "--input-type=module", "-e", CHILD], {
    env: { ...process.env, ...launch.env },
  });
  expect(await line()).toBe("ready");
  meter = new AllocMeter(child.pid ?? 0, file);
});

afterAll(async () => {
  child.stdin.end();
  await once(child, "exit");
  await rm(dir, { recursive: true, force: true });
});

describe("bench/alloc-probe.ts", () => {
  it.each([16, 64])("reports about %i MB for a child that allocates that much between two readings", async (megabytes) => {
    const before = await meter.read();
    child.stdin.write(`alloc ${megabytes}\n`);
    expect(await line()).toBe("done");
    const after = await meter.read();
    if (before === undefined || after === undefined) throw new Error("the probe did not answer");
    const measured = (after.allocatedBytes - before.allocatedBytes) / 2 ** 20;
    expect(measured).toBeGreaterThan(megabytes * 0.95);
    expect(measured).toBeLessThan(megabytes * 1.1);
    // 16 MB and more of garbage cannot be allocated without a young-generation collection.
    expect(after.longestGc?.type).toMatch(/^(Scavenge|MinorMarkSweep|MarkSweepCompact|IncrementalMarking)$/);
    expect(after.longestGc?.ms).toBeGreaterThan(0);
  });

  it("reads a line with no collection as none, and one with a collection as its ms and type", () => {
    expect(parseReading("1048576 0 -")).toEqual({ allocatedBytes: 1048576, longestGc: undefined });
    expect(parseReading("2097152 4500 MarkSweepCompact")).toEqual({ allocatedBytes: 2097152, longestGc: { ms: 4.5, type: "MarkSweepCompact" } });
    expect(parseReading("garbage")).toBeUndefined();
  });
});
