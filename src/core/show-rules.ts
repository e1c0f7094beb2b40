import type { CommandOutcome, CreateShowCommand, ResizeShowCommand, ShowRecord } from "./seat-store.js";

/**
 * Decides a resize against the seats that are taken (booked, or held by a
 * live hold) above the new total: growing always works; shrinking works only
 * when no taken seat is above it, and a refusal names every such seat.
 */
export function decideResize(
  command: ResizeShowCommand,
  show: ShowRecord | undefined,
  takenAbove: readonly number[],
): CommandOutcome {
  if (show === undefined) return { ok: false, reason: "SHOW_NOT_FOUND", seats: [], replayed: false };
  if (takenAbove.length > 0) {
    return {
      ok: false,
      reason: "SHOW_SHRINK_BLOCKED",
      seats: [...takenAbove].sort((a, b) => a - b),
      replayed: false,
      totalSeats: show.totalSeats,
    };
  }
  return { ok: true, seats: [], replayed: false, show: { ...show, totalSeats: command.totalSeats } };
}

/** Decides a create: the id must be new. */
export function decideCreate(command: CreateShowCommand, existing: ShowRecord | undefined, now: number): CommandOutcome {
  if (existing !== undefined) return { ok: false, reason: "SHOW_EXISTS", seats: [], replayed: false };
  return {
    ok: true,
    seats: [],
    replayed: false,
    show: {
      id: command.showId,
      displayName: command.displayName,
      totalSeats: command.totalSeats,
      state: "open",
      createdAt: now,
      bookedCount: 0,
      heldCount: 0,
    },
  };
}
