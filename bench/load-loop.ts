import { newRequestId } from "../client/request-ids.js";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { status } from "@grpc/grpc-js";
import { LatencyHistogram } from "./latency-histogram.js";
import type { GeneratorResult, LoadJob } from "./load-protocol.js";
import { RawBookingClient, type RawReply } from "./raw-client.js";
import { SCENARIOS, type BenchCall, type BenchMethod, type SlotWorkload } from "./scenarios.js";

const wireNames: Record<BenchMethod, string> = {
  bookSeats: "BookSeats",
  cancelSeats: "CancelSeats",
  showAvailable: "ShowAvailable",
  holdSeats: "HoldSeats",
  confirmHold: "ConfirmHold",
};

/** The most cleanup calls one slot makes (hold-confirm needs two: confirm, then cancel). */
const MAX_CLEANUP_CALLS = 4;

/**
 * One generator's share of a run: its connections and call slots. Each
 * slot keeps one call in flight from `go` until the end of the window, then
 * makes its cleanup call. Calls that finish inside the measured window
 * (after the warm-up) are counted and their latency recorded; the rest only
 * load the server.
 */
export class LoadRun {
  readonly #job: LoadJob;
  readonly #clients: RawBookingClient[] = [];

  constructor(job: LoadJob) {
    this.#job = job;
    for (let index = 0; index < job.connections; index++) {
      const identity = job.identities[index % job.identities.length];
      if (identity === undefined) throw new TypeError("a load job needs at least one identity");
      this.#clients.push(new RawBookingClient(job.address, job.caCertPath, identity, `${job.runTag}/${index}`));
    }
  }

  /** Opens every connection (TLS handshakes happen here, not in the window). */
  async connect(): Promise<void> {
    await Promise.all(this.#clients.map((client) => client.connect(10_000)));
  }

  /** Runs warm-up and window; `progress` hears completed calls about once a second. */
  async go(progress: (completed: number, elapsedMs: number) => void): Promise<GeneratorResult> {
    const job = this.#job;
    const scenario = SCENARIOS[job.scenario];
    const histogram = new LatencyHistogram();
    const codes: Record<string, Record<string, number>> = {};
    const unexpectedSamples: string[] = [];
    let calls = 0;
    let seatsBooked = 0;
    let unexpected = 0;
    let completed = 0;
    let cleanupCalls = 0;
    let cleanupFailures = 0;

    const started = performance.now();
    const measureFrom = started + job.warmupMs;
    const endAt = measureFrom + job.durationMs;
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    let cpuAtStart = process.cpuUsage();
    const warmupTimer = setTimeout(() => {
      loop.reset();
      cpuAtStart = process.cpuUsage();
    }, job.warmupMs);
    const ticker = setInterval(() => progress(completed, performance.now() - started), 1000);
    let measured: { cpuMs: number; loopMaxMs: number } | undefined;
    const closeWindow = (): void => {
      if (measured !== undefined) return;
      const cpu = process.cpuUsage(cpuAtStart);
      measured = { cpuMs: (cpu.user + cpu.system) / 1000, loopMaxMs: loop.max / 1e6 };
    };
    const windowTimer = setTimeout(closeWindow, job.warmupMs + job.durationMs);

    // As the SDK makes them: time-ordered (version 7) UUIDs.
    const requestId = (): string => (job.requestIds ? newRequestId() : "");
    const request = (call: BenchCall): object => {
      switch (call.method) {
        case "showAvailable":
          return { showId: call.showId };
        case "confirmHold":
          return { holdId: call.holdId ?? "", requestId: requestId() };
        default:
          return { showId: call.showId, seats: call.seats, requestId: requestId() };
      }
    };

    const runSlot = (slot: number, client: RawBookingClient, workload: SlotWorkload): Promise<void> =>
      new Promise((resolve) => {
        let cleanups = 0;
        const cleanup = (): void => {
          const last = cleanups < MAX_CLEANUP_CALLS ? workload.cleanup() : undefined;
          if (last === undefined) {
            resolve();
            return;
          }
          cleanups++;
          cleanupCalls++;
          client.call(last.method, request(last), job.deadlineMs, (reply) => {
            workload.settle(last, reply.code, reply.response);
            if (!last.expected.has(reply.code)) cleanupFailures++;
            cleanup();
          });
        };
        const step = (): void => {
          if (performance.now() >= endAt) {
            cleanup();
            return;
          }
          const call = workload.next();
          const issued = performance.now();
          client.call(call.method, request(call), job.deadlineMs, (reply: RawReply) => {
            const finished = performance.now();
            completed++;
            workload.settle(call, reply.code, reply.response);
            if (finished >= measureFrom && finished <= endAt) {
              calls++;
              histogram.record((finished - issued) * 1000);
              const name = wireNames[call.method];
              const byCode = (codes[name] ??= {});
              const codeName = status[reply.code] ?? String(reply.code);
              byCode[codeName] = (byCode[codeName] ?? 0) + 1;
              if (reply.code === status.OK && (call.method === "bookSeats" || call.method === "confirmHold")) seatsBooked += call.seats.length;
            }
            // Correctness counts everywhere, the warm-up included.
            if (!call.expected.has(reply.code)) {
              unexpected++;
              const codeName = status[reply.code] ?? String(reply.code);
              if (unexpectedSamples.length < 5) {
                unexpectedSamples.push(`${wireNames[call.method]} ${codeName}: ${reply.error?.details ?? ""} (slot ${slot})`);
              }
            }
            step();
          });
        };
        step();
      });

    await Promise.all(
      job.slots.map((slot, index) => {
        const client = this.#clients[index % this.#clients.length]!;
        return runSlot(slot, client, scenario.slot(job.show, slot, job.totalSlots));
      }),
    );
    closeWindow();
    clearTimeout(warmupTimer);
    clearTimeout(windowTimer);
    clearInterval(ticker);
    loop.disable();
    return {
      measuredMs: job.durationMs,
      calls,
      seatsBooked,
      codes,
      unexpected,
      unexpectedSamples,
      latency: histogram.toJSON(),
      cpuMs: measured?.cpuMs ?? 0,
      loopMaxMs: measured?.loopMaxMs ?? 0,
      cleanupCalls,
      cleanupFailures,
    };
  }

  close(): void {
    for (const client of this.#clients) client.close();
  }
}
