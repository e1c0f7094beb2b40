import { parseDurationText } from "../wire/duration-text.js";
import { DEV_ADMIN_PRINCIPAL } from "../wire/wire-constants.js";
import { parseArgs } from "node:util";
import { join } from "node:path";
import type { ChangeLogRetention } from "./core/show-changes.js";
import type { ShowDefinition } from "./core/seat-store.js";
import type { BookingServerSettings } from "./transport/booking-server.js";
import { defaultBurst, SERVER_DEFAULTS as DEFAULTS } from "./server-defaults.js";
import { DEFAULT_SQLITE_PATH, isStoreSpec, STORE_SPEC_FORMS } from "./stores/open-store.js";
import { isLoopbackHost } from "./dashboard/loopback-host.js";
import { ANY_SHOW_ID_PATTERN, CORE_DEFAULTS, MIN_HOLD_TTL_MS } from "./core/core-defaults.js";

/** The development admin principal, trusted only with the development PKI. */
export { DEV_ADMIN_PRINCIPAL };

/**
 * Everything the server is configured with: one typed object, read once at
 * start. It holds every one of the gRPC server's settings
 * (BookingServerSettings, documented there) besides its own.
 */
export interface ServerConfig extends Required<BookingServerSettings> {
  /** host:port to listen on. Port 0 picks a free port. */
  readonly listen: string;
  /** Plaintext, loopback only: for local experiments. */
  readonly insecure: boolean;
  /** Where the development PKI lives (and is created when missing). */
  readonly certsDir: string;
  /** True when no certificate path was given: the development PKI is used. */
  readonly devPki: boolean;
  readonly caCertPath: string;
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
  readonly shows: readonly ShowDefinition[];
  readonly defaultShowId: string;
  /** Principals who may cancel anyone's seats. */
  readonly admins: readonly string[];
  readonly logLevel: string;
  /** "memory", "sqlite", "sqlite:PATH" or a postgres:// URL. */
  readonly store: string;
  readonly requestIdRetentionMs: number;
  readonly maxSeatsPerRequest: number;
  /** Changes waiting for the store; more get RESOURCE_EXHAUSTED. */
  readonly maxQueuedChanges: number;
  /** host:port of the Prometheus endpoint; undefined = off. */
  readonly metricsListen: string | undefined;
  /** host:port of the read-only seat-map page; undefined = off. Loopback unless dashboardAllowRemote. */
  readonly dashboardListen: string | undefined;
  readonly dashboardAllowRemote: boolean;
  /** How long SIGTERM waits for calls in flight before cancelling them. */
  readonly shutdownGraceMs: number;
  readonly postgresPoolSize: number;
  readonly postgresBatchesInFlight: number;
  readonly postgresLockTimeoutMs: number;
  readonly postgresIdleInTransactionTimeoutMs: number;
  /** The most seats a show created or resized at run time may have. */
  readonly maxSeatsPerShow: number;
  /** A hold's TTL when the request names none: 10 minutes, or the maximum TTL when that is less. */
  readonly defaultHoldTtlMs: number;
  /** The longest TTL a hold or an extension may ask for. */
  readonly maxHoldTtlMs: number;
  /** No extension moves a hold's expiry past its creation plus this. */
  readonly maxHoldLifetimeMs: number;
  readonly maxHoldsPerPrincipal: number;
  /** How much of each show's change log the store keeps (how far back a watch can resume). */
  readonly changeLog: ChangeLogRetention;
  /** Changes a watcher may have waiting before it is ended as SLOW_CONSUMER. */
  readonly watchMaxBacklog: number;
  /** How often the expiry sweeper runs; 0 = never (expiry is still decided per request). */
  readonly holdSweepIntervalMs: number;
}

