import { status } from "@grpc/grpc-js";
import { Counter, Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { MethodCodeCounter } from "../src/transport/method-code-counter.js";
import { MethodLatencyHistogram } from "../src/transport/method-latency-histogram.js";

const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const methods = ["BookSeats", "CancelSeats", 'odd"method\\name'];
// Exactly on bounds, between them, below the first and above the last.
const seconds = [0, 0.0005, 0.0007, 0.001, 0.0049, 0.01, 0.3, 1, 2.5, 2.6, 40];
const codes = [status.OK, status.ALREADY_EXISTS, status.OK, status.RESOURCE_EXHAUSTED, status.INTERNAL];

describe("MethodLatencyHistogram and MethodCodeCounter", () => {
  it("print what prom-client's Histogram and Counter print for the same calls", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const latency = new MethodLatencyHistogram({ name: "booking_rpc_duration_seconds", help: "Latency, by method.", buckets, registers: [ours] });
    const calls = new MethodCodeCounter({ name: "booking_rpc_total", help: "RPCs, by method and code.", registers: [ours] });
    const promLatency = new Histogram({ name: "booking_rpc_duration_seconds", help: "Latency, by method.", labelNames: ["method"], buckets, registers: [theirs] });
    const promCalls = new Counter({ name: "booking_rpc_total", help: "RPCs, by method and code.", labelNames: ["method", "code"], registers: [theirs] });
    let turn = 0;
    for (const method of methods) {
      for (const value of seconds) {
        const code = codes[turn++ % codes.length] as status;
        latency.observe(method, value);
        calls.inc(method, code);
        promLatency.observe({ method }, value);
        promCalls.inc({ method, code: status[code] });
      }
    }
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toContain('booking_rpc_duration_seconds_bucket{le="+Inf",method="BookSeats"} 11');
    expect(text).toContain('booking_rpc_total{method="BookSeats",code="OK"} 5');
  });

  it("starts again from nothing when the registry resets its metrics", async () => {
    const registry = new Registry();
    const latency = new MethodLatencyHistogram({ name: "latency_seconds", help: "h", buckets, registers: [registry] });
    const calls = new MethodCodeCounter({ name: "calls_total", help: "h", registers: [registry] });
    latency.observe("BookSeats", 0.002);
    calls.inc("BookSeats", status.OK);
    registry.resetMetrics();
    const text = await registry.metrics();
    expect(text).not.toContain("BookSeats");
    expect(text).toContain("# TYPE latency_seconds histogram");
    expect(text).toContain("# TYPE calls_total counter");
  });
});
