import { status } from "@grpc/grpc-js";
import { errorInfo, retryInfo, richStatus } from "../error-status.js";
import type { TokenBuckets } from "../token-buckets.js";
import type { AdmissionCall, AdmissionStep, MethodKind, Refusal } from "./admission-step.js";

/**
 * Per-principal rate limits, one budget for reads and one for writes, so a
 * flood of listings cannot starve the same caller's bookings. A call over
 * its budget is refused with RESOURCE_EXHAUSTED (RATE_LIMITED) and a
 * RetryInfo of when the next token is due. A kind without buckets is not
 * limited.
 */
export class RateLimitStep implements AdmissionStep {
  readonly name = "rate_limit";
  readonly #buckets: Readonly<Record<MethodKind, TokenBuckets | undefined>>;

  constructor(buckets: Readonly<Record<MethodKind, TokenBuckets | undefined>>) {
    this.#buckets = buckets;
  }

  admit({ principal, kind }: AdmissionCall): Refusal | undefined {
    const waitMs = this.#buckets[kind]?.take(principal) ?? 0;
    if (waitMs <= 0) return undefined;
    return {
      limit: "rate_limit",
      status: richStatus(
        status.RESOURCE_EXHAUSTED,
        `principal ${principal} exceeded its ${kind} rate limit; retry in ${waitMs} ms`,
        [errorInfo("RATE_LIMITED", { principal, kind }), retryInfo(waitMs)],
      ),
    };
  }
}
