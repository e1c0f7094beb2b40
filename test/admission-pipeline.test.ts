import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { AdmissionPipeline, standardAdmission } from "../src/transport/admission/admission-pipeline.js";
import type { AdmissionStep, Refusal } from "../src/transport/admission/admission-step.js";
import { IdentityStep, type PeerCall } from "../src/transport/admission/identity-step.js";
import { MalformedRequest } from "../src/transport/admission/malformed-request-step.js";
import { richStatus } from "../src/transport/error-status.js";
import { TokenBuckets } from "../src/transport/token-buckets.js";
import { fakeEventLoop } from "./support/fake-event-loop.js";

const alice = "spiffe://seat-booking.dev/alice";
const aliceCall: PeerCall = { getAuthContext: () => ({ sslPeerCertificate: { subjectaltname: `URI:${alice}` } as never }) };
const nobody: PeerCall = { getAuthContext: () => ({ sslPeerCertificate: undefined }) };
const facts = { method: "BookSeats", kind: "write", request: {} } as const;

function refusal(): Refusal {
  return { limit: "in_flight", status: richStatus(status.RESOURCE_EXHAUSTED, "no", []) };
}

/** A step that records what happens to it. */
function probe(name: string, events: string[], options: { refuse?: boolean; holds?: boolean } = {}): AdmissionStep {
  return {
    name,
    admit: (call) => {
      events.push(`${name}:admit:${call.principal}`);
      return options.refuse === true ? refusal() : undefined;
    },
    ...(options.holds === true ? { release: () => void events.push(`${name}:release`) } : {}),
  };
}

describe("AdmissionPipeline", () => {
  it("runs identity, then each step in order, and admits when none refuses", () => {
    const events: string[] = [];
    const pipeline = new AdmissionPipeline(new IdentityStep({ insecure: false }), [probe("a", events), probe("b", events)]);
    const admission = pipeline.admit(aliceCall, facts);
    expect(admission.admitted).toBe(true);
    if (admission.admitted) expect(admission.call).toEqual({ ...facts, principal: alice });
    expect(events).toEqual([`a:admit:${alice}`, `b:admit:${alice}`]);
    expect(pipeline.order).toEqual(["identity", "a", "b"]);
  });

  it("stops at the first refusal; later steps never see the call", () => {
    const events: string[] = [];
    const pipeline = new AdmissionPipeline(new IdentityStep({ insecure: false }), [
      probe("a", events, { refuse: true }),
      probe("b", events),
    ]);
    const admission = pipeline.admit(aliceCall, facts);
    expect(admission).toMatchObject({ admitted: false, principal: alice, refusal: { limit: "in_flight" } });
    expect(events).toEqual([`a:admit:${alice}`]);
  });

  it("runs no step for a caller identity refuses", () => {
    const events: string[] = [];
    const pipeline = new AdmissionPipeline(new IdentityStep({ insecure: false }), [probe("a", events)]);
    const admission = pipeline.admit(nobody, facts);
    expect(admission).toMatchObject({ admitted: false, principal: undefined, refusal: { limit: "unauthenticated" } });
    expect(events).toEqual([]);
  });

  it("gives back what earlier steps hold when a later step refuses, last taken first", () => {
    const events: string[] = [];
    const pipeline = new AdmissionPipeline(new IdentityStep({ insecure: false }), [
      probe("a", events, { holds: true }),
      probe("b", events, { holds: true }),
      probe("c", events, { refuse: true }),
    ]);
    pipeline.admit(aliceCall, facts);
    expect(events.slice(3)).toEqual(["b:release", "a:release"]);
  });

  it("releases an admitted call's holdings once, however often release is called", () => {
    const events: string[] = [];
    const pipeline = new AdmissionPipeline(new IdentityStep({ insecure: false }), [probe("a", events, { holds: true })]);
    const admission = pipeline.admit(aliceCall, facts);
    if (!admission.admitted) throw new Error("expected admission");
    admission.release();
    admission.release();
    expect(events.filter((event) => event === "a:release")).toHaveLength(1);
  });
});

describe("standardAdmission", () => {
  const settings = {
    insecure: false,
    allowedPrincipals: undefined,
    eventLoopLag: undefined,
    maxEventLoopLagMs: 0,
    maxInFlight: 1,
    writeBuckets: undefined,
    readBuckets: undefined,
  };

  it("runs identity → allow-list → event-loop lag → in-flight bound → rate limit → malformed request", () => {
    expect(standardAdmission(settings).pipeline.order).toEqual([
      "identity",
      "allow_list",
      "event_loop_lag",
      "in_flight",
      "rate_limit",
      "malformed_request",
    ]);
  });

  it("holds an in-flight slot for an admitted call until it is released", () => {
    const { pipeline, inFlight } = standardAdmission(settings);
    const first = pipeline.admit(aliceCall, facts);
    expect(inFlight.inFlight).toBe(1);
    expect(pipeline.admit(aliceCall, facts)).toMatchObject({ admitted: false, refusal: { limit: "in_flight" } });
    if (first.admitted) first.release();
    expect(inFlight.inFlight).toBe(0);
  });

  it("frees the slot of a call refused after the in-flight bound (rate limit, malformed request)", () => {
    const { pipeline, inFlight } = standardAdmission({
      ...settings,
      writeBuckets: new TokenBuckets(1, 1, { now: () => 0 }),
      maxInFlight: 10,
    });
    const admitted = pipeline.admit(aliceCall, facts);
    expect(pipeline.admit(aliceCall, facts)).toMatchObject({ admitted: false, refusal: { limit: "rate_limit" } });
    expect(inFlight.inFlight).toBe(1);
    if (admitted.admitted) admitted.release();
    const malformed = pipeline.admit(aliceCall, { ...facts, kind: "read", request: new MalformedRequest("T", "bad") });
    expect(malformed).toMatchObject({ admitted: false, refusal: { limit: undefined } });
    expect(inFlight.inFlight).toBe(0);
  });

  it("tells a caller outside the allow-list so, rather than that the server is busy", () => {
    const { pipeline } = standardAdmission({ ...settings, allowedPrincipals: ["someone else"], maxInFlight: 1 });
    expect(pipeline.admit(aliceCall, facts)).toMatchObject({ admitted: false, refusal: { limit: "not_allowed" } });
  });

  it("sheds on sustained event-loop lag before taking an in-flight slot", () => {
    const loop = fakeEventLoop();
    const { pipeline, inFlight } = standardAdmission({ ...settings, eventLoopLag: loop.lag, maxEventLoopLagMs: 100, overloadIntervalMs: 1000 });
    loop.fire(500);
    loop.fire(500);
    loop.fire(500);
    expect(pipeline.admit(aliceCall, facts)).toMatchObject({ admitted: false, refusal: { limit: "event_loop_lag" } });
    expect(inFlight.inFlight).toBe(0);
  });
});
