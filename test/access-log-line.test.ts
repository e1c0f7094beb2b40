import { pino, type LoggerOptions } from "pino";
import { describe, expect, it } from "vitest";
import { accessLineWriter, type AccessLineFields } from "../src/transport/access-log-line.js";

/** A pino logger configured as the service's (createLogger), writing into `lines`, with a fixed time. */
function serviceLikeLogger(lines: string[], extra: LoggerOptions = {}) {
  return pino(
    {
      level: "info",
      base: { service: "seat-booking" },
      timestamp: () => ',"time":"2026-11-30T07:00:00.000Z"',
      redact: { paths: ["key", "*.key", "password", "*.password"], censor: "[redacted]" },
      ...extra,
    },
    { write: (line: string) => void lines.push(line) },
  );
}

const principals = ["spiffe://seat-booking.dev/alice", 'q"uote\\back', "ünïcödé 雪 🎟", "tab\there\u0001", "x".repeat(150), null];
const codes = ["OK", "ALREADY_EXISTS", "RESOURCE_EXHAUSTED"];
const durations = [0, 0.001, 1.234, 12_345.678, 3];
const correlationIds = ["0b7c6d1e-1111-4222-8333-123456789abc", "trace-1", 'odd"id'];

describe("accessLineWriter", () => {
  it("writes the bytes pino writes for the same fields, for every combination of awkward values", () => {
    const viaPino: string[] = [];
    const viaWriter: string[] = [];
    const pinoLogger = serviceLikeLogger(viaPino).child({}, { redact: [] });
    const writerLogger = serviceLikeLogger(viaWriter).child({}, { redact: [] });
    const write = accessLineWriter(writerLogger, "rpc");
    expect(write).toBeDefined();
    let lines = 0;
    for (const principal of principals) {
      for (const code of codes) {
        for (const durationMs of durations) {
          for (const correlationId of correlationIds) {
            for (const refusedBy of [undefined, "in_flight"]) {
              const fields: AccessLineFields = { method: "/booking.v1.BookingService/BookSeats", principal, code, durationMs, correlationId, refusedBy };
              const object: Record<string, unknown> = {
                method: fields.method,
                principal,
                code,
                duration_ms: durationMs,
                correlation_id: correlationId,
                request_id: correlationId,
              };
              if (refusedBy !== undefined) object["refused_by"] = refusedBy;
              pinoLogger.info(object, "rpc");
              write?.(fields);
              lines++;
            }
          }
        }
      }
    }
    expect(viaWriter).toHaveLength(lines);
    expect(viaWriter).toEqual(viaPino);
    expect(JSON.parse(viaWriter[0] ?? "")).toMatchObject({ level: 30, service: "seat-booking", msg: "rpc", request_id: correlationIds[0] });
  });

  it("declines a logger whose line it would not reproduce, so that pino writes it", () => {
    const lines: string[] = [];
    const declined: [string, ReturnType<typeof serviceLikeLogger>][] = [
      ["info off", serviceLikeLogger(lines, { level: "warn" })],
      ["a mixin", serviceLikeLogger(lines, { mixin: () => ({ extra: 1 }) })],
      ["a streamWrite hook", serviceLikeLogger(lines, { hooks: { streamWrite: (line) => line } })],
      ["a log formatter", serviceLikeLogger(lines, { formatters: { log: (object) => object } })],
      ["a nested key", serviceLikeLogger(lines, { nestedKey: "payload" })],
      ["a message key other than msg", serviceLikeLogger(lines, { messageKey: "message" })],
      ["a serializer of one of its keys", serviceLikeLogger(lines, { serializers: { principal: () => "hidden" } })],
      ["redaction of one of its keys", serviceLikeLogger(lines, { redact: ["principal"] })],
      ["wildcard redaction", serviceLikeLogger(lines, { redact: ["*"] })],
      ["a message prefix", serviceLikeLogger(lines).child({}, { msgPrefix: "[call] " })],
    ];
    for (const [why, logger] of declined) expect(accessLineWriter(logger, "rpc"), why).toBeUndefined();
    // The service's logger redacts "*.key": a wildcard over every value. Its child without redaction is what the recorder uses.
    expect(accessLineWriter(serviceLikeLogger(lines), "rpc")).toBeUndefined();
    expect(accessLineWriter(serviceLikeLogger(lines).child({}, { redact: [] }), "rpc")).toBeDefined();
  });
});
