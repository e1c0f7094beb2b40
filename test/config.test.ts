import { describe, expect, it } from "vitest";
import { DEV_ADMIN_PRINCIPAL } from "../wire/wire-constants.js";
import { FEED_DEFAULTS } from "../src/core/availability-feed.js";
import { DEFAULT_CHANGE_LOG_RETENTION } from "../src/core/change-log.js";
import { CORE_DEFAULTS } from "../src/core/core-defaults.js";
import { TRANSPORT_DEFAULTS } from "../src/transport/transport-defaults.js";
import {
  assertLoopback,
  ConfigError,
  formatDuration,
  parseDuration,
  parseHostPort,
  parseServerConfig,
  parseShows,
  SERVE_USAGE,
  type ServerConfig,
} from "../src/config.js";
import { SERVER_DEFAULTS } from "../src/server-defaults.js";

function parse(argv: readonly string[], env: Record<string, string> = {}): ServerConfig {
  const config = parseServerConfig(argv, env);
  if (config === "help") throw new Error("expected a configuration, got help");
  return config;
}

describe("parseServerConfig", () => {
  it("falls back to the stated defaults when given nothing", () => {
    const config = parse([]);
    expect(config).toMatchObject({
      listen: SERVER_DEFAULTS.listen,
      insecure: false,
      certsDir: SERVER_DEFAULTS.certsDir,
      devPki: true,
      caCertPath: "certs/ca.crt",
      serverCertPath: "certs/server.crt",
      serverKeyPath: "certs/server.key",
      shows: [{ id: "main", totalSeats: 100 }],
      defaultShowId: "main",
      admins: [DEV_ADMIN_PRINCIPAL],
      allowedPrincipals: undefined,
      logLevel: SERVER_DEFAULTS.logLevel,
      store: SERVER_DEFAULTS.store,
      requestIdRetentionMs: SERVER_DEFAULTS.requestIdRetentionHours * 60 * 60 * 1000,
      maxSeatsPerRequest: SERVER_DEFAULTS.maxSeatsPerRequest,
      maxInFlight: SERVER_DEFAULTS.maxInFlight,
      maxQueuedChanges: SERVER_DEFAULTS.maxQueuedChanges,
      maxReceiveBytes: SERVER_DEFAULTS.maxReceiveBytes,
      maxConcurrentStreams: SERVER_DEFAULTS.maxConcurrentStreams,
      maxConnectionsPerPrincipal: 256,
      tlsHandshakeTimeoutMs: 10_000,
      requestArrivalTimeoutMs: 10_000,
      maxEventLoopLagMs: SERVER_DEFAULTS.maxEventLoopLagMs,
      writeRatePerSecond: 0,
      readRatePerSecond: 0,
      metricsListen: undefined,
      dashboardListen: undefined,
      dashboardAllowRemote: false,
      shutdownGraceMs: SERVER_DEFAULTS.shutdownGraceMs,
      postgresPoolSize: SERVER_DEFAULTS.postgresPoolSize,
      postgresBatchesInFlight: SERVER_DEFAULTS.postgresBatchesInFlight,
      postgresLockTimeoutMs: SERVER_DEFAULTS.postgresLockTimeoutMs,
      postgresIdleInTransactionTimeoutMs: SERVER_DEFAULTS.postgresIdleInTransactionTimeoutMs,
    });
  });

  it("reads the PostgreSQL store's batches in flight and its lock and idle-in-transaction timeouts; 0s turns a timeout off", () => {
    expect(
      parse(["--pg-batches-in-flight", "6", "--pg-lock-timeout", "500ms"], { BOOKING_PG_IDLE_IN_TRANSACTION_TIMEOUT: "0s" }),
    ).toMatchObject({ postgresBatchesInFlight: 6, postgresLockTimeoutMs: 500, postgresIdleInTransactionTimeoutMs: 0 });
    expect(SERVE_USAGE).toContain("--pg-lock-timeout DURATION    BOOKING_PG_LOCK_TIMEOUT             default 2s (0s = none)\n");
  });

  it("returns help for --help", () => {
    expect(parseServerConfig(["--help"], {})).toBe("help");
  });

  it("reads BOOKING_* variables and lets flags win over them", () => {
    const env = { BOOKING_MAX_IN_FLIGHT: "7", BOOKING_LISTEN: "127.0.0.1:6000", BOOKING_LOG_LEVEL: "debug" };
    expect(parse([], env)).toMatchObject({ maxInFlight: 7, listen: "127.0.0.1:6000", logLevel: "debug" });
    expect(parse(["--max-in-flight", "9", "--listen", "127.0.0.1:7000"], env)).toMatchObject({
      maxInFlight: 9,
      listen: "127.0.0.1:7000",
      logLevel: "debug",
    });
  });

  it("reads --max-connections-per-principal, 0 for no limit, and refuses a negative one", () => {
    expect(parse(["--max-connections-per-principal", "5"]).maxConnectionsPerPrincipal).toBe(5);
    expect(parse([], { BOOKING_MAX_CONNECTIONS_PER_PRINCIPAL: "0" }).maxConnectionsPerPrincipal).toBe(0);
    expect(() => parse(["--max-connections-per-principal=-1"])).toThrow(
      '--max-connections-per-principal (BOOKING_MAX_CONNECTIONS_PER_PRINCIPAL) must be a whole number >= 0, got "-1"',
    );
  });

  it("reads the two new timeouts, and refuses values that cannot work, naming flag and variable", () => {
    expect(parse(["--tls-handshake-timeout-ms", "2500", "--request-arrival-timeout-ms", "0"])).toMatchObject({
      tlsHandshakeTimeoutMs: 2500,
      requestArrivalTimeoutMs: 0,
    });
    expect(() => parse(["--tls-handshake-timeout-ms", "50"])).toThrow(
      '--tls-handshake-timeout-ms (BOOKING_TLS_HANDSHAKE_TIMEOUT_MS) must be a whole number >= 100, got "50"',
    );
    expect(() => parse([], { BOOKING_REQUEST_ARRIVAL_TIMEOUT_MS: "soon" })).toThrow(
      '--request-arrival-timeout-ms (BOOKING_REQUEST_ARRIVAL_TIMEOUT_MS) must be a whole number >= 0, got "soon"',
    );
  });

  it("treats 1, true, yes and on as a true boolean variable, 0, false, no, off and empty as false", () => {
    for (const value of ["1", "true", "YES", "on"]) expect(parse([], { BOOKING_INSECURE: value }).insecure).toBe(true);
    for (const value of ["0", "false", "No", "off", ""]) expect(parse([], { BOOKING_INSECURE: value }).insecure).toBe(false);
  });

  it("refuses a boolean variable that says neither yes nor no, naming the variable and the values it takes", () => {
    for (const [variable, value] of [["BOOKING_INSECURE", "maybe"], ["BOOKING_DASHBOARD_ALLOW_REMOTE", "of"]] as const) {
      expect(() => parse([], { [variable]: value })).toThrow(
        new ConfigError(`${variable} must be 1, true, yes or on to turn --${variable === "BOOKING_INSECURE" ? "insecure" : "dashboard-allow-remote"} on, or 0, false, no, off or empty for off, got "${value}"`),
      );
    }
  });

  it("stops using the development PKI and its admin once any certificate path is given", () => {
    const config = parse(["--ca", "/pki/ca.pem"]);
    expect(config).toMatchObject({ devPki: false, caCertPath: "/pki/ca.pem", serverCertPath: "certs/server.crt", admins: [] });
  });

  it("splits --admins and --allow into trimmed lists", () => {
    const config = parse(["--admins", " a , b,", "--allow", "x,y"]);
    expect(config.admins).toEqual(["a", "b"]);
    expect(config.allowedPrincipals).toEqual(["x", "y"]);
  });

  it("reads a rate with and without a burst; the burst defaults to the rate rounded up", () => {
    expect(parse(["--write-rate", "5/20", "--read-rate", "2.5"])).toMatchObject({
      writeRatePerSecond: 5,
      writeBurst: 20,
      readRatePerSecond: 2.5,
      readBurst: 3,
    });
    expect(parse(["--write-rate", "0.2"]).writeBurst).toBe(1);
  });

  it("converts the request-id retention from hours to ms", () => {
    expect(parse(["--request-id-retention-hours", "2"]).requestIdRetentionMs).toBe(2 * 60 * 60 * 1000);
  });

  it.each([
    [["--max-in-flight", "0"], /--max-in-flight \(BOOKING_MAX_IN_FLIGHT\) must be a whole number >= 1, got "0"/],
    [["--max-receive-bytes", "100"], /--max-receive-bytes .* >= 1024/],
    [["--shutdown-grace-ms", "1.5"], /--shutdown-grace-ms/],
    [["--write-rate", "fast"], /--write-rate must be RATE or RATE\/BURST/],
    [["--write-rate", "5/0"], /--write-rate burst must be at least 1/],
    [["--log-level", "loud"], /--log-level must be one of/],
    [["--listen", "nowhere"], /--listen must be HOST:PORT/],
    [["--metrics-listen", "[::1]:99999"], /--metrics-listen must be HOST:PORT/],
    [["--shows", "main:100", "--default-show", "late"], /--default-show "late" is not among --shows \(main\)/],
    [["--bogus"], /bogus/],
  ])("refuses %j with a ConfigError naming the flag", (argv, message) => {
    expect(() => parse(argv)).toThrow(ConfigError);
    expect(() => parse(argv)).toThrow(message);
  });

  it("refuses --insecure on an address that is not loopback", () => {
    expect(() => parse(["--insecure", "--listen", "0.0.0.0:50051"])).toThrow(/--insecure is refused on 0.0.0.0:50051/);
    expect(parse(["--insecure", "--listen", "127.0.0.1:0"]).insecure).toBe(true);
  });
});

