import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeShowAvailable, fastSerializer } from "../src/transport/show-available-encoding.js";
import { BookSeatsResponseSchema, ShowAvailableResponseSchema } from "../gen/booking/v1/booking_pb.js";

describe("the ShowAvailableResponse encoder", () => {
  it("writes exactly the bytes protobuf-es writes, for any message", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 80 }),
        fc.nat({ max: 0xffffffff }),
        fc.nat({ max: 0xffffffff }),
        fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 300 }),
        fc.nat({ max: 0xffffffff }),
        fc.array(fc.record({ first: fc.nat({ max: 0xffffffff }), last: fc.nat({ max: 0xffffffff }) }), { maxLength: 20 }),
        fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }),
        (showId, totalSeats, bookedCount, availableSeats, heldCount, freeRanges, version) => {
          const message = create(ShowAvailableResponseSchema, { showId, totalSeats, bookedCount, availableSeats, heldCount, freeRanges, version });
          expect(encodeShowAvailable(message).equals(Buffer.from(toBinary(ShowAvailableResponseSchema, message)))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("matches protobuf-es on a 100,000-seat show", () => {
    const availableSeats = Array.from({ length: 100_000 }, (_, index) => index + 1);
    const message = create(ShowAvailableResponseSchema, { showId: "big", totalSeats: 100_000, availableSeats });
    expect(encodeShowAvailable(message).equals(Buffer.from(toBinary(ShowAvailableResponseSchema, message)))).toBe(true);
  });

  it("is used only for the schema it was written for", () => {
    expect(fastSerializer(ShowAvailableResponseSchema)).toBeTypeOf("function");
    expect(fastSerializer(BookSeatsResponseSchema)).toBeUndefined();
  });
});
