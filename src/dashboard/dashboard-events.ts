import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { WatchEvent, Watcher } from "../core/availability-feed.js";
import type { BookingCore } from "../core/booking-core.js";
import { isBookingFailure } from "../core/booking-failure.js";
import { seatRuns } from "../core/show-changes.js";

/**
 * What a `snapshot` event carries: the show at `version`, its free and held
 * seats as [first, last] runs (every other seat is booked). Never who holds
 * or booked a seat.
 */
export interface SnapshotData {
  readonly showId: string;
  readonly version: number;
  readonly totalSeats: number;
  readonly state: string;
  readonly bookedCount: number;
  readonly heldCount: number;
  readonly free: readonly (readonly [number, number])[];
  readonly held: readonly (readonly [number, number])[];
  /** The client asked to resume from a version the change log no longer reaches. */
  readonly resumeTooOld: boolean;
}

/** What a `changes` event carries: the changes after the previous event, in version order. */
export interface ChangesData {
  readonly showId: string;
  readonly changes: readonly {
    readonly version: number;
    readonly kind: string;
    readonly seats: readonly number[];
    readonly totalSeats?: number;
    readonly at: number;
  }[];
}

/** Settings of one event stream, stated once in DASHBOARD_DEFAULTS. */
export interface EventStreamSettings {
  /** The reconnection delay the browser is told (`retry:`), ms. */
  readonly retryMs: number;
  /** A comment line this often keeps idle connections open through proxies, ms. */
  readonly heartbeatMs: number;
}

/**
 * One event as Server-Sent Events text: `id:` is the show's version after
 * the event, so a reconnecting EventSource sends it back as Last-Event-ID and
 * the stream resumes after it. Fields are copied one by one: nothing the core
 * may add to its records later reaches the page unless it is named here.
 */
export function eventFrame(event: WatchEvent): string {
  if (event.kind === "snapshot") {
    const { snapshot } = event;
    const data: SnapshotData = {
      showId: snapshot.showId,
      version: snapshot.version,
      totalSeats: snapshot.totalSeats,
      state: snapshot.state,
      bookedCount: snapshot.bookedCount,
      heldCount: snapshot.heldCount,
      free: seatRuns(snapshot.available).map((run) => [run.first, run.last] as const),
      held: seatRuns(snapshot.held).map((run) => [run.first, run.last] as const),
      resumeTooOld: event.resumeTooOld,
    };
    return `event: snapshot\nid: ${snapshot.version}\ndata: ${JSON.stringify(data)}\n\n`;
  }
  const data: ChangesData = {
    showId: event.showId,
    changes: event.changes.map((change) => ({
      version: change.version,
      kind: change.kind,
      seats: [...change.seats],
      ...(change.totalSeats === undefined ? {} : { totalSeats: change.totalSeats }),
      at: change.at,
    })),
  };
  const last = event.changes[event.changes.length - 1]?.version ?? 0;
  return `event: changes\nid: ${last}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * The version a stream resumes after: the Last-Event-ID header (a
 * reconnecting EventSource) wins over `?from=` (the page's first connect).
 * Undefined starts from a snapshot; "invalid" is a bad number.
 */
export function resumeVersion(lastEventId: string | string[] | undefined, from: string | null): number | undefined | "invalid" {
  const raw = typeof lastEventId === "string" && lastEventId !== "" ? lastEventId : from;
  if (raw === null || raw === "") return undefined;
  if (!/^\d{1,15}$/.test(raw)) return "invalid";
  return Number(raw);
}

/**
 * Serves one show's live stream until the client goes away, the watch ends
 * (the server stops, or the client fell too far behind: it reconnects and
 * resumes), or `signal` aborts. Writes wait for the socket to drain, so a
 * slow client leaves changes queued in its watcher, whose bound ends it.
 */
export async function streamShow(
  core: BookingCore,
  request: IncomingMessage,
  response: ServerResponse,
  options: {
    readonly showId: string;
    readonly resumeFrom: number | undefined;
    readonly settings: EventStreamSettings;
    readonly logger: Logger;
    /** Aborted when the dashboard closes: the stream ends and the browser reconnects later. */
    readonly signal: AbortSignal;
  },
): Promise<void> {
  const { showId, settings, logger } = options;
  let watcher: Watcher;
  try {
    watcher = await core.watch(showId, options.resumeFrom);
  } catch (error) {
    if (isBookingFailure(error) && error.reason === "SHOW_NOT_FOUND") return sendText(response, 404, `no show "${showId}"\n`);
    // An id no show can have: the request is wrong, not the server.
    if (isBookingFailure(error) && error.reason === "INVALID_ARGUMENT") return sendText(response, 400, `${error.message}\n`);
    if (isBookingFailure(error) && error.reason === "STORE_UNAVAILABLE") return sendText(response, 503, "the store is unavailable\n");
    logger.error({ err: error, show: showId }, "dashboard: could not start a watch");
    return sendText(response, 500, "internal error\n");
  }
  if (request.destroyed || response.destroyed || options.signal.aborted) {
    watcher.close();
    if (!response.destroyed) sendText(response, 503, "the dashboard is stopping\n");
    return;
  }
  const gone = () => watcher.close();
  response.once("close", gone);
  options.signal.addEventListener("abort", gone, { once: true });
  response.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    "x-accel-buffering": "no",
  });
  response.write(`retry: ${settings.retryMs}\n\n`);
  const heartbeat = setInterval(() => response.write(": keep-alive\n\n"), settings.heartbeatMs);
  heartbeat.unref();
  try {
    for await (const event of watcher) {
      if (!response.write(eventFrame(event))) await drained(response);
      if (response.destroyed) break;
    }
  } catch (error) {
    // SLOW_CONSUMER or the store went away: the browser reconnects and resumes.
    logger.warn({ show: showId, reason: isBookingFailure(error) ? error.reason : "unknown", err: error }, "dashboard: a live stream ended");
  } finally {
    clearInterval(heartbeat);
    response.off("close", gone);
    options.signal.removeEventListener("abort", gone);
    watcher.close();
    response.end();
  }
}

function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off("drain", done);
      response.off("close", done);
      resolve();
    };
    response.on("drain", done);
    response.on("close", done);
  });
}

/** A short plain-text answer. */
export function sendText(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...headers });
  response.end(text);
}
