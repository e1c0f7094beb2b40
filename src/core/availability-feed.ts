import { BookingFailure } from "./booking-failure.js";
import type { SeatStore, ShowSnapshot } from "./seat-store.js";
import type { ShowChange } from "./show-changes.js";

/** One message of a watch: where the watcher starts, or what happened since. */
export type WatchEvent =
  | {
      readonly kind: "snapshot";
      readonly snapshot: ShowSnapshot;
      /** The watcher asked to resume from a version the change log no longer reaches. */
      readonly resumeTooOld: boolean;
    }
  | { readonly kind: "changes"; readonly showId: string; readonly changes: readonly ShowChange[] };

/** Options of {@link AvailabilityFeed}. */
export interface AvailabilityFeedOptions {
  /** Changes read from the store per query. */
  readonly pageSize?: number;
  /**
   * Changes a watcher may have waiting before it is ended as too slow
   * (SLOW_CONSUMER): the feed never buffers without bound.
   */
  readonly maxBacklog?: number;
}

/** Defaults of {@link AvailabilityFeedOptions}. */
export const FEED_DEFAULTS = { pageSize: 1000, maxBacklog: 10_000 } as const;

interface ShowTail {
  readonly showId: string;
  /** The latest version any notification or read has shown. */
  latest: number;
  readonly watchers: Set<Watcher>;
  pumping: boolean;
  again: boolean;
}

/**
 * A live, ordered view of one show: an async iterable of {@link WatchEvent}s.
 * The first event is a snapshot unless the watch resumed; every later event
 * holds the changes after the previous one, in version order with no gaps.
 * Iteration ends by {@link close}, or throws a BookingFailure (SLOW_CONSUMER
 * when the backlog passed its bound).
 */
export class Watcher implements AsyncIterable<WatchEvent> {
  readonly showId: string;
  /** The last version queued for the consumer; undefined until the start is read. */
  cursor: number | undefined;
  readonly #queue: WatchEvent[] = [];
  #backlog = 0;
  #waiting: ((result: IteratorResult<WatchEvent>) => void) | undefined;
  #failWaiting: ((error: unknown) => void) | undefined;
  #ended: { readonly error: unknown } | undefined;
  readonly #maxBacklog: number;
  readonly #onClose: (watcher: Watcher) => void;
  readonly #endListeners: (() => void)[] = [];

  constructor(showId: string, maxBacklog: number, onClose: (watcher: Watcher) => void) {
    this.showId = showId;
    this.#maxBacklog = maxBacklog;
    this.#onClose = onClose;
  }

  /** Changes queued and not yet taken by the consumer. */
  get backlog(): number {
    return this.#backlog;
  }

