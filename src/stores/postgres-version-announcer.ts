import type { LatestVersion } from "./postgres-show-versions.js";

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
 * the next. A listener on another instance hears a version at most one send
 * later than it would have.
 *
 * A failed send loses those notifications, not a change: the listeners'
 * catch-up re-read (and the show's next change) finds the versions in the
 * change log.
 */
export class VersionAnnouncer {
  readonly #send: (latest: readonly LatestVersion[]) => Promise<void>;
  /** Versions waiting for the send in flight to finish: show -> latest version. */
  #waiting = new Map<string, number>();
  #sending: Promise<void> | undefined;

  constructor(send: (latest: readonly LatestVersion[]) => Promise<void>) {
    this.#send = send;
  }

  /** Announces `latest` now, or with the next send if one is in flight. */
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
    const batch = [...this.#waiting].map(([showId, version]) => ({ showId, version }));
    this.#waiting = new Map();
    this.#sending = this.#send(batch)
      .catch(() => undefined)
      .then(() => {
        this.#sending = undefined;
        if (this.#waiting.size > 0) this.#sendWaiting();
      });
  }
}
