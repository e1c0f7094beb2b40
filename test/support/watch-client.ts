import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, status, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import {
  BookingService,
  SeatChangeKind,
  ShowState,
  WatchAvailabilityRequestSchema,
  type ShowAvailableResponse,
  type WatchAvailabilityResponse,
} from "../../gen/booking/v1/booking_pb.js";
import { grpcServiceDefinition } from "../../wire/grpc-service-definition.js";
import { errorReason } from "./abuse-status.js";
import type { TestCertificate } from "./test-pki.js";

const definition = grpcServiceDefinition(BookingService);

/** How a call or stream ended, as the client saw it. */
export interface CallEnd {
  readonly code: status;
  readonly details: string;
  /** The ErrorInfo reason, when the status carried one. */
  readonly reason: string | undefined;
  readonly trailers: Metadata | undefined;
}

/**
 * One grpc-js channel on its own connection for WatchAvailability tests:
 * raw streams (so a test can stop reading, or cancel) and any unary
 * BookingService call by its local name. Bypasses the SDK on purpose.
 */
export class WatchTestClient {
  readonly #client: Client;

  constructor(address: string, caCert: Buffer, who: TestCertificate, channelOptions: Record<string, number> = {}) {
    this.#client = new Client(address, credentials.createSsl(caCert, who.key, who.cert), {
      "grpc.use_local_subchannel_pool": 1,
      "grpc.enable_retries": 0,
      ...channelOptions,
    });
  }

  /** Opens a WatchAvailability stream. */
  watch(request: MessageInitShape<typeof WatchAvailabilityRequestSchema> = {}): WatchStream {
    const method = definition["watchAvailability"];
    if (method === undefined) throw new TypeError("no watchAvailability in the service definition");
    const call = this.#client.makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      create(WatchAvailabilityRequestSchema, request),
      new Metadata(),
      {},
    ) as ClientReadableStream<WatchAvailabilityResponse>;
    return new WatchStream(call);
  }

  /** A unary call by local name ("bookSeats", "showAvailable", "holdSeats", ...); never throws. */
  unary<Response = unknown>(method: string, request: unknown): Promise<{ response: Response | undefined; end: CallEnd }> {
    const found = definition[method];
    if (found === undefined) throw new TypeError(`unknown method ${method}`);
    return new Promise((resolve) => {
      this.#client.makeUnaryRequest(
        found.path,
        found.requestSerialize,
        found.responseDeserialize,
        request,
        new Metadata(),
        { deadline: Date.now() + 20_000 },
        (error: ServiceError | null, response?: unknown) => {
          resolve({
            response: response as Response | undefined,
            end:
              error === null
                ? { code: status.OK, details: "", reason: undefined, trailers: undefined }
                : { code: error.code, details: error.details, reason: errorReason(error.metadata), trailers: error.metadata },
          });
        },
      );
    });
  }

  /** ShowAvailable, failing the test on an error. */
  async showAvailable(request: Record<string, unknown> = {}): Promise<ShowAvailableResponse> {
    const { response, end } = await this.unary<ShowAvailableResponse>("showAvailable", request);
    if (response === undefined) throw new Error(`ShowAvailable failed: ${status[end.code]} ${end.details}`);
    return response;
  }

  close(): void {
    this.#client.close();
  }
}

/** A client's side of one WatchAvailability stream: messages as they come, and its end. */
export class WatchStream {
  readonly call: ClientReadableStream<WatchAvailabilityResponse>;
  /** Every message received so far, in order. */
  readonly messages: WatchAvailabilityResponse[] = [];
  /** Resolves with the stream's status. */
  readonly ended: Promise<CallEnd>;
  #taken = 0;
  #wake: (() => void) | undefined;
  #end: CallEnd | undefined;

