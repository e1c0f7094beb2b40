import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BookSeatsResponseSchema,
  CancelSeatsResponseSchema,
  ConfirmHoldResponseSchema,
  ShowAvailableResponseSchema,
  GetShowResponseSchema,
} from "../gen/booking/v1/booking_pb.js";
import { flatMessageSerializer } from "../src/transport/flat-message-encoding.js";

const noFallback = (): Buffer => {
  throw new Error("fell back");
};

describe("flatMessageSerializer", () => {
  it("writes exactly the bytes protobuf-es writes for any BookSeats, CancelSeats or ConfirmHold answer", () => {
    const book = flatMessageSerializer(BookSeatsResponseSchema, noFallback);
    const cancel = flatMessageSerializer(CancelSeatsResponseSchema, noFallback);
    const confirm = flatMessageSerializer(ConfirmHoldResponseSchema, noFallback);
    if (book === undefined || cancel === undefined || confirm === undefined) throw new Error("expected an encoder for each");
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 80 }),
        fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 300 }),
        fc.string({ unit: "binary", maxLength: 80 }),
        fc.boolean(),
        fc.string({ maxLength: 40 }),
        (showId, seats, owner, replayed, holdId) => {
          const booked = create(BookSeatsResponseSchema, { showId, seats, owner, replayed });
          expect(book(booked).equals(Buffer.from(toBinary(BookSeatsResponseSchema, booked)))).toBe(true);
          const cancelled = create(CancelSeatsResponseSchema, { showId, seats, replayed });
          expect(cancel(cancelled).equals(Buffer.from(toBinary(CancelSeatsResponseSchema, cancelled)))).toBe(true);
          const confirmed = create(ConfirmHoldResponseSchema, { showId, seats, owner, replayed, holdId });
          expect(confirm(confirmed).equals(Buffer.from(toBinary(ConfirmHoldResponseSchema, confirmed)))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("encodes an init shape with fields left out as their defaults", () => {
    const book = flatMessageSerializer(BookSeatsResponseSchema, noFallback);
    expect(book?.({ showId: "main", seats: [7] })).toEqual(Buffer.from(toBinary(BookSeatsResponseSchema, create(BookSeatsResponseSchema, { showId: "main", seats: [7] }))));
  });

  it("hands a value it does not expect to the fallback", () => {
    const fallback = (value: unknown): Buffer => Buffer.from(`fallback ${JSON.stringify(value)}`);
    const book = flatMessageSerializer(BookSeatsResponseSchema, fallback);
    expect(book?.({ showId: "main", seats: [-1] }).toString()).toBe('fallback {"showId":"main","seats":[-1]}');
    expect(book?.({ showId: "main", seats: [1.5] }).toString()).toContain("fallback");
    expect(book?.({ showId: 7 }).toString()).toContain("fallback");
  });

  it("declines a schema with a field it cannot write, so that nothing is dropped", () => {
    expect(flatMessageSerializer(ShowAvailableResponseSchema, noFallback)).toBeUndefined();
    expect(flatMessageSerializer(GetShowResponseSchema, noFallback)).toBeUndefined();
  });
});
