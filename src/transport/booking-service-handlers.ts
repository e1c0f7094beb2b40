import { create, type Message, type MessageInitShape } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import {
  CloseShowResponseSchema,
  ConfirmHoldResponseSchema,
  CreateShowResponseSchema,
  ExtendHoldResponseSchema,
  GetHoldResponseSchema,
  GetShowResponseSchema,
  HoldSeatsResponseSchema,
  ListShowsResponseSchema,
  ReleaseHoldResponseSchema,
  ResizeShowResponseSchema,
  type CloseShowRequest,
  type CloseShowResponse,
  type ConfirmHoldRequest,
  type ConfirmHoldResponse,
  type CreateShowRequest,
  type CreateShowResponse,
  type ExtendHoldRequest,
  type ExtendHoldResponse,
  type GetHoldRequest,
  type GetHoldResponse,
  type GetShowRequest,
  type GetShowResponse,
  type HoldSeatsRequest,
  type HoldSeatsResponse,
  type ListShowsRequest,
  type ListShowsResponse,
  type ReleaseHoldRequest,
  type ReleaseHoldResponse,
  type ResizeShowRequest,
  type ResizeShowResponse,
  BookSeatsResponseSchema,
  CancelSeatsResponseSchema,
  type BookSeatsRequest,
  type CancelSeatsRequest,
  type ShowAvailableRequest,
} from "../../gen/booking/v1/booking_pb.js";
import type { BookingCore } from "../core/booking-core.js";
import type { ListingCache } from "./listing-cache.js";
import type { UnaryHandlers } from "./unary-handler.js";
import type { WatchStreams } from "./watch-handler.js";
import { durationMs, holdMessage, showMessage } from "./wire-translation.js";

/** A response as an init shape whose seat list may be the core's own (read-only) array. */
type AnswerOf<Schema extends GenMessage<Message>> = Readonly<Omit<MessageInitShape<Schema>, "seats">> & { readonly seats: readonly number[] };

/** The core's view of a call: who, and until when. */
function callContext(context: { readonly principal: string; readonly deadline: number | undefined }) {
  return { principal: context.principal, deadline: context.deadline };
}

/** The parts of the service that keep state across calls. */
export interface ServiceParts {
  /** Encoded ShowAvailable answers, reused while a show's version stands. */
  readonly listings: ListingCache;
  /** The WatchAvailability streams. */
  readonly watches: WatchStreams;
}

/**
 * The BookingService methods: translate generated messages to core calls and
 * core results back to messages. All policy lives in the core; all admission
 * and error mapping in {@link UnaryHandlers} (and, for the one stream,
 * {@link WatchStreams}).
 */
