import type { Server as HttpServer } from "node:http";
import { experimental, ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { descriptorSetBytes } from "../gen/descriptor-set.js";
import { DEFAULT_ADDRESS, DEFAULT_CERTS_DIR } from "../wire/wire-constants.js";
import { BookingCore } from "./core/booking-core.js";
import type { ShowDefinition } from "./core/seat-store.js";
import { ConfigError, parseHostPort, parseServerConfig, SERVE_USAGE, type ServerConfig } from "./config.js";
import { startHoldSweeper } from "./hold-sweeper.js";
import { serveDashboard, type DashboardServer } from "./dashboard/dashboard-server.js";
import { createLogger } from "./logger.js";
import { ensureDevPki } from "./pki/dev-pki.js";
import { openStore } from "./stores/open-store.js";
import { BOOKING_SERVICE_NAME, createBookingServer } from "./transport/booking-server.js";
import { isLoopbackHost, isLoopbackHostHeader } from "./dashboard/loopback-host.js";
import { createBookingMetrics, serveMetrics } from "./transport/metrics.js";
import { ReloadingCertificates } from "./transport/reloading-certificates.js";
import { addReflectionService } from "./transport/reflection-service.js";

/**
 * `booking serve` (and `npm start`): reads the configuration, opens the store,
 * serves until SIGINT or SIGTERM, then drains and closes everything.
 * Resolves the process exit code; only the CLI entry point exits.
 */
export async function runServeCommand(argv: readonly string[]): Promise<number> {
  let config: ServerConfig;
  try {
    const parsed = parseServerConfig(argv, process.env);
    if (parsed === "help") {
      process.stdout.write(SERVE_USAGE);
      return 0;
    }
    config = parsed;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`booking serve: ${error.message}\n`);
      return 2;
    }
    throw error;
  }

  const logger = createLogger(config.logLevel);
  try {
    return await serve(config, logger);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`booking serve: ${error.message}\n`);
      return 2;
    }
    logger.fatal({ err: error }, "server failed");
    logger.flush();
    process.stderr.write(`booking serve: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

async function serve(config: ServerConfig, logger: Logger): Promise<number> {
  // Lifecycle lines are announced at any log level: scripts wait for them.
  const lifecycle = logger.child({}, { level: "info" });
  const certificates = config.insecure ? undefined : await loadCertificates(config, logger);
  const credentials =
    certificates === undefined
      ? ServerCredentials.createInsecure()
      : experimental.createCertificateProviderServerCredentials(certificates, certificates, true);
  if (config.insecure) {
    logger.warn({ listen: config.listen }, "serving PLAINTEXT without client authentication (--insecure); every caller is 'anonymous'");
  }
  const store = await openStore(config.store, {
    requestIdRetentionMs: config.requestIdRetentionMs,
    postgresPoolSize: config.postgresPoolSize,
    postgresBatchesInFlight: config.postgresBatchesInFlight,
    postgresLockTimeoutMs: config.postgresLockTimeoutMs,
    postgresIdleInTransactionTimeoutMs: config.postgresIdleInTransactionTimeoutMs,
    changeLog: config.changeLog,
  });
  const schema = store.schema;
  if (schema !== undefined) {
    lifecycle.info(
      { store: store.kind, from_version: schema.foundVersion, schema_version: schema.version, ...(store.engine === undefined ? {} : { engine: store.engine }) },
      schema.foundVersion === schema.version
        ? `opened the store at schema version ${schema.version}`
        : `migrated the store's schema from version ${schema.foundVersion} to ${schema.version}`,
    );
  }
  const core = await BookingCore.open({
    store,
    shows: config.shows,
    defaultShowId: config.defaultShowId,
    admins: config.admins,
    maxSeatsPerRequest: config.maxSeatsPerRequest,
    maxQueuedChanges: config.maxQueuedChanges,
    maxSeatsPerShow: config.maxSeatsPerShow,
    defaultHoldTtlMs: config.defaultHoldTtlMs,
    maxHoldTtlMs: config.maxHoldTtlMs,
    maxHoldLifetimeMs: config.maxHoldLifetimeMs,
    maxHoldsPerPrincipal: config.maxHoldsPerPrincipal,
    feed: { maxBacklog: config.watchMaxBacklog },
  });
  const servedShows = await warnAboutResizedShows(core, logger);
  const metrics = config.metricsListen === undefined ? undefined : createBookingMetrics(core);
  const server = createBookingServer({
    core,
    observer: metrics?.observer,
    logger,
    credentials,
    insecure: config.insecure,
    allowedPrincipals: config.allowedPrincipals,
    maxInFlight: config.maxInFlight,
    maxReceiveBytes: config.maxReceiveBytes,
    maxConcurrentStreams: config.maxConcurrentStreams,
    maxConnectionsPerPrincipal: config.maxConnectionsPerPrincipal,
    maxEventLoopLagMs: config.maxEventLoopLagMs,
    overloadIntervalMs: config.overloadIntervalMs,
    writeRatePerSecond: config.writeRatePerSecond,
    writeBurst: config.writeBurst,
    readRatePerSecond: config.readRatePerSecond,
    readBurst: config.readBurst,
    maxWatchStreamsPerPrincipal: config.maxWatchStreamsPerPrincipal,
    maxWatchStreams: config.maxWatchStreams,
    keepaliveTimeMs: config.keepaliveTimeMs,
    keepaliveTimeoutMs: config.keepaliveTimeoutMs,
    tlsHandshakeTimeoutMs: config.tlsHandshakeTimeoutMs,
    requestArrivalTimeoutMs: config.requestArrivalTimeoutMs,
    registerExtras: (grpcServer) =>
      addReflectionService(grpcServer, {
        descriptorSet: descriptorSetBytes,
        serviceNames: [BOOKING_SERVICE_NAME, "grpc.health.v1.Health"],
      }),
  });

  const port = await server.listen(config.listen);
  const sweeper = startHoldSweeper(
    () =>
      core.expireLapsedHolds().then(
        (shows) => {
          metrics?.sweepFinished("ok");
          return shows;
        },
        (error: unknown) => {
          metrics?.sweepFinished("failed");
          throw error;
        },
      ),
    config.holdSweepIntervalMs,
    logger,
  );
  const { host } = parseHostPort(config.listen, "--listen");
  const address = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  let metricsServer: HttpServer | undefined;
  if (metrics !== undefined && config.metricsListen !== undefined) {
    metrics.setInFlightSource(server.inFlight);
    const metricsAt = parseHostPort(config.metricsListen, "--metrics-listen");
    metricsServer = await serveMetrics(
      metrics.registry,
      metricsAt.host,
      metricsAt.port,
      isLoopbackHost(metricsAt.host) ? { acceptsHost: isLoopbackHostHeader } : {},
    );
    const bound = metricsServer.address();
    const boundPort = typeof bound === "object" && bound !== null ? bound.port : metricsAt.port;
    lifecycle.info({ metrics: `${metricsAt.host}:${boundPort}` }, "metrics listening");
  }
  let dashboard: DashboardServer | undefined;
  if (config.dashboardListen !== undefined) {
    const dashboardAt = parseHostPort(config.dashboardListen, "--dashboard-listen");
    dashboard = await serveDashboard(core, { host: dashboardAt.host, port: dashboardAt.port, logger });
    lifecycle.info({ dashboard: dashboard.address }, "dashboard listening");
  }
  // Listened for before "listening" is announced: a SIGTERM sent as soon as
  // a script sees that line must drain, not kill the process.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  // Tests and scripts wait for this line; it comes last and is flushed at once.
  lifecycle.info(
    {
      address,
      store: core.storeKind,
      // As stored: a show resized at run time keeps its size over --shows.
      shows: servedShows,
      tls: config.insecure ? "off" : "mutual",
      admins: config.admins,
    },
    "listening",
  );
  logger.flush();
  if (!config.insecure) printGreeting(config, address);

  const signal = await stopSignal;
  lifecycle.info(
    { signal, grace_ms: config.shutdownGraceMs, watchers: server.watchStreams(), health_watchers: server.health.watchers },
    "shutting down: ending watch streams (UNAVAILABLE), draining calls in flight",
  );
  // Stopped first, awaited after the drain: a sweep stuck on the store must not hold up the drain.
  const sweeperStopped = sweeper.stop();
  await server.shutdown(config.shutdownGraceMs);
  metricsServer?.close();
  certificates?.close();
  // Closing waits for the store's work in flight. A database that hangs (a
  // frozen host, a network that drops packets) never answers it, so closing
  // gets one more grace period (a second at least, so that a zero grace
  // still lets a healthy store close) and is then abandoned: nothing was
  // acknowledged from a transaction that had not committed, and a client
  // retries it with the same request id.
  const closingMs = Math.max(config.shutdownGraceMs, MIN_CLOSING_MS);
  const closed = await settlesWithin(
    (async () => {
      await dashboard?.close();
      await sweeperStopped;
      await core.close();
    })(),
    closingMs,
  );
  if (!closed) {
    lifecycle.warn(
      { waited_ms: closingMs },
      "the store did not close within the grace period (the database does not answer); exiting without it",
    );
    await new Promise<void>((resolve) => logger.flush(() => resolve()));
    return 1;
  }
  lifecycle.info("stopped");
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  return 0;
}

