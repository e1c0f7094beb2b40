import { status } from "@grpc/grpc-js";
import { errorInfo, retryInfo, richStatus } from "../error-status.js";
import type { AdmissionCall, AdmissionStep, Refusal } from "./admission-step.js";

/** The retry delay a refusal at the server-wide cap advertises, in ms. */
const SERVER_CAP_RETRY_MS = 1000;

/**
 * Bounds open WatchAvailability streams: at most `perPrincipal` per
 * principal and `total` over the server. An admitted stream holds its place
 * until it ends. Over either cap the stream is refused with
 * RESOURCE_EXHAUSTED (TOO_MANY_STREAMS), naming the cap; at the server-wide
 * cap with a RetryInfo, since others' streams end, while a principal at its
 * own cap has to close one of its streams first.
 *
 * It takes the place of the in-flight step for streams: a watch lives for
 * minutes or hours, and holding an in-flight slot that long would let 1024
 * watchers starve every booking.
 */
export class WatchStreamStep implements AdmissionStep {
  readonly name = "watch_streams";
  readonly #perPrincipal: number;
  readonly #total: number;
  readonly #open = new Map<string, number>();
  #openTotal = 0;

  constructor(limits: { readonly perPrincipal: number; readonly total: number }) {
    if (!(limits.perPrincipal >= 1)) throw new TypeError(`the per-principal stream cap must be at least 1, got ${limits.perPrincipal}`);
    if (!(limits.total >= 1)) throw new TypeError(`the server-wide stream cap must be at least 1, got ${limits.total}`);
    this.#perPrincipal = limits.perPrincipal;
    this.#total = limits.total;
  }

  /** Streams open now, over all principals. */
  get open(): number {
    return this.#openTotal;
  }

  admit({ principal }: AdmissionCall): Refusal | undefined {
    const mine = this.#open.get(principal) ?? 0;
    if (mine >= this.#perPrincipal) {
      return {
        limit: "watch_streams",
        status: richStatus(
          status.RESOURCE_EXHAUSTED,
          `principal ${principal} has its maximum of ${this.#perPrincipal} watch streams open (--max-watch-streams-per-principal); close one first`,
          [errorInfo("TOO_MANY_STREAMS", { principal, cap: "per_principal", max: String(this.#perPrincipal) })],
        ),
      };
    }
    if (this.#openTotal >= this.#total) {
      return {
        limit: "watch_streams",
        status: richStatus(
          status.RESOURCE_EXHAUSTED,
          `the server has its maximum of ${this.#total} watch streams open (--max-watch-streams); retry later or elsewhere`,
          [errorInfo("TOO_MANY_STREAMS", { cap: "server", max: String(this.#total) }), retryInfo(SERVER_CAP_RETRY_MS)],
        ),
      };
    }
    this.#open.set(principal, mine + 1);
    this.#openTotal++;
    return undefined;
  }

  release({ principal }: AdmissionCall): void {
    const mine = (this.#open.get(principal) ?? 0) - 1;
    if (mine > 0) this.#open.set(principal, mine);
    else this.#open.delete(principal);
    this.#openTotal--;
  }
}
