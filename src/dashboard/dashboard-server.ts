import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { BookingCore } from "../core/booking-core.js";
import { isBookingFailure } from "../core/booking-failure.js";
import { type Asset, BUILT_ASSETS_DIR, loadAssets } from "./dashboard-assets.js";
import { resumeVersion, sendText, streamShow } from "./dashboard-events.js";
import { listAllShows } from "./dashboard-shows.js";
import { isLoopbackHost, isLoopbackHostHeader } from "./loopback-host.js";

/** Defaults of {@link DashboardOptions}, stated once. */
export const DASHBOARD_DEFAULTS = {
  /** Live streams open at once; more get 503. */
  maxEventClients: 200,
  /** The reconnection delay browsers are told, ms. */
  retryMs: 1000,
  /** A comment line on idle streams this often, ms. */
  heartbeatMs: 15_000,
  /** Shows `/shows` lists at most. */
  maxListedShows: 500,
} as const;

/** Options of {@link serveDashboard}. */
export interface DashboardOptions {
  /** Address to bind. Whether a non-loopback one is allowed is config's decision. */
  readonly host: string;
  /** Port to bind; 0 picks a free one. */
  readonly port: number;
  readonly logger: Logger;
  readonly maxEventClients?: number;
  readonly retryMs?: number;
  readonly heartbeatMs?: number;
  readonly maxListedShows?: number;
  /** Where the built page is (default: dist/dashboard). */
  readonly assetsDir?: string;
}

/** A running dashboard. */
export interface DashboardServer {
  /** host:port as bound (IPv6 in brackets). */
  readonly address: string;
  readonly port: number;
  /** Ends every live stream (browsers reconnect later) and stops listening. */
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
} as const;

/**
 * Serves the read-only seat-map page over plain HTTP: the page itself, `/shows`
 * (every show's counts, JSON) and `/events?show=ID[&from=VERSION]` (one show's
 * changes as Server-Sent Events, fed by core.watch; `id:` is the version, so a
 * reconnecting browser resumes with Last-Event-ID). Nothing it serves names a
 * principal: the core's snapshots and changes carry none.
 *
 * Bound to a loopback address it answers only requests whose Host header is a
 * loopback name (no DNS rebinding). It does not decide whether a non-loopback
 * address is allowed: config does (isLoopbackHost).
 */
export async function serveDashboard(core: BookingCore, options: DashboardOptions): Promise<DashboardServer> {
  const { logger } = options;
  const settings = {
    retryMs: options.retryMs ?? DASHBOARD_DEFAULTS.retryMs,
    heartbeatMs: options.heartbeatMs ?? DASHBOARD_DEFAULTS.heartbeatMs,
  };
  const maxEventClients = options.maxEventClients ?? DASHBOARD_DEFAULTS.maxEventClients;
  const maxListedShows = options.maxListedShows ?? DASHBOARD_DEFAULTS.maxListedShows;
  const assets = await loadAssets(options.assetsDir ?? BUILT_ASSETS_DIR);
  const checkHost = isLoopbackHost(options.host);
  const stopping = new AbortController();
  const streams = new Set<Promise<void>>();

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) response.setHeader(name, value);
    if (request.method !== "GET" && request.method !== "HEAD") return sendText(response, 405, "read-only\n", { allow: "GET, HEAD" });
    if (checkHost && !isLoopbackHostHeader(request.headers.host)) return sendText(response, 403, "this dashboard answers loopback host names only\n");
    const url = new URL(request.url ?? "/", "http://dashboard.invalid");
    if (url.pathname === "/events") {
      const showId = url.searchParams.get("show") ?? "";
      const resumeFrom = resumeVersion(request.headers["last-event-id"], url.searchParams.get("from"));
      if (showId === "") return sendText(response, 400, "name a show: /events?show=ID\n");
      if (resumeFrom === "invalid") return sendText(response, 400, "from and Last-Event-ID must be a version (a whole number)\n");
      if (streams.size >= maxEventClients) {
        logger.warn({ limit: maxEventClients }, "dashboard: refused a live stream past the limit");
        return sendText(response, 503, "too many live streams; try again later\n", { "retry-after": "10" });
      }
      const stream = streamShow(core, request, response, { showId, resumeFrom, settings, logger, signal: stopping.signal });
      streams.add(stream);
      return stream.finally(() => streams.delete(stream));
    }
    if (url.pathname === "/shows") {
      const list = await listAllShows(core, maxListedShows);
      response.writeHead(200, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
      response.end(request.method === "HEAD" ? undefined : JSON.stringify(list));
      return;
    }
    const asset = assets.get(url.pathname);
    if (asset === undefined) return sendText(response, 404, "not found\n");
    sendAsset(request, response, asset);
  };

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      const unavailable = isBookingFailure(error) && error.reason === "STORE_UNAVAILABLE";
      if (!unavailable) logger.error({ err: error, url: request.url }, "dashboard: request failed");
      if (response.headersSent) response.destroy();
      else sendText(response, unavailable ? 503 : 500, unavailable ? "the store is unavailable\n" : "internal error\n");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const address = `${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`;
  return {
    address,
    port: bound.port,
    close: async () => {
      stopping.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.allSettled([...streams]);
      server.closeIdleConnections();
      await closed;
    },
  };
}

function sendAsset(request: IncomingMessage, response: ServerResponse, asset: Asset): void {
  if (request.headers["if-none-match"] === asset.etag) {
    response.writeHead(304, { etag: asset.etag });
    response.end();
    return;
  }
  response.writeHead(200, {
    "content-type": asset.contentType,
    "content-length": asset.body.length,
    "cache-control": "no-cache",
    etag: asset.etag,
  });
  response.end(request.method === "HEAD" ? undefined : asset.body);
}
