import { randomUUID } from "node:crypto";
import { isIP } from "node:net";
import { checkServerIdentity } from "node:tls";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Metadata,
  makeGenericClientConstructor,
  status,
  type CallOptions as GrpcCallOptions,
  type ChannelOptions,
  type ClientUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import {
  BookingService,
  type BookSeatsRequestSchema,
  type BookSeatsResponse,
  type CancelSeatsRequestSchema,
  type CancelSeatsResponse,
  type CloseShowResponse,
  type ConfirmHoldResponse,
  type CreateShowRequestSchema,
  type CreateShowResponse,
  type ExtendHoldResponse,
  type GetHoldResponse,
  type GetShowResponse,
  type HoldSeatsResponse,
  type ListShowsRequestSchema,
  type ListShowsResponse,
  type ReleaseHoldResponse,
  type ResizeShowRequestSchema,
  type ResizeShowResponse,
  type Show,
  type ShowAvailableRequestSchema,
  type ShowAvailableResponse,
} from "../gen/booking/v1/booking_pb.js";
import { BookingError } from "./booking-error.js";
import { wireTtl, type ExtendHoldInit, type HoldSeatsInit } from "./hold-requests.js";
import { callWithRetries, DEFAULT_RETRY_POLICY, type RetryEvent, type RetryPolicy } from "./call-retry.js";
import { loadClientCredentials, type ClientTlsMaterial } from "./client-credentials.js";
import { newRequestId } from "./request-ids.js";
import { startWatch, type AvailabilityWatch, type WatchAvailabilityInit, type WatchOptions, type WatchStream } from "./watch-availability.js";
import { grpcServiceDefinition } from "../wire/grpc-service-definition.js";
import { CORRELATION_ID_HEADER, DEFAULT_ADDRESS, PRINTABLE_ID_PATTERN } from "../wire/wire-constants.js";
import { checkServerAddress } from "./server-address.js";

/** The address used when none is given: the server's default listen address. */
export { DEFAULT_ADDRESS };

/**
 * The TLS server name sent when the target is an IP address, which may not be
 * sent as one (RFC 6066). The server ignores it; the certificate is checked
 * against the IP address.
 */
const IP_TARGET_SERVER_NAME = "ip-address.invalid";

/** How long a call (all its retries included) may take unless told otherwise. */
export const DEFAULT_DEADLINE_MS = 5000;

/**
 * The metadata key the server logs a call's request id under. The SDK sends
 * the idempotency key there too, so every attempt of one logical call shows
 * up in the server log under one id.
 */
export const REQUEST_ID_HEADER = CORRELATION_ID_HEADER;

/** Options of {@link createBookingClient}. TLS material is required: the server demands mutual TLS. */
export interface BookingClientOptions extends ClientTlsMaterial {
  /** "host:port" of the server; default {@link DEFAULT_ADDRESS}. */
  readonly address?: string | undefined;
  /** The name to verify the server certificate against, when it differs from the host. */
  readonly serverNameOverride?: string | undefined;
  /** The deadline of a call that sets none; default {@link DEFAULT_DEADLINE_MS}. */
  readonly defaultDeadlineMs?: number | undefined;
  /** Retry policy (defaults: {@link DEFAULT_RETRY_POLICY}) and a listener for each retry. */
  readonly retry?: (Partial<RetryPolicy> & { readonly onRetry?: ((event: RetryEvent) => void) | undefined }) | undefined;
  /** Extra grpc-js channel options; they win over the SDK's own. */
  readonly channelOptions?: Partial<ChannelOptions> | undefined;
}

/** Per-call options. */
export interface BookingCallOptions {
  /** How long the call may take, retries included; default the client's. */
  readonly deadlineMs?: number | undefined;
  /**
   * The idempotency key of a write. Default: the request's own `requestId`,
   * else a fresh UUID. Every retry of the call reuses it. Ignored by reads.
   */
  readonly requestId?: string | undefined;
  /** Aborting cancels the call in flight or the wait before a retry (CANCELLED). */
  readonly signal?: AbortSignal | undefined;
}

