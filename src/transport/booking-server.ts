import { Server, type ServerCredentials, type ServiceDefinition } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import { BookingService, ShowAvailableResponseSchema } from "../../gen/booking/v1/booking_pb.js";
import { grpcServiceDefinition } from "../../wire/grpc-service-definition.js";
import type { BookingCore } from "../core/booking-core.js";
import { bookingServiceHandlers } from "./booking-service-handlers.js";
import { EventLoopLag } from "./event-loop-lag.js";
import { fastSerializer } from "./show-available-encoding.js";
import { TokenBuckets } from "./token-buckets.js";
import { MalformedRequest, UnaryHandlers, type RpcObserver } from "./unary-handler.js";

/** What {@link createBookingServer} needs; main builds it from the config. */
export interface BookingServerOptions {
  readonly core: BookingCore;
  readonly logger: Logger;
  readonly credentials: ServerCredentials;
  /** Plaintext: callers have no certificate and are all "anonymous". */
  readonly insecure?: boolean;
  readonly allowedPrincipals?: readonly string[] | undefined;
  readonly maxInFlight?: number;
  readonly maxReceiveBytes?: number;
  readonly maxConcurrentStreams?: number;
  /**
   * Calls arriving while the event loop lags more than this many ms get
   * RESOURCE_EXHAUSTED with RetryInfo. 0 (the default) turns it off, so that
   * servers inside test processes are not disturbed by their host's work;
   * main turns it on (--max-event-loop-lag-ms, default 100).
   */
  readonly maxEventLoopLagMs?: number;
  readonly writeRatePerSecond?: number;
  readonly writeBurst?: number;
  readonly readRatePerSecond?: number;
  readonly readBurst?: number;
  readonly observer?: RpcObserver | undefined;
  /** Registers extra services (reflection) before the server starts. */
  readonly registerExtras?: (server: Server) => void;
}

/** A booking server that is built but not yet listening. */
export interface BookingServer {
  readonly grpcServer: Server;
  readonly health: HealthImplementation;
  readonly handlers: UnaryHandlers;
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
    "grpc.max_receive_message_length": options.maxReceiveBytes ?? 65536,
    "grpc.max_concurrent_streams": options.maxConcurrentStreams ?? 100,
  });
  const maxEventLoopLagMs = options.maxEventLoopLagMs ?? 0;
  const eventLoopLag = maxEventLoopLagMs > 0 ? new EventLoopLag() : undefined;
  const handlers = new UnaryHandlers({
    logger: options.logger,
    insecure: options.insecure ?? false,
    allowedPrincipals: options.allowedPrincipals === undefined ? undefined : new Set(options.allowedPrincipals),
    maxInFlight: options.maxInFlight ?? 1024,
    eventLoopLag,
    maxEventLoopLagMs,
    writeBuckets: buckets(options.writeRatePerSecond, options.writeBurst),
    readBuckets: buckets(options.readRatePerSecond, options.readBurst),
    observer: options.observer,
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

function buckets(rate: number | undefined, burst: number | undefined): TokenBuckets | undefined {
  return rate === undefined || rate <= 0 ? undefined : new TokenBuckets(rate, burst ?? Math.ceil(rate));
}