/** The least time closing the store gets after the drain, whatever the grace period. */
const MIN_CLOSING_MS = 1000;

/** True when `work` settles within `ms`; false, leaving it running, when it does not. */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Logs a warning for each configured show (--shows) whose stored seat count
 * differs from the configuration: it was resized at run time, and a start
 * leaves it as it is rather than shrink or grow it behind anyone's back.
 */
async function warnAboutResizedShows(core: BookingCore, logger: Logger): Promise<ShowDefinition[]> {
  const served: ShowDefinition[] = [];
  for (const configured of core.shows) {
    const stored = await core.getShow(configured.id);
    served.push({ id: stored.id, totalSeats: stored.totalSeats });
    if (stored.totalSeats !== configured.totalSeats) {
      logger.warn(
        { show: configured.id, configured_seats: configured.totalSeats, stored_seats: stored.totalSeats },
        "a show in --shows has a different seat count in the store (resized at run time); serving the stored count",
      );
    }
  }
  return served;
}

async function loadCertificates(config: ServerConfig, logger: Logger): Promise<ReloadingCertificates> {
  if (config.devPki) {
    const { created, paths } = await ensureDevPki(config.certsDir);
    if (created) process.stderr.write(`created a development PKI in ${paths.dir}/\n`);
  }
  try {
    return await ReloadingCertificates.load(config, {
      onReload: ({ ok, error }) =>
        ok
          ? logger.info("reloaded the server certificate, key and client CA; new connections use them")
          : logger.warn({ error }, "ignored changed certificate files that do not form a valid set; still serving the previous ones"),
    });
  } catch (error) {
    // Files that are missing or do not form a certificate set are a setting
    // to fix, like a bad flag: one line and exit 2, not a crash report.
    throw new ConfigError(error instanceof Error ? error.message : String(error));
  }
}

