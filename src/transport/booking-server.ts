import { Server, type ServerCredentials, type ServiceDefinition } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import { BookingService, ShowAvailableResponseSchema } from "../../gen/booking/v1/booking_pb.js";
import { grpcServiceDefinition } from "../../wire/grpc-service-definition.js";
import type { BookingCore } from "../core/booking-core.js";
import { MalformedRequest } from "./admission/malformed-request-step.js";
import { standardAdmission } from "./admission/admission-pipeline.js";
import { bookingServiceHandlers } from "./booking-service-handlers.js";
import { CallRecorder, type RpcObserver } from "./call-recorder.js";
import { EventLoopLag } from "./event-loop-lag.js";
import { fastSerializer } from "./show-available-encoding.js";
import { TokenBuckets } from "./token-buckets.js";
import { defaultBurst, TRANSPORT_DEFAULTS } from "./transport-defaults.js";
import { UnaryHandlers } from "./unary-handler.js";

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
  /**
   * Calls arriving while the event loop lags more than this many ms get
   * RESOURCE_EXHAUSTED with RetryInfo. Omitted or 0, shedding is off, so
   * that servers inside test processes are not disturbed by their host's
   * work; the serve command turns it on (TRANSPORT_DEFAULTS.maxEventLoopLagMs).
   */
  readonly maxEventLoopLagMs?: number;
  /** Per-principal token buckets, in calls per second; 0 turns one off. */
  readonly writeRatePerSecond?: number;
  /** Defaults to the rate rounded up (defaultBurst). */
  readonly writeBurst?: number;
  readonly readRatePerSecond?: number;
  readonly readBurst?: number;
}

/** What {@link createBookingServer} needs; main builds it from the config. */
export interface BookingServerOptions extends BookingServerSettings {
  readonly core: BookingCore;
  readonly logger: Logger;
  readonly credentials: ServerCredentials;
  readonly observer?: RpcObserver | undefined;
  /** Registers extra services (reflection) before the server starts. */
  readonly registerExtras?: (server: Server) => void;
}

/** A booking server that is built but not yet listening. */
export interface BookingServer {
  readonly grpcServer: Server;
  readonly health: HealthImplementation;
  readonly handlers: UnaryHandlers;
  /** Calls being served right now (admitted and not yet answered). */
  readonly inFlight: () => number;
  /** Binds `address` ("host:port"; port 0 picks one) and resolves the bound port. */
  listen(address: string): Promise<number>;
  /**
   * Drains: health turns NOT_SERVING, new calls are refused, calls in flight
   * may finish for up to `graceMs`, then the rest are cancelled. The core is
   * not closed here (the caller owns it).
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
  });
  const maxEventLoopLagMs = options.maxEventLoopLagMs ?? 0;
  const eventLoopLag = maxEventLoopLagMs > 0 ? new EventLoopLag() : undefined;
  const admission = standardAdmission({
    insecure: options.insecure ?? false,
    allowedPrincipals: options.allowedPrincipals,
    eventLoopLag,
    maxEventLoopLagMs,
    maxInFlight: options.maxInFlight ?? TRANSPORT_DEFAULTS.maxInFlight,
    writeBuckets: buckets(options.writeRatePerSecond, options.writeBurst),
    readBuckets: buckets(options.readRatePerSecond, options.readBurst),
  });
  const handlers = new UnaryHandlers({
    admission: admission.pipeline,
    recorder: new CallRecorder(options.logger, options.observer),
  });
  const fastShowAvailable = fastSerializer(ShowAvailableResponseSchema);
  const definition = grpcServiceDefinition(BookingService, {
    responseSerializers: fastShowAvailable === undefined ? {} : { showAvailable: fastShowAvailable },
  });
  grpcServer.addService(tolerantDeserializers(definition), bookingServiceHandlers(options.core, handlers));
  const health = new HealthImplementation({ "": "NOT_SERVING", [BOOKING_SERVICE_NAME]: "NOT_SERVING" });
  health.addToServer(grpcServer);
  options.registerExtras?.(grpcServer);

  return {
    grpcServer,
    health,
    handlers,
    inFlight: () => admission.inFlight.inFlight,
    listen: (address) =>
      new Promise<number>((resolve, reject) => {
        grpcServer.bindAsync(address, options.credentials, (error, port) => {
          if (error !== null) {
            reject(error);
            return;
          }
          eventLoopLag?.start();
          health.setStatus("", "SERVING");
          health.setStatus(BOOKING_SERVICE_NAME, "SERVING");
          resolve(port);
        });
      }),
    shutdown: async (graceMs) => {
      health.setStatus("", "NOT_SERVING");
      health.setStatus(BOOKING_SERVICE_NAME, "NOT_SERVING");
      eventLoopLag?.stop();
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

/** Token buckets for a rate, or none when the rate is omitted or 0. */
function buckets(rate: number | undefined, burst: number | undefined): TokenBuckets | undefined {
  return rate === undefined || rate <= 0 ? undefined : new TokenBuckets(rate, burst ?? defaultBurst(rate));
}
