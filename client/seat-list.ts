/** The largest seat number the wire can carry (seats are uint32). */
export const MAX_SEAT_NUMBER = 4_294_967_295;

/**
 * How many seats one seat list may expand to. The server allows far fewer per
 * request (64 by default); the cap only stops `1-999999999` from eating memory
 * before the server can refuse it.
 */
export const MAX_SEAT_LIST_LENGTH = 10_000;

/** A seat list that cannot be read: the message names the offending token. */
export class SeatListError extends Error {
  override readonly name = "SeatListError";
}

/** True for errors raised by {@link parseSeatList}. */
export function isSeatListError(error: unknown): error is SeatListError {
  return error instanceof SeatListError;
}

/**
 * Reads seat numbers written the way people type them on a command line:
 * separate arguments (`1 2 3`), comma lists (`1,2,3`, `1, 2,`), inclusive
 * ranges (`3-5`) and any mix (`1,3-5 8`). Seats keep their order and
 * repeats, so that the server, not the parser, rules on them (seat 0 and
 * duplicates are the server's to refuse).
 *
 * Throws {@link SeatListError} for a token that is not a number or range, a
 * reversed range (`5-1`), a number beyond uint32, no seats at all, or more
 * than `maxSeats` seats in total.
 */
export function parseSeatList(tokens: readonly string[], maxSeats: number = MAX_SEAT_LIST_LENGTH): number[] {
  const seats: number[] = [];
  for (const token of tokens.flatMap((argument) => argument.split(/[\s,]+/))) {
    if (token === "") continue; // "1, 2," and "1,,2" are typing slips, not mistakes worth refusing
    const range = /^(\d+)-(\d+)$/.exec(token);
    const first = seatNumber(range?.[1] ?? token, token);
    const last = range === null ? first : seatNumber(range[2] ?? "", token);
    if (last < first) {
      throw new SeatListError(`seat range "${token}" is reversed; write it as ${last}-${first}`);
    }
    if (seats.length + (last - first + 1) > maxSeats) {
      throw new SeatListError(`the seat list expands to more than ${maxSeats} seats (at "${token}")`);
    }
    for (let seat = first; seat <= last; seat++) seats.push(seat);
  }
  if (seats.length === 0) throw new SeatListError("no seats given; for example: 1 2 3, 1,2,3 or 1-3");
  return seats;
}

/**
 * Writes seats compactly: ascending, runs of three or more as ranges, e.g.
 * `1, 2, 5-9, 12`. Returns "none" for an empty list. The input need not be
 * sorted; duplicates are dropped.
 */
export function formatSeatRanges(seats: readonly number[]): string {
  const sorted = [...new Set(seats)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let start = 0; start < sorted.length; ) {
    let end = start;
    while (end + 1 < sorted.length && sorted[end + 1] === (sorted[end] ?? 0) + 1) end++;
    const first = sorted[start] ?? 0;
    const last = sorted[end] ?? 0;
    if (end - start >= 2) parts.push(`${first}-${last}`);
    else for (let index = start; index <= end; index++) parts.push(String(sorted[index]));
    start = end + 1;
  }
  return parts.length === 0 ? "none" : parts.join(", ");
}

function seatNumber(digits: string, token: string): number {
  if (!/^\d+$/.test(digits)) {
    throw new SeatListError(`"${token}" is not a seat number or range (expected e.g. 7, 1,2,3 or 3-5)`);
  }
  const value = Number(digits);
  if (value > MAX_SEAT_NUMBER) throw new SeatListError(`seat number in "${token}" is too large`);
  return value;
}