/**
 * A typed client of booking.v1.BookingService. Requests are init shapes
 * (plain objects are fine); responses are the generated message types.
 * Every failure rejects with a BookingError.
 *
 * Writes are idempotent: each logical call carries one request_id through
 * all its retries, so a booking whose answer was lost on a dropped
 * connection is answered from the server's record (`replayed: true`)
 * rather than booked twice.
 */
export interface BookingClient {
  /** The address the client talks to. */
  readonly address: string;
  /** Books every requested seat for the caller, or none (ALREADY_EXISTS names the taken seats). */
  bookSeats(
    request: MessageInitShape<typeof BookSeatsRequestSchema>,
    options?: BookingCallOptions,
  ): Promise<BookSeatsResponse>;
  /** Releases seats the caller holds (any seats, for an admin), all or none. */
  cancelSeats(
    request: MessageInitShape<typeof CancelSeatsRequestSchema>,
    options?: BookingCallOptions,
  ): Promise<CancelSeatsResponse>;
  /** The free seats of a show; `{}` asks for the server's default show. */
  showAvailable(
    request?: MessageInitShape<typeof ShowAvailableRequestSchema>,
    options?: BookingCallOptions,
  ): Promise<ShowAvailableResponse>;
  /** Opens a new show (admins only; PERMISSION_DENIED, ADMIN_ONLY, for anyone else). */
  createShow(
    request: MessageInitShape<typeof CreateShowRequestSchema>,
    options?: BookingCallOptions,
  ): Promise<CreateShowResponse>;
  /** One show with its counts; `{}` (or an empty showId) reads the server's default show. */
  getShow(request?: { readonly showId?: string | undefined }, options?: BookingCallOptions): Promise<GetShowResponse>;
  /** One page of shows in id order; pass `nextPageToken` back as `pageToken` for the next. */
  listShows(
    request?: MessageInitShape<typeof ListShowsRequestSchema>,
    options?: BookingCallOptions,
  ): Promise<ListShowsResponse>;
  /**
   * Every show, in id order, fetching page after page as the loop asks for
   * more. Each page is one call with its own deadline (`options.deadlineMs`);
   * a failure rejects the loop's next step with a BookingError.
   */
  listAllShows(request?: { readonly pageSize?: number | undefined }, options?: BookingCallOptions): AsyncIterable<Show>;
  /** Stops sales of a show (admins only); closing a closed show is a no-op. */
  closeShow(
    request: { readonly showId: string; readonly requestId?: string | undefined },
    options?: BookingCallOptions,
  ): Promise<CloseShowResponse>;
  /** Changes a show's seat count (admins only); shrinking below a booked or held seat fails, naming them. */
  resizeShow(
    request: MessageInitShape<typeof ResizeShowRequestSchema>,
    options?: BookingCallOptions,
  ): Promise<ResizeShowResponse>;
  /**
   * Holds every requested seat for the caller until the hold's expire_time,
   * or none (ALREADY_EXISTS names the taken seats; SEAT_HELD carries
   * `retryDelayMs`, the time left on the hold in the way). The TTL is
   * `ttlMs` or a Duration `ttl` (HoldTtl); neither means the server's default.
   */
  holdSeats(request: HoldSeatsInit, options?: BookingCallOptions): Promise<HoldSeatsResponse>;
  /** Moves a live hold's expiry to now + TTL (capped by the server's maximum hold lifetime). Owner only. */
  extendHold(request: ExtendHoldInit, options?: BookingCallOptions): Promise<ExtendHoldResponse>;
  /** Books exactly the held seats for the hold's owner; answers like bookSeats. Owner only. */
  confirmHold(
    request: { readonly holdId: string; readonly requestId?: string | undefined },
    options?: BookingCallOptions,
  ): Promise<ConfirmHoldResponse>;
  /** Frees a live hold's seats (its owner, or an admin). */
  releaseHold(
    request: { readonly holdId: string; readonly requestId?: string | undefined },
    options?: BookingCallOptions,
  ): Promise<ReleaseHoldResponse>;
  /** Reads a hold (its owner, or an admin; NOT_FOUND, HOLD_NOT_FOUND, to anyone else). */
  getHold(request: { readonly holdId: string }, options?: BookingCallOptions): Promise<GetHoldResponse>;
  /**
   * Watches a show live: `for await (const update of client.watchAvailability({ showId }))`
   * gives a snapshot, then the changes as they commit, each already applied
   * to the watch's `seatMap`. Resumes by itself from the last version applied
   * when the stream drops (UNAVAILABLE, a server restart, SLOW_CONSUMER),
   * with backoff and optionally at other `addresses`; throws a BookingError
   * on a failure it does not resume from (NOT_FOUND, PERMISSION_DENIED, ...).
   * Nothing is sent until the loop starts. No deadline applies.
   */
  watchAvailability(request?: WatchAvailabilityInit, options?: WatchOptions): AvailabilityWatch;
  /** Closes the channels. Calls in flight fail and watches end quietly; later calls reject at once. */
  close(): void;
}

