import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SeatChangeKind } from "../gen/booking/v1/booking_pb.js";
import { startHoldSweeper } from "../src/hold-sweeper.js";
import { MemoryStore } from "../src/stores/memory-store.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { WatchTestClient } from "./support/watch-client.js";

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe("startHoldSweeper", () => {
  it("sweeps again after each sweep, logs the first of a run of failures once, and never throws", async () => {
    const { logger, lines } = capturingLogger();
    let calls = 0;
    let reached: (() => void) | undefined;
    const sixCalls = new Promise<void>((resolve) => (reached = resolve));
    const sweeper = startHoldSweeper(
      async () => {
        calls++;
        if (calls === 6) reached?.();
        // Calls 2 to 4 fail, as an unreachable store would.
        if (calls >= 2 && calls <= 4) throw new Error(`store down (${calls})`);
      },
      1,
      logger,
    );
    await sixCalls;
    await sweeper.stop();
    const stoppedAt = calls;
    expect(lines.map((line) => line["msg"])).toEqual([
      "the hold expiry sweeper failed; retrying every interval",
      "the hold expiry sweeper works again",
    ]);
    expect(lines[0]?.["level"]).toBe(40);
    // Stopped means stopped: a later turn of the timers runs no sweep.
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toBe(stoppedAt);
  });

  it("waits on stop for a sweep in progress", async () => {
    const { logger } = capturingLogger();
    let finish: (() => void) | undefined;
    let started: (() => void) | undefined;
    const running = new Promise<void>((resolve) => (started = resolve));
    let finished = false;
    const sweeper = startHoldSweeper(
      () =>
        new Promise<void>((resolve) => {
          started?.();
          finish = () => {
            finished = true;
            resolve();
          };
        }),
      1,
      logger,
    );
    await running;
    const stopped = sweeper.stop();
    finish?.();
    await stopped;
    expect(finished).toBe(true);
  });

  it("starts nothing for an interval of 0", async () => {
    const { logger } = capturingLogger();
    let calls = 0;
    const sweeper = startHoldSweeper(async () => void calls++, 0, logger);
    await sweeper.stop();
    expect(calls).toBe(0);
  });
});

describe("a lapsed hold with the sweeper running", () => {
  let clock = Date.parse("2030-01-01T00:00:00Z");
  let server: TestServer;
  let client: WatchTestClient;

  beforeAll(async () => {
    server = await startTestServer({ store: new MemoryStore({ now: () => clock }) });
    client = new WatchTestClient(server.address, server.pki.caCert, server.pki.clients.alice);
  });

  afterAll(async () => {
    client.close();
    await server.stop();
  });

  it("reaches watchers as HOLD_ENDED without any request touching its seats", async () => {
    const watch = client.watch({});
    await watch.next();
    const held = await client.unary("holdSeats", { seats: [11, 12], ttl: { seconds: 30n } });
    expect(held.end.code).toBe(0);
    const heldChange = await watch.next();
    expect(heldChange.event.case === "changes" && heldChange.event.value.changes[0]?.kind).toBe(SeatChangeKind.HELD);

    const sweeper = startHoldSweeper(() => server.core.expireLapsedHolds(), 5, capturingLogger().logger);
    clock += 31_000;
    const ended = await watch.next();
    await sweeper.stop();
    watch.cancel();
    expect(ended.event.case).toBe("changes");
    if (ended.event.case === "changes") {
      expect(ended.event.value.changes.map((change) => ({ kind: change.kind, seats: change.seats }))).toEqual([
        { kind: SeatChangeKind.HOLD_ENDED, seats: [11, 12] },
      ]);
    }
    const listing = await client.showAvailable({});
    expect(listing.availableSeats).toContain(11);
    expect(listing.heldCount).toBe(0);
  });
});