/** A bad flag or variable: the message names it. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

/** Help text for `booking serve --help`; the defaults come from {@link DEFAULTS}. */
export const SERVE_USAGE = `usage: booking serve [options]

Every option also reads an environment variable (shown); flags win.

  --listen HOST:PORT            BOOKING_LISTEN        default ${DEFAULTS.listen}
  --insecure                    BOOKING_INSECURE=1    plaintext, loopback only
  --certs-dir DIR               BOOKING_CERTS_DIR     default ${DEFAULTS.certsDir} (created if missing)
  --ca FILE                     BOOKING_CA            client CA (default DIR/ca.crt)
  --cert FILE                   BOOKING_SERVER_CERT   server certificate (default DIR/server.crt)
  --key FILE                    BOOKING_SERVER_KEY    server key (default DIR/server.key)
  --store SPEC                  BOOKING_STORE         ${DEFAULTS.store} (default, ${DEFAULT_SQLITE_PATH}),
                                                      sqlite:PATH, memory, postgres://...
  --shows ID:SEATS,...          BOOKING_SHOWS         default ${DEFAULTS.shows}
  --default-show ID             BOOKING_DEFAULT_SHOW  default: the first show
  --admins P,...                BOOKING_ADMINS        default ${DEV_ADMIN_PRINCIPAL} with the dev PKI
  --allow P,...                 BOOKING_ALLOW         only these principals may call
  --log-level LEVEL             BOOKING_LOG_LEVEL     default ${DEFAULTS.logLevel}
  --request-id-retention-hours  BOOKING_REQUEST_ID_RETENTION_HOURS  default ${DEFAULTS.requestIdRetentionHours}
  --max-seats-per-request N     BOOKING_MAX_SEATS_PER_REQUEST       default ${DEFAULTS.maxSeatsPerRequest}
  --max-seats-per-show N        BOOKING_MAX_SEATS_PER_SHOW          default ${DEFAULTS.maxSeatsPerShow}
  --max-hold-ttl DURATION       BOOKING_MAX_HOLD_TTL                default ${formatDuration(DEFAULTS.maxHoldTtlMs)}
  --max-hold-lifetime DURATION  BOOKING_MAX_HOLD_LIFETIME           default ${formatDuration(DEFAULTS.maxHoldLifetimeMs)}
  --max-holds-per-principal N   BOOKING_MAX_HOLDS_PER_PRINCIPAL     default ${DEFAULTS.maxHoldsPerPrincipal}
  --hold-sweep-interval-ms N    BOOKING_HOLD_SWEEP_INTERVAL_MS      default ${DEFAULTS.holdSweepIntervalMs} (0 = off)
  --change-log-max-versions N   BOOKING_CHANGE_LOG_MAX_VERSIONS     default ${DEFAULTS.changeLogMaxVersions} per show
  --change-log-max-age DURATION BOOKING_CHANGE_LOG_MAX_AGE          default ${formatDuration(DEFAULTS.changeLogMaxAgeMs)}
  --watch-max-backlog N         BOOKING_WATCH_MAX_BACKLOG           default ${DEFAULTS.watchMaxBacklog} changes (then SLOW_CONSUMER)
  --max-watch-streams-per-principal N  BOOKING_MAX_WATCH_STREAMS_PER_PRINCIPAL  default ${DEFAULTS.maxWatchStreamsPerPrincipal}
  --max-watch-streams N         BOOKING_MAX_WATCH_STREAMS           default ${DEFAULTS.maxWatchStreams}
  --keepalive-time-ms N         BOOKING_KEEPALIVE_TIME_MS           default ${DEFAULTS.keepaliveTimeMs}
  --keepalive-timeout-ms N      BOOKING_KEEPALIVE_TIMEOUT_MS        default ${DEFAULTS.keepaliveTimeoutMs}
  --tls-handshake-timeout-ms N  BOOKING_TLS_HANDSHAKE_TIMEOUT_MS    default ${DEFAULTS.tlsHandshakeTimeoutMs}
  --request-arrival-timeout-ms N  BOOKING_REQUEST_ARRIVAL_TIMEOUT_MS  default ${DEFAULTS.requestArrivalTimeoutMs} (0 = never)
  --max-in-flight N             BOOKING_MAX_IN_FLIGHT               default ${DEFAULTS.maxInFlight}
  --max-queued N                BOOKING_MAX_QUEUED                  default ${DEFAULTS.maxQueuedChanges}
  --max-receive-bytes N         BOOKING_MAX_RECEIVE_BYTES           default ${DEFAULTS.maxReceiveBytes}
  --max-concurrent-streams N    BOOKING_MAX_CONCURRENT_STREAMS      default ${DEFAULTS.maxConcurrentStreams}
  --max-connections-per-principal N  BOOKING_MAX_CONNECTIONS_PER_PRINCIPAL  default ${DEFAULTS.maxConnectionsPerPrincipal} (0 = no limit)
  --max-event-loop-lag-ms N     BOOKING_MAX_EVENT_LOOP_LAG_MS       default ${DEFAULTS.maxEventLoopLagMs} (0 = off)
  --overload-interval-ms N      BOOKING_OVERLOAD_INTERVAL_MS        default ${DEFAULTS.overloadIntervalMs} (shed once the lag stays above it this long)
  --write-rate N[/BURST]        BOOKING_WRITE_RATE    per principal, calls/s (0 = off, default ${DEFAULTS.writeRatePerSecond})
  --read-rate N[/BURST]         BOOKING_READ_RATE     per principal, calls/s (0 = off, default ${DEFAULTS.readRatePerSecond})
  --metrics-listen HOST:PORT    BOOKING_METRICS_LISTEN  Prometheus /metrics (default off)
  --dashboard-listen HOST:PORT  BOOKING_DASHBOARD_LISTEN  read-only seat-map page (default off; loopback only)
  --dashboard-allow-remote      BOOKING_DASHBOARD_ALLOW_REMOTE=1  allow a non-loopback --dashboard-listen
  --shutdown-grace-ms N         BOOKING_SHUTDOWN_GRACE_MS           default ${DEFAULTS.shutdownGraceMs}
  --pg-pool-size N              BOOKING_PG_POOL_SIZE                default ${DEFAULTS.postgresPoolSize}
  --pg-batches-in-flight N      BOOKING_PG_BATCHES_IN_FLIGHT        default ${DEFAULTS.postgresBatchesInFlight} (at most the pool size; one per show at a time)
  --pg-lock-timeout DURATION    BOOKING_PG_LOCK_TIMEOUT             default ${formatDuration(DEFAULTS.postgresLockTimeoutMs)} (0s = none)
  --pg-idle-in-transaction-timeout DURATION
                                BOOKING_PG_IDLE_IN_TRANSACTION_TIMEOUT  default ${formatDuration(DEFAULTS.postgresIdleInTransactionTimeoutMs)} (0s = none):
                                PostgreSQL ends a transaction left waiting this long, freeing its locks
  --help
`;