  /** True once closed or failed. */
  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /**
   * Calls `listener` once the watch ends (closed or failed; at once if it
   * has), so a consumer waiting on something else (its transport draining)
   * learns of it without reading.
   */
  onEnd(listener: () => void): void {
    if (this.#ended !== undefined) listener();
    else this.#endListeners.push(listener);
  }

  /** Queues an event for the consumer (the feed's side). */
  push(event: WatchEvent): void {
    if (this.#ended !== undefined) return;
    if (event.kind === "changes") {
      const last = event.changes[event.changes.length - 1];
      if (last === undefined) return;
      this.cursor = last.version;
      this.#backlog += event.changes.length;
    } else {
      this.cursor = event.snapshot.version;
    }
    if (this.#backlog > this.#maxBacklog) {
      this.fail(
        new BookingFailure(
          `the watcher of show "${this.showId}" fell ${this.#backlog} changes behind (the limit is ${this.#maxBacklog}); resume from the last version applied`,
          { reason: "SLOW_CONSUMER", showId: this.showId, retryDelayMs: 0 },
        ),
      );
      return;
    }
    const waiting = this.#waiting;
    if (waiting !== undefined) {
      this.#waiting = undefined;
      this.#failWaiting = undefined;
      if (event.kind === "changes") this.#backlog -= event.changes.length;
      waiting({ value: event, done: false });
    } else {
      this.#queue.push(event);
    }
  }

  /** Ends the watch with an error the consumer sees on its next read. */
  fail(error: unknown): void {
    if (this.#ended !== undefined) return;
    this.#ended = { error };
    this.#queue.length = 0;
    this.#backlog = 0;
    this.#onClose(this);
    for (const listener of this.#endListeners.splice(0)) listener();
    const fail = this.#failWaiting;
    this.#waiting = undefined;
    this.#failWaiting = undefined;
    fail?.(error);
  }

  /** Ends the watch quietly (the consumer went away, or the server stops). */
  close(): void {
    if (this.#ended !== undefined) return;
    this.#ended = { error: undefined };
    this.#queue.length = 0;
    this.#backlog = 0;
    this.#onClose(this);
    for (const listener of this.#endListeners.splice(0)) listener();
    const waiting = this.#waiting;
    this.#waiting = undefined;
    this.#failWaiting = undefined;
    waiting?.({ value: undefined, done: true });
  }

  /** The next event, waiting for one if none is queued. */
  next(): Promise<IteratorResult<WatchEvent>> {
    const queued = this.#queue.shift();
    if (queued !== undefined) {
      if (queued.kind === "changes") this.#backlog -= queued.changes.length;
      return Promise.resolve({ value: queued, done: false });
    }
    if (this.#ended !== undefined) {
      return this.#ended.error === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(this.#ended.error);
    }
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.#failWaiting = reject;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    return {
      next: () => this.next(),
      return: async () => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }
}

/**
 * Fans one store's committed changes out to the watchers of each show.
 *
 * The store's change log is the truth; its commit notifications (this
 * process's commits, and with PostgreSQL every instance's, by LISTEN/NOTIFY)
 * only say that a show has a newer version. Per show, one read at a time
 * fetches the changes after the slowest watcher's cursor and hands each
 * watcher those after its own, so every watcher sees every version once, in
 * order, whichever instance committed it.
 */
export class AvailabilityFeed {
  readonly #store: SeatStore;
  readonly #pageSize: number;
  readonly #maxBacklog: number;
  readonly #tails = new Map<string, ShowTail>();
  #unsubscribe: (() => void) | undefined;

  constructor(store: SeatStore, options: AvailabilityFeedOptions = {}) {
    this.#store = store;
    this.#pageSize = options.pageSize ?? FEED_DEFAULTS.pageSize;
    this.#maxBacklog = options.maxBacklog ?? FEED_DEFAULTS.maxBacklog;
  }

  /** Watchers connected now, over all shows. */
  get watchers(): number {
    let count = 0;
    for (const tail of this.#tails.values()) count += tail.watchers.size;
    return count;
  }

  /**
   * Starts watching a show: from a snapshot, or after `resumeFromVersion`
   * when the change log still reaches it (else from a snapshot marked
   * resumeTooOld). Rejects with SHOW_NOT_FOUND for an unknown show.
   */
  async watch(showId: string, resumeFromVersion?: number): Promise<Watcher> {
    this.#unsubscribe ??= this.#store.onCommit((changed, version) => this.#heard(changed, version));
    const tail = this.#tail(showId);
    const watcher = new Watcher(showId, this.#maxBacklog, (closed) => this.#forget(tail, closed));
    // Registered before the start is read, so no notification in between is lost.
    tail.watchers.add(watcher);
    try {
      let resumeTooOld = false;
      if (resumeFromVersion !== undefined) {
        const read = await this.#store.changesSince(showId, resumeFromVersion, this.#pageSize);
        if (read.kind === "unknown-show") throw showNotFound(showId);
        if (read.kind === "changes") {
          watcher.cursor = resumeFromVersion;
          if (read.changes.length > 0) watcher.push({ kind: "changes", showId, changes: read.changes });
          tail.latest = Math.max(tail.latest, watcher.cursor, read.changes.length === this.#pageSize ? (watcher.cursor ?? 0) + 1 : 0);
          this.#pump(tail);
          return watcher;
        }
        resumeTooOld = true;
      }
      const snapshot = await this.#store.snapshot(showId);
      if (snapshot === undefined) throw showNotFound(showId);
      watcher.push({ kind: "snapshot", snapshot, resumeTooOld });
      tail.latest = Math.max(tail.latest, snapshot.version);
      this.#pump(tail);
      return watcher;
    } catch (error) {
      watcher.close();
      throw error;
    }
  }

  /** Ends every watch (the server is stopping) with `error`, or quietly. */
  closeAll(error?: unknown): void {
    for (const tail of [...this.#tails.values()]) {
      for (const watcher of [...tail.watchers]) {
        if (error === undefined) watcher.close();
        else watcher.fail(error);
      }
    }
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  #heard(showId: string, version: number): void {
    const tail = this.#tails.get(showId);
    if (tail === undefined || version <= tail.latest) return;
    tail.latest = version;
    this.#pump(tail);
  }

  #tail(showId: string): ShowTail {
    let tail = this.#tails.get(showId);
    if (tail === undefined) {
      tail = { showId, latest: 0, watchers: new Set(), pumping: false, again: false };
      this.#tails.set(showId, tail);
    }
    return tail;
  }

  #forget(tail: ShowTail, watcher: Watcher): void {
    tail.watchers.delete(watcher);
    if (tail.watchers.size === 0 && !tail.pumping) this.#tails.delete(tail.showId);
  }

  /** Reads and hands out changes until every ready watcher has caught up with `latest`. */
  #pump(tail: ShowTail): void {
    if (tail.pumping) {
      tail.again = true;
      return;
    }
    tail.pumping = true;
    void (async () => {
      try {
        for (;;) {
          tail.again = false;
          const behind = [...tail.watchers].filter((watcher) => watcher.cursor !== undefined && watcher.cursor < tail.latest);
          if (behind.length === 0) {
            if (!tail.again) break;
            continue;
          }
          const from = Math.min(...behind.map((watcher) => watcher.cursor ?? 0));
          const read = await this.#store.changesSince(tail.showId, from, this.#pageSize);
          if (read.kind !== "changes") {
            const error =
              read.kind === "unknown-show"
                ? showNotFound(tail.showId)
                : new BookingFailure(`the watcher of show "${tail.showId}" fell behind the change log; resume to get a fresh snapshot`, {
                    reason: "SLOW_CONSUMER",
                    showId: tail.showId,
                    retryDelayMs: 0,
                  });
            for (const watcher of behind) if ((watcher.cursor ?? 0) <= from) watcher.fail(error);
            continue;
          }
          const last = read.changes[read.changes.length - 1];
          if (last === undefined) {
            // The notification ran ahead of what this read can see; the next notification reads again.
            if (tail.again) continue;
            break;
          }
          tail.latest = Math.max(tail.latest, last.version);
          // Watchers at the read's start (most of them, when they keep up)
          // get the very same event, so the transport encodes it once for all.
          const shared: WatchEvent = { kind: "changes", showId: tail.showId, changes: read.changes };
          for (const watcher of behind) {
            const cursor = watcher.cursor ?? 0;
            if (cursor === from) {
              watcher.push(shared);
              continue;
            }
            const fresh = read.changes.filter((change) => change.version > cursor);
            if (fresh.length > 0 && fresh[0]?.version === cursor + 1) watcher.push({ kind: "changes", showId: tail.showId, changes: fresh });
          }
        }
      } catch (error) {
        // The store is unreachable: the watchers end and their clients resume.
        for (const watcher of [...tail.watchers]) watcher.fail(error);
      } finally {
        tail.pumping = false;
        if (tail.watchers.size === 0) this.#tails.delete(tail.showId);
      }
    })();
  }
}

function showNotFound(showId: string): BookingFailure {
  const shown = showId.length > 64 ? `${showId.slice(0, 64)}…` : showId;
  return new BookingFailure(`show "${shown}" does not exist on this server`, { reason: "SHOW_NOT_FOUND", showId: shown });
}
