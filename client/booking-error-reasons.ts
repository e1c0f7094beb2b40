/**
 * Every ErrorInfo reason the booking service sends (domain "booking.v1"),
 * with the status code it comes with, in the order of a request's life:
 * identity, admission, validation, the show, the seats, holds, the store.
 * Reasons are stable: match on them, not on messages. A newer server may send
 * a reason this list lacks, so code that switches on one needs a default.
 */
export const BOOKING_ERROR_REASONS = [
  /** UNAUTHENTICATED: the client certificate names no principal (no URI SAN, no CN). */
  "NO_PRINCIPAL",
  /** PERMISSION_DENIED: the principal is not on the server's allow-list. */
  "PRINCIPAL_NOT_ALLOWED",
  /** PERMISSION_DENIED: only an admin may do this (e.g. change a show). */
  "ADMIN_ONLY",
  /** RESOURCE_EXHAUSTED with RetryInfo: the server is at its in-flight, queue or event-loop bound. */
  "OVERLOADED",
  /** RESOURCE_EXHAUSTED with RetryInfo: the caller's per-principal rate limit is spent. */
  "RATE_LIMITED",
  /** RESOURCE_EXHAUSTED: the caller has as many WatchAvailability streams open as allowed. */
  "TOO_MANY_STREAMS",
  /** RESOURCE_EXHAUSTED: a watcher fell too far behind; resume from the last version applied. */
  "SLOW_CONSUMER",
  /** INVALID_ARGUMENT: the request bytes did not decode. */
  "MALFORMED_REQUEST",
  /** INVALID_ARGUMENT: a field other than the seats is wrong; the BadRequest detail names it. */
  "INVALID_ARGUMENT",
  /** INVALID_ARGUMENT: no seats, seat 0, or a seat repeated in one request. */
  "INVALID_SEATS",
  /**
   * INVALID_ARGUMENT: seats beyond the show's last seat. A store's reason: the
   * server now reports it as INVALID_SEATS, but may send it as is.
   */
  "SEATS_OUT_OF_RANGE",
  /** INVALID_ARGUMENT: more seats than the per-request maximum. */
  "TOO_MANY_SEATS",
  /** INVALID_ARGUMENT: the request_id is too long. */
  "INVALID_REQUEST_ID",
  /** INVALID_ARGUMENT: the request_id was used before for a different request. */
  "REQUEST_ID_REUSED",
  /** NOT_FOUND: no show has that id. */
  "SHOW_NOT_FOUND",
  /** ALREADY_EXISTS: creating a show whose id is taken. */
  "SHOW_EXISTS",
  /** FAILED_PRECONDITION: the show is closed; it takes no more bookings or holds. */
  "SHOW_CLOSED",
  /** FAILED_PRECONDITION: shrinking the show would drop seats that are booked or held. */
  "SHOW_SHRINK_BLOCKED",
  /** ALREADY_EXISTS: a requested seat is booked. */
  "SEAT_ALREADY_BOOKED",
  /** ALREADY_EXISTS, with RetryInfo: a requested seat is held (reserved, not yet confirmed). */
  "SEAT_HELD",
  /** FAILED_PRECONDITION: cancelling a seat that is not booked. */
  "SEAT_NOT_BOOKED",
  /** PERMISSION_DENIED: the seat is booked by another principal. */
  "SEAT_NOT_OWNED",
  /** NOT_FOUND: no hold of the caller's has that id. */
  "HOLD_NOT_FOUND",
  /** FAILED_PRECONDITION: the hold ran out before it was confirmed. */
  "HOLD_EXPIRED",
  /** FAILED_PRECONDITION: the hold was confirmed already. */
  "HOLD_CONFIRMED",
  /** FAILED_PRECONDITION: the hold was released already. */
  "HOLD_RELEASED",
  /** RESOURCE_EXHAUSTED: the caller has as many open holds as allowed. */
  "TOO_MANY_HOLDS",
  /** DEADLINE_EXCEEDED: the deadline passed before the change reached the store. */
  "DEADLINE_EXCEEDED",
  /** UNAVAILABLE with RetryInfo: the store is unreachable; retry with the same request_id. */
  "STORE_UNAVAILABLE",
  /** UNAVAILABLE: the server is shutting down and ended the stream; resume elsewhere (watchAvailability does). */
  "SHUTTING_DOWN",
] as const;

/** One of {@link BOOKING_ERROR_REASONS}: a reason the booking service sends. */
export type BookingErrorReason = (typeof BOOKING_ERROR_REASONS)[number];
