import type { PeerCertificate } from "node:tls";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../gen/google/rpc/status_pb.js";
import type { AdmissionCall, Refusal } from "../src/transport/admission/admission-step.js";
import { AllowListStep } from "../src/transport/admission/allow-list-step.js";
import { EventLoopLagStep } from "../src/transport/admission/event-loop-lag-step.js";
import { ANONYMOUS_PRINCIPAL, IdentityStep, type PeerCall } from "../src/transport/admission/identity-step.js";
import { InFlightStep } from "../src/transport/admission/in-flight-step.js";
import { MalformedRequest, MalformedRequestStep } from "../src/transport/admission/malformed-request-step.js";
import { RateLimitStep } from "../src/transport/admission/rate-limit-step.js";
import { CallRecorder } from "../src/transport/call-recorder.js";
import { TokenBuckets } from "../src/transport/token-buckets.js";
import { STATUS_DETAILS_TRAILER } from "../wire/wire-constants.js";
import { fakeEventLoop } from "./support/fake-event-loop.js";

const alice = "spiffe://seat-booking.dev/alice";

function callOf(overrides: Partial<AdmissionCall> = {}): AdmissionCall {
  return { method: "BookSeats", kind: "write", principal: alice, request: {}, ...overrides };
}

/** The reason and retry delay (ms) a refusal carries in its status details. */
function detailsOf(refusal: Refusal | undefined) {
  const bytes = refusal?.status.metadata.get(STATUS_DETAILS_TRAILER)[0];
  if (!(bytes instanceof Buffer)) throw new Error("no status details");
  const details = fromBinary(StatusSchema, bytes).details;
  const info = details.map((any) => anyUnpack(any, ErrorInfoSchema)).find((value) => value !== undefined);
  const retry = details.map((any) => anyUnpack(any, RetryInfoSchema)).find((value) => value !== undefined);
  const delay = retry?.retryDelay;
  return {
    reason: info?.reason,
    metadata: info?.metadata,
    retryMs: delay === undefined ? undefined : Number(delay.seconds) * 1000 + delay.nanos / 1e6,
  };
}

/** A call as grpc-js hands it over: an auth context, and the HTTP/2 session on an internal path. */
function peerCall(certificate: Partial<PeerCertificate> | undefined, session?: object) {
  const call = {
    reads: 0,
    getAuthContext() {
      call.reads++;
      return { sslPeerCertificate: certificate as PeerCertificate | undefined };
    },
    ...(session === undefined ? {} : { call: { stream: { session } } }),
  };
  return call satisfies PeerCall;
}

describe("IdentityStep", () => {
  it("names the caller by the certificate's URI SAN", () => {
    const step = new IdentityStep({ insecure: false });
    expect(step.identify(peerCall({ subjectaltname: `URI:${alice}`, subject: { CN: "alice" } as PeerCertificate["subject"] }))).toBe(
      alice,
    );
  });

  it("refuses a certificate that names no principal with UNAUTHENTICATED (NO_PRINCIPAL)", () => {
    const refusal = new IdentityStep({ insecure: false }).identify(peerCall({ subjectaltname: "DNS:x.example" }));
    if (typeof refusal === "string") throw new Error(`expected a refusal, got ${refusal}`);
    expect(refusal.limit).toBe("unauthenticated");
    expect(refusal.status.code).toBe(status.UNAUTHENTICATED);
    expect(detailsOf(refusal).reason).toBe("NO_PRINCIPAL");
  });

  it("calls every plaintext caller anonymous without reading a certificate", () => {
    const call = peerCall(undefined);
    expect(new IdentityStep({ insecure: true }).identify(call)).toBe(ANONYMOUS_PRINCIPAL);
    expect(call.reads).toBe(0);
  });

  it("reads the certificate once per HTTP/2 session", () => {
    const step = new IdentityStep({ insecure: false });
    const session = {};
    const first = peerCall({ subjectaltname: `URI:${alice}` }, session);
    const second = peerCall({ subjectaltname: "URI:spiffe://other" }, session);
    expect(step.identify(first)).toBe(alice);
    expect(step.identify(second)).toBe(alice);
    expect(second.reads).toBe(0);
    const elsewhere = peerCall({ subjectaltname: "URI:spiffe://other" }, {});
    expect(step.identify(elsewhere)).toBe("spiffe://other");
  });

  it("remembers a session without a principal too", () => {
    const step = new IdentityStep({ insecure: false });
    const session = {};
    step.identify(peerCall({}, session));
    const again = peerCall({ subjectaltname: `URI:${alice}` }, session);
    expect(typeof step.identify(again)).toBe("object");
    expect(again.reads).toBe(0);
  });

  it("parses per call when the session is not reachable", () => {
    const step = new IdentityStep({ insecure: false });
    const call = peerCall({ subjectaltname: `URI:${alice}` });
    step.identify(call);
    step.identify(call);
    expect(call.reads).toBe(2);
  });
});

