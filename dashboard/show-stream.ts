import type { ChangesData, SnapshotData } from "./wire.js";

/** Where a show's live stream is. */
export type StreamStatus = "connecting" | "live" | "reconnecting" | "paused";

/** What a {@link ShowStream} tells the page. */
export interface StreamHandlers {
  snapshot(data: SnapshotData): void;
  changes(data: ChangesData): void;
  status(status: StreamStatus): void;
}

const MIN_RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;

/**
 * One show's live stream: an EventSource on `events?show=ID`. The browser
 * reconnects by itself after a dropped connection, sending the last event's
 * id (the show's version) as Last-Event-ID, so the server resumes after it.
 * When the browser gives up instead (an answer that is not a stream: 503 past
 * the server's limit, or a proxy's error page), this opens a new one after a
 * growing delay, from the last version it applied.
 */
export class ShowStream {
  readonly showId: string;
  readonly #handlers: StreamHandlers;
  #source: EventSource | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #retryMs = MIN_RETRY_MS;
  /** The version of the last event applied; undefined before the first. */
  #version: number | undefined;

  constructor(showId: string, handlers: StreamHandlers) {
    this.showId = showId;
    this.#handlers = handlers;
  }

  get running(): boolean {
    return this.#source !== undefined || this.#timer !== undefined;
  }

  /** Opens the stream: resumes after the last version seen, if any. */
  start(): void {
    this.stop();
    this.#open();
  }

  /** Closes the stream; the map keeps what it showed, marked paused. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#source?.close();
    this.#source = undefined;
    this.#handlers.status("paused");
  }

  #open(): void {
    const from = this.#version === undefined ? "" : `&from=${this.#version}`;
    const source = new EventSource(`events?show=${encodeURIComponent(this.showId)}${from}`);
    this.#source = source;
    this.#handlers.status("connecting");
    source.addEventListener("open", () => {
      this.#retryMs = MIN_RETRY_MS;
      this.#handlers.status("live");
    });
    source.addEventListener("snapshot", (event) => {
      const data = parse<SnapshotData>(event);
      if (data === undefined) return;
      this.#version = data.version;
      this.#handlers.snapshot(data);
    });
    source.addEventListener("changes", (event) => {
      const data = parse<ChangesData>(event);
      const last = data?.changes[data.changes.length - 1];
      if (data === undefined || last === undefined) return;
      this.#version = last.version;
      this.#handlers.changes(data);
    });
    source.addEventListener("error", () => {
      if (this.#source !== source) return;
      if (source.readyState === EventSource.CONNECTING) {
        this.#handlers.status("reconnecting");
        return;
      }
      // The browser gave up on this one: try again later, from the last version.
      source.close();
      this.#source = undefined;
      this.#handlers.status("reconnecting");
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#open();
      }, this.#retryMs);
      this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
    });
  }
}

function parse<T>(event: Event): T | undefined {
  if (!(event instanceof MessageEvent) || typeof event.data !== "string") return undefined;
  try {
    return JSON.parse(event.data) as T;
  } catch {
    return undefined;
  }
}
