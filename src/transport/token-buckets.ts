/**
 * Per-key token buckets: each key may spend `ratePerSecond` calls a second on
 * average, and up to `burst` at once. Idle keys are forgotten, so a stream of
 * distinct principals cannot grow the map without bound.
 */
export class TokenBuckets {
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #maxKeys: number;

  constructor(ratePerSecond: number, burst: number, options: { now?: () => number; maxKeys?: number } = {}) {
    if (!(ratePerSecond > 0) || !(burst >= 1)) throw new TypeError("rate must be > 0 and burst >= 1");
    this.#ratePerMs = ratePerSecond / 1000;
    this.#burst = burst;
    this.#now = options.now ?? Date.now;
    this.#maxKeys = options.maxKeys ?? 10_000;
  }

  /**
   * Takes one token for `key`. Returns 0 when granted, else how many ms until
   * a token is available (the retry delay to advertise).
   */
  take(key: string): number {
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxKeys) this.#forgetFullBuckets(now);
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#ratePerMs);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / this.#ratePerMs);
  }

  // A bucket that has refilled completely carries no information.
  #forgetFullBuckets(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.at) * this.#ratePerMs >= this.#burst) this.#buckets.delete(key);
    }
  }
}
