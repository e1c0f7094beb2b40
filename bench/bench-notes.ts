import type { BenchOptions } from "./bench-options.js";
import { OTHER_LOAD_LIMIT_PERCENT } from "./other-load.js";

/** How the figures were taken, in sentences for the report and the results file. */
export function benchNotes(options: BenchOptions, cores: number): string[] {
  return [
    `${cores} CPU cores, shared: the server, ${options.generators} load-generator process(es) and, for postgres, the database all compete for them, so absolute figures are bound by this machine; the ratios compare the service with the baseline under the same conditions.`,
    `Load: ${options.concurrency} calls in flight in total over ${options.connections} mutual-TLS connection(s) per generator (alice and bob certificates in turn), plain grpc-js generic clients (no SDK, no retries), ${options.warmupS} s warm-up then ${options.durationS} s measured; a call counts when it finishes inside the window.`,
    options.repeat > 1
      ? `Each store and scenario ran ${options.repeat} rounds, the targets taking turns; the table shows the median round by calls/s, with the largest peak RSS, event-loop delay and collection pause of all rounds.`
      : "Each store and scenario ran once (--repeat N runs N rounds and reports the median).",
    "Every store and scenario gets a fresh `booking serve` process and a fresh, empty store, so peak RSS (VmHWM) and the event-loop maximum are per scenario. The server is started with --max-in-flight 1000000 --max-queued 1000000 --max-event-loop-lag-ms 0 --max-holds-per-principal 1000000 so admission control and the holds limit do not shape the load.",
    options.nodeArgs.length === 0
      ? "Node options: none beyond the defaults, for the service and the baseline."
      : `Node options, for the service and the baseline alike: ${options.nodeArgs.join(" ")}.`,
    `Server log level: ${options.serverLogLevel} (${options.serverLogLevel === "info" ? "one JSON line per call, written to a file, as in production" : "no per-call log line"}).`,
    "Server event-loop delay: prom-client's nodejs_eventloop_lag_max_seconds (10 ms resolution), which resets on every scrape; the server is scraped when ready, at the end of the warm-up and after the run, so the table shows the measured window and the results file also the warm-up. (A scrape reads the show for the booking_seats gauge: about 1 ms per 100,000 seats.) The baseline measures its own with perf_hooks.monitorEventLoopDelay.",
    "The baseline is a no-op grpc-js server with the same mutual TLS, service definition (protobuf decoding and encoding) and answer sizes; it answers every call OK, hot-seat calls included.",
    options.requestIds
      ? "BookSeats and CancelSeats carry a fresh request_id (idempotency key), a time-ordered (version 7) UUID as the SDK makes them (client/request-ids.ts); stores record each one."
      : "BookSeats and CancelSeats carry no request_id (--no-request-ids).",
    "hold-confirm: each slot holds one seat of its own (HoldSeats), confirms the hold (ConfirmHold) and cancels the seat (CancelSeats); calls/s counts all three calls, seats/s the confirmed seats. The baseline answers HoldSeats and ConfirmHold with answers of the real sizes.",
    "alloc KB/call: bytes the server allocated on its V8 heap in the window per call, read by bench/alloc-probe.ts preloaded into the server (node --import; v8.GCProfiler: used heap now - at start + what each collection freed); Buffer contents outside the V8 heap are not counted. The JSON has the ratio to the baseline (allocRatioToBaseline).",
    "longest GC ms: the server's longest garbage collection in the window, as long as it held the main thread (v8.GCProfiler's cost, read by the same probe), and its kind (scavenge: the young generation; mark-compact: the whole heap); \"none\" when none ran. Beside loop max ms it tells a pause of the collector from a long turn of the server's own or time the machine gave to other processes.",
    options.watcherCounts.length === 0 || options.sectionStores.length === 0
      ? "Watchers section: off (--watchers 0, or no store for it)."
      : `Watchers section: ${options.watcherCounts.join(" and ")} WatchAvailability streams (50 to a connection) on ${options.sectionStores.join(", ")}, a fresh server each, while one connection books and cancels one seat at a time at ${options.watchRate} calls/s for ${options.watchSeconds} s; delay = commit_time to arrival at the watcher (bench/fanout-run.ts, as bench/watch-fanout.ts).`,
    options.burstRounds === 0 || options.sectionStores.length === 0
      ? "Burst section: off (--burst-rounds 0, or no store for it)."
      : `Burst section: ${options.burstCalls} BookSeats for seat 1 at once over ${options.burstConnections} new connections (their TLS handshakes included), deadline 5 s, against \`booking serve\` with its default limits (admission control on), ${options.burstRounds} round(s) on each of ${options.sectionStores.join(", ")}, a fresh server each (bench/burst-volley.ts, as bench/burst.ts).`,
    `Other load: a row measured while processes outside the benchmark used more than ${OTHER_LOAD_LIMIT_PERCENT}% of a core (machine busy time minus the server, the generators or this process, and PostgreSQL) is marked \"!\" in every table, with the figure; a row of several rounds shows the largest (bench/other-load.ts).`,
    "sqlite runs in WAL mode with synchronous=FULL and group commit; postgres runs on a throwaway cluster with fsync=on and synchronous_commit=on.",
  ];
}