describe("AllowListStep", () => {
  it("passes everyone without a list", () => {
    expect(new AllowListStep(undefined).admit(callOf({ principal: "anyone" }))).toBeUndefined();
  });

  it("passes listed principals and refuses others with PERMISSION_DENIED (PRINCIPAL_NOT_ALLOWED)", () => {
    const step = new AllowListStep([alice]);
    expect(step.admit(callOf())).toBeUndefined();
    const refusal = step.admit(callOf({ principal: "spiffe://seat-booking.dev/bob" }));
    expect(refusal?.limit).toBe("not_allowed");
    expect(refusal?.status.code).toBe(status.PERMISSION_DENIED);
    expect(refusal?.status.details).toBe("principal spiffe://seat-booking.dev/bob is not allowed to call this service");
    expect(detailsOf(refusal)).toMatchObject({
      reason: "PRINCIPAL_NOT_ALLOWED",
      metadata: { principal: "spiffe://seat-booking.dev/bob" },
    });
  });

  it("refuses everyone with an empty list", () => {
    expect(new AllowListStep([]).admit(callOf())?.limit).toBe("not_allowed");
  });
});

describe("EventLoopLagStep", () => {
  const rule = { targetMs: 100, intervalMs: 1000 };

  /** A step on a fake loop whose timer fires late by `lateMs` each turn. */
  function overloadable(overrides: Partial<typeof rule> = {}) {
    const loop = fakeEventLoop();
    const step = new EventLoopLagStep(loop.lag, { ...rule, ...overrides });
    return { loop, step };
  }

  /** Fires samples `lateMs` late until `ms` of the clock have passed since the first. */
  function lagFor(loop: ReturnType<typeof fakeEventLoop>, lateMs: number, ms: number): void {
    loop.fire(lateMs);
    const first = loop.now();
    while (loop.now() - first < ms) loop.fire(lateMs);
  }

  it("does not shed on a single long turn, however long", () => {
    const { loop, step } = overloadable();
    loop.fire(5000);
    expect(step.admit()).toBeUndefined();
    loop.fire(2);
    expect(step.admit()).toBeUndefined();
  });

  it("does not shed a burst whose lag stays above the target for less than the interval", () => {
    const { loop, step } = overloadable();
    // Turns of 200-300 ms for 0.9 s: an on-sale's handshakes and calls.
    for (const lateMs of [250, 300, 200, 280]) loop.fire(lateMs);
    expect(step.admit()).toBeUndefined();
    loop.fire(20);
    // The next burst starts its interval afresh.
    for (const lateMs of [250, 300, 200, 280]) loop.fire(lateMs);
    expect(step.admit()).toBeUndefined();
    expect(step.shedding).toBe(false);
  });

  it("sheds once every sample for a whole interval was above the target", () => {
    const { loop, step } = overloadable();
    loop.fire(150);
    const first = loop.now();
    while (loop.now() + 160 - first < 1000) {
      loop.fire(150);
      expect(step.admit()).toBeUndefined();
    }
    loop.fire(150);
    expect(loop.now() - first).toBeGreaterThanOrEqual(1000);
    expect(step.admit()?.limit).toBe("event_loop_lag");
  });

  it("stops shedding at the first sample at or below the target", () => {
    const { loop, step } = overloadable();
    lagFor(loop, 150, 1000);
    expect(step.shedding).toBe(true);
    loop.fire(100);
    expect(step.admit()).toBeUndefined();
  });

  it("resumes at once when the lag rises again within an interval of shedding, and not after a quiet interval", () => {
    const { loop, step } = overloadable();
    lagFor(loop, 150, 1000);
    loop.fire(5);
    expect(step.shedding).toBe(false);
    // Shedding brought the lag down; the overload is still there.
    loop.fire(400);
    expect(step.admit()?.limit).toBe("event_loop_lag");
    // A whole interval below the target ends the episode: the next rise has to last an interval again.
    lagFor(loop, 5, 1000);
    loop.fire(400);
    expect(step.admit()).toBeUndefined();
  });

  it("refuses with RESOURCE_EXHAUSTED (OVERLOADED) and the lag now as the retry delay, logged and counted as event_loop_lag", () => {
    const { loop, step } = overloadable();
    lagFor(loop, 180.4, 1000);
    const refusal = step.admit();
    expect(step.name).toBe("event_loop_lag");
    expect(refusal?.status.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refusal?.status.details).toBe(
      "the server has been more than 100 ms behind its work for over 1000 ms (now 180 ms); retry shortly",
    );
    expect(detailsOf(refusal)).toMatchObject({ reason: "OVERLOADED", retryMs: 180 });
    const lines: Record<string, unknown>[] = [];
    const causes: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const recorder = new CallRecorder(logger, {
      callStarted: () => {},
      callFinished: () => {},
      callRejected: (_method, cause) => void causes.push(cause),
    });
    if (refusal === undefined) throw new Error("expected a refusal");
    recorder.begin("BookSeats", "burst-1").refused(alice, refusal);
    expect(causes).toEqual(["event_loop_lag"]);
    expect(lines[0]).toMatchObject({ code: "RESOURCE_EXHAUSTED", refused_by: "event_loop_lag" });
  });

  it("advertises at least 50 ms", () => {
    const { loop, step } = overloadable({ targetMs: 10 });
    lagFor(loop, 12, 1000);
    expect(detailsOf(step.admit()).retryMs).toBe(50);
  });

  it("sheds on the first late sample with an interval of 0", () => {
    const { loop, step } = overloadable({ intervalMs: 0 });
    loop.fire(101);
    expect(step.admit()?.limit).toBe("event_loop_lag");
  });

  it("is off with a target of 0 or without a lag source", () => {
    const { loop, step } = overloadable({ targetMs: 0 });
    lagFor(loop, 5000, 3000);
    expect(step.admit()).toBeUndefined();
    expect(new EventLoopLagStep(undefined, rule).admit()).toBeUndefined();
  });

  it("refuses a negative target or interval early", () => {
    expect(() => new EventLoopLagStep(undefined, { targetMs: -1, intervalMs: 1000 })).toThrow(TypeError);
    expect(() => new EventLoopLagStep(undefined, { targetMs: 100, intervalMs: Number.NaN })).toThrow(TypeError);
  });
});

