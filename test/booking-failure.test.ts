import { describe, expect, it } from "vitest";
import { BookingFailure, isBookingFailure } from "../src/core/booking-failure.js";

describe("BookingFailure", () => {
  it("is a refusal without stack frames, and leaves Error.stackTraceLimit as it found it", () => {
    const before = Error.stackTraceLimit;
    const failure = new BookingFailure("seat 5 is already booked", { reason: "SEAT_ALREADY_BOOKED", showId: "gala", seats: [5] });
    expect(Error.stackTraceLimit).toBe(before);
    expect(failure.stack).toBe("BookingFailure: seat 5 is already booked");
    expect(isBookingFailure(failure)).toBe(true);
    expect(failure).toMatchObject({ reason: "SEAT_ALREADY_BOOKED", showId: "gala", seats: [5], message: "seat 5 is already booked" });
    expect(new Error("a bug").stack).toMatch(/\n\s+at /);
  });
});