describe("assertLoopback", () => {
  it.each(["localhost:1", "127.0.0.1:50051", "127.1.2.3:0", "[::1]:50051"])("accepts %s", (listen) => {
    expect(() => assertLoopback(listen)).not.toThrow();
  });

  it.each(["0.0.0.0:50051", "[::]:50051", "10.0.0.1:50051", "example.com:50051", "127.0.0.1.evil.com:1", "128.0.0.1:1"])(
    "refuses %s",
    (listen) => {
      expect(() => assertLoopback(listen)).toThrow(ConfigError);
    },
  );
});

describe("parseHostPort", () => {
  it("splits IPv4, host names and bracketed IPv6", () => {
    expect(parseHostPort("127.0.0.1:80", "x")).toEqual({ host: "127.0.0.1", port: 80 });
    expect(parseHostPort("localhost:0", "x")).toEqual({ host: "localhost", port: 0 });
    expect(parseHostPort("[::1]:443", "x")).toEqual({ host: "::1", port: 443 });
  });

  it("refuses a missing port, a port above 65535 and unbracketed IPv6", () => {
    for (const address of ["localhost", "localhost:65536", "::1:80"]) {
      expect(() => parseHostPort(address, "--listen")).toThrow(ConfigError);
    }
  });
});

describe("parseShows", () => {
  it("reads ID:SEATS entries in order", () => {
    expect(parseShows("main:100, matinee:40")).toEqual([
      { id: "main", totalSeats: 100 },
      { id: "matinee", totalSeats: 40 },
    ]);
  });

  it.each(["", "main", "main:0", "main:1000001", "-x:5", "main:5,main:6"])("refuses %j", (spec) => {
    expect(() => parseShows(spec)).toThrow(ConfigError);
  });
});

