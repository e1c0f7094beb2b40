import { Metadata, status } from "@grpc/grpc-js";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { BookingFailure } from "../src/core/booking-failure.js";
import { CallRecorder, type RejectionCause, type RpcObserver } from "../src/transport/call-recorder.js";
import { correlationIdOf } from "../src/transport/correlation-id.js";
import { richStatus } from "../src/transport/error-status.js";
import { serveFailure } from "../src/transport/serve-failure.js";

/** The paths src/logger.ts redacts. */
const SERVICE_REDACT_PATHS = ["key", "*.key", "privateKey", "*.privateKey", "password", "*.password", "connectionString", "*.connectionString"];

function recorder() {
  const lines: Record<string, unknown>[] = [];
  const events: string[] = [];
  const observer: RpcObserver = {
    callStarted: (method) => void events.push(`started ${method}`),
    callFinished: (method, code) => void events.push(`finished ${method} ${status[code]}`),
    callRejected: (method, cause: RejectionCause) => void events.push(`rejected ${method} ${cause}`),
  };
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { recorder: new CallRecorder(logger, observer), lines, events };
}

describe("CallRecorder", () => {
  it("logs one line per served call with method, principal, code, duration and correlation id", () => {
    const { recorder: calls, lines, events } = recorder();
    const record = calls.begin("BookSeats", "trace-1");
    record.serving();
    record.finished(status.OK, { principal: "alice" });
    expect(events).toEqual(["started BookSeats", "finished BookSeats OK"]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: "rpc",
      method: "BookSeats",
      principal: "alice",
      code: "OK",
      correlation_id: "trace-1",
      request_id: "trace-1",
    });
    expect(lines[0]?.["duration_ms"]).toEqual(expect.any(Number));
    expect(lines[0]).not.toHaveProperty("refused_by");
  });

  it("names the limit that refused a call in its log line and counts the rejection", () => {
    const { recorder: calls, lines, events } = recorder();
    calls.begin("ShowAvailable", "trace-2").refused("bob", {
      limit: "rate_limit",
      status: richStatus(status.RESOURCE_EXHAUSTED, "slow down", []),
    });
    expect(events).toEqual(["rejected ShowAvailable rate_limit", "finished ShowAvailable RESOURCE_EXHAUSTED"]);
    expect(lines[0]).toMatchObject({ code: "RESOURCE_EXHAUSTED", principal: "bob", refused_by: "rate_limit" });
  });

  it("logs an unidentified caller as principal null", () => {
    const { recorder: calls, lines } = recorder();
    calls.begin("BookSeats", "t").refused(undefined, {
      limit: "unauthenticated",
      status: richStatus(status.UNAUTHENTICATED, "who?", []),
    });
    expect(lines[0]).toMatchObject({ principal: null, refused_by: "unauthenticated", code: "UNAUTHENTICATED" });
  });

  it("counts no rejection for a refusal without a limit (a malformed request)", () => {
    const { recorder: calls, lines, events } = recorder();
    calls.begin("BookSeats", "t").refused("alice", { limit: undefined, status: richStatus(status.INVALID_ARGUMENT, "bad", []) });
    expect(events).toEqual(["finished BookSeats INVALID_ARGUMENT"]);
    expect(lines[0]).not.toHaveProperty("refused_by");
  });

  it("logs an unexpected error with its stack at level error", () => {
    const { recorder: calls, lines } = recorder();
    calls.begin("BookSeats", "t").finished(status.INTERNAL, { principal: "alice", error: new Error("disk on fire") });
    expect(lines[0]).toMatchObject({ msg: "rpc failed unexpectedly", level: 50, code: "INTERNAL" });
    expect(JSON.stringify(lines[0]?.["err"])).toContain("disk on fire");
  });

  it("writes the per-call line exactly as the service's redacting logger would", () => {
    const plain: string[] = [];
    const redacting: string[] = [];
    const options = { level: "info", base: { service: "seat-booking" }, timestamp: false, redact: { paths: SERVICE_REDACT_PATHS, censor: "[redacted]" } };
    const calls = new CallRecorder(pino(options, { write: (line: string) => void plain.push(line) }), undefined);
    const direct = pino(options, { write: (line: string) => void redacting.push(line) });
    const principals = ["alice", 'q"uote\\back', "spiffe://seat-booking.dev/ünï", undefined];
    for (const principal of principals) {
      calls.begin("BookSeats", "trace-1").finished(status.ALREADY_EXISTS, { principal, refusedBy: "queue" });
      const line = JSON.parse(plain.at(-1) ?? "{}") as Record<string, unknown>;
      const { level: _level, service: _service, msg, ...fields } = line;
      direct.info(fields, String(msg));
      expect(plain.at(-1)).toBe(redacting.at(-1));
    }
  });

  it("still redacts secrets in an unexpected error's line", () => {
    const lines: string[] = [];
    const logger = pino({ level: "info", redact: { paths: SERVICE_REDACT_PATHS, censor: "[redacted]" } }, { write: (line: string) => void lines.push(line) });
    const error = Object.assign(new Error("pool failed"), { connectionString: "postgres://u:hunter2@db/x", key: "-----BEGIN PRIVATE KEY-----" });
    new CallRecorder(logger, undefined).begin("BookSeats", "t").finished(status.INTERNAL, { principal: "alice", error });
    expect(lines[0]).not.toContain("hunter2");
    expect(lines[0]).not.toContain("BEGIN PRIVATE KEY");
    expect(lines[0]).toContain("[redacted]");
  });
});

describe("serveFailure", () => {
  it("names the queue when the core refuses a change as OVERLOADED", () => {
    const failure = serveFailure(new BookingFailure("busy", { reason: "OVERLOADED", showId: "main", retryDelayMs: 50 }));
    expect(failure.status.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(failure.refusedBy).toBe("queue");
    expect(failure.unexpected).toBeUndefined();
  });

  it("names no limit for the core's other refusals", () => {
    const failure = serveFailure(new BookingFailure("taken", { reason: "SEAT_ALREADY_BOOKED", showId: "main", seats: [1] }));
    expect(failure).toMatchObject({ refusedBy: undefined, unexpected: undefined });
    expect(failure.status.code).toBe(status.ALREADY_EXISTS);
  });

  it("keeps an unexpected error for the log and answers INTERNAL", () => {
    const error = new TypeError("bug");
    const failure = serveFailure(error);
    expect(failure.status.code).toBe(status.INTERNAL);
    expect(failure.unexpected).toBe(error);
  });
});

describe("correlationIdOf", () => {
  it("takes a printable x-request-id of at most 128 characters", () => {
    const metadata = new Metadata();
    metadata.set("x-request-id", "trace-me-42");
    expect(correlationIdOf(metadata)).toBe("trace-me-42");
  });

  it.each([["has space"], ["x".repeat(129)], [""]])("replaces %j with a fresh UUID", (value) => {
    const metadata = new Metadata();
    metadata.set("x-request-id", value);
    expect(correlationIdOf(metadata)).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("makes one up when the client sent none", () => {
    expect(correlationIdOf(new Metadata())).toMatch(/^[0-9a-f-]{36}$/);
  });
});
