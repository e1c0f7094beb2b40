import { describe, expect, it } from "vitest";
import { BenchUsageError, parseBenchOptions, type BenchOptions } from "../bench/bench-options.js";

function parse(...argv: string[]): BenchOptions {
  const options = parseBenchOptions(argv);
  if (options === "help") throw new Error("help");
  return options;
}

describe("bench/bench-options.ts", () => {
  it("runs every scenario, hold-confirm included, and the watchers and burst sections on every store by default", () => {
    const options = parse();
    expect(options.scenarios).toContain("hold-confirm");
    expect(options.watcherCounts).toEqual([100, 1000]);
    expect(options.watchSeconds).toBe(5);
    expect(options.burstRounds).toBe(3);
    expect(options.sectionStores).toEqual(["memory", "sqlite", "postgres"]);
  });

  it("keeps the sections small under --quick: 100 watchers for 2 s, one burst, the first store only", () => {
    const options = parse("--quick", "--stores", "sqlite,memory");
    expect(options.watcherCounts).toEqual([100]);
    expect(options.watchSeconds).toBe(2);
    expect(options.burstRounds).toBe(1);
    expect(options.sectionStores).toEqual(["sqlite"]);
  });

  it("turns a section off with 0 and picks its stores from --stores", () => {
    const options = parse("--watchers", "0", "--burst-rounds", "0", "--stores", "memory,sqlite", "--section-stores", "sqlite,postgres");
    expect(options.watcherCounts).toEqual([]);
    expect(options.burstRounds).toBe(0);
    expect(options.sectionStores).toEqual(["sqlite"]);
  });

  it("refuses a watcher list that is not whole numbers, naming the flag", () => {
    expect(() => parse("--watchers", "100,many")).toThrow(BenchUsageError);
    expect(() => parse("--watchers", "100,many")).toThrow(/--watchers/);
    expect(() => parse("--section-stores", "redis")).toThrow(/unknown store "redis"/);
  });

  it("passes --node-arg options, in order, to the service and the baseline alike, and none by default", () => {
    expect(parse().nodeArgs).toEqual([]);
    expect(parse("--node-arg=--max-semi-space-size=64", "--node-arg=--trace-gc").nodeArgs).toEqual(["--max-semi-space-size=64", "--trace-gc"]);
  });
});
