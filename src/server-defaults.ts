import { DEFAULT_ADDRESS, DEFAULT_CERTS_DIR } from "../wire/wire-constants.js";
import { FEED_DEFAULTS } from "./core/availability-feed.js";
import { DEFAULT_CHANGE_LOG_RETENTION } from "./core/change-log.js";
import { CORE_DEFAULTS } from "./core/core-defaults.js";
import { DEFAULT_REQUEST_ID_RETENTION_MS } from "./core/idempotency.js";
import { POSTGRES_STORE_DEFAULTS } from "./stores/postgres-store-defaults.js";
import { TRANSPORT_DEFAULTS } from "./transport/transport-defaults.js";

export { defaultBurst } from "./transport/transport-defaults.js";

/**
 * Every default of `booking serve`, each stated once: the core's limits come
 * from CORE_DEFAULTS (the change log's from DEFAULT_CHANGE_LOG_RETENTION, the
 * watchers' feed's from FEED_DEFAULTS), the gRPC layer's from
 * TRANSPORT_DEFAULTS, the rest are the serve command's own. `parseServerConfig` falls back to these and
 * `booking serve --help` prints them.
 * The PostgreSQL store's come from POSTGRES_STORE_DEFAULTS.
 */
export const SERVER_DEFAULTS = {
  listen: DEFAULT_ADDRESS,
  certsDir: DEFAULT_CERTS_DIR,
  /** `--store`: SQLite at the stores' DEFAULT_SQLITE_PATH. */
  store: "sqlite",
  shows: "main:100",
  logLevel: "info",
  requestIdRetentionHours: DEFAULT_REQUEST_ID_RETENTION_MS / (60 * 60 * 1000),
  maxSeatsPerRequest: CORE_DEFAULTS.maxSeatsPerRequest,
  maxQueuedChanges: CORE_DEFAULTS.maxQueuedChanges,
  maxSeatsPerShow: CORE_DEFAULTS.maxSeatsPerShow,
  maxHoldTtlMs: CORE_DEFAULTS.maxHoldTtlMs,
  maxHoldLifetimeMs: CORE_DEFAULTS.maxHoldLifetimeMs,
  maxHoldsPerPrincipal: CORE_DEFAULTS.maxHoldsPerPrincipal,
  changeLogMaxVersions: DEFAULT_CHANGE_LOG_RETENTION.maxVersions,
  changeLogMaxAgeMs: DEFAULT_CHANGE_LOG_RETENTION.maxAgeMs,
  watchMaxBacklog: FEED_DEFAULTS.maxBacklog,
  maxInFlight: TRANSPORT_DEFAULTS.maxInFlight,
  maxReceiveBytes: TRANSPORT_DEFAULTS.maxReceiveBytes,
  maxConcurrentStreams: TRANSPORT_DEFAULTS.maxConcurrentStreams,
  maxConnectionsPerPrincipal: TRANSPORT_DEFAULTS.maxConnectionsPerPrincipal,
  maxEventLoopLagMs: TRANSPORT_DEFAULTS.maxEventLoopLagMs,
  overloadIntervalMs: TRANSPORT_DEFAULTS.overloadIntervalMs,
  writeRatePerSecond: TRANSPORT_DEFAULTS.writeRatePerSecond,
  readRatePerSecond: TRANSPORT_DEFAULTS.readRatePerSecond,
  maxWatchStreamsPerPrincipal: TRANSPORT_DEFAULTS.maxWatchStreamsPerPrincipal,
  maxWatchStreams: TRANSPORT_DEFAULTS.maxWatchStreams,
  keepaliveTimeMs: TRANSPORT_DEFAULTS.keepaliveTimeMs,
  keepaliveTimeoutMs: TRANSPORT_DEFAULTS.keepaliveTimeoutMs,
  tlsHandshakeTimeoutMs: TRANSPORT_DEFAULTS.tlsHandshakeTimeoutMs,
  requestArrivalTimeoutMs: TRANSPORT_DEFAULTS.requestArrivalTimeoutMs,
  /** How often the expiry sweeper records lapsed holds as ended (HOLD_ENDED). */
  holdSweepIntervalMs: 250,
  shutdownGraceMs: 10_000,
  postgresPoolSize: POSTGRES_STORE_DEFAULTS.poolSize,
  postgresBatchesInFlight: POSTGRES_STORE_DEFAULTS.batchesInFlight,
  postgresLockTimeoutMs: POSTGRES_STORE_DEFAULTS.lockTimeoutMs,
  postgresIdleInTransactionTimeoutMs: POSTGRES_STORE_DEFAULTS.idleInTransactionTimeoutMs,
} as const;