const options = {
  listen: { type: "string", env: "BOOKING_LISTEN" },
  insecure: { type: "boolean", env: "BOOKING_INSECURE" },
  "certs-dir": { type: "string", env: "BOOKING_CERTS_DIR" },
  ca: { type: "string", env: "BOOKING_CA" },
  cert: { type: "string", env: "BOOKING_SERVER_CERT" },
  key: { type: "string", env: "BOOKING_SERVER_KEY" },
  store: { type: "string", env: "BOOKING_STORE" },
  shows: { type: "string", env: "BOOKING_SHOWS" },
  "default-show": { type: "string", env: "BOOKING_DEFAULT_SHOW" },
  admins: { type: "string", env: "BOOKING_ADMINS" },
  allow: { type: "string", env: "BOOKING_ALLOW" },
  "log-level": { type: "string", env: "BOOKING_LOG_LEVEL" },
  "request-id-retention-hours": { type: "string", env: "BOOKING_REQUEST_ID_RETENTION_HOURS" },
  "max-seats-per-request": { type: "string", env: "BOOKING_MAX_SEATS_PER_REQUEST" },
  "max-seats-per-show": { type: "string", env: "BOOKING_MAX_SEATS_PER_SHOW" },
  "max-hold-ttl": { type: "string", env: "BOOKING_MAX_HOLD_TTL" },
  "max-hold-lifetime": { type: "string", env: "BOOKING_MAX_HOLD_LIFETIME" },
  "max-holds-per-principal": { type: "string", env: "BOOKING_MAX_HOLDS_PER_PRINCIPAL" },
  "hold-sweep-interval-ms": { type: "string", env: "BOOKING_HOLD_SWEEP_INTERVAL_MS" },
  "change-log-max-versions": { type: "string", env: "BOOKING_CHANGE_LOG_MAX_VERSIONS" },
  "change-log-max-age": { type: "string", env: "BOOKING_CHANGE_LOG_MAX_AGE" },
  "watch-max-backlog": { type: "string", env: "BOOKING_WATCH_MAX_BACKLOG" },
  "max-watch-streams-per-principal": { type: "string", env: "BOOKING_MAX_WATCH_STREAMS_PER_PRINCIPAL" },
  "max-watch-streams": { type: "string", env: "BOOKING_MAX_WATCH_STREAMS" },
  "keepalive-time-ms": { type: "string", env: "BOOKING_KEEPALIVE_TIME_MS" },
  "keepalive-timeout-ms": { type: "string", env: "BOOKING_KEEPALIVE_TIMEOUT_MS" },
  "tls-handshake-timeout-ms": { type: "string", env: "BOOKING_TLS_HANDSHAKE_TIMEOUT_MS" },
  "request-arrival-timeout-ms": { type: "string", env: "BOOKING_REQUEST_ARRIVAL_TIMEOUT_MS" },
  "max-in-flight": { type: "string", env: "BOOKING_MAX_IN_FLIGHT" },
  "max-queued": { type: "string", env: "BOOKING_MAX_QUEUED" },
  "max-receive-bytes": { type: "string", env: "BOOKING_MAX_RECEIVE_BYTES" },
  "max-concurrent-streams": { type: "string", env: "BOOKING_MAX_CONCURRENT_STREAMS" },
  "max-connections-per-principal": { type: "string", env: "BOOKING_MAX_CONNECTIONS_PER_PRINCIPAL" },
  "max-event-loop-lag-ms": { type: "string", env: "BOOKING_MAX_EVENT_LOOP_LAG_MS" },
  "overload-interval-ms": { type: "string", env: "BOOKING_OVERLOAD_INTERVAL_MS" },
  "write-rate": { type: "string", env: "BOOKING_WRITE_RATE" },
  "read-rate": { type: "string", env: "BOOKING_READ_RATE" },
  "metrics-listen": { type: "string", env: "BOOKING_METRICS_LISTEN" },
  "dashboard-listen": { type: "string", env: "BOOKING_DASHBOARD_LISTEN" },
  "dashboard-allow-remote": { type: "boolean", env: "BOOKING_DASHBOARD_ALLOW_REMOTE" },
  "shutdown-grace-ms": { type: "string", env: "BOOKING_SHUTDOWN_GRACE_MS" },
  "pg-pool-size": { type: "string", env: "BOOKING_PG_POOL_SIZE" },
  "pg-batches-in-flight": { type: "string", env: "BOOKING_PG_BATCHES_IN_FLIGHT" },
  "pg-lock-timeout": { type: "string", env: "BOOKING_PG_LOCK_TIMEOUT" },
  "pg-idle-in-transaction-timeout": { type: "string", env: "BOOKING_PG_IDLE_IN_TRANSACTION_TIMEOUT" },
  help: { type: "boolean", env: "" },
} as const;

