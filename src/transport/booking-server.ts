import { Server, type ServerCredentials, type ServiceDefinition } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { BookingService } from "../../gen/booking/v1/booking_pb.js";
import { grpcServiceDefinition } from "../../wire/grpc-service-definition.js";
import type { BookingCore } from "../core/booking-core.js";
import { MalformedRequest } from "./admission/malformed-request-step.js";
import { standardAdmission } from "./admission/admission-pipeline.js";
import { bookingServiceHandlers } from "./booking-service-handlers.js";
import { CallRecorder, type RpcObserver } from "./call-recorder.js";
import { EventLoopLag } from "./event-loop-lag.js";
import { flatMessageSerializer } from "./flat-message-encoding.js";
import { HealthService, healthServerStopping } from "./health-service.js";
import { ListingCache, preEncodedSerializer } from "./listing-cache.js";
import { http2ServersOf } from "./grpc-http2-servers.js";
import { PrincipalConnectionLimit } from "./principal-connection-limit.js";
import { StalledRequestReaper } from "./stalled-request-reaper.js";
import { limitHandshakeTime } from "./tls-handshake-timeout.js";
import { StreamMapRenewal } from "./stream-map-renewal.js";
import { TokenBuckets } from "./token-buckets.js";
import { defaultBurst, TRANSPORT_DEFAULTS } from "./transport-defaults.js";
import { UnaryHandlers } from "./unary-handler.js";
import { serverStopping, WatchStreams } from "./watch-handler.js";

/**
 * The server's tunable settings. An omitted one takes its value from
 * TRANSPORT_DEFAULTS, except maxEventLoopLagMs (see there); the serve
 * command's ServerConfig has every one of them.
 */
export interface BookingServerSettings {
  /** Plaintext: callers have no certificate and are all "anonymous". */
  readonly insecure?: boolean;
  /** When set, only these principals may call; others get PERMISSION_DENIED. */
  readonly allowedPrincipals?: readonly string[] | undefined;
  /** Calls being served at once; more get RESOURCE_EXHAUSTED. */
  readonly maxInFlight?: number;
  readonly maxReceiveBytes?: number;
  readonly maxConcurrentStreams?: number;
  /** How long a stream may wait for the rest of its request before it is cancelled (TRANSPORT_DEFAULTS.requestArrivalTimeoutMs; 0 = never). */
  readonly requestArrivalTimeoutMs?: number;
  /** How long a new connection may take to finish its TLS handshake (TRANSPORT_DEFAULTS.tlsHandshakeTimeoutMs). */
  readonly tlsHandshakeTimeoutMs?: number;
  /** Connections one principal may hold open at once (0 = no limit); not applied with `insecure`. */
  readonly maxConnectionsPerPrincipal?: number;
  /**
   * Calls arriving while the event loop lags more than this many ms get
   * RESOURCE_EXHAUSTED with RetryInfo. Omitted or 0, shedding is off, so
   * that servers inside test processes are not disturbed by their host's
   * work; the serve command turns it on (TRANSPORT_DEFAULTS.maxEventLoopLagMs).
   */
  readonly maxEventLoopLagMs?: number;
  /** How long the lag must stay above maxEventLoopLagMs before calls are shed (TRANSPORT_DEFAULTS). */
  readonly overloadIntervalMs?: number;
  /** Per-principal token buckets, in calls per second; 0 turns one off. */
  readonly writeRatePerSecond?: number;
  /** Defaults to the rate rounded up (defaultBurst). */
  readonly writeBurst?: number;
  readonly readRatePerSecond?: number;
  readonly readBurst?: number;
  /** Open WatchAvailability streams per principal; more get RESOURCE_EXHAUSTED (TOO_MANY_STREAMS). */
  readonly maxWatchStreamsPerPrincipal?: number;
  /** Open WatchAvailability streams over the server. */
  readonly maxWatchStreams?: number;
  /** HTTP/2 keepalive: ping a connection quiet this long, and drop it when the ping goes unanswered. */
  readonly keepaliveTimeMs?: number;
  readonly keepaliveTimeoutMs?: number;
}

/** What {@link createBookingServer} needs; main builds it from the config. */
export interface BookingServerOptions extends BookingServerSettings {
  readonly core: BookingCore;
  /**
   * How often each HTTP/2 session's open-streams map is replaced by a copy,
   * in ms (TRANSPORT_DEFAULTS.streamMapRenewalMs; 0 = never): see
   * StreamMapRenewal.
   */
  readonly streamMapRenewalMs?: number;
  readonly logger: Logger;
  readonly credentials: ServerCredentials;
  readonly observer?: RpcObserver | undefined;
  /** Registers extra services (reflection) before the server starts. */
  readonly registerExtras?: (server: Server) => void;
}

