import {
  makeGenericClientConstructor,
  Metadata,
  type ChannelCredentials,
  type Client,
  type ServiceError,
} from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../../wire/grpc-service-definition.js";
import { BookingService } from "../../gen/booking/v1/booking_pb.js";

const BookingServiceClient = makeGenericClientConstructor(grpcServiceDefinition(BookingService), "BookingService");

type RawMethod = (
  request: unknown,
  metadata: Metadata,
  options: { deadline: number },
  callback: (error: ServiceError | null, response?: unknown) => void,
) => unknown;

/** The outcome of one raw call: an error or a response, never a throw. */
export interface RawOutcome {
  readonly error: ServiceError | null;
  readonly response: unknown;
}

/**
 * One BookingService call through plain grpc-js, bypassing the SDK, so tests
 * can use any credentials and see the raw status and metadata.
 */
export async function rawCall(
  address: string,
  credentials: ChannelCredentials,
  method: "bookSeats" | "cancelSeats" | "showAvailable",
  request: unknown,
  options: { deadlineMs?: number; metadata?: Metadata; channelOptions?: Record<string, unknown> } = {},
): Promise<RawOutcome> {
  const client = new BookingServiceClient(address, credentials, options.channelOptions ?? {}) as Client &
    Record<string, RawMethod>;
  try {
    return await new Promise<RawOutcome>((resolve) => {
      client[method]?.(
        request,
        options.metadata ?? new Metadata(),
        { deadline: Date.now() + (options.deadlineMs ?? 5000) },
        (error, response) => resolve({ error, response }),
      );
    });
  } finally {
    client.close();
  }
}