type OptionName = keyof typeof options;

/**
 * Reads `booking serve` flags, falling back to BOOKING_* variables, then to
 * {@link DEFAULTS}. Throws a {@link ConfigError} naming the first bad flag,
 * including `--insecure` on an address that is not loopback.
 */
export function parseServerConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ServerConfig | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: Object.fromEntries(Object.entries(options).map(([name, spec]) => [name, { type: spec.type }])),
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new ConfigError(error instanceof Error ? error.message : String(error));
  }
  const flags = parsed.values as Partial<Record<OptionName, string | boolean>>;
  if (flags.help === true) return "help";
  const text = (name: OptionName): string | undefined => {
    const flag = flags[name];
    if (typeof flag === "string") return flag;
    const variable = options[name].env;
    return variable === "" ? undefined : env[variable];
  };
  // A switch's variable must say yes or no: a value like "maybe" or "of"
  // (for off) is refused rather than read as one or the other, since both
  // switches here turn a safety off.
  const bool = (name: OptionName): boolean => {
    if (flags[name] === true) return true;
    const variable = options[name].env;
    const value = env[variable];
    if (value === undefined) return false;
    const normalized = value.trim().toLowerCase();
    if (["1", "true", "yes", "on"].includes(normalized)) return true;
    if (["", "0", "false", "no", "off"].includes(normalized)) return false;
    throw new ConfigError(`${variable} must be 1, true, yes or on to turn --${name} on, or 0, false, no, off or empty for off, got "${value}"`);
  };
  const integer = (name: OptionName, fallback: number, min: number): number => {
    const raw = text(name);
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < min) {
      throw new ConfigError(`--${name} (${options[name].env}) must be a whole number >= ${min}, got "${raw}"`);
    }
    return value;
  };
  const duration = (name: OptionName, fallback: number, minMs: number): number => {
    const raw = text(name);
    if (raw === undefined || raw === "") return fallback;
    const ms = parseDuration(raw);
    if (ms === undefined || ms < minMs) {
      throw new ConfigError(
        `--${name} (${options[name].env}) must be a duration of at least ${formatDuration(minMs)} such as 90s, 15m or 1h30m, got "${raw}"`,
      );
    }
    return ms;
  };

  const maxSeatsPerShow = integer("max-seats-per-show", DEFAULTS.maxSeatsPerShow, 1);
  const maxHoldTtlMs = duration("max-hold-ttl", DEFAULTS.maxHoldTtlMs, MIN_HOLD_TTL_MS);
  const maxHoldLifetimeMs = duration("max-hold-lifetime", DEFAULTS.maxHoldLifetimeMs, MIN_HOLD_TTL_MS);
  if (maxHoldLifetimeMs < maxHoldTtlMs) {
    throw new ConfigError(
      `--max-hold-lifetime (${formatDuration(maxHoldLifetimeMs)}) must be at least --max-hold-ttl (${formatDuration(maxHoldTtlMs)})`,
    );
  }
  const store = text("store") ?? DEFAULTS.store;
  if (!isStoreSpec(store)) throw new ConfigError(`--store (BOOKING_STORE) must be ${STORE_SPEC_FORMS}, got "${store}"`);
  const certsDir = text("certs-dir") ?? DEFAULTS.certsDir;
  const devPki = text("ca") === undefined && text("cert") === undefined && text("key") === undefined;
  const shows = parseShows(text("shows") ?? DEFAULTS.shows, maxSeatsPerShow);
  const defaultShowId = text("default-show") ?? shows[0]?.id ?? "main";
  if (!shows.some((show) => show.id === defaultShowId)) {
    throw new ConfigError(`--default-show "${defaultShowId}" is not among --shows (${shows.map((s) => s.id).join(", ")})`);
  }
  const listen = text("listen") ?? DEFAULTS.listen;
  parseHostPort(listen, "--listen");
  const insecure = bool("insecure");
  if (insecure) assertLoopback(listen);
  const metricsListen = text("metrics-listen");
  if (metricsListen !== undefined) parseHostPort(metricsListen, "--metrics-listen");
  const dashboardListen = text("dashboard-listen");
  const dashboardAllowRemote = bool("dashboard-allow-remote");
  if (dashboardListen !== undefined && !dashboardAllowRemote && !isLoopbackHost(parseHostPort(dashboardListen, "--dashboard-listen").host)) {
    throw new ConfigError(`--dashboard-listen ${dashboardListen} is not a loopback address; add --dashboard-allow-remote to serve the seat-map page to other machines`);
  }
  const writeRate = parseRate(text("write-rate") ?? String(DEFAULTS.writeRatePerSecond), "--write-rate");
  const readRate = parseRate(text("read-rate") ?? String(DEFAULTS.readRatePerSecond), "--read-rate");

  return {
    listen,
    insecure,
    certsDir,
    devPki,
    caCertPath: text("ca") ?? join(certsDir, "ca.crt"),
    serverCertPath: text("cert") ?? join(certsDir, "server.crt"),
    serverKeyPath: text("key") ?? join(certsDir, "server.key"),
    shows,
    defaultShowId,
    admins: list(text("admins")) ?? (devPki ? [DEV_ADMIN_PRINCIPAL] : []),
    allowedPrincipals: list(text("allow")),
    logLevel: parseLogLevel(text("log-level") ?? DEFAULTS.logLevel),
    store,
    requestIdRetentionMs: integer("request-id-retention-hours", DEFAULTS.requestIdRetentionHours, 1) * 60 * 60 * 1000,
    maxSeatsPerRequest: integer("max-seats-per-request", DEFAULTS.maxSeatsPerRequest, 1),
    maxInFlight: integer("max-in-flight", DEFAULTS.maxInFlight, 1),
    maxQueuedChanges: integer("max-queued", DEFAULTS.maxQueuedChanges, 1),
    maxReceiveBytes: integer("max-receive-bytes", DEFAULTS.maxReceiveBytes, 1024),
    maxConcurrentStreams: integer("max-concurrent-streams", DEFAULTS.maxConcurrentStreams, 1),
    maxConnectionsPerPrincipal: integer("max-connections-per-principal", DEFAULTS.maxConnectionsPerPrincipal, 0),
    maxEventLoopLagMs: integer("max-event-loop-lag-ms", DEFAULTS.maxEventLoopLagMs, 0),
    overloadIntervalMs: integer("overload-interval-ms", DEFAULTS.overloadIntervalMs, 0),
    writeRatePerSecond: writeRate.rate,
    writeBurst: writeRate.burst,
    readRatePerSecond: readRate.rate,
    readBurst: readRate.burst,
    metricsListen,
    dashboardListen,
    dashboardAllowRemote,
    shutdownGraceMs: integer("shutdown-grace-ms", DEFAULTS.shutdownGraceMs, 0),
    postgresPoolSize: integer("pg-pool-size", DEFAULTS.postgresPoolSize, 1),
    postgresBatchesInFlight: integer("pg-batches-in-flight", DEFAULTS.postgresBatchesInFlight, 1),
    postgresLockTimeoutMs: duration("pg-lock-timeout", DEFAULTS.postgresLockTimeoutMs, 0),
    postgresIdleInTransactionTimeoutMs: duration("pg-idle-in-transaction-timeout", DEFAULTS.postgresIdleInTransactionTimeoutMs, 0),
    maxSeatsPerShow,
    defaultHoldTtlMs: Math.min(CORE_DEFAULTS.defaultHoldTtlMs, maxHoldTtlMs),
    maxHoldTtlMs,
    maxHoldLifetimeMs,
    maxHoldsPerPrincipal: integer("max-holds-per-principal", DEFAULTS.maxHoldsPerPrincipal, 1),
    changeLog: {
      maxVersions: integer("change-log-max-versions", DEFAULTS.changeLogMaxVersions, 1),
      maxAgeMs: duration("change-log-max-age", DEFAULTS.changeLogMaxAgeMs, 1000),
    },
    watchMaxBacklog: integer("watch-max-backlog", DEFAULTS.watchMaxBacklog, 1),
    holdSweepIntervalMs: integer("hold-sweep-interval-ms", DEFAULTS.holdSweepIntervalMs, 0),
    maxWatchStreamsPerPrincipal: integer("max-watch-streams-per-principal", DEFAULTS.maxWatchStreamsPerPrincipal, 1),
    maxWatchStreams: integer("max-watch-streams", DEFAULTS.maxWatchStreams, 1),
    keepaliveTimeMs: integer("keepalive-time-ms", DEFAULTS.keepaliveTimeMs, 1000),
    keepaliveTimeoutMs: integer("keepalive-timeout-ms", DEFAULTS.keepaliveTimeoutMs, 1000),
    tlsHandshakeTimeoutMs: integer("tls-handshake-timeout-ms", DEFAULTS.tlsHandshakeTimeoutMs, 100),
    requestArrivalTimeoutMs: integer("request-arrival-timeout-ms", DEFAULTS.requestArrivalTimeoutMs, 0),
  };
}

