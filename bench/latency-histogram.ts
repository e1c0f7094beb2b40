// 2^SUB_BITS values per bucket row; values below 2^SUB_BITS are exact.
const SUB_BITS = 8;
const HALF = 1 << (SUB_BITS - 1);
const MAX_SHIFT = 25;

/**
 * A latency histogram with logarithmic buckets, in the manner of
 * HdrHistogram: exact below 256 µs, and within 1/128 (0.8 %) of the value
 * above, up to 2^32 µs (71 minutes; longer values count as that). Recording is one index computation and one
 * array increment, so a load generator can record every call; histograms
 * merge by adding counts, so generators send theirs to the parent.
 *
 * Values are whole microseconds; percentiles come back in microseconds as
 * the upper edge of the bucket they fall in (never under-reports).
 */
export class LatencyHistogram {
  readonly #counts = new Float64Array(HALF * (MAX_SHIFT + 2));
  #total = 0;
  #sum = 0;
  #max = 0;

  /** How many values were recorded. */
  get count(): number {
    return this.#total;
  }

  /** The largest value recorded, exactly (µs). */
  get max(): number {
    return this.#max;
  }

  /** The arithmetic mean (µs); 0 when empty. */
  get mean(): number {
    return this.#total === 0 ? 0 : this.#sum / this.#total;
  }

  /** Records one value in microseconds (negative values count as 0). */
  record(microseconds: number): void {
    const value = Math.min(Math.max(0, Math.round(microseconds)), 0xffff_ffff);
    this.#counts[indexOf(value)]! += 1;
    this.#total += 1;
    this.#sum += value;
    if (value > this.#max) this.#max = value;
  }

  /**
   * The value at `percentile` (0-100): the upper edge of the bucket holding
   * that rank, capped at the recorded maximum. 0 when empty.
   */
  percentile(percentile: number): number {
    if (this.#total === 0) return 0;
    const rank = Math.max(1, Math.ceil((percentile / 100) * this.#total));
    let seen = 0;
    for (let index = 0; index < this.#counts.length; index++) {
      seen += this.#counts[index]!;
      if (seen >= rank) return Math.min(upperEdgeOf(index), this.#max);
    }
    return this.#max;
  }

  /** Adds another histogram's counts to this one. */
  merge(other: SerializedHistogram): void {
    for (const [index, count] of other.buckets) {
      if (index >= 0 && index < this.#counts.length) this.#counts[index]! += count;
    }
    this.#total += other.count;
    this.#sum += other.sum;
    this.#max = Math.max(this.#max, other.max);
  }

  /** A compact form for IPC and JSON: only non-empty buckets. */
  toJSON(): SerializedHistogram {
    const buckets: Array<[number, number]> = [];
    this.#counts.forEach((count, index) => {
      if (count > 0) buckets.push([index, count]);
    });
    return { count: this.#total, sum: this.#sum, max: this.#max, buckets };
  }

  /** Rebuilds a histogram from {@link toJSON} output. */
  static from(serialized: SerializedHistogram): LatencyHistogram {
    const histogram = new LatencyHistogram();
    histogram.merge(serialized);
    return histogram;
  }
}

/** A histogram as sent between processes and written to the results file. */
export interface SerializedHistogram {
  readonly count: number;
  /** Sum of all values (µs), for the mean. */
  readonly sum: number;
  readonly max: number;
  /** [bucket index, count] for every non-empty bucket. */
  readonly buckets: ReadonlyArray<readonly [number, number]>;
}

function indexOf(value: number): number {
  if (value < 2 * HALF) return value;
  // shift >= 1 brings the value into [HALF, 2*HALF); rows of HALF buckets follow the exact range.
  const shift = 31 - Math.clz32(value) - (SUB_BITS - 1);
  const mantissa = Math.floor(value / 2 ** shift);
  return HALF * shift + mantissa;
}

function upperEdgeOf(index: number): number {
  if (index < 2 * HALF) return index;
  const shift = Math.floor(index / HALF) - 1;
  const mantissa = index - HALF * shift;
  return (mantissa + 1) * 2 ** shift - 1;
}
