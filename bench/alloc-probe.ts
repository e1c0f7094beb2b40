/**
 * Preloaded into a server under measurement (`node --import
 * dist/bench/alloc-probe.js`, see alloc-meter.ts): counts the bytes the
 * process allocates on the V8 heap, and finds its longest garbage
 * collection pause, without touching the server's code.
 *
 * Every SIGUSR2 appends one line to the file named by
 * BENCH_ALLOC_PROBE_FILE: the bytes allocated since the probe started, as
 * a decimal integer, then the longest collection since the previous line
 * (or the start), in µs, and its V8 type ("Scavenge", "MarkSweepCompact",
 * ...; "-" when none ran), separated by spaces. The difference of two
 * lines' first fields is what was allocated between the two signals.
 *
 * How: used heap grows only by allocation and shrinks only by collection,
 * so allocated = used now − used at start + Σ over collections of (used
 * before − used after). v8.GCProfiler (Node ≥ 18.15) records the used heap
 * around each collection and its cost (the time the collection held the
 * main thread); it reports on stop(), so each mark stops it and starts a
 * new one. Limits: only the V8 heap counts (Buffer and ArrayBuffer
 * contents live outside it); a collection that runs between stop() and the
 * next start() (it would have to be triggered by the few objects stop()
 * itself makes) would go uncounted.
 *
 * Without BENCH_ALLOC_PROBE_FILE the module does nothing.
 */
import { appendFileSync } from "node:fs";
import { GCProfiler, getHeapStatistics } from "node:v8";

const file = process.env["BENCH_ALLOC_PROBE_FILE"];
if (file !== undefined && file !== "") {
  const usedAtStart = getHeapStatistics().used_heap_size;
  let freed = 0;
  let profiler = new GCProfiler();
  profiler.start();
  process.on("SIGUSR2", () => {
    const result = profiler.stop();
    const used = getHeapStatistics().used_heap_size;
    profiler = new GCProfiler();
    profiler.start();
    let longestUs = 0;
    let longestType = "-";
    for (const gc of result?.statistics ?? []) {
      freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
      if (gc.cost > longestUs) {
        longestUs = gc.cost;
        longestType = gc.gcType;
      }
    }
    appendFileSync(file, `${used - usedAtStart + freed} ${Math.round(longestUs)} ${longestType}\n`);
  });
}
