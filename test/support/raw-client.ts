import type { ChannelCredentials, Metadata, ServiceError } from "@grpc/grpc-js";
import { AbuseChannel, type BookingMethod } from "./abuse-channel.js";

/** The outcome of one raw call: an error or a response, never a throw. */
export interface RawOutcome {
  readonly error: ServiceError | null;
  readonly response: unknown;
}

/**
 * One BookingService call through plain grpc-js, bypassing the SDK, so tests
 * can use any credentials and see the raw status and metadata. A channel of
 * its own (AbuseChannel.withCredentials), closed after the call.
 */
export async function rawCall(
  address: string,
  credentials: ChannelCredentials,
  method: BookingMethod,
  request: unknown,
  options: { deadlineMs?: number; metadata?: Metadata; channelOptions?: Record<string, unknown> } = {},
): Promise<RawOutcome> {
  const channel = AbuseChannel.withCredentials(address, credentials, options.channelOptions);
  try {
    const { error, response } = await channel.booking(method, request, {
      deadline: Date.now() + (options.deadlineMs ?? 5000),
      ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
    });
    return { error, response };
  } finally {
    channel.close();
  }
}