/** A booking server that is built but not yet listening. */
export interface BookingServer {
  readonly grpcServer: Server;
  readonly health: HealthService;
  readonly handlers: UnaryHandlers;
  /** The encoded ShowAvailable answers (its `encodes` count is for tests). */
  readonly listings: ListingCache;
  /** Calls being served right now (admitted and not yet answered); watch streams are not calls in flight. */
  readonly inFlight: () => number;
  /** WatchAvailability streams open now. */
  readonly watchStreams: () => number;
  /** The renewal of the sessions' stream maps, once the server listens. */
  readonly streamMaps: () => StreamMapRenewal | undefined;
  /** The cap on each principal's open connections. */
  readonly connectionLimit: PrincipalConnectionLimit;
  /** The cancelling of streams whose request stalled. */
  readonly stalledRequests: StalledRequestReaper;
  /** Binds `address` ("host:port"; port 0 picks one) and resolves the bound port. */
  listen(address: string): Promise<number>;
  /**
   * Drains: health turns NOT_SERVING, every watch stream (booking and
   * health) ends with UNAVAILABLE (SHUTTING_DOWN) so that its client
   * resumes elsewhere, new calls are refused, calls in flight may finish
   * for up to `graceMs`, then the rest are cancelled. The core is not
   * closed here (the caller owns it).
   */
  shutdown(graceMs: number): Promise<void>;
}

/** The fully qualified name health reports the booking service under. */
export const BOOKING_SERVICE_NAME = BookingService.typeName;

/**
 * Builds the gRPC server: BookingService, health, and whatever extras the
 * caller registers. Binding a port is left to `listen`, so tests bind port 0.
 */
