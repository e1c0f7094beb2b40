import { BookingFailure } from "./booking-failure.js";
import { codePoints } from "./code-points.js";
import { firstUnprintable } from "./printable-text.js";
import { MAX_DISPLAY_NAME_LENGTH, SHOW_ID_PATTERN } from "./core-defaults.js";

/** The page size of ListShows when the request names none, and the most it may name. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

function invalid(message: string, showId: string, field: string, description: string): BookingFailure {
  return new BookingFailure(message, { reason: "INVALID_ARGUMENT", showId, violations: [{ field, description }] });
}

/** Checks a CreateShow: a slug id, a seat count in range, a short display name. */
export function validateNewShow(
  show: { readonly showId: string; readonly totalSeats: number; readonly displayName: string },
  maxSeatsPerShow: number,
): void {
  if (!SHOW_ID_PATTERN.test(show.showId)) {
    const shown = show.showId.length > 64 ? `${show.showId.slice(0, 64)}…` : show.showId;
    throw invalid(
      `show_id "${shown}" is not a valid id: use 1-63 lowercase letters, digits and dashes, starting with a letter or digit`,
      "",
      "show_id",
      "must match [a-z0-9][a-z0-9-]{0,62}",
    );
  }
  validateTotalSeats(show.totalSeats, maxSeatsPerShow, show.showId);
  const length = show.displayName.length > MAX_DISPLAY_NAME_LENGTH ? codePoints(show.displayName) : show.displayName.length;
  if (length > MAX_DISPLAY_NAME_LENGTH) {
    throw invalid(
      `display_name is ${length} characters long; the maximum is ${MAX_DISPLAY_NAME_LENGTH}`,
      show.showId,
      "display_name",
      `longer than ${MAX_DISPLAY_NAME_LENGTH} characters`,
    );
  }
  // A name is shown on one line of a seat map, a log or a terminal.
  const control = firstUnprintable(show.displayName);
  if (control !== undefined) {
    throw invalid(
      `display_name contains the control character ${control.code} at position ${control.position}; use printable text on one line`,
      show.showId,
      "display_name",
      "contains a control character",
    );
  }
}

/** Checks a show's seat count: 1 to the server's maximum. */
export function validateTotalSeats(totalSeats: number, maxSeatsPerShow: number, showId: string): void {
  if (!Number.isSafeInteger(totalSeats) || totalSeats < 1 || totalSeats > maxSeatsPerShow) {
    throw invalid(
      `total_seats must be 1 to ${maxSeatsPerShow}, got ${totalSeats}`,
      showId,
      "total_seats",
      `outside 1-${maxSeatsPerShow}`,
    );
  }
}

/** The page size a ListShows gets: 0 means the default. */
export function validatePageSize(pageSize: number): number {
  if (pageSize === 0) return DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw invalid(`page_size must be 1 to ${MAX_PAGE_SIZE} (0 for ${DEFAULT_PAGE_SIZE}), got ${pageSize}`, "", "page_size", `outside 0-${MAX_PAGE_SIZE}`);
  }
  return pageSize;
}

const TOKEN_PREFIX = "after:";

/** The token of the page after the one ending with `lastShowId`. Opaque to clients. */
export function encodePageToken(lastShowId: string): string {
  return Buffer.from(`${TOKEN_PREFIX}${lastShowId}`, "utf8").toString("base64url");
}

/** The last show id of the previous page ("" for the first page); a token we did not make is refused. */
export function decodePageToken(token: string): string {
  if (token === "") return "";
  const decoded = Buffer.from(token, "base64url").toString("utf8");
  if (!decoded.startsWith(TOKEN_PREFIX) || decoded.length === TOKEN_PREFIX.length || token.length > 200) {
    throw invalid("page_token is not a token this server made; pass next_page_token as received", "", "page_token", "not a token from ListShows");
  }
  return decoded.slice(TOKEN_PREFIX.length);
}
