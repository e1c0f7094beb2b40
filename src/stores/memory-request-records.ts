/** What was remembered of a request id: the command's fingerprint and its stored outcome. */
export interface RememberedRequest {
  readonly fingerprint: string;
  readonly outcome: string;
}

/**
 * The memory store's idempotency records: request key -> when, fingerprint
 * and outcome, kept for the retention and forgotten oldest first.
 *
 * Each record is one flat string beside its key, not an object with three
 * fields: records live for a day, so every one of them is copied by the
 * young-generation collector and then marked by every full collection, and
 * a booking's record was about nine heap objects (the key and fingerprint
 * as string trees, the record, its timestamp as a boxed number). `join`
 * builds flat strings, so a record is its key and its value.
 */
export class MemoryRequestRecords {
  readonly #records = new Map<string, string>();

  get size(): number {
    return this.#records.size;
  }

  /** The record of `key`, if remembered. */
  get(key: string): RememberedRequest | undefined {
    const record = this.#records.get(key);
    if (record === undefined) return undefined;
    const afterTime = record.indexOf(":");
    const afterLength = record.indexOf(":", afterTime + 1);
    const fingerprintEnd = afterLength + 1 + Number(record.slice(afterTime + 1, afterLength));
    return { fingerprint: record.slice(afterLength + 1, fingerprintEnd), outcome: record.slice(fingerprintEnd) };
  }

  /** Remembers a request at `at` (ms); keys arrive in time order. */
  remember(key: string, at: number, fingerprint: string, outcome: string): void {
    this.#records.set(key, [at, ":", fingerprint.length, ":", fingerprint, outcome].join(""));
  }

  /** Forgets the records made before `oldest` (ms). */
  forgetBefore(oldest: number): void {
    // Map iteration follows insertion order, which is time order here.
    for (const [key, record] of this.#records) {
      if (Number(record.slice(0, record.indexOf(":"))) >= oldest) break;
      this.#records.delete(key);
    }
  }
}
