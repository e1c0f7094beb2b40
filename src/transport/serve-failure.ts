import { status } from "@grpc/grpc-js";
import { isBookingFailure } from "../core/booking-failure.js";
import type { RefusalLimit } from "./admission/admission-step.js";
import { toWireStatus, type WireStatus } from "./error-status.js";

/** How an error thrown by a method is answered and logged. */
export interface ServeFailure {
  readonly status: WireStatus;
  /** "queue" when the core's queue bound refused the change (OVERLOADED). */
  readonly refusedBy: RefusalLimit | undefined;
  /** The error itself, when it is unexpected (INTERNAL): it goes to the log, never to the wire. */
  readonly unexpected: unknown;
}

/** Maps an error thrown while serving a call (the error-mapping step). */
export function serveFailure(error: unknown): ServeFailure {
  const wire = toWireStatus(error);
  return {
    status: wire,
    // The core refuses OVERLOADED only when its queue of changes is full.
    refusedBy: isBookingFailure(error) && error.reason === "OVERLOADED" ? "queue" : undefined,
    unexpected: wire.code === status.INTERNAL ? error : undefined,
  };
}
