import { status } from "@grpc/grpc-js";
import { errorInfo, retryInfo, richStatus } from "../error-status.js";
import type { AdmissionStep, Refusal } from "./admission-step.js";

/** The shortest retry delay a lag refusal advertises, in ms. */
const MIN_RETRY_MS = 50;

/**
 * Sheds load while the event loop lags: a call arriving when the loop is
 * more than `maxLagMs` behind is refused with RESOURCE_EXHAUSTED
 * (OVERLOADED) and a RetryInfo of the lag (at least 50 ms). Serving it now
 * would make it, and every call behind it, wait longer than anyone can.
 * `maxLagMs` 0 or no lag source turns the step off.
 */
export class EventLoopLagStep implements AdmissionStep {
  readonly name = "event_loop_lag";
  readonly #lag: { readonly lagMs: number } | undefined;
  readonly #maxLagMs: number;

  constructor(lag: { readonly lagMs: number } | undefined, maxLagMs: number) {
    this.#lag = lag;
    this.#maxLagMs = maxLagMs;
  }

  admit(): Refusal | undefined {
    const lagMs = this.#lag?.lagMs ?? 0;
    if (!(this.#maxLagMs > 0 && lagMs > this.#maxLagMs)) return undefined;
    return {
      limit: "event_loop_lag",
      status: richStatus(status.RESOURCE_EXHAUSTED, `the server is ${Math.round(lagMs)} ms behind its work; retry shortly`, [
        errorInfo("OVERLOADED"),
        retryInfo(Math.max(MIN_RETRY_MS, Math.round(lagMs))),
      ]),
    };
  }
}