describe("InFlightStep", () => {
  it("admits up to its bound, then refuses with RESOURCE_EXHAUSTED (OVERLOADED) and RetryInfo", () => {
    const step = new InFlightStep(2);
    expect(step.admit()).toBeUndefined();
    expect(step.admit()).toBeUndefined();
    expect(step.inFlight).toBe(2);
    const refusal = step.admit();
    expect(refusal?.limit).toBe("in_flight");
    expect(refusal?.status.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refusal?.status.details).toBe("the server is serving its maximum of 2 calls; retry shortly");
    expect(detailsOf(refusal)).toMatchObject({ reason: "OVERLOADED", retryMs: 50 });
    expect(step.inFlight).toBe(2);
  });

  it("admits again once a slot is released", () => {
    const step = new InFlightStep(1);
    step.admit();
    expect(step.admit()).toBeDefined();
    step.release();
    expect(step.inFlight).toBe(0);
    expect(step.admit()).toBeUndefined();
  });

  it("refuses a bound below 1 with a TypeError", () => {
    expect(() => new InFlightStep(0)).toThrow(TypeError);
  });
});

describe("RateLimitStep", () => {
  const clock = { now: 0 };
  const buckets = () => new TokenBuckets(1, 1, { now: () => clock.now });

  it("charges reads and writes to separate budgets", () => {
    const step = new RateLimitStep({ read: buckets(), write: buckets() });
    expect(step.admit(callOf({ kind: "read" }))).toBeUndefined();
    expect(step.admit(callOf({ kind: "write" }))).toBeUndefined();
    expect(step.admit(callOf({ kind: "read" }))?.limit).toBe("rate_limit");
  });

  it("refuses a principal over its budget with RESOURCE_EXHAUSTED (RATE_LIMITED) and when to retry", () => {
    const step = new RateLimitStep({ read: undefined, write: buckets() });
    step.admit(callOf());
    const refusal = step.admit(callOf());
    expect(refusal?.status.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refusal?.status.details).toBe(`principal ${alice} exceeded its write rate limit; retry in 1000 ms`);
    expect(detailsOf(refusal)).toMatchObject({
      reason: "RATE_LIMITED",
      metadata: { principal: alice, kind: "write" },
      retryMs: 1000,
    });
  });

  it("keeps one budget per principal", () => {
    const step = new RateLimitStep({ read: undefined, write: buckets() });
    step.admit(callOf());
    expect(step.admit(callOf({ principal: "spiffe://seat-booking.dev/bob" }))).toBeUndefined();
  });

  it("does not limit a kind without buckets", () => {
    const step = new RateLimitStep({ read: undefined, write: undefined });
    for (let call = 0; call < 100; call++) expect(step.admit(callOf({ kind: "read" }))).toBeUndefined();
  });
});

describe("MalformedRequestStep", () => {
  it("passes a decoded request", () => {
    expect(new MalformedRequestStep().admit(callOf())).toBeUndefined();
  });

  it("refuses undecodable bytes with INVALID_ARGUMENT (MALFORMED_REQUEST), naming no limit", () => {
    const refusal = new MalformedRequestStep().admit(
      callOf({ request: new MalformedRequest("booking.v1.BookSeatsRequest", "premature EOF") }),
    );
    expect(refusal?.limit).toBeUndefined();
    expect(refusal?.status.code).toBe(status.INVALID_ARGUMENT);
    expect(refusal?.status.details).toBe("the request is not a valid booking.v1.BookSeatsRequest: premature EOF");
    expect(detailsOf(refusal).reason).toBe("MALFORMED_REQUEST");
  });
});