function printGreeting(config: ServerConfig, address: string): void {
  const dir = config.certsDir;
  // The CLI's own defaults are this address and ./certs with alice's
  // certificate: name whatever differs, so that each line reaches this server.
  const clientFiles = config.devPki
    ? { ca: `${dir}/ca.crt`, cert: `${dir}/alice.crt`, key: `${dir}/alice.key` }
    : { ca: config.caCertPath, cert: "CLIENT.crt", key: "CLIENT.key" };
  const cliFlags = [
    ...(address === DEFAULT_ADDRESS ? [] : [`--address ${address}`]),
    ...(config.devPki
      ? dir === DEFAULT_CERTS_DIR ? [] : [`--certs-dir ${dir}`]
      : [`--ca ${clientFiles.ca} --cert ${clientFiles.cert} --key ${clientFiles.key}`]),
  ].map((flag) => ` ${flag}`).join("");
  const grpcurlTls = `-cacert ${clientFiles.ca} -cert ${clientFiles.cert} -key ${clientFiles.key}`;
  const lines = [
    "",
    `seat-booking is serving on ${address} (mutual TLS)`,
    `  client CA: ${config.caCertPath}`,
    ...(config.devPki ? [`  development client certificates: ${dir}/{alice,bob,admin}.{crt,key}`] : []),
    "",
    "try:",
    `  npx booking${cliFlags} book 1 2 3`,
    `  npx booking${cliFlags} show`,
    `  grpcurl ${grpcurlTls} ${address} list`,
    `  grpcurl ${grpcurlTls} -d '{"seats":[4,5]}' ${address} booking.v1.BookingService/BookSeats`,
    "",
  ];
  process.stderr.write(lines.join("\n") + "\n");
}