/**
 * Plaintext is for local experiments only: throws a {@link ConfigError}
 * unless `listen` is on localhost, ::1 or 127.0.0.0/8.
 */
export function assertLoopback(listen: string): void {
  const { host } = parseHostPort(listen, "--listen");
  if (!(host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host))) {
    throw new ConfigError(`--insecure is refused on ${listen}: plaintext is allowed on loopback addresses only`);
  }
}

/** Splits "host:port" (IPv6 in brackets) and checks the port. */
export function parseHostPort(address: string, what: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d{1,5})$/.exec(address);
  const port = Number(match?.[2]);
  if (match === null || port > 65535) {
    throw new ConfigError(`${what} must be HOST:PORT (IPv6 in brackets), got "${address}"`);
  }
  return { host: (match[1] ?? "").replace(/^\[|\]$/g, ""), port };
}

/** "main:100,matinee:40" → shows, each of 1 to `maxSeats` seats (--max-seats-per-show). */
export function parseShows(spec: string, maxSeats: number = DEFAULTS.maxSeatsPerShow): ShowDefinition[] {
  const shows: ShowDefinition[] = [];
  for (const entry of spec.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
    const match = /^([^:]*):(\d+)$/.exec(entry);
    const total = Number(match?.[2]);
    if (match === null || !ANY_SHOW_ID_PATTERN.test(match[1] ?? "") || total < 1 || total > maxSeats) {
      throw new ConfigError(
        `--shows entry "${entry}" must be ID:SEATS (ID of letters, digits, _ . -; SEATS 1 to ${maxSeats}, --max-seats-per-show)`,
      );
    }
    const id = match[1] ?? "";
    if (shows.some((show) => show.id === id)) throw new ConfigError(`--shows names "${id}" twice`);
    shows.push({ id, totalSeats: total });
  }
  if (shows.length === 0) throw new ConfigError("--shows must name at least one show");
  return shows;
}