export function createBookingServer(options: BookingServerOptions): BookingServer {
  const grpcServer = new Server({
    "grpc.max_receive_message_length": options.maxReceiveBytes ?? TRANSPORT_DEFAULTS.maxReceiveBytes,
    "grpc.max_concurrent_streams": options.maxConcurrentStreams ?? TRANSPORT_DEFAULTS.maxConcurrentStreams,
    // Dead peers are noticed by pings, not only by TCP: a watcher whose
    // client vanished would otherwise hold its stream and watcher for hours.
    "grpc.keepalive_time_ms": options.keepaliveTimeMs ?? TRANSPORT_DEFAULTS.keepaliveTimeMs,
    "grpc.keepalive_timeout_ms": options.keepaliveTimeoutMs ?? TRANSPORT_DEFAULTS.keepaliveTimeoutMs,
    // The server's pings go to idle connections too (a watch with no change
    // for minutes is idle). grpc-js 1.14's server pings regardless and does
    // not police clients' pings; the option states the intent for servers
    // that read it.
    "grpc.keepalive_permit_without_calls": 1,
    // No channelz service is registered, so its per-call bookkeeping (call
    // counters, a tracker object with closures per call) would be read by nobody.
    "grpc.enable_channelz": 0,
  });
  const maxEventLoopLagMs = options.maxEventLoopLagMs ?? 0;
  const eventLoopLag = maxEventLoopLagMs > 0 ? new EventLoopLag() : undefined;
  const admission = standardAdmission({
    insecure: options.insecure ?? false,
    allowedPrincipals: options.allowedPrincipals,
    eventLoopLag,
    maxEventLoopLagMs,
    overloadIntervalMs: options.overloadIntervalMs ?? TRANSPORT_DEFAULTS.overloadIntervalMs,
    maxInFlight: options.maxInFlight ?? TRANSPORT_DEFAULTS.maxInFlight,
    writeBuckets: buckets(options.writeRatePerSecond, options.writeBurst),
    readBuckets: buckets(options.readRatePerSecond, options.readBurst),
    maxWatchStreamsPerPrincipal: options.maxWatchStreamsPerPrincipal ?? TRANSPORT_DEFAULTS.maxWatchStreamsPerPrincipal,
    maxWatchStreams: options.maxWatchStreams ?? TRANSPORT_DEFAULTS.maxWatchStreams,
  });
  const recorder = new CallRecorder(options.logger, options.observer);
  const handlers = new UnaryHandlers({ admission: admission.pipeline, recorder });
  const watches = new WatchStreams({ core: options.core, admission: admission.watchPipeline, recorder });
  const listings = new ListingCache(options.core);
  const generic = grpcServiceDefinition(BookingService);
  const encodeShowAvailable = generic["showAvailable"]?.responseSerialize;
  if (encodeShowAvailable === undefined) throw new TypeError("BookingService has no ShowAvailable method");
  // ShowAvailable answers with bytes the listing cache encoded (a Buffer passes through).
  const encodeWatchResponse = generic["watchAvailability"]?.responseSerialize;
  if (encodeWatchResponse === undefined) throw new TypeError("BookingService has no WatchAvailability method");
  // Watch streams write changes the watch handler encoded once for every watcher (a Buffer passes through).
  const definition = grpcServiceDefinition(BookingService, {
    responseSerializers: {
      showAvailable: preEncodedSerializer(encodeShowAvailable),
      watchAvailability: preEncodedSerializer(encodeWatchResponse),
      ...hotPathSerializers(generic),
    },
  });
  grpcServer.addService(tolerantDeserializers(definition), bookingServiceHandlers(options.core, handlers, { listings, watches }));
  const health = new HealthService({ "": "NOT_SERVING", [BOOKING_SERVICE_NAME]: "NOT_SERVING" });
  health.addToServer(grpcServer);
  options.registerExtras?.(grpcServer);

  let streamMaps: StreamMapRenewal | undefined;
  const connectionLimit = new PrincipalConnectionLimit(grpcServer, {
    maxPerPrincipal: options.insecure === true ? 0 : (options.maxConnectionsPerPrincipal ?? TRANSPORT_DEFAULTS.maxConnectionsPerPrincipal),
    logger: options.logger,
  });
  const stalledRequests = new StalledRequestReaper(grpcServer, {
    timeoutMs: options.requestArrivalTimeoutMs ?? TRANSPORT_DEFAULTS.requestArrivalTimeoutMs,
  });
  return {
    grpcServer,
    health,
    handlers,
    listings,
    inFlight: () => admission.inFlight.inFlight,
    watchStreams: () => admission.watchStreams.open,
    streamMaps: () => streamMaps,
    connectionLimit,
    stalledRequests,
    listen: (address) =>
      new Promise<number>((resolve, reject) => {
        grpcServer.bindAsync(address, options.credentials, (error, port) => {
          if (error !== null) {
            reject(error);
            return;
          }
          eventLoopLag?.start();
          // Each bind adds an HTTP/2 server: follow its sessions too.
          streamMaps ??= new StreamMapRenewal(grpcServer);
          streamMaps.followServers();
          streamMaps.start(options.streamMapRenewalMs ?? TRANSPORT_DEFAULTS.streamMapRenewalMs);
          connectionLimit.followServers();
          stalledRequests.followServers();
          limitHandshakeTime(http2ServersOf(grpcServer), options.tlsHandshakeTimeoutMs ?? TRANSPORT_DEFAULTS.tlsHandshakeTimeoutMs);
          health.setStatus("", "SERVING");
          health.setStatus(BOOKING_SERVICE_NAME, "SERVING");
          resolve(port);
        });
      }),
    shutdown: async (graceMs) => {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(BOOKING_SERVICE_NAME, "NOT_SERVING");
      eventLoopLag?.stop();
      streamMaps?.stop();
      stalledRequests.stop();
      // Before waiting for calls: a watch never ends by itself.
      watches.endAll(serverStopping());
      health.endWatches(healthServerStopping());
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          grpcServer.forceShutdown();
          resolve();
        }, graceMs);
        grpcServer.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
  };
}

/** Request deserializers that hand undecodable bytes to the handler as a {@link MalformedRequest}. */
function tolerantDeserializers(definition: ServiceDefinition): ServiceDefinition {
  const tolerant: Record<string, ServiceDefinition[string]> = {};
  for (const [name, method] of Object.entries(definition)) {
    const typeName = BookingService.methods.find((candidate) => candidate.localName === name)?.input.typeName ?? name;
    tolerant[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return method.requestDeserialize(bytes);
        } catch (error) {
          return new MalformedRequest(typeName, error instanceof Error ? error.message : String(error));
        }
      },
    };
  }
  return tolerant;
}

/** The hand encoders of the booking hot path's answers (flat-message-encoding.ts), where their schemas allow. */
function hotPathSerializers(generic: ServiceDefinition): Record<string, (value: unknown) => Buffer> {
  const serializers: Record<string, (value: unknown) => Buffer> = {};
  for (const name of ["bookSeats", "cancelSeats"] as const) {
    const fallback = generic[name]?.responseSerialize;
    const fast = fallback === undefined ? undefined : flatMessageSerializer(BookingService.method[name].output, fallback);
    if (fast !== undefined) serializers[name] = fast;
  }
  return serializers;
}

/** Token buckets for a rate, or none when the rate is omitted or 0. */
function buckets(rate: number | undefined, burst: number | undefined): TokenBuckets | undefined {
  return rate === undefined || rate <= 0 ? undefined : new TokenBuckets(rate, burst ?? defaultBurst(rate));
}
