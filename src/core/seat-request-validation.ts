import { MAX_REQUEST_ID_LENGTH } from "./idempotency.js";
import type { ShowDefinition } from "./seat-store.js";
import { BookingFailure, describeSeats, type FieldViolation } from "./booking-failure.js";
import { codePoints } from "./code-points.js";
import { firstUnprintable } from "./printable-text.js";

/**
 * Checks a seat list against a show and the per-request maximum, and returns
 * it sorted. Every problem is collected, so that one answer names every
 * offending seat; nothing is applied unless the whole list is valid.
 */
export function validateSeats(
  show: ShowDefinition,
  seats: readonly number[],
  maxSeatsPerRequest: number,
): number[] {
  if (seats.length === 0) {
    throw invalidSeats(show.id, [], [{ field: "seats", description: "at least one seat is required" }]);
  }
  if (seats.length > maxSeatsPerRequest) {
    throw new BookingFailure(
      `a request may name at most ${maxSeatsPerRequest} seats; this one names ${seats.length}`,
      {
        reason: "TOO_MANY_SEATS",
        showId: show.id,
        violations: [
          { field: "seats", description: `${seats.length} seats exceed the maximum of ${maxSeatsPerRequest} per request` },
        ],
      },
    );
  }
  const only = seats.length === 1 ? seats[0] : undefined;
  // One seat, in range: the common request, decided without building the sets below.
  if (only !== undefined && Number.isInteger(only) && only >= 1 && only <= show.totalSeats) return [only];
  const outOfRange = new Set<number>();
  const seen = new Set<number>();
  const repeated = new Set<number>();
  for (const seat of seats) {
    if (!Number.isInteger(seat) || seat < 1 || seat > show.totalSeats) outOfRange.add(seat);
    else if (seen.has(seat)) repeated.add(seat);
    seen.add(seat);
  }
  const violations: FieldViolation[] = [];
  const problems: string[] = [];
  if (outOfRange.size > 0) {
    const bad = [...outOfRange].sort((a, b) => a - b);
    problems.push(`${describeSeats(bad)} not in 1-${show.totalSeats}`);
    violations.push({ field: "seats", description: `${describeSeats(bad)} outside 1-${show.totalSeats} for show "${show.id}"` });
  }
  if (repeated.size > 0) {
    const bad = [...repeated].sort((a, b) => a - b);
    problems.push(`${describeSeats(bad)} repeated`);
    violations.push({ field: "seats", description: `${describeSeats(bad)} named more than once` });
  }
  if (violations.length > 0) {
    const bad = [...outOfRange, ...repeated].sort((a, b) => a - b);
    throw invalidSeats(show.id, bad, violations, `invalid seats for show "${show.id}": ${problems.join("; ")}`);
  }
  return [...seats].sort((a, b) => a - b);
}

/** Checks a client's idempotency key. */
export function validateRequestId(requestId: string, showId: string): void {
  // Characters are code points, as the client wrote them: "😀" is one
  // character in two UTF-16 units. No string has more code points than
  // units, so only a long one is counted.
  if (requestId.length > MAX_REQUEST_ID_LENGTH && codePoints(requestId) > MAX_REQUEST_ID_LENGTH) {
    throw new BookingFailure(
      `request_id is ${codePoints(requestId)} characters long; the maximum is ${MAX_REQUEST_ID_LENGTH}`,
      {
        reason: "INVALID_REQUEST_ID",
        showId,
        violations: [{ field: "request_id", description: `longer than ${MAX_REQUEST_ID_LENGTH} characters` }],
      },
    );
  }
  // Messages echo a request id (REQUEST_ID_REUSED), and terminals print them.
  const control = firstUnprintable(requestId);
  if (control !== undefined) {
    throw new BookingFailure(`request_id contains the control character ${control.code} at position ${control.position}; use printable text`, {
      reason: "INVALID_REQUEST_ID",
      showId,
      violations: [{ field: "request_id", description: "contains a control character" }],
    });
  }
}

function invalidSeats(
  showId: string,
  seats: readonly number[],
  violations: readonly FieldViolation[],
  message = "at least one seat is required",
): BookingFailure {
  return new BookingFailure(message, { reason: "INVALID_SEATS", showId, seats, violations });
}
