import type { CommandOutcome, StoreCommand } from "./seat-store.js";

/** How long request ids are remembered unless configured: 24 hours. */
export const DEFAULT_REQUEST_ID_RETENTION_MS = 24 * 60 * 60 * 1000;

/** The longest request id accepted; longer ones are refused by the core. */
export const MAX_REQUEST_ID_LENGTH = 128;

/**
 * The key an idempotency record is found under: who asked, and the key they
 * chose. Two principals may use the same request id without meeting.
 */
export function requestKey(principal: string, requestId: string): string {
  // join builds a flat string; a template literal builds a tree that the
  // first hash flattens into a second copy, and the key lives for a day.
  return [principal, "\u0000", requestId].join("");
}

/**
 * The identity of a command for idempotency: a retry must repeat the same
 * kind and arguments. Principal and request id are the lookup key, so they
 * are not part of it. The hold id of a HoldSeats is made fresh per attempt,
 * so it is not part of it either: a retry gets the first attempt's hold.
 */
export function commandFingerprint(command: StoreCommand): string {
  switch (command.kind) {
    case "book":
    case "cancel":
      // The format of records written before holds existed: keep it.
      return `${command.kind}:${command.showId}:${command.seats.join(",")}`;
    case "hold":
      return `hold:${command.showId}:${command.seats.join(",")}:${command.ttlMs}`;
    case "confirm":
    case "release":
      return `${command.kind}:${command.holdId}`;
    case "extend":
      return `extend:${command.holdId}:${command.ttlMs}`;
    case "create-show":
      return `create-show:${command.showId}:${command.totalSeats}:${command.displayName}`;
    case "close-show":
      return `close-show:${command.showId}`;
    case "resize-show":
      return `resize-show:${command.showId}:${command.totalSeats}`;
    case "expire-holds":
      return `expire-holds:${command.showId}`;
  }
}

/** The outcome as stored beside an idempotency key. */
export function encodeOutcome(outcome: CommandOutcome): string {
  // The common outcome, a booking or a cancel that went through, written
  // directly: the same text JSON.stringify gives, without the copy and walk.
  if (outcome.ok && isPlainSeatOutcome(outcome)) return `{"ok":true,"seats":[${outcome.seats.join(",")}]}`;
  const { replayed: _replayed, ...stored } = outcome;
  return JSON.stringify(stored);
}

/** True when the outcome holds nothing but ok, seats and replayed. */
function isPlainSeatOutcome(outcome: CommandOutcome): boolean {
  let keys = 0;
  for (const key in outcome) {
    if (key !== "ok" && key !== "seats" && key !== "replayed") return false;
    if ((outcome as unknown as Record<string, unknown>)[key] === undefined) return false;
    keys++;
  }
  return keys === 3;
}

/** Reads a stored outcome back, marked as replayed. Records from before holds decode too. */
export function decodeReplayedOutcome(stored: string): CommandOutcome {
  const parsed = JSON.parse(stored) as Omit<CommandOutcome, "replayed">;
  return { ...parsed, replayed: true } as CommandOutcome;
}

/** The refusal for a request id reused with a different command. */
export function requestIdReused(command: StoreCommand): CommandOutcome {
  const seats = command.kind === "book" || command.kind === "cancel" || command.kind === "hold" ? command.seats : [];
  return { ok: false, reason: "REQUEST_ID_REUSED", seats, replayed: false };
}
