import type {
  CommandOutcome,
  ExtendCommand,
  HoldActionCommand,
  HoldRecord,
  HoldState,
  Refusal,
  ShowState,
} from "./seat-store.js";

/**
 * A hold as stored: "active" until its end is recorded (confirmed, released,
 * or "expired" once the sweeper or a request that took its seats recorded
 * the lapse), whatever the clock says.
 */
export type StoredHold = Omit<HoldRecord, "state"> & { readonly state: HoldState };

/** A stored hold as a reader sees it at `now`: an active hold past its expiry reads as expired. */
export function holdAsOf(hold: StoredHold, now: number): HoldRecord {
  return hold.state === "active" && hold.expiresAt <= now ? { ...hold, state: "expired" } : hold;
}

/** Who may see a hold at all: its owner, and admins for reading and releasing. */
export function maySeeHold(hold: StoredHold, principal: string, isAdmin: boolean, kind: HoldActionCommand["kind"] | "extend" | "get"): boolean {
  if (hold.owner === principal) return true;
  return isAdmin && (kind === "release" || kind === "get");
}

function refusal(reason: Refusal["reason"], seats: readonly number[] = []): Refusal {
  return { ok: false, reason, seats, replayed: false };
}

/**
 * Decides a confirm, release or extend of a hold at `now` (by the clock that
 * decides expiry), without changing anything. To a principal who may not see
 * the hold it does not exist (HOLD_NOT_FOUND), so an id tells a stranger
 * nothing. A hold that ended says how (HOLD_CONFIRMED, HOLD_RELEASED,
 * HOLD_EXPIRED); a confirm in a closed show is SHOW_CLOSED.
 *
 * An applied extend carries the new expiry in `hold`; an applied confirm or
 * release carries the hold in its new state. The store writes what the
 * outcome says.
 */
export function decideHoldCommand(
  command: HoldActionCommand | ExtendCommand,
  hold: StoredHold | undefined,
  showState: ShowState | undefined,
  now: number,
): CommandOutcome {
  if (hold === undefined || !maySeeHold(hold, command.principal, command.isAdmin, command.kind)) {
    return refusal("HOLD_NOT_FOUND");
  }
  const current = holdAsOf(hold, now);
  // The caller may see this hold, so its refusals name the hold's show.
  if (current.state === "confirmed") return { ...refusal("HOLD_CONFIRMED", hold.seats), showId: hold.showId };
  if (current.state === "released") return { ...refusal("HOLD_RELEASED", hold.seats), showId: hold.showId };
  if (current.state === "expired") return { ...refusal("HOLD_EXPIRED", hold.seats), showId: hold.showId };
  switch (command.kind) {
    case "confirm":
      if (showState !== "open") return { ...refusal("SHOW_CLOSED", hold.seats), showId: hold.showId };
      return { ok: true, seats: hold.seats, replayed: false, hold: { ...hold, state: "confirmed" } };
    case "release":
      return { ok: true, seats: hold.seats, replayed: false, hold: { ...hold, state: "released" } };
    case "extend": {
      const expiresAt = Math.min(now + command.ttlMs, hold.createdAt + command.maxLifetimeMs);
      return { ok: true, seats: hold.seats, replayed: false, hold: { ...hold, state: "active", expiresAt } };
    }
  }
}

/** The hold a successful HoldSeats makes, at `now`. */
export function newHold(
  command: { readonly holdId: string; readonly showId: string; readonly principal: string; readonly ttlMs: number },
  seats: readonly number[],
  now: number,
): HoldRecord {
  return {
    holdId: command.holdId,
    showId: command.showId,
    seats,
    owner: command.principal,
    createdAt: now,
    expiresAt: now + command.ttlMs,
    state: "active",
  };
}

/** The refusal for one hold too many. */
export function tooManyHolds(): Refusal {
  return refusal("TOO_MANY_HOLDS");
}
