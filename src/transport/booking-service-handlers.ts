import { create } from "@bufbuild/protobuf";
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import {
  BookSeatsResponseSchema,
  CancelSeatsResponseSchema,
  ShowAvailableResponseSchema,
  type BookSeatsRequest,
  type BookSeatsResponse,
  type CancelSeatsRequest,
  type CancelSeatsResponse,
  type ShowAvailableRequest,
  type ShowAvailableResponse,
} from "../../gen/booking/v1/booking_pb.js";
import type { BookingCore } from "../core/booking-core.js";
import type { UnaryHandlers } from "./unary-handler.js";

/**
 * The BookingService methods: translate generated messages to core calls and
 * core results back to messages. All policy lives in the core; all admission
 * and error mapping in {@link UnaryHandlers}.
 */
export function bookingServiceHandlers(core: BookingCore, handlers: UnaryHandlers): UntypedServiceImplementation {
  return {
    bookSeats: handlers.handler<BookSeatsRequest, BookSeatsResponse>("BookSeats", "write", async (request, context) => {
      const change = await core.book(
        { showId: request.showId, seats: request.seats, requestId: request.requestId },
        { principal: context.principal, deadline: context.deadline },
      );
      return create(BookSeatsResponseSchema, {
        showId: change.showId,
        seats: [...change.seats],
        owner: change.owner,
        replayed: change.replayed,
      });
    }),
    cancelSeats: handlers.handler<CancelSeatsRequest, CancelSeatsResponse>(
      "CancelSeats",
      "write",
      async (request, context) => {
        const change = await core.cancel(
          { showId: request.showId, seats: request.seats, requestId: request.requestId },
          { principal: context.principal, deadline: context.deadline },
        );
        return create(CancelSeatsResponseSchema, {
          showId: change.showId,
          seats: [...change.seats],
          replayed: change.replayed,
        });
      },
    ),
    showAvailable: handlers.handler<ShowAvailableRequest, ShowAvailableResponse>(
      "ShowAvailable",
      "read",
      async (request) => {
        const snapshot = await core.available(request.showId);
        return create(ShowAvailableResponseSchema, {
          showId: snapshot.showId,
          totalSeats: snapshot.totalSeats,
          bookedCount: snapshot.bookedCount,
          availableSeats: [...snapshot.available],
        });
      },
    ),
  };
}
