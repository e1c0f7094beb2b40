import { ERROR_DOMAIN, STATUS_DETAILS_TRAILER } from "../../wire/wire-constants.js";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack, DurationSchema, type Any } from "@bufbuild/protobuf/wkt";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { isBookingFailure, type BookingFailure, type FailureReason } from "../core/booking-failure.js";

/** The ErrorInfo domain of every error this service raises. */
export { ERROR_DOMAIN };

/** The status code of each core failure reason, as the proto's file comment lists them. */
export const CODE_OF_REASON: Readonly<Record<FailureReason, status>> = {
  INVALID_SEATS: status.INVALID_ARGUMENT,
  TOO_MANY_SEATS: status.INVALID_ARGUMENT,
  SEATS_OUT_OF_RANGE: status.INVALID_ARGUMENT,
  INVALID_REQUEST_ID: status.INVALID_ARGUMENT,
  REQUEST_ID_REUSED: status.INVALID_ARGUMENT,
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  SHOW_NOT_FOUND: status.NOT_FOUND,
  HOLD_NOT_FOUND: status.NOT_FOUND,
  SEAT_ALREADY_BOOKED: status.ALREADY_EXISTS,
  SEAT_HELD: status.ALREADY_EXISTS,
  SHOW_EXISTS: status.ALREADY_EXISTS,
  SEAT_NOT_BOOKED: status.FAILED_PRECONDITION,
  SHOW_CLOSED: status.FAILED_PRECONDITION,
  SHOW_SHRINK_BLOCKED: status.FAILED_PRECONDITION,
  HOLD_EXPIRED: status.FAILED_PRECONDITION,
  HOLD_CONFIRMED: status.FAILED_PRECONDITION,
  HOLD_RELEASED: status.FAILED_PRECONDITION,
  SEAT_NOT_OWNED: status.PERMISSION_DENIED,
  ADMIN_ONLY: status.PERMISSION_DENIED,
  OVERLOADED: status.RESOURCE_EXHAUSTED,
  SLOW_CONSUMER: status.RESOURCE_EXHAUSTED,
  TOO_MANY_HOLDS: status.RESOURCE_EXHAUSTED,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  STORE_UNAVAILABLE: status.UNAVAILABLE,
};

/** A status to send: what grpc-js callbacks and `call.emit("error")` take. */
export type WireStatus = Partial<ServiceError> & { code: status; details: string; metadata: Metadata };

/**
 * Maps any error thrown while serving a call to the status sent on the wire.
 *
 * Booking errors keep their message and carry google.rpc.Status details:
 * ErrorInfo (reason, show, seats) always, BadRequest when fields are at fault,
 * RetryInfo when the client should come back later. Anything else is a bug or
 * an I/O failure: the client gets a generic INTERNAL (or UNAVAILABLE for a
 * store that is unreachable), never the stack, which goes to the log.
 */
export function toWireStatus(error: unknown): WireStatus {
  if (isBookingFailure(error)) return bookingErrorStatus(error);
  if (isStatusError(error)) return error.status;
  return richStatus(status.INTERNAL, "internal error; the server logged the cause", []);
}

/**
 * An error the gRPC layer raises on purpose with the exact status to send:
 * for example the one that ends every watch stream when the server shuts
 * down. {@link toWireStatus} sends its status as it is.
 */
export class StatusError extends Error {
  override readonly name = "StatusError";
  readonly status: WireStatus;

  constructor(wire: WireStatus) {
    super(wire.details);
    this.status = wire;
  }
}

/** True for a {@link StatusError}, also one from another copy of this module (checks the shape). */
export function isStatusError(error: unknown): error is StatusError {
  return (
    error instanceof Error &&
    error.name === "StatusError" &&
    typeof (error as { status?: { code?: unknown } }).status?.code === "number"
  );
}

/** A status with google.rpc details, for errors raised in the gRPC layer itself. */
export function richStatus(
  code: status,
  message: string,
  details: readonly Any[],
): WireStatus {
  const metadata = new Metadata();
  const statusMessage = create(StatusSchema, { code, message, details: [...details] });
  metadata.set(STATUS_DETAILS_TRAILER, Buffer.from(toBinary(StatusSchema, statusMessage)));
  return { code, details: message, metadata };
}

/** ErrorInfo for a reason raised outside the core (admission control, auth). */
export function errorInfo(reason: string, metadata: Record<string, string> = {}): Any {
  return anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason, domain: ERROR_DOMAIN, metadata }));
}

/** RetryInfo telling the client when to come back. */
export function retryInfo(delayMs: number): Any {
  const seconds = Math.floor(delayMs / 1000);
  return anyPack(
    RetryInfoSchema,
    create(RetryInfoSchema, {
      retryDelay: create(DurationSchema, { seconds: BigInt(seconds), nanos: (delayMs - seconds * 1000) * 1_000_000 }),
    }),
  );
}

function bookingErrorStatus(error: BookingFailure): WireStatus {
  const metadata: Record<string, string> = { show_id: error.showId };
  if (error.seats.length > 0) metadata["seats"] = error.seats.join(",");
  if (error.holdId !== undefined) metadata["hold_id"] = error.holdId;
  if (error.alsoAtFault !== undefined) {
    metadata["also_reason"] = error.alsoAtFault.reason;
    metadata["also_seats"] = error.alsoAtFault.seats.join(",");
  }
  const details = [errorInfo(error.reason, metadata)];
  if (error.violations.length > 0) {
    details.push(
      anyPack(
        BadRequestSchema,
        create(BadRequestSchema, {
          fieldViolations: error.violations.map((violation) => ({ ...violation })),
        }),
      ),
    );
  }
  if (error.retryDelayMs !== undefined) details.push(retryInfo(error.retryDelayMs));
  return richStatus(CODE_OF_REASON[error.reason], error.message, details);
}
