import type { LagSource } from "../event-loop-lag.js";
import type { TokenBuckets } from "../token-buckets.js";
import { TRANSPORT_DEFAULTS } from "../transport-defaults.js";
import type { AdmissionCall, AdmissionStep, MethodKind, Refusal } from "./admission-step.js";
import { AllowListStep } from "./allow-list-step.js";
import { EventLoopLagStep } from "./event-loop-lag-step.js";
import { IdentityStep, type PeerCall } from "./identity-step.js";
import { InFlightStep } from "./in-flight-step.js";
import { MalformedRequestStep } from "./malformed-request-step.js";
import { RateLimitStep } from "./rate-limit-step.js";
import { WatchStreamStep } from "./watch-stream-step.js";

/** The outcome of admission: a call to serve (and release once it ends), or a refusal. */
export type Admission =
  | {
      readonly admitted: true;
      readonly call: AdmissionCall;
      /** Gives back what the steps hold for the call; call it once the call ends. Repeats are ignored. */
      release(): void;
    }
  | {
      readonly admitted: false;
      /** Undefined when identity itself refused. */
      readonly principal: string | undefined;
      readonly refusal: Refusal;
    };

/**
 * Runs the admission steps in order: identity first (it establishes the
 * principal the other steps read), then each step of `steps`; the first
 * refusal ends admission, and steps that already took something for the
 * call (the in-flight slot) give it back at once.
 *
 * It knows nothing of how a call is answered, so a unary handler and a
 * server-streaming handler use the same pipeline.
 */
export class AdmissionPipeline {
  readonly #identity: IdentityStep;
  readonly #steps: readonly AdmissionStep[];
  /** The steps that hold something for an admitted call, last first: the order they give it back. */
  readonly #holders: readonly AdmissionStep[];

  constructor(identity: IdentityStep, steps: readonly AdmissionStep[]) {
    this.#identity = identity;
    this.#steps = steps;
    this.#holders = steps.filter((step) => step.release !== undefined).reverse();
  }

  /** The step names, in the order they run. */
  get order(): readonly string[] {
    return [this.#identity.name, ...this.#steps.map((step) => step.name)];
  }

  /** Admits or refuses one call. */
  admit(peer: PeerCall, facts: { readonly method: string; readonly kind: MethodKind; readonly request: unknown }): Admission {
    const identity = this.#identity.identify(peer);
    if (typeof identity !== "string") return { admitted: false, principal: undefined, refusal: identity };
    const call: AdmissionCall = { method: facts.method, kind: facts.kind, principal: identity, request: facts.request };
    const steps = this.#steps;
    for (let index = 0; index < steps.length; index++) {
      const refusal = (steps[index] as AdmissionStep).admit(call);
      if (refusal !== undefined) {
        // The steps before this one that hold something give it back, last first.
        for (let held = index - 1; held >= 0; held--) (steps[held] as AdmissionStep).release?.(call);
        return { admitted: false, principal: identity, refusal };
      }
    }
    return new AdmittedCall(this.#holders, call);
  }
}

/**
 * An admitted call: every step passed it, so every step with a `release`
 * holds something for it. One object per call, with no closures or lists
 * of its own (this runs for every call).
 */
class AdmittedCall {
  readonly admitted = true;
  readonly call: AdmissionCall;
  readonly #holders: readonly AdmissionStep[];
  #released = false;

  constructor(holders: readonly AdmissionStep[], call: AdmissionCall) {
    this.#holders = holders;
    this.call = call;
  }

  /** Gives back what the steps hold; repeats are ignored. Bound, so it can be passed as a listener. */
  readonly release = (): void => {
    if (this.#released) return;
    this.#released = true;
    for (const step of this.#holders) step.release?.(this.call);
  };
}

/** What the standard admission steps are built from. */
export interface AdmissionSettings {
  /** Plaintext mode: there is no certificate, everyone is "anonymous". */
  readonly insecure: boolean;
  /** When set, only these principals may call. */
  readonly allowedPrincipals: Iterable<string> | undefined;
  /** The event loop's lag; calls are refused once it stays above maxEventLoopLagMs (0 = off) for overloadIntervalMs. */
  readonly eventLoopLag: LagSource | undefined;
  readonly maxEventLoopLagMs: number;
  /** Default: TRANSPORT_DEFAULTS. */
  readonly overloadIntervalMs?: number;
  readonly maxInFlight: number;
  readonly writeBuckets: TokenBuckets | undefined;
  readonly readBuckets: TokenBuckets | undefined;
  /** WatchAvailability streams per principal, and over the server (default: TRANSPORT_DEFAULTS). */
  readonly maxWatchStreamsPerPrincipal?: number;
  readonly maxWatchStreams?: number;
}

/** The standard pipelines, and the steps whose counts metrics and tests read. */
export interface StandardAdmission {
  /** For unary calls. */
  readonly pipeline: AdmissionPipeline;
  /** For WatchAvailability streams. */
  readonly watchPipeline: AdmissionPipeline;
  readonly inFlight: InFlightStep;
  readonly watchStreams: WatchStreamStep;
}

/**
 * The service's admission, in its stated order: identity → allow-list →
 * event-loop lag → in-flight bound (streams: the stream caps) → rate limit →
 * malformed request. Cheap
 * checks that need no budget come first; a call over a limit hears about
 * the limit whatever it sent; the rate limit is charged only for calls that
 * had a slot. To add a step, write an {@link AdmissionStep} in its own file
 * and put it into this list where it belongs.
 */
export function standardAdmission(settings: AdmissionSettings): StandardAdmission {
  const identity = new IdentityStep({ insecure: settings.insecure });
  const allowList = new AllowListStep(settings.allowedPrincipals);
  const lag = new EventLoopLagStep(settings.eventLoopLag, {
    targetMs: settings.maxEventLoopLagMs,
    intervalMs: settings.overloadIntervalMs ?? TRANSPORT_DEFAULTS.overloadIntervalMs,
  });
  const rateLimit = new RateLimitStep({ write: settings.writeBuckets, read: settings.readBuckets });
  const malformed = new MalformedRequestStep();
  const inFlight = new InFlightStep(settings.maxInFlight);
  const watchStreams = new WatchStreamStep({
    perPrincipal: settings.maxWatchStreamsPerPrincipal ?? TRANSPORT_DEFAULTS.maxWatchStreamsPerPrincipal,
    total: settings.maxWatchStreams ?? TRANSPORT_DEFAULTS.maxWatchStreams,
  });
  const pipeline = new AdmissionPipeline(identity, [allowList, lag, inFlight, rateLimit, malformed]);
  // A stream is admitted like a read, except that the stream caps stand in
  // for the in-flight bound: a watch is long-lived, and a slot held for its
  // life would let watchers crowd out short calls (watch-stream-step.ts).
  const watchPipeline = new AdmissionPipeline(identity, [allowList, lag, watchStreams, rateLimit, malformed]);
  return { pipeline, watchPipeline, inFlight, watchStreams };
}
