import type { LatestVersion } from "./postgres-show-versions.js";

/** When sends may start: the gap between them, and the clock and wait that measure it. */
export interface AnnounceTiming {
  /** The least time between the starts of two sends, ms. */
  readonly minGapMs: number;
  readonly now: () => number;
  /** Resolves after `ms`; tests pass one they control. */
  readonly sleep: (ms: number) => Promise<void>;
}

const REAL_TIMING: Omit<AnnounceTiming, "minGapMs"> = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Sends committed versions to every instance (through `send`, a NOTIFY in a
 * transaction of its own), one send at a time: versions committed while a
 * send is in flight wait for it and go together in the next, each show at the
 * latest version it reached.
 *
 * A notification says "show S reached version V"; a listener reads the
 * change log from what it had up to V, so the versions a later notification
 * supersedes need no notification of their own. Under load a NOTIFY
 * transaction per batch cost PostgreSQL a round trip and a commit per batch;
 * coalesced, the versions of the batches that commit during one send share
 * the next. Sends also start at least `minGapMs` apart: with a send taking
 * about as long as a batch, one send per batch went out all the same, and
 * those transactions cost PostgreSQL a tenth to a sixth of its CPU per booking
 * (bench/PROFILE.md, "Round five"). A listener on another instance hears a
 * version at most one send and one gap later than it would have.
 *
 * A failed send loses those notifications, not a change: the listeners'
 * catch-up re-read (and the show's next change) finds the versions in the
 * change log.
 */
export class VersionAnnouncer {
  readonly #send: (latest: readonly LatestVersion[]) => Promise<void>;
  readonly #timing: AnnounceTiming;
  /** Versions waiting for the next send: show -> latest version. */
  #waiting = new Map<string, number>();
  #sending: Promise<void> | undefined;
  #lastStart = Number.NEGATIVE_INFINITY;

  constructor(send: (latest: readonly LatestVersion[]) => Promise<void>, timing: Partial<AnnounceTiming> & Pick<AnnounceTiming, "minGapMs">) {
    this.#send = send;
    this.#timing = { ...REAL_TIMING, ...timing };
  }

  /** Announces `latest` with the next send: now, or once the send in flight and the gap are over. */
  announce(latest: readonly LatestVersion[]): void {
    for (const { showId, version } of latest) {
      const known = this.#waiting.get(showId);
      if (known === undefined || version > known) this.#waiting.set(showId, version);
    }
    if (this.#sending === undefined && this.#waiting.size > 0) this.#sendWaiting();
  }

  /** Resolves once nothing is waiting or in flight (for shutdown and tests). */
  async settled(): Promise<void> {
    while (this.#sending !== undefined) await this.#sending;
  }

  #sendWaiting(): void {
    const wait = this.#lastStart + this.#timing.minGapMs - this.#timing.now();
    const sent = wait > 0 ? this.#timing.sleep(wait).then(() => this.#sendNow()) : this.#sendNow();
    this.#sending = sent
      .catch(() => undefined)
      .then(() => {
        this.#sending = undefined;
        if (this.#waiting.size > 0) this.#sendWaiting();
      });
  }

  /** Sends what is waiting, starting now (at once when no gap is left to wait out). */
  #sendNow(): Promise<void> {
    const batch = [...this.#waiting].map(([showId, version]) => ({ showId, version }));
    this.#waiting = new Map();
    this.#lastStart = this.#timing.now();
    try {
      return this.#send(batch);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