type UnaryMethod = (
  request: unknown,
  metadata: Metadata,
  options: GrpcCallOptions,
  callback: (error: ServiceError | null, response?: unknown) => void,
) => ClientUnaryCall;

const BookingServiceClient = makeGenericClientConstructor(grpcServiceDefinition(BookingService), "BookingService");
type ServiceClient = InstanceType<typeof BookingServiceClient>;

/**
 * Connects (lazily, on the first call) to a booking server over mutual TLS.
 * Throws a ClientCredentialsError when the TLS material cannot be read, and
 * a TypeError for options that make no sense. Calls reject with a
 * BookingError, or a TypeError for misuse (a bad deadlineMs, two different
 * request ids for one call).
 */
export function createBookingClient(options: BookingClientOptions): BookingClient {
  const address = options.address ?? DEFAULT_ADDRESS;
  checkServerAddress("address", address);
  const policy: RetryPolicy = {
    maxAttempts: options.retry?.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts,
    initialBackoffMs: options.retry?.initialBackoffMs ?? DEFAULT_RETRY_POLICY.initialBackoffMs,
    maxBackoffMs: options.retry?.maxBackoffMs ?? DEFAULT_RETRY_POLICY.maxBackoffMs,
  };
  const defaultDeadlineMs = options.defaultDeadlineMs ?? DEFAULT_DEADLINE_MS;
  checkWhole("retry.maxAttempts", policy.maxAttempts, 1);
  checkWhole("retry.initialBackoffMs", policy.initialBackoffMs, 1);
  checkWhole("retry.maxBackoffMs", policy.maxBackoffMs, policy.initialBackoffMs);
  checkWhole("defaultDeadlineMs", defaultDeadlineMs, 1);
  const onRetry = options.retry?.onRetry;

  /** A grpc-js client of `target` with the same TLS material and channel options. */
  const connect = (target: string): ServiceClient => {
    const ipTarget = options.serverNameOverride === undefined ? ipLiteralHost(target) : undefined;
    const channelOptions: Partial<ChannelOptions> = {
      // Reconnect about as eagerly as the SDK retries; grpc-js would otherwise
      // wait a full second after a failed connection, and fail every retry in it.
      "grpc.initial_reconnect_backoff_ms": policy.initialBackoffMs,
      "grpc.max_reconnect_backoff_ms": policy.maxBackoffMs,
      ...(options.serverNameOverride === undefined
        ? {}
        : {
            "grpc.ssl_target_name_override": options.serverNameOverride,
            "grpc.default_authority": options.serverNameOverride,
          }),
      // RFC 6066 forbids an IP address as the TLS server name, and Node warns
      // (DEP0123) on the app's stderr when grpc-js sends one. For an IP target
      // the SDK sends a placeholder name instead and checks the certificate
      // against the IP itself (its IP SANs), as it would have been.
      ...(ipTarget === undefined ? {} : { "grpc.ssl_target_name_override": IP_TARGET_SERVER_NAME }),
      ...options.channelOptions,
    };
    const credentials = loadClientCredentials(
      { ca: options.ca, cert: options.cert, key: options.key },
      ipTarget === undefined ? undefined : (_name, certificate) => checkServerIdentity(ipTarget, certificate),
    );
    return new BookingServiceClient(target, credentials, channelOptions);
  };
  const client = connect(address);
  let closed = false;
  /** Ends the waits of calls between attempts when the client closes. */
  const closing = new AbortController();
  /** Clients of the other addresses a watch rotates through, made on first use. */
  const otherClients = new Map<string, ServiceClient>();
  const watches = new Set<AvailabilityWatch>();
  const serviceClientFor = (target: string): ServiceClient => {
    if (target === address) return client;
    const other = otherClients.get(target) ?? connect(target);
    otherClients.set(target, other);
    return other;
  };
  const openWatch = (target: string, request: unknown): WatchStream => {
    if (closed) throw new BookingError(status.FAILED_PRECONDITION, "the booking client is closed");
    const service = serviceClientFor(target);
    const watch = service["watchAvailability"] as (request: unknown, metadata: Metadata, options: GrpcCallOptions) => WatchStream;
    return watch.call(service, request, new Metadata(), {});
  };

  const unary = (method: string, request: unknown, requestId: string | undefined, call: BookingCallOptions) => {
    const deadlineMs = call.deadlineMs ?? defaultDeadlineMs;
    checkWhole("deadlineMs", deadlineMs, 1);
    const deadline = Date.now() + deadlineMs;
    // The header only takes printable ASCII; any other key still travels in the request.
    const headerId = requestId !== undefined && PRINTABLE_ID_PATTERN.test(requestId) ? requestId : randomUUID();
    return callWithRetries(
      () => {
        if (closed) {
          return Promise.reject(new BookingError(status.FAILED_PRECONDITION, "the booking client is closed"));
        }
        const metadata = new Metadata();
        metadata.set(REQUEST_ID_HEADER, headerId);
        return invoke(client, method, request, metadata, deadline, call.signal);
      },
      { method, policy, deadline, requestId, signal: call.signal, closing: closing.signal, onRetry },
    );
  };

  /** A write: one idempotency key (the caller's, or a fresh UUID) for every attempt. */
  const write = (method: string, request: { readonly requestId?: string | undefined }, call: BookingCallOptions) => {
    const requestId = idempotencyKey(request.requestId, call.requestId);
    return unary(method, { ...request, requestId }, requestId, call);
  };
  const listShows = async (request: MessageInitShape<typeof ListShowsRequestSchema> = {}, call: BookingCallOptions = {}) =>
    (await unary("ListShows", request, undefined, call)) as ListShowsResponse;

  return {
    address,
    bookSeats: async (request, call = {}) => (await write("BookSeats", request, call)) as BookSeatsResponse,
    cancelSeats: async (request, call = {}) => (await write("CancelSeats", request, call)) as CancelSeatsResponse,
    showAvailable: async (request = {}, call = {}) =>
      (await unary("ShowAvailable", request, undefined, call)) as ShowAvailableResponse,
    createShow: async (request, call = {}) => (await write("CreateShow", request, call)) as CreateShowResponse,
    getShow: async (request = {}, call = {}) =>
      (await unary("GetShow", { showId: request.showId ?? "" }, undefined, call)) as GetShowResponse,
    listShows,
    listAllShows: (request = {}, call = {}) => allShows(listShows, request.pageSize ?? 0, call),
    closeShow: async (request, call = {}) => (await write("CloseShow", request, call)) as CloseShowResponse,
    resizeShow: async (request, call = {}) => (await write("ResizeShow", request, call)) as ResizeShowResponse,
    holdSeats: async (request, call = {}) => {
      const { showId, seats, requestId } = request;
      const wire = { showId: showId ?? "", seats: [...seats], requestId, ttl: wireTtl(request) };
      return (await write("HoldSeats", wire, call)) as HoldSeatsResponse;
    },
    extendHold: async (request, call = {}) => {
      const wire = { holdId: request.holdId, requestId: request.requestId, ttl: wireTtl(request) };
      return (await write("ExtendHold", wire, call)) as ExtendHoldResponse;
    },
    confirmHold: async (request, call = {}) => (await write("ConfirmHold", request, call)) as ConfirmHoldResponse,
    releaseHold: async (request, call = {}) => (await write("ReleaseHold", request, call)) as ReleaseHoldResponse,
    getHold: async (request, call = {}) =>
      (await unary("GetHold", { holdId: request.holdId }, undefined, call)) as GetHoldResponse,
    watchAvailability: (request = {}, call = {}) => {
      const watch = startWatch({ open: openWatch, address, policy, onEnd: () => watches.delete(watch) }, request, call);
      watches.add(watch);
      return watch;
    },
    close: () => {
      closed = true;
      closing.abort();
      for (const watch of watches) watch.close();
      watches.clear();
      client.close();
      for (const other of otherClients.values()) other.close();
    },
  };
}