/**
 * Reads a Go-style duration (`90s`, `15m`, `1h30m`, `1500ms`; decimals
 * allowed) as whole ms; undefined when it is not one. The same syntax as the
 * CLI's --ttl (wire/duration-text.ts).
 */
export const parseDuration: (text: string) => number | undefined = parseDurationText;

/** A duration as {@link parseDuration} reads it, in the largest units that fit exactly: 15m, 2h, 1h30m, 250ms. */
export function formatDuration(ms: number): string {
  let rest = ms;
  let text = "";
  for (const [unit, size] of [["h", 3_600_000], ["m", 60_000], ["s", 1000], ["ms", 1]] as const) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text === "" ? "0s" : text;
}

function parseRate(spec: string, what: string): { rate: number; burst: number } {
  const match = /^(\d+(?:\.\d+)?)(?:\/(\d+))?$/.exec(spec);
  if (match === null) throw new ConfigError(`${what} must be RATE or RATE/BURST (calls per second), got "${spec}"`);
  const rate = Number(match[1]);
  const burst = match[2] === undefined ? defaultBurst(rate) : Number(match[2]);
  if (rate > 0 && burst < 1) throw new ConfigError(`${what} burst must be at least 1, got "${spec}"`);
  return { rate, burst };
}

function parseLogLevel(level: string): string {
  const levels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
  if (!levels.includes(level)) throw new ConfigError(`--log-level must be one of ${levels.join(", ")}, got "${level}"`);
  return level;
}

function list(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value.split(",").map((item) => item.trim()).filter((item) => item !== "");
}
