import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import {
  Client,
  credentials,
  Metadata,
  status,
  type ChannelCredentials,
  type ServiceError,
} from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../../wire/grpc-service-definition.js";
import { BookingService } from "../../gen/booking/v1/booking_pb.js";
import type { TestCertificate } from "./test-pki.js";

/** The three BookingService methods, by grpc-js local name. */
export type BookingMethod = "bookSeats" | "cancelSeats" | "showAvailable";

/** The wire path of each BookingService method. */
export const BOOKING_PATHS: Readonly<Record<BookingMethod, string>> = {
  bookSeats: "/booking.v1.BookingService/BookSeats",
  cancelSeats: "/booking.v1.BookingService/CancelSeats",
  showAvailable: "/booking.v1.BookingService/ShowAvailable",
};

/** The path of the standard health check. */
export const HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check";

/** grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING. */
export const SERVING = 1;

/** What one call ended with, as the client saw it; never a throw. */
export interface CallResult<Response = unknown> {
  readonly code: status;
  readonly details: string;
  /** The response message (decoded, or raw bytes for byte calls) when OK. */
  readonly response: Response | undefined;
  /** Initial metadata the server sent, if any. */
  readonly headers: Metadata | undefined;
  /** Trailing metadata of a failed call (carries grpc-status-details-bin). */
  readonly trailers: Metadata | undefined;
  /** grpc-js's error of a failed call; null when OK. */
  readonly error: ServiceError | null;
  /** Client-side latency, for percentiles only (never asserted as wall time). */
  readonly ms: number;
}

/** Per-call options. */
export interface CallOptions {
  /** Epoch ms; default now + 10 s. */
  readonly deadline?: number;
  readonly metadata?: Metadata;
}

/** Options of {@link AbuseChannel.open}. */
export interface AbuseChannelOptions {
  /** Extra grpc-js channel options (compression, message sizes). */
  readonly channelOptions?: Record<string, string | number>;
}

const definition = grpcServiceDefinition(BookingService);
const identity = (bytes: Buffer): Buffer => bytes;

/**
 * One grpc-js channel, on its own HTTP/2 connection (a local subchannel pool,
 * so channels never share a connection), that can send typed booking
 * requests, arbitrary bytes to any path, and health checks. For abuse tests:
 * it reports exactly what came back and never retries.
 */
export class AbuseChannel {
  readonly #client: Client;

  private constructor(client: Client) {
    this.#client = client;
  }

  /** Opens a channel authenticated as `identity`, trusting `caCert`. */
  static open(address: string, caCert: Buffer, who: TestCertificate, options: AbuseChannelOptions = {}): AbuseChannel {
    return AbuseChannel.withCredentials(address, credentials.createSsl(caCert, who.key, who.cert), {
      "grpc.use_local_subchannel_pool": 1,
      "grpc.enable_retries": 0,
      ...options.channelOptions,
    });
  }

  /**
   * Opens a channel with any credentials (a foreign CA, no certificate) and
   * exactly `channelOptions`: unlike open(), it may share a connection with
   * other channels and grpc-js's defaults (transparent retries) apply.
   */
  static withCredentials(
    address: string,
    channelCredentials: ChannelCredentials,
    channelOptions: Record<string, unknown> = {},
  ): AbuseChannel {
    return new AbuseChannel(new Client(address, channelCredentials, channelOptions));
  }

  /** A BookingService call with a message (or init shape) encoded by the generated schema. */
  booking(method: BookingMethod, request: unknown, options: CallOptions = {}): Promise<CallResult> {
    const methodDefinition = definition[method];
    if (methodDefinition === undefined) throw new TypeError(`unknown method ${method}`);
    return this.#unary(
      methodDefinition.path,
      methodDefinition.requestSerialize,
      methodDefinition.responseDeserialize,
      request,
      options,
    );
  }

  /** Sends `bytes` unchanged as the request message of `path`; the response stays bytes. */
  bytes(path: string, bytes: Uint8Array, options: CallOptions = {}): Promise<CallResult<Buffer>> {
    return this.#unary(path, identity, identity, Buffer.from(bytes), options);
  }

  /** grpc.health.v1.Health/Check for `service` ("" = the whole server); the serving status when OK. */
  async health(service = "", options: CallOptions = {}): Promise<CallResult<number>> {
    // HealthCheckRequest { string service = 1; }
    const request =
      service === "" ? new Uint8Array() : new BinaryWriter().tag(1, WireType.LengthDelimited).string(service).finish();
    const result = await this.bytes(HEALTH_CHECK_PATH, request, options);
    return { ...result, response: result.response === undefined ? undefined : servingStatus(result.response) };
  }

  /** Resolves once the channel is connected (or rejects at `deadline`). */
  ready(deadline = Date.now() + 10_000): Promise<void> {
    return new Promise((resolve, reject) =>
      this.#client.waitForReady(deadline, (error) => (error === undefined ? resolve() : reject(error))),
    );
  }

  close(): void {
    this.#client.close();
  }

  #unary<Request, Response>(
    path: string,
    serialize: (value: Request) => Buffer,
    deserialize: (bytes: Buffer) => Response,
    request: Request,
    options: CallOptions,
  ): Promise<CallResult<Response>> {
    const started = performance.now();
    return new Promise((resolve) => {
      let headers: Metadata | undefined;
      const call = this.#client.makeUnaryRequest(
        path,
        serialize,
        deserialize,
        request,
        options.metadata ?? new Metadata(),
        { deadline: options.deadline ?? Date.now() + 10_000 },
        (error: ServiceError | null, response?: Response) => {
          const ms = performance.now() - started;
          resolve(
            error === null
              ? { code: status.OK, details: "", response, headers, trailers: undefined, error, ms }
              : { code: error.code, details: error.details, response: undefined, headers, trailers: error.metadata, error, ms },
          );
        },
      );
      call.on("metadata", (metadata: Metadata) => (headers = metadata));
    });
  }
}

/** HealthCheckResponse.status (field 1, enum); 0 (UNKNOWN) when absent. */
function servingStatus(bytes: Buffer): number {
  const reader = new BinaryReader(bytes);
  let result = 0;
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1) result = reader.int32();
    else reader.skip(wireType);
  }
  return result;
}
