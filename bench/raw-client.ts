import { readFileSync } from "node:fs";
import {
  credentials,
  makeGenericClientConstructor,
  status,
  type Client,
  type ServiceError,
} from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../wire/grpc-service-definition.js";
import { BookingService } from "../gen/booking/v1/booking_pb.js";
import type { BenchMethod } from "./scenarios.js";

/** PEM files of one client identity. */
export interface IdentityFiles {
  readonly certPath: string;
  readonly keyPath: string;
}

/** What a raw call answers: the status code, and the response or error. */
export interface RawReply {
  readonly code: status;
  readonly response: unknown;
  readonly error: ServiceError | null;
}

type RawMethod = (
  request: unknown,
  options: { deadline: number },
  callback: (error: ServiceError | null, response?: unknown) => void,
) => unknown;

const BookingServiceClient = makeGenericClientConstructor(grpcServiceDefinition(BookingService), "BookingService");

/**
 * A plain grpc-js client of BookingService over mutual TLS: no SDK, no
 * retries, so calling the service costs the client exactly what calling the
 * baseline costs. `tag` keeps it on a connection of its own: clients with
 * different tags never share a subchannel. Deliberately not the tests'
 * client (test/support/abuse-channel.ts): that one times each call, keeps
 * headers and trailers and makes a promise per call, costs the load
 * generator would add to every measured call; and test/ is not compiled
 * into dist/, where the generators run. Both build on the same service
 * definition (wire/grpc-service-definition.ts).
 */
export class RawBookingClient {
  readonly #client: Client & Record<BenchMethod, RawMethod>;

  constructor(address: string, caCertPath: string, identity: IdentityFiles, tag: string) {
    const channelCredentials = credentials.createSsl(
      readFileSync(caCertPath),
      readFileSync(identity.keyPath),
      readFileSync(identity.certPath),
    );
    this.#client = new BookingServiceClient(address, channelCredentials, {
      "grpc.use_local_subchannel_pool": 1,
      "bench.connection": tag,
      // ShowAvailable of a 100,000-seat show is about 290 kB.
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
    }) as unknown as Client & Record<BenchMethod, RawMethod>;
  }

  /** Resolves once the TLS connection is up; rejects after `timeoutMs`. */
  connect(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#client.waitForReady(Date.now() + timeoutMs, (error) => (error === undefined || error === null ? resolve() : reject(error)));
    });
  }

  /** One unary call; `done` hears the outcome, never a throw. */
  call(method: BenchMethod, request: object, deadlineMs: number, done: (reply: RawReply) => void): void {
    this.#client[method](request, { deadline: Date.now() + deadlineMs }, (error, response) => {
      done({ code: error === null ? status.OK : error.code, response, error });
    });
  }

  /** The same call as a promise. */
  callAsync(method: BenchMethod, request: object, deadlineMs: number): Promise<RawReply> {
    return new Promise((resolve) => this.call(method, request, deadlineMs, resolve));
  }

  close(): void {
    this.#client.close();
  }
}