function invoke(
  client: ServiceClient,
  method: string,
  request: unknown,
  metadata: Metadata,
  deadline: number,
  signal: AbortSignal | undefined,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const localName = method.charAt(0).toLowerCase() + method.slice(1);
    const send = client[localName] as UnaryMethod;
    let onAbort: (() => void) | undefined;
    const call = send.call(client, request, metadata, { deadline: new Date(deadline) }, (error, response) => {
      if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
      if (error !== null) reject(error);
      else resolve(response);
    });
    if (signal !== undefined) {
      onAbort = () => call.cancel();
      signal.addEventListener("abort", onAbort, { once: true });
    }
  });
}

/** Every show, page after page, until a page has no next_page_token. */
async function* allShows(
  listShows: (request: MessageInitShape<typeof ListShowsRequestSchema>, call: BookingCallOptions) => Promise<ListShowsResponse>,
  pageSize: number,
  call: BookingCallOptions,
): AsyncGenerator<Show, void, undefined> {
  let pageToken = "";
  do {
    const page = await listShows({ pageSize, pageToken }, call);
    yield* page.shows;
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
}

/** The caller's key (from the call options or the request), else a fresh time-ordered UUID (newRequestId). */
function idempotencyKey(fromRequest: string | undefined, fromOptions: string | undefined): string {
  if (fromOptions !== undefined && fromOptions !== "" && fromRequest !== undefined && fromRequest !== "" && fromOptions !== fromRequest) {
    throw new TypeError(`requestId given twice with different values ("${fromRequest}" in the request, "${fromOptions}" in the options)`);
  }
  if (fromOptions !== undefined && fromOptions !== "") return fromOptions;
  if (fromRequest !== undefined && fromRequest !== "") return fromRequest;
  return newRequestId();
}

/** The host of "host:port" when it is an IP literal ("[::1]:50051" gives "::1"). */
function ipLiteralHost(address: string): string | undefined {
  const host = /^\[([^\]]+)\]:\d+$/.exec(address)?.[1] ?? /^([^:]+):\d+$/.exec(address)?.[1] ?? address;
  return isIP(host) === 0 ? undefined : host;
}

function checkWhole(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`${name} must be a whole number >= ${min}, got ${value}`);
  }
}
