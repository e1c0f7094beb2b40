import { fileURLToPath, pathToFileURL } from "node:url";
import { status } from "@grpc/grpc-js";
import { beforeAll, describe, expect, it } from "vitest";
import { BOOKING_ERROR_REASONS, BookingError, isBookingError, type BookingErrorReason } from "../client/index.js";
import { BookingFailure, type FailureReason } from "../src/core/booking-failure.js";

type BookingErrorModule = typeof import("../client/booking-error.js");

/**
 * A second copy of the SDK's error module: the compiled one in dist/, which
 * `npm run build` writes. Node loads it as a module of its own, with its own
 * BookingError class, just as a second installed copy of the package would be.
 */
let secondCopy: BookingErrorModule;

beforeAll(async () => {
  const path = fileURLToPath(new URL("../dist/client/booking-error.js", import.meta.url));
  secondCopy = (await import(pathToFileURL(path).href)) as BookingErrorModule;
});

// Type-level: every reason the core can refuse with is a reason the SDK names
// (npm run typecheck fails here when the core gains one the SDK lacks).
const coreReasonsAreNamed: (reason: FailureReason) => BookingErrorReason = (reason) => reason;

/** What an error from some other copy of the package looks like: its own class, the same shape. */
class ForeignBookingError extends Error {
  override readonly name = "BookingError";
  readonly code = status.ALREADY_EXISTS;
  readonly codeName = "ALREADY_EXISTS";
  readonly reason = "SEAT_HELD";
  readonly domain = "booking.v1";
  readonly metadata = { show_id: "main", seats: "4" };
  readonly seats = [4];
  readonly showId = "main";
  readonly violations = [];
  readonly retryDelayMs = undefined;
  readonly requestId = "r-1";
  readonly attempts = 1;
}

describe("BookingError", () => {
  it("is recognised by instanceof and isBookingError when made by this copy", () => {
    const error = new BookingError(status.NOT_FOUND, "no such show", { reason: "SHOW_NOT_FOUND" });
    expect(error instanceof BookingError).toBe(true);
    expect(error instanceof Error).toBe(true);
    expect(isBookingError(error)).toBe(true);
    expect(error.codeName).toBe("NOT_FOUND");
  });

  it("recognises an error thrown by a second loaded copy of the package, and that copy recognises ours", () => {
    expect(secondCopy.BookingError).not.toBe(BookingError);
    const theirs = new secondCopy.BookingError(status.ALREADY_EXISTS, "seat 3 is booked", {
      reason: "SEAT_ALREADY_BOOKED",
      seats: [3],
      showId: "main",
    });
    expect(Object.getPrototypeOf(theirs)).not.toBe(BookingError.prototype);
    expect(theirs instanceof BookingError).toBe(true);
    expect(isBookingError(theirs)).toBe(true);

    const ours = new BookingError(status.UNAVAILABLE, "no connection");
    expect(ours instanceof secondCopy.BookingError).toBe(true);
    expect(secondCopy.isBookingError(ours)).toBe(true);
  });

  it("recognises a hand-made error of the same shape from another copy", () => {
    const foreign = new ForeignBookingError("seat 4 is held");
    expect(foreign instanceof BookingError).toBe(true);
    expect(isBookingError(foreign)).toBe(true);
  });

  it("keeps an error from another copy as it is in from(), and copies it with its facts when given extras", () => {
    const foreign = new ForeignBookingError("seat 4 is held");
    expect(BookingError.from(foreign)).toBe(foreign);
    const copied = BookingError.from(foreign, { attempts: 3 });
    expect(Object.getPrototypeOf(copied)).toBe(BookingError.prototype);
    expect(copied).toMatchObject({ code: status.ALREADY_EXISTS, reason: "SEAT_HELD", seats: [4], showId: "main", attempts: 3 });
    expect(copied.message).toBe("seat 4 is held");
  });

  it("rejects things that only look alike: plain objects, other names, wrong field types, the server's BookingFailure", () => {
    const shape = { ...new ForeignBookingError("x"), name: "BookingError", message: "x" };
    expect(isBookingError(shape)).toBe(false);
    expect(shape instanceof BookingError).toBe(false);

    const renamed = Object.assign(new ForeignBookingError("x"), { name: "ConnectError" });
    expect(isBookingError(renamed)).toBe(false);

    const stringCode = Object.assign(new Error("x"), { ...new ForeignBookingError("x"), code: "6" });
    expect(isBookingError(stringCode)).toBe(false);

    const noSeats = Object.assign(new Error("x"), { ...new ForeignBookingError("x"), seats: "4" });
    expect(isBookingError(noSeats)).toBe(false);

    const failure = new BookingFailure("seat 1 is booked", { reason: "SEAT_ALREADY_BOOKED", showId: "main", seats: [1] });
    expect(isBookingError(failure)).toBe(false);
    expect(failure instanceof BookingError).toBe(false);

    for (const value of [undefined, null, 6, "BookingError", new Error("plain")]) {
      expect(isBookingError(value)).toBe(false);
    }
  });

  it("keeps the ordinary prototype check for a subclass", () => {
    class SeatError extends BookingError {}
    expect(new SeatError(status.ALREADY_EXISTS, "x") instanceof SeatError).toBe(true);
    expect(new BookingError(status.ALREADY_EXISTS, "x") instanceof SeatError).toBe(false);
    expect(new SeatError(status.ALREADY_EXISTS, "x") instanceof BookingError).toBe(true);
  });

  it("names every reason the core and transport refuse with, hold, show and admin reasons included, once each", () => {
    const core: FailureReason[] = [
      "SEAT_ALREADY_BOOKED",
      "SEAT_NOT_BOOKED",
      "SEAT_NOT_OWNED",
      "REQUEST_ID_REUSED",
      "INVALID_SEATS",
      "TOO_MANY_SEATS",
      "INVALID_REQUEST_ID",
      "SHOW_NOT_FOUND",
      "OVERLOADED",
      "DEADLINE_EXCEEDED",
      "STORE_UNAVAILABLE",
    ];
    const transport = ["NO_PRINCIPAL", "PRINCIPAL_NOT_ALLOWED", "RATE_LIMITED", "MALFORMED_REQUEST"];
    const admin = ["ADMIN_ONLY", "INVALID_ARGUMENT", "SEATS_OUT_OF_RANGE"];
    const holdsAndShows = [
      "SEAT_HELD",
      "HOLD_EXPIRED",
      "HOLD_CONFIRMED",
      "HOLD_RELEASED",
      "HOLD_NOT_FOUND",
      "SHOW_CLOSED",
      "SHOW_EXISTS",
      "SHOW_SHRINK_BLOCKED",
      "TOO_MANY_HOLDS",
    ];
    const listed: readonly string[] = BOOKING_ERROR_REASONS;
    expect(new Set(listed).size).toBe(listed.length);
    for (const reason of [...core.map(coreReasonsAreNamed), ...transport, ...admin, ...holdsAndShows]) {
      expect(listed).toContain(reason);
    }
  });
});
