import { DEFAULT_ADDRESS } from "../wire/wire-constants.js";
import { CORE_DEFAULTS } from "./core/core-defaults.js";
import { DEFAULT_REQUEST_ID_RETENTION_MS } from "./core/idempotency.js";

/**
 * Every default of the server's settings, stated once. `parseServerConfig`
 * falls back to these, `createBookingServer` fills omitted options from them,
 * and `booking serve --help` prints them.
 *
 * The core's limits are the core's own defaults (CORE_DEFAULTS), read here,
 * not restated. Limit: the PostgreSQL store restates its pool size of 10 as
 * its option default (it exports no constant); the serve command always
 * passes this value.
 */
export const SERVER_DEFAULTS = {
  listen: DEFAULT_ADDRESS,
  certsDir: "certs",
  /** `--store`: SQLite at the stores' DEFAULT_SQLITE_PATH. */
  store: "sqlite",
  shows: "main:100",
  logLevel: "info",
  requestIdRetentionHours: DEFAULT_REQUEST_ID_RETENTION_MS / (60 * 60 * 1000),
  maxSeatsPerRequest: CORE_DEFAULTS.maxSeatsPerRequest,
  maxInFlight: 1024,
  maxQueuedChanges: CORE_DEFAULTS.maxQueuedChanges,
  maxReceiveBytes: 65536,
  maxConcurrentStreams: 100,
  /**
   * Load shedding for `booking serve`. A server built by
   * `createBookingServer` without this option does not shed (0), so that
   * servers inside test processes are not disturbed by their host's work.
   */
  maxEventLoopLagMs: 100,
  /** Per-principal calls per second; 0 = no limit. */
  writeRatePerSecond: 0,
  readRatePerSecond: 0,
  shutdownGraceMs: 10_000,
  postgresPoolSize: 10,
} as const;

/** The burst of a rate limit given without one: the rate rounded up, at least 1. */
export function defaultBurst(ratePerSecond: number): number {
  return Math.max(1, Math.ceil(ratePerSecond));
}
