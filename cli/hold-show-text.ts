import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { formatSeatRanges, HoldState, ShowState, type Hold, type Show } from "../client/index.js";
import { formatDuration } from "./cli-duration.js";

/**
 * The sentences the CLI prints for holds and shows. `now` (epoch ms) is the
 * caller's clock, used only to say how far off an expiry is; the expiry
 * itself is the server's.
 */

/** `held seats 5, 6 in show "main" for OWNER until T (in 10m)`, then `hold id: ID` on a line of its own. */
export function heldText(hold: Hold, replayedNote: string, now: number): string {
  return (
    `held ${describeSeats(hold.seats)} in show "${hold.showId}" for ${hold.owner} until ${expiryText(hold.expireTime, now)}${replayedNote}\n` +
    `hold id: ${hold.holdId}\n`
  );
}

/** `extended hold ID: seats 5, 6 in show "main" held until T (in 5m)`. */
export function extendedText(hold: Hold, now: number): string {
  return `extended hold ${hold.holdId}: ${describeSeats(hold.seats)} in show "${hold.showId}" held until ${expiryText(hold.expireTime, now)}\n`;
}

/** `released hold ID: seats 5, 6 in show "main" are free again`. */
export function releasedText(hold: Hold): string {
  const are = hold.seats.length === 1 ? "is" : "are";
  return `released hold ${hold.holdId}: ${describeSeats(hold.seats)} in show "${hold.showId}" ${are} free again\n`;
}

/** `hold ID: seats 5, 6 in show "main" for OWNER, active until T (in 9m58s)` (or confirmed, released, expired at T). */
export function holdInfoText(hold: Hold, now: number): string {
  return `hold ${hold.holdId}: ${describeSeats(hold.seats)} in show "${hold.showId}" for ${hold.owner}, ${holdStateText(hold, now)}\n`;
}

/** Every show as a table with a header row, or `no shows`. */
export function showsTable(shows: readonly Show[]): string {
  if (shows.length === 0) return "no shows\n";
  const rows = [
    ["SHOW", "SEATS", "BOOKED", "HELD", "FREE", "STATE", "NAME"],
    ...shows.map((show) => [
      show.showId,
      String(show.totalSeats),
      String(show.bookedCount),
      String(show.heldCount),
      String(show.totalSeats - show.bookedCount - show.heldCount),
      showStateText(show.state),
      show.displayName,
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length)));
  const numeric = new Set([1, 2, 3, 4]);
  return rows
    .map((row) =>
      row
        .map((cell, column) => (numeric.has(column) ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
        .join("  ")
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join("");
}

/** `created show "gala" ("Gala night") with 120 seats`. */
export function createdShowText(show: Show, replayedNote: string): string {
  const name = show.displayName === "" ? "" : ` (${JSON.stringify(show.displayName)})`;
  return `created show "${show.showId}"${name} with ${show.totalSeats} seats${replayedNote}\n`;
}

/** `closed show "gala": no new bookings or holds; 2 of 120 seats booked`. */
export function closedShowText(show: Show): string {
  return `closed show "${show.showId}": no new bookings or holds; ${show.bookedCount} of ${show.totalSeats} seats booked\n`;
}

/** `show "gala" now has 150 seats (2 booked, 1 held)`. */
export function resizedShowText(show: Show): string {
  return `show "${show.showId}" now has ${show.totalSeats} seats (${show.bookedCount} booked, ${show.heldCount} held)\n`;
}

/** "seat 4", "seats 1, 2, 3", or ranges once the list grows long ("seats 1-40"). */
export function describeSeats(seats: readonly number[]): string {
  const list = seats.length <= 10 ? seats.join(", ") : formatSeatRanges(seats);
  return seats.length === 1 ? `seat ${list}` : `seats ${list}`;
}

function holdStateText(hold: Hold, now: number): string {
  switch (hold.state) {
    case HoldState.ACTIVE:
      return `active until ${expiryText(hold.expireTime, now)}`;
    case HoldState.CONFIRMED:
      return "confirmed (the seats are booked)";
    case HoldState.RELEASED:
      return "released";
    case HoldState.EXPIRED:
      return `expired at ${isoSeconds(hold.expireTime)}`;
    default:
      return `state ${hold.state}`;
  }
}

function showStateText(state: ShowState): string {
  switch (state) {
    case ShowState.OPEN:
      return "open";
    case ShowState.CLOSED:
      return "closed";
    default:
      return `state ${state}`;
  }
}

/** `2026-05-01T12:10:00Z (in 10m)`. */
function expiryText(expireTime: Timestamp | undefined, now: number): string {
  if (expireTime === undefined) return "an unknown time";
  return `${isoSeconds(expireTime)} (in ${formatDuration(timestampMs(expireTime) - now)})`;
}

function isoSeconds(time: Timestamp | undefined): string {
  if (time === undefined) return "an unknown time";
  return new Date(timestampMs(time)).toISOString().replace(/\.\d{3}Z$/, "Z");
}