  constructor(call: ClientReadableStream<WatchAvailabilityResponse>) {
    this.call = call;
    this.ended = new Promise((resolve) => {
      call.on("data", (message: WatchAvailabilityResponse) => {
        this.messages.push(message);
        this.#wake?.();
      });
      call.on("error", (error: ServiceError) => {
        this.#end = { code: error.code, details: error.details, reason: errorReason(error.metadata), trailers: error.metadata };
        this.#wake?.();
        resolve(this.#end);
      });
      call.on("status", (end: { code: status; details: string; metadata: Metadata }) => {
        if (end.code !== status.OK) return;
        this.#end = { code: end.code, details: end.details, reason: undefined, trailers: end.metadata };
        this.#wake?.();
        resolve(this.#end);
      });
    });
  }

  /** The next message not yet taken; rejects when the stream ends first. */
  async next(): Promise<WatchAvailabilityResponse> {
    for (;;) {
      const message = this.messages[this.#taken];
      if (message !== undefined) {
        this.#taken++;
        return message;
      }
      if (this.#end !== undefined) throw new Error(`the stream ended: ${status[this.#end.code]} ${this.#end.details}`);
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** Takes messages until `done` says the state it builds is complete. */
  async until(done: () => boolean, apply: (message: WatchAvailabilityResponse) => void): Promise<void> {
    while (!done()) apply(await this.next());
  }

  cancel(): void {
    this.call.cancel();
  }
}

/**
 * A seat map built the way a client builds one: from a snapshot, then each
 * change applied in version order. Throws on a gap or a change out of order.
 */
export class ReplayedShow {
  version = -1;
  totalSeats = 0;
  closed = false;
  readonly free = new Set<number>();
  readonly held = new Set<number>();

  /** Applies one stream message; `afterEach` sees the map at each version it passes. */
  apply(message: WatchAvailabilityResponse, afterEach?: (show: ReplayedShow) => void): void {
    const event = message.event;
    if (event.case === "snapshot") {
      const snapshot = event.value;
      this.version = Number(snapshot.version);
      this.totalSeats = snapshot.totalSeats;
      this.closed = snapshot.state === ShowState.CLOSED;
      this.free.clear();
      this.held.clear();
      for (const seat of snapshot.freeSeats) this.free.add(seat);
      for (const seat of snapshot.heldSeats) this.held.add(seat);
      afterEach?.(this);
      return;
    }
    if (event.case !== "changes") throw new Error("a message with no event");
    for (const change of event.value.changes) {
      const version = Number(change.version);
      if (version !== this.version + 1) throw new Error(`version ${version} after ${this.version}: a gap or a repeat`);
      this.version = version;
      switch (change.kind) {
        case SeatChangeKind.BOOKED:
          for (const seat of change.seats) {
            this.free.delete(seat);
            this.held.delete(seat);
          }
          break;
        case SeatChangeKind.RELEASED:
          for (const seat of change.seats) this.free.add(seat);
          break;
        case SeatChangeKind.HELD:
          for (const seat of change.seats) {
            this.free.delete(seat);
            this.held.add(seat);
          }
          break;
        case SeatChangeKind.HOLD_ENDED:
          for (const seat of change.seats) {
            this.held.delete(seat);
            this.free.add(seat);
          }
          break;
        case SeatChangeKind.RESIZED:
          for (let seat = this.totalSeats + 1; seat <= change.totalSeats; seat++) this.free.add(seat);
          for (const seat of [...this.free]) if (seat > change.totalSeats) this.free.delete(seat);
          this.totalSeats = change.totalSeats;
          break;
        case SeatChangeKind.CLOSED:
          this.closed = true;
          break;
        default:
          throw new Error(`unknown change kind ${change.kind}`);
      }
      afterEach?.(this);
    }
  }

  /** The map as ShowAvailable's fields, to compare with a listing. */
  listing(): { version: number; totalSeats: number; bookedCount: number; heldCount: number; availableSeats: number[] } {
    return {
      version: this.version,
      totalSeats: this.totalSeats,
      bookedCount: this.totalSeats - this.free.size - this.held.size,
      heldCount: this.held.size,
      availableSeats: [...this.free].sort((a, b) => a - b),
    };
  }
}

/** A listing's fields in the shape of {@link ReplayedShow.listing}. */
export function listingFields(listing: ShowAvailableResponse): ReturnType<ReplayedShow["listing"]> {
  return {
    version: Number(listing.version),
    totalSeats: listing.totalSeats,
    bookedCount: listing.bookedCount,
    heldCount: listing.heldCount,
    availableSeats: [...listing.availableSeats],
  };
}