export function bookingServiceHandlers(core: BookingCore, handlers: UnaryHandlers, parts: ServiceParts): UntypedServiceImplementation {
  return {
    // The hot path answers with init shapes, not messages: the response
    // serializer (flat-message-encoding.ts, or protobuf-es's, which calls
    // create itself) encodes them, and the seats are not copied.
    bookSeats: handlers.handler<BookSeatsRequest, AnswerOf<typeof BookSeatsResponseSchema>>("BookSeats", "write", async (request, context) => {
      const change = await core.book(
        { showId: request.showId, seats: request.seats, requestId: request.requestId },
        { principal: context.principal, deadline: context.deadline },
      );
      return { showId: change.showId, seats: change.seats, owner: change.owner, replayed: change.replayed };
    }),
    cancelSeats: handlers.handler<CancelSeatsRequest, AnswerOf<typeof CancelSeatsResponseSchema>>(
      "CancelSeats",
      "write",
      async (request, context) => {
        const change = await core.cancel(
          { showId: request.showId, seats: request.seats, requestId: request.requestId },
          { principal: context.principal, deadline: context.deadline },
        );
        return { showId: change.showId, seats: change.seats, replayed: change.replayed };
      },
    ),
    // The answer is the encoded ShowAvailableResponse (see ListingCache).
    showAvailable: handlers.handler<ShowAvailableRequest, Buffer>("ShowAvailable", "read", (request) =>
      parts.listings.listing(request.showId, request.form),
    ),
    watchAvailability: parts.watches.handler,
    createShow: handlers.handler<CreateShowRequest, CreateShowResponse>("CreateShow", "write", async (request, context) => {
      const change = await core.createShow(
        { showId: request.showId, totalSeats: request.totalSeats, displayName: request.displayName, requestId: request.requestId },
        callContext(context),
      );
      return create(CreateShowResponseSchema, { show: showMessage(change.show), replayed: change.replayed });
    }),
    getShow: handlers.handler<GetShowRequest, GetShowResponse>("GetShow", "read", async (request) =>
      create(GetShowResponseSchema, { show: showMessage(await core.getShow(request.showId)) }),
    ),
    listShows: handlers.handler<ListShowsRequest, ListShowsResponse>("ListShows", "read", async (request) => {
      const page = await core.listShows({ pageSize: request.pageSize, pageToken: request.pageToken });
      return create(ListShowsResponseSchema, { shows: page.shows.map(showMessage), nextPageToken: page.nextPageToken });
    }),
    closeShow: handlers.handler<CloseShowRequest, CloseShowResponse>("CloseShow", "write", async (request, context) => {
      const change = await core.closeShow({ showId: request.showId, requestId: request.requestId }, callContext(context));
      return create(CloseShowResponseSchema, { show: showMessage(change.show) });
    }),
    resizeShow: handlers.handler<ResizeShowRequest, ResizeShowResponse>("ResizeShow", "write", async (request, context) => {
      const change = await core.resizeShow(
        { showId: request.showId, totalSeats: request.totalSeats, requestId: request.requestId },
        callContext(context),
      );
      return create(ResizeShowResponseSchema, { show: showMessage(change.show) });
    }),
    holdSeats: handlers.handler<HoldSeatsRequest, HoldSeatsResponse>("HoldSeats", "write", async (request, context) => {
      const change = await core.hold(
        { showId: request.showId, seats: request.seats, requestId: request.requestId, ttlMs: durationMs(request.ttl, request.showId) },
        callContext(context),
      );
      return create(HoldSeatsResponseSchema, { hold: holdMessage(change.hold), replayed: change.replayed });
    }),
    extendHold: handlers.handler<ExtendHoldRequest, ExtendHoldResponse>("ExtendHold", "write", async (request, context) => {
      const change = await core.extendHold(
        { holdId: request.holdId, requestId: request.requestId, ttlMs: durationMs(request.ttl) },
        callContext(context),
      );
      return create(ExtendHoldResponseSchema, { hold: holdMessage(change.hold) });
    }),
    confirmHold: handlers.handler<ConfirmHoldRequest, ConfirmHoldResponse>("ConfirmHold", "write", async (request, context) => {
      const change = await core.confirmHold({ holdId: request.holdId, requestId: request.requestId }, callContext(context));
      return create(ConfirmHoldResponseSchema, {
        showId: change.showId,
        seats: [...change.seats],
        owner: change.owner,
        replayed: change.replayed,
        holdId: change.holdId,
      });
    }),
    releaseHold: handlers.handler<ReleaseHoldRequest, ReleaseHoldResponse>("ReleaseHold", "write", async (request, context) => {
      const change = await core.releaseHold({ holdId: request.holdId, requestId: request.requestId }, callContext(context));
      return create(ReleaseHoldResponseSchema, { hold: holdMessage(change.hold) });
    }),
    getHold: handlers.handler<GetHoldRequest, GetHoldResponse>("GetHold", "read", async (request, context) =>
      create(GetHoldResponseSchema, { hold: holdMessage(await core.getHold(request.holdId, callContext(context))) }),
    ),
  };
}
