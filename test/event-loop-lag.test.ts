import { describe, expect, it } from "vitest";
import { parseServerConfig, SERVE_USAGE } from "../src/config.js";
import { SERVER_DEFAULTS } from "../src/server-defaults.js";
import { EventLoopLag, type LagSample } from "../src/transport/event-loop-lag.js";
import { TRANSPORT_DEFAULTS } from "../src/transport/transport-defaults.js";
import { fakeEventLoop, PERIOD_MS } from "./support/fake-event-loop.js";

describe("EventLoopLag", () => {
  it("samples how late its timer fired, stamped by its clock", () => {
    const loop = fakeEventLoop();
    const samples: LagSample[] = [];
    loop.lag.onSample((sample) => samples.push(sample));
    loop.fire(0);
    loop.fire(250);
    loop.fire(3);
    expect(samples).toEqual([
      { lagMs: 0, atMs: 1000 + PERIOD_MS },
      { lagMs: 250, atMs: 1000 + 2 * PERIOD_MS + 250 },
      { lagMs: 3, atMs: 1000 + 3 * PERIOD_MS + 253 },
    ]);
  });

  it("reads the last sample, or how overdue the next one already is", () => {
    const loop = fakeEventLoop();
    loop.fire(40);
    expect(loop.lag.lagMs).toBe(40);
    // The loop is now stuck in a turn: 200 ms past the next sample's due time.
    loop.advance(PERIOD_MS + 200);
    expect(loop.lag.lagMs).toBe(200);
  });

  it("reads 0 and samples no more once stopped", () => {
    const loop = fakeEventLoop();
    loop.fire(500);
    loop.lag.stop();
    expect(loop.lag.lagMs).toBe(0);
    expect(() => loop.fire(500)).toThrow("stopped");
  });

  it("keeps no process alive with its real timer", () => {
    const lag = new EventLoopLag();
    lag.start();
    expect(lag.lagMs).toBeGreaterThanOrEqual(0);
    lag.stop();
    expect(lag.lagMs).toBe(0);
  });
});

describe("booking serve's overload flags", () => {
  it("takes the overload interval from TRANSPORT_DEFAULTS, and --overload-interval-ms over it", () => {
    expect(SERVER_DEFAULTS.overloadIntervalMs).toBe(TRANSPORT_DEFAULTS.overloadIntervalMs);
    expect(parseServerConfig([], {})).toMatchObject({
      maxEventLoopLagMs: TRANSPORT_DEFAULTS.maxEventLoopLagMs,
      overloadIntervalMs: TRANSPORT_DEFAULTS.overloadIntervalMs,
    });
    expect(parseServerConfig(["--overload-interval-ms", "250"], {})).toMatchObject({ overloadIntervalMs: 250 });
    expect(parseServerConfig([], { BOOKING_OVERLOAD_INTERVAL_MS: "2000" })).toMatchObject({ overloadIntervalMs: 2000 });
    expect(() => parseServerConfig([], { BOOKING_OVERLOAD_INTERVAL_MS: "soon" })).toThrow("--overload-interval-ms");
  });

  it("prints the interval's default in serve --help", () => {
    expect(SERVE_USAGE).toContain(`--overload-interval-ms N      BOOKING_OVERLOAD_INTERVAL_MS        default ${TRANSPORT_DEFAULTS.overloadIntervalMs}`);
  });
});
