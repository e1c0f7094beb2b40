import { describe, expect, it } from "vitest";
import { formatSeatRanges, isSeatListError, MAX_SEAT_LIST_LENGTH, parseSeatList, SeatListError } from "../client/seat-list.js";

function parseError(tokens: readonly string[], maxSeats?: number): SeatListError {
  try {
    parseSeatList(tokens, maxSeats);
  } catch (error) {
    if (isSeatListError(error)) return error;
    throw error;
  }
  throw new Error(`parseSeatList(${JSON.stringify(tokens)}) did not throw`);
}

describe("parseSeatList", () => {
  it("reads seats given as separate arguments", () => {
    expect(parseSeatList(["1", "2", "3"])).toEqual([1, 2, 3]);
  });

  it("reads comma-separated lists, with or without spaces and stray commas", () => {
    expect(parseSeatList(["1,2,3"])).toEqual([1, 2, 3]);
    expect(parseSeatList(["1,", "2,", "3"])).toEqual([1, 2, 3]);
    expect(parseSeatList(["4, 5,,6,"])).toEqual([4, 5, 6]);
  });

  it("expands inclusive ranges, including one-seat ranges", () => {
    expect(parseSeatList(["3-6"])).toEqual([3, 4, 5, 6]);
    expect(parseSeatList(["7-7"])).toEqual([7]);
  });

  it("reads mixes of lists, ranges and arguments in the order given", () => {
    expect(parseSeatList(["1,3-5", "8", "10-11,2"])).toEqual([1, 3, 4, 5, 8, 10, 11, 2]);
  });

  it("keeps seat 0 and repeated seats for the server to rule on", () => {
    expect(parseSeatList(["0", "2,2"])).toEqual([0, 2, 2]);
  });

  it("refuses tokens that are neither a number nor a range, naming them", () => {
    for (const token of ["x", "1-x", "1-", "-1", "1..3", "1-2-3", "+4", "2.5", "1e3", "0x10"]) {
      expect(parseError([token]).message).toContain(`"${token}"`);
    }
  });

  it("refuses reversed ranges and suggests the right order", () => {
    expect(parseError(["5-1"]).message).toBe('seat range "5-1" is reversed; write it as 1-5');
  });

  it("refuses seat numbers the wire cannot carry (beyond uint32)", () => {
    expect(parseSeatList(["4294967295"])).toEqual([4294967295]);
    expect(parseError(["4294967296"]).message).toContain("too large");
  });

  it("refuses an empty list", () => {
    expect(parseError([]).message).toContain("no seats given");
    expect(parseError([",", " "]).message).toContain("no seats given");
  });

  it("caps the total expansion before allocating, so huge ranges fail fast", () => {
    expect(parseSeatList([`1-${MAX_SEAT_LIST_LENGTH}`])).toHaveLength(MAX_SEAT_LIST_LENGTH);
    expect(parseError(["1-999999999"]).message).toContain(`more than ${MAX_SEAT_LIST_LENGTH} seats`);
    expect(parseError(["1-3", "10-12"], 5).message).toBe('the seat list expands to more than 5 seats (at "10-12")');
  });
});

describe("formatSeatRanges", () => {
  it("writes runs of three or more seats as ranges and shorter runs as single seats", () => {
    expect(formatSeatRanges([3, 4, 5, 6])).toBe("3-6");
    expect(formatSeatRanges([1, 2, 5, 6, 7, 9])).toBe("1, 2, 5-7, 9");
  });

  it("sorts and drops duplicates", () => {
    expect(formatSeatRanges([9, 1, 3, 2, 2])).toBe("1-3, 9");
  });

  it("writes none for an empty list", () => {
    expect(formatSeatRanges([])).toBe("none");
  });

  it("round-trips through parseSeatList", () => {
    const seats = [1, 2, 4, 5, 6, 7, 10, 12, 13, 14, 100];
    expect(parseSeatList([formatSeatRanges(seats)])).toEqual(seats);
  });
});
