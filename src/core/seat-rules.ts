import type { CommandOutcome, SeatCommand } from "./seat-store.js";

/**
 * Decides a command against the current owners of its seats, without
 * changing anything. Every store shares these rules, so that `memory`,
 * `sqlite` and `postgres` refuse exactly the same requests.
 *
 * Booking needs every seat free. Cancelling needs every seat booked, and held
 * by the caller unless the caller is an admin. When several rules fail, the
 * order above decides which one is reported, and every seat that breaks it is
 * named.
 */
export function decideCommand(
  command: SeatCommand,
  ownerOf: (seat: number) => string | undefined,
): CommandOutcome {
  if (command.kind === "book") {
    const taken = command.seats.filter((seat) => ownerOf(seat) !== undefined);
    if (taken.length > 0) {
      return { ok: false, reason: "SEAT_ALREADY_BOOKED", seats: taken, replayed: false };
    }
    return { ok: true, seats: command.seats, replayed: false };
  }
  const free = command.seats.filter((seat) => ownerOf(seat) === undefined);
  if (free.length > 0) {
    return { ok: false, reason: "SEAT_NOT_BOOKED", seats: free, replayed: false };
  }
  if (!command.isAdmin) {
    const othersSeats = command.seats.filter((seat) => ownerOf(seat) !== command.principal);
    if (othersSeats.length > 0) {
      return { ok: false, reason: "SEAT_NOT_OWNED", seats: othersSeats, replayed: false };
    }
  }
  return { ok: true, seats: command.seats, replayed: false };
}

/**
 * The identity of a command for idempotency: a retry must repeat the same
 * kind, show and seats. Principal and request id are the lookup key, so they
 * are not part of it.
 */
export function commandFingerprint(command: SeatCommand): string {
  return `${command.kind}:${command.showId}:${command.seats.join(",")}`;
}

/** The outcome as stored beside an idempotency key. */
export function encodeOutcome(outcome: CommandOutcome): string {
  return outcome.ok
    ? JSON.stringify({ ok: true, seats: outcome.seats })
    : JSON.stringify({ ok: false, reason: outcome.reason, seats: outcome.seats });
}

/** Reads a stored outcome back, marked as replayed. */
export function decodeReplayedOutcome(stored: string): CommandOutcome {
  const parsed = JSON.parse(stored) as
    | { ok: true; seats: number[] }
    | { ok: false; reason: Exclude<CommandOutcome, { ok: true }>["reason"]; seats: number[] };
  return parsed.ok
    ? { ok: true, seats: parsed.seats, replayed: true }
    : { ok: false, reason: parsed.reason, seats: parsed.seats, replayed: true };
}

/** The refusal for a request id reused with a different command. */
export function requestIdReused(command: SeatCommand): CommandOutcome {
  return { ok: false, reason: "REQUEST_ID_REUSED", seats: command.seats, replayed: false };
}
