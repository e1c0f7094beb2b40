import { BookingFailure, describeSeats } from "./booking-failure.js";
import type { Refusal, SeatFault } from "./seat-store.js";

/** What a refusal is about, for its message and details. */
export interface RefusalSubject {
  readonly showId: string;
  readonly requestId: string;
  readonly holdId?: string;
  /** For TOO_MANY_HOLDS: the limit. */
  readonly maxHoldsPerPrincipal?: number;
}

/** The sentence that names the seats breaking a second rule: "; seats 12, 13 are held". */
function alsoClause(fault: SeatFault | undefined): string {
  if (fault === undefined || fault.seats.length === 0) return "";
  const are = fault.seats.length > 1 ? "are" : "is";
  const what = fault.reason === "SEAT_HELD" ? "held" : "booked by another principal";
  return `; ${describeSeats(fault.seats)} ${are} ${what}`;
}

/**
 * Turns a store's refusal into the failure the client sees, with a message
 * written for people that names every offending seat.
 */
export function refusalFailure(subject: RefusalSubject, refusal: Refusal): BookingFailure {
  const showId = refusal.showId ?? subject.showId;
  const seatList = describeSeats(refusal.seats);
  const show = `show "${showId}"`;
  const plural = refusal.seats.length > 1;
  const are = plural ? "are" : "is";
  const hold = `hold ${subject.holdId ?? ""}`;
  const facts = {
    reason: refusal.reason,
    showId,
    seats: refusal.seats,
    ...(subject.holdId === undefined ? {} : { holdId: subject.holdId }),
    ...(refusal.alsoAtFault === undefined ? {} : { alsoAtFault: refusal.alsoAtFault }),
  };
  const also = alsoClause(refusal.alsoAtFault);
  switch (refusal.reason) {
    case "SEAT_ALREADY_BOOKED":
      return new BookingFailure(`${seatList} of ${show} ${are} already booked${also}`, facts);
    case "SEAT_HELD": {
      const waitS = Math.ceil((refusal.retryDelayMs ?? 0) / 1000);
      return new BookingFailure(`${seatList} of ${show} ${are} held; the hold lapses in ${waitS} s unless confirmed`, {
        ...facts,
        retryDelayMs: refusal.retryDelayMs ?? 0,
      });
    }
    case "SEAT_NOT_BOOKED":
      return new BookingFailure(`${seatList} of ${show} ${are} not booked${also}`, facts);
    case "SEAT_NOT_OWNED":
      return new BookingFailure(`${seatList} of ${show} ${are} booked by another principal`, facts);
    case "SEATS_OUT_OF_RANGE": {
      const range = `1-${refusal.totalSeats ?? "?"}`;
      return new BookingFailure(`invalid seats for ${show}: ${seatList} not in ${range}`, {
        ...facts,
        reason: "INVALID_SEATS",
        violations: [{ field: "seats", description: `${seatList} outside ${range} for ${show}` }],
      });
    }
    case "REQUEST_ID_REUSED":
      return new BookingFailure(
        `request_id "${subject.requestId}" was already used for a different request; use a new id for a new request`,
        { ...facts, violations: [{ field: "request_id", description: "already used for a different request" }] },
      );
    case "SHOW_NOT_FOUND":
      return new BookingFailure(`${show} does not exist on this server`, facts);
    case "SHOW_CLOSED":
      return new BookingFailure(`${show} is closed: no new bookings, holds or confirmations`, facts);
    case "SHOW_EXISTS":
      return new BookingFailure(`${show} already exists`, facts);
    case "SHOW_SHRINK_BLOCKED":
      return new BookingFailure(
        `${show} cannot shrink: ${seatList} above the new total ${are} booked or held`,
        facts,
      );
    case "HOLD_NOT_FOUND":
      return new BookingFailure(`${hold} does not exist`, { ...facts, showId: "" });
    case "HOLD_EXPIRED":
      return new BookingFailure(`${hold} expired; its seats are no longer held`, facts);
    case "HOLD_CONFIRMED":
      return new BookingFailure(`${hold} was already confirmed`, facts);
    case "HOLD_RELEASED":
      return new BookingFailure(`${hold} was released`, facts);
    case "TOO_MANY_HOLDS":
      return new BookingFailure(
        `the caller has the maximum of ${subject.maxHoldsPerPrincipal ?? "?"} live holds; confirm or release one first`,
        facts,
      );
  }
}
