import type { CommandOutcome, HoldCommand, Refusal, SeatCommand, ShowState } from "./seat-store.js";

/** What a store knows about one seat when it decides a command. */
export interface SeatView {
  /** The principal who booked it; undefined when not booked. */
  readonly owner: string | undefined;
  /** The hold on it, live or lapsed; undefined when none is recorded. */
  readonly hold: { readonly holdId: string; readonly expiresAt: number } | undefined;
}

/** The show a command names, as the store sees it inside its transaction. */
export interface ShowView {
  readonly totalSeats: number;
  readonly state: ShowState;
}

const FREE: SeatView = { owner: undefined, hold: undefined };

/** True when a recorded hold still holds its seat at `now`: expiry is exclusive. */
export function isHoldLive(hold: SeatView["hold"], now: number): boolean {
  return hold !== undefined && hold.expiresAt > now;
}

/**
 * Checks the show a seat command names: it must exist, contain every seat,
 * and (to book or hold) be open. Returns the refusal, or undefined when the
 * seat rules may decide. Cancels work in a closed show.
 */
export function checkShow(command: SeatCommand | HoldCommand, show: ShowView | undefined): Refusal | undefined {
  if (show === undefined) return { ok: false, reason: "SHOW_NOT_FOUND", seats: [], replayed: false };
  const beyond = command.seats.filter((seat) => seat > show.totalSeats);
  if (beyond.length > 0) {
    return { ok: false, reason: "SEATS_OUT_OF_RANGE", seats: beyond, replayed: false, totalSeats: show.totalSeats };
  }
  if (command.kind !== "cancel" && show.state === "closed") {
    return { ok: false, reason: "SHOW_CLOSED", seats: [], replayed: false };
  }
  return undefined;
}

/**
 * Decides a book, hold or cancel against the current state of its seats,
 * without changing anything.
 *
 * Booking or holding needs every seat unbooked (SEAT_ALREADY_BOOKED) and not
 * held by a live hold, the caller's own included: a holder confirms instead
 * (SEAT_HELD, retry after the last of those holds lapses). Cancelling needs
 * every seat booked, and owned by the caller unless the caller is an admin.
 * When several rules fail, the first in that order is the reason reported,
 * and the seats that break the next one are named beside it
 * (`alsoAtFault`), so that one answer names every offending seat.
 */
export function decideSeatCommand(
  command: SeatCommand | HoldCommand,
  seatAt: (seat: number) => SeatView | undefined,
  now: number,
): CommandOutcome {
  const view = (seat: number): SeatView => seatAt(seat) ?? FREE;
  if (command.kind === "book" || command.kind === "hold") {
    const taken = command.seats.filter((seat) => view(seat).owner !== undefined);
    let lastExpiry = 0;
    const held = command.seats.filter((seat) => {
      const hold = view(seat).hold;
      if (view(seat).owner !== undefined || !isHoldLive(hold, now)) return false;
      lastExpiry = Math.max(lastExpiry, hold?.expiresAt ?? 0);
      return true;
    });
    if (taken.length > 0) {
      const refusal: Refusal = { ok: false, reason: "SEAT_ALREADY_BOOKED", seats: taken, replayed: false };
      return held.length > 0 ? { ...refusal, alsoAtFault: { reason: "SEAT_HELD", seats: held } } : refusal;
    }
    if (held.length > 0) {
      return { ok: false, reason: "SEAT_HELD", seats: held, replayed: false, retryDelayMs: lastExpiry - now };
    }
    return { ok: true, seats: command.seats, replayed: false };
  }
  const free = command.seats.filter((seat) => view(seat).owner === undefined);
  const othersSeats = command.isAdmin
    ? []
    : command.seats.filter((seat) => {
        const owner = view(seat).owner;
        return owner !== undefined && owner !== command.principal;
      });
  if (free.length > 0) {
    const refusal: Refusal = { ok: false, reason: "SEAT_NOT_BOOKED", seats: free, replayed: false };
    return othersSeats.length > 0 ? { ...refusal, alsoAtFault: { reason: "SEAT_NOT_OWNED", seats: othersSeats } } : refusal;
  }
  if (othersSeats.length > 0) {
    return { ok: false, reason: "SEAT_NOT_OWNED", seats: othersSeats, replayed: false };
  }
  return { ok: true, seats: command.seats, replayed: false };
}