describe("SERVE_USAGE", () => {
  it("prints the defaults from SERVER_DEFAULTS", () => {
    expect(SERVE_USAGE).toContain(`default ${SERVER_DEFAULTS.maxInFlight}\n`);
    expect(SERVE_USAGE).toContain(`default ${SERVER_DEFAULTS.maxQueuedChanges}\n`);
    expect(SERVE_USAGE).toContain(`default ${SERVER_DEFAULTS.maxReceiveBytes}\n`);
    expect(SERVE_USAGE).toContain(`default ${SERVER_DEFAULTS.maxConcurrentStreams}\n`);
    expect(SERVE_USAGE).toContain(`default ${SERVER_DEFAULTS.maxConnectionsPerPrincipal} (0 = no limit)\n`);
    expect(SERVE_USAGE).toContain(`default ${SERVER_DEFAULTS.listen}\n`);
  });
});

describe("the limits of holds, shows, the change log and watches", () => {
  it("default to the values stated once in CORE_DEFAULTS, the change log, the feed and TRANSPORT_DEFAULTS", () => {
    expect(parse([])).toMatchObject({
      maxSeatsPerShow: CORE_DEFAULTS.maxSeatsPerShow,
      defaultHoldTtlMs: CORE_DEFAULTS.defaultHoldTtlMs,
      maxHoldTtlMs: CORE_DEFAULTS.maxHoldTtlMs,
      maxHoldLifetimeMs: CORE_DEFAULTS.maxHoldLifetimeMs,
      maxHoldsPerPrincipal: CORE_DEFAULTS.maxHoldsPerPrincipal,
      changeLog: DEFAULT_CHANGE_LOG_RETENTION,
      watchMaxBacklog: FEED_DEFAULTS.maxBacklog,
      holdSweepIntervalMs: SERVER_DEFAULTS.holdSweepIntervalMs,
      maxWatchStreamsPerPrincipal: TRANSPORT_DEFAULTS.maxWatchStreamsPerPrincipal,
      maxWatchStreams: TRANSPORT_DEFAULTS.maxWatchStreams,
      keepaliveTimeMs: TRANSPORT_DEFAULTS.keepaliveTimeMs,
      keepaliveTimeoutMs: TRANSPORT_DEFAULTS.keepaliveTimeoutMs,
    });
    expect(CORE_DEFAULTS).toMatchObject({ maxSeatsPerShow: 1_000_000, maxHoldTtlMs: 15 * 60_000, maxHoldLifetimeMs: 2 * 3_600_000, maxHoldsPerPrincipal: 20 });
    expect(SERVER_DEFAULTS).toMatchObject({ changeLogMaxVersions: 10_000, changeLogMaxAgeMs: 3_600_000, watchMaxBacklog: 10_000, holdSweepIntervalMs: 250 });
    expect(TRANSPORT_DEFAULTS).toMatchObject({ maxWatchStreamsPerPrincipal: 16, maxWatchStreams: 10_000 });
  });

  it("reads each from its flag or variable, durations in Go's syntax", () => {
    const config = parse(
      [
        "--max-seats-per-show", "5000",
        "--max-hold-ttl", "5m",
        "--max-hold-lifetime", "1h30m",
        "--max-holds-per-principal", "3",
        "--change-log-max-versions", "500",
        "--change-log-max-age", "90s",
        "--watch-max-backlog", "250",
        "--hold-sweep-interval-ms", "0",
        "--max-watch-streams-per-principal", "4",
      ],
      { BOOKING_MAX_WATCH_STREAMS: "40", BOOKING_KEEPALIVE_TIME_MS: "60000", BOOKING_KEEPALIVE_TIMEOUT_MS: "5000" },
    );
    expect(config).toMatchObject({
      maxSeatsPerShow: 5000,
      maxHoldTtlMs: 5 * 60_000,
      // A hold without a TTL gets 10 minutes unless the maximum is less.
      defaultHoldTtlMs: 5 * 60_000,
      maxHoldLifetimeMs: 90 * 60_000,
      maxHoldsPerPrincipal: 3,
      changeLog: { maxVersions: 500, maxAgeMs: 90_000 },
      watchMaxBacklog: 250,
      holdSweepIntervalMs: 0,
      maxWatchStreamsPerPrincipal: 4,
      maxWatchStreams: 40,
      keepaliveTimeMs: 60_000,
      keepaliveTimeoutMs: 5000,
    });
    expect(parse(["--max-hold-ttl", "20m"]).defaultHoldTtlMs).toBe(CORE_DEFAULTS.defaultHoldTtlMs);
  });

  it("checks --shows against --max-seats-per-show", () => {
    expect(() => parse(["--max-seats-per-show", "50", "--shows", "main:100"])).toThrow(/SEATS 1 to 50, --max-seats-per-show/);
    expect(parse(["--max-seats-per-show", "2000000", "--shows", "big:1500000"]).shows).toEqual([{ id: "big", totalSeats: 1_500_000 }]);
  });

  it.each([
    [["--max-hold-ttl", "15"], /--max-hold-ttl \(BOOKING_MAX_HOLD_TTL\) must be a duration/],
    [["--max-hold-ttl", "500ms"], /at least 1s/],
    [["--change-log-max-age", "soon"], /--change-log-max-age/],
    [["--max-hold-ttl", "30m", "--max-hold-lifetime", "20m"], /--max-hold-lifetime \(20m\) must be at least --max-hold-ttl \(30m\)/],
    [["--max-holds-per-principal", "0"], /--max-holds-per-principal/],
    [["--watch-max-backlog", "0"], /--watch-max-backlog/],
    [["--max-watch-streams", "-1"], /--max-watch-streams/],
    [["--pg-batches-in-flight", "0"], /--pg-batches-in-flight/],
    [["--pg-lock-timeout", "2"], /--pg-lock-timeout \(BOOKING_PG_LOCK_TIMEOUT\) must be a duration/],
    [["--pg-idle-in-transaction-timeout", "-1s"], /--pg-idle-in-transaction-timeout/],
  ])("refuses %j with a ConfigError naming the flag", (argv, message) => {
    expect(() => parse(argv)).toThrow(ConfigError);
    expect(() => parse(argv)).toThrow(message);
  });

  it("prints each default in --help, durations as durations", () => {
    expect(SERVE_USAGE).toContain("--max-hold-ttl DURATION       BOOKING_MAX_HOLD_TTL                default 15m\n");
    expect(SERVE_USAGE).toContain("default 2h\n");
    expect(SERVE_USAGE).toContain("--change-log-max-age DURATION BOOKING_CHANGE_LOG_MAX_AGE          default 1h\n");
    expect(SERVE_USAGE).toContain(`default ${SERVER_DEFAULTS.maxWatchStreamsPerPrincipal}\n`);
  });
});

describe("parseDuration and formatDuration", () => {
  it("read and write Go-style durations in whole ms", () => {
    expect(["90s", "15m", "1h30m", "1500ms", "1.5m"].map(parseDuration)).toEqual([90_000, 900_000, 5_400_000, 1500, 90_000]);
    expect(["", "15", "1x", "m", "1h 2m"].map(parseDuration)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect([900_000, 7_200_000, 5_400_000, 250, 0].map(formatDuration)).toEqual(["15m", "2h", "1h30m", "250ms", "0s"]);
  });
});
