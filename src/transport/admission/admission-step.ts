import type { WireStatus } from "../error-status.js";

/** Whether a method reads or changes seats: they draw on separate budgets. */
export type MethodKind = "read" | "write";

/**
 * The limits admission enforces, by the name that `booking_rejections_total`
 * counts them under (`cause`) and that a refusal's log line gives as
 * `refused_by`.
 */
export type AdmissionLimit = "unauthenticated" | "not_allowed" | "event_loop_lag" | "in_flight" | "watch_streams" | "rate_limit";

/**
 * Every limit that can turn a call away: the admission limits, and "queue",
 * the core's bound on changes waiting for the store, which refuses inside
 * the serve step (OVERLOADED).
 */
export type RefusalLimit = AdmissionLimit | "queue";

/** A step's "no": the status to answer with, and the limit that refused. */
export interface Refusal {
  readonly status: WireStatus;
  /**
   * The limit that refused; undefined when the request itself is at fault
   * (malformed bytes), which, like an invalid seat, is no limit.
   */
  readonly limit: AdmissionLimit | undefined;
}

/**
 * What the steps after identity know about a call. A unary call and a
 * server-streaming call have the same facts (one request message), so the
 * same steps admit both.
 */
export interface AdmissionCall {
  /** The RPC's name, e.g. "BookSeats". */
  readonly method: string;
  readonly kind: MethodKind;
  /** Who is calling, as the identity step established. */
  readonly principal: string;
  /** The decoded request message, or a MalformedRequest. */
  readonly request: unknown;
}

/**
 * One admission check. Steps run in a fixed order (see
 * admission-pipeline.ts); the first refusal ends the call, before any store
 * work. `admit` is synchronous, so a call is admitted or refused within one
 * turn of the event loop and steps never interleave.
 */
export interface AdmissionStep {
  /** The step's name, for the pipeline's stated order. */
  readonly name: string;
  /** Passes the call on (undefined) or refuses it. */
  admit(call: AdmissionCall): Refusal | undefined;
  /**
   * Present on steps that hold something while a call is served (a slot of
   * the in-flight bound). The pipeline calls it once per admitted call: when
   * the call ends, or at once when a later step refuses the call.
   */
  release?(call: AdmissionCall): void;
}
