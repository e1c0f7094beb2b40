import { createServer, type Server as HttpServer } from "node:http";
import { status } from "@grpc/grpc-js";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { BookingCore } from "../core/booking-core.js";
import type { ShowRecord } from "../core/seat-store.js";
import type { RejectionCause, RpcObserver } from "./call-recorder.js";
import { MethodCodeCounter } from "./method-code-counter.js";
import { MethodLatencyHistogram } from "./method-latency-histogram.js";

/** The service's Prometheus metrics and the observer that feeds them. */
export interface BookingMetrics {
  readonly registry: Registry;
  readonly observer: RpcObserver;
  /** Reports how many calls are being served; set once the server exists. */
  setInFlightSource(source: () => number): void;
  /** Counts one run of the hold expiry sweeper. */
  sweepFinished(outcome: "ok" | "failed"): void;
}

/** The most shows `booking_seats` reports: the configured ones, then the first shows by id up to this many. */
export const MAX_SHOWS_IN_METRICS = 100;

/**
 * Registers every metric the operations guide lists: RPCs by method and code,
 * latency, seats per show (booked, held, available), in-flight and queued
 * work, rejections by cause, holds made and ended, watchers and the changes
 * sent to them, event-loop delay (from prom-client's defaults), store commit
 * latency and batch sizes.
 */
export function createBookingMetrics(core: BookingCore): BookingMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
  const calls = new MethodCodeCounter({
    name: "booking_rpc_total",
    help: "RPCs finished, by method and gRPC status code.",
    registers: [registry],
  });
  const latency = new MethodLatencyHistogram({
    name: "booking_rpc_duration_seconds",
    help: "Time from receiving a call to answering it, by method.",
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const rejections = new Counter({
    name: "booking_rejections_total",
    help: "Calls turned away before serving, by cause (in_flight, event_loop_lag, rate_limit, not_allowed, unauthenticated).",
    labelNames: ["method", "cause"] as const,
    registers: [registry],
  });
  let inFlightSource = (): number => 0;
  new Gauge({
    name: "booking_in_flight_calls",
    help: "Calls being served now.",
    registers: [registry],
    collect() {
      this.set(inFlightSource());
    },
  });
  new Gauge({
    name: "booking_queued_changes",
    help: "Book and cancel requests waiting for the store.",
    registers: [registry],
    collect() {
      this.set(core.queuedChanges);
    },
  });
  const seats = new Gauge({
    name: "booking_seats",
    help: `Seats per show and state (booked, held by live holds, available), read from the store at scrape time; the configured shows, then the first shows by id, at most ${MAX_SHOWS_IN_METRICS}.`,
    labelNames: ["show", "state"] as const,
    registers: [registry],
    async collect() {
      // Counts only (one row per show), never the seat lists: a scrape stays cheap for big shows.
      seats.reset();
      for (const show of await showsToReport(core)) {
        seats.set({ show: show.id, state: "booked" }, show.bookedCount);
        seats.set({ show: show.id, state: "held" }, show.heldCount);
        seats.set({ show: show.id, state: "available" }, show.totalSeats - show.bookedCount - show.heldCount);
      }
    },
  });
  const holds = new Counter({
    name: "booking_holds_total",
    help: "Holds made (created) and ended by this instance (confirmed, released, and expired as recorded by its sweeper); replays are not counted.",
    labelNames: ["event"] as const,
    registers: [registry],
  });
  const sweeps = new Counter({
    name: "booking_hold_expiry_sweeps_total",
    help: "Runs of the hold expiry sweeper, which records lapsed holds as ended, by outcome (ok, failed).",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "booking_watchers",
    help: "WatchAvailability watchers connected to this instance now.",
    registers: [registry],
    collect() {
      this.set(core.watchers);
    },
  });
  const changesSent = new Counter({
    name: "booking_watch_changes_sent_total",
    help: "Seat changes written to watch streams.",
    registers: [registry],
  });
  const commitLatency = new Histogram({
    name: "booking_store_commit_seconds",
    help: "Time to apply and commit one batch of changes in the store.",
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: "booking_store_batch_size",
    help: "Changes committed together in one store transaction (group commit).",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [registry],
  });
  const holdEvents: Partial<Record<string, "created" | "confirmed" | "released">> = {
    hold: "created",
    confirm: "confirmed",
    release: "released",
  };
  core.observeBatches(({ size, commitMs, outcomes }) => {
    commitLatency.observe(commitMs / 1000);
    batchSize.observe(size);
    for (const outcome of outcomes) {
      const event = holdEvents[outcome.kind];
      if (event !== undefined && outcome.ok && !outcome.replayed) holds.inc({ event });
      if (outcome.endedHolds > 0) holds.inc({ event: "expired" }, outcome.endedHolds);
    }
  });

  return {
    registry,
    setInFlightSource(source) {
      inFlightSource = source;
    },
    sweepFinished(outcome) {
      sweeps.inc({ outcome });
    },
    observer: {
      callStarted() {},
      callFinished(method: string, code: status, seconds: number) {
        calls.inc(method, code);
        latency.observe(method, seconds);
      },
      callRejected(method: string, cause: RejectionCause) {
        rejections.inc({ method, cause });
      },
      streamFinished(method: string, code: status) {
        // Counted, but kept out of the latency histogram: a stream's life is not a call's latency.
        calls.inc(method, code);
      },
      changesSent(count: number) {
        changesSent.inc(count);
      },
    },
  };
}

/** The configured shows, then the first shows by id, at most MAX_SHOWS_IN_METRICS, with their counts. */
async function showsToReport(core: BookingCore): Promise<ShowRecord[]> {
  const reported = new Map<string, ShowRecord>();
  for (const show of core.shows.slice(0, MAX_SHOWS_IN_METRICS)) reported.set(show.id, await core.getShow(show.id));
  if (reported.size < MAX_SHOWS_IN_METRICS) {
    const page = await core.listShows({ pageSize: MAX_SHOWS_IN_METRICS, pageToken: "" });
    for (const show of page.shows) {
      if (reported.size >= MAX_SHOWS_IN_METRICS) break;
      if (!reported.has(show.id)) reported.set(show.id, show);
    }
  }
  return [...reported.values()];
}

/**
 * Serves GET /metrics in the Prometheus text format on its own port, apart
 * from the gRPC port, so scraping needs no client certificate.
 */
export function serveMetrics(
  registry: Registry,
  host: string,
  port: number,
  options: {
    /**
     * Whether to answer a request with this Host header. A page on another
     * site can reach a loopback port by DNS rebinding, but its requests carry
     * that site's host name; main passes a loopback-names check for a
     * loopback address. Default: every request.
     */
    readonly acceptsHost?: (hostHeader: string | undefined) => boolean;
  } = {},
): Promise<HttpServer> {
  const server = createServer((request, response) => {
    if (options.acceptsHost !== undefined && !options.acceptsHost(request.headers.host)) {
      response.writeHead(403, { "content-type": "text/plain" }).end("forbidden: this endpoint answers requests for a loopback host name only\n");
      return;
    }
    if (request.method !== "GET" || request.url !== "/metrics") {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found; try GET /metrics\n");
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { "content-type": registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${String(error)}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
