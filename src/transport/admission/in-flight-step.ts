import { status } from "@grpc/grpc-js";
import { errorInfo, retryInfo, richStatus } from "../error-status.js";
import type { AdmissionStep, Refusal } from "./admission-step.js";

/** The retry delay an in-flight refusal advertises, in ms. */
const RETRY_MS = 50;

/**
 * Bounds the calls served at once: an admitted call holds a slot until it
 * ends; with all `max` slots taken, a call is refused with
 * RESOURCE_EXHAUSTED (OVERLOADED) and a RetryInfo of 50 ms.
 */
export class InFlightStep implements AdmissionStep {
  readonly name = "in_flight";
  readonly #max: number;
  #inFlight = 0;

  constructor(max: number) {
    if (!(max >= 1)) throw new TypeError(`the in-flight bound must be at least 1, got ${max}`);
    this.#max = max;
  }

  /** Calls holding a slot now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  admit(): Refusal | undefined {
    if (this.#inFlight < this.#max) {
      this.#inFlight++;
      return undefined;
    }
    return {
      limit: "in_flight",
      status: richStatus(status.RESOURCE_EXHAUSTED, `the server is serving its maximum of ${this.#max} calls; retry shortly`, [
        errorInfo("OVERLOADED"),
        retryInfo(RETRY_MS),
      ]),
    };
  }

  release(): void {
    this.#inFlight--;
  }
}
