import type { PoolClient } from "pg";
import { tooManyHolds, newHold } from "../core/hold-rules.js";
import { checkShow, decideSeatCommand, type SeatView } from "../core/seat-rules.js";
import type { CommandOutcome, HoldCommand, SeatCommand, ShowState } from "../core/seat-store.js";
import type { BatchChanges } from "./postgres-show-versions.js";

/** The commands apply_seat_commands runs. */
export type SeatLevelCommand = SeatCommand | HoldCommand;

/** True for the kinds apply_seat_commands runs: book, cancel and hold. */
export function isSeatLevel(command: { readonly kind: string }): command is SeatLevelCommand {
  return command.kind === "book" || command.kind === "cancel" || command.kind === "hold";
}

/** What apply_seat_commands reports for one command, as locked before the change. */
export interface CommandRow {
  /** Rows the conditional UPDATE changed: all of the command's seats, or none. */
  readonly changed: number;
  /** The show's seat count and state; null for an unknown show. */
  readonly show_total: number | null;
  readonly show_state: ShowState | null;
  /** The asked seats that exist, ascending. */
  readonly found_seats: number[];
  /** Booked seats among them and their owners. */
  readonly booked_seats: number[];
  readonly booked_owners: string[];
  /** Seats with a hold mark (live or lapsed), its hold and its expiry in epoch ms (bigint: text, or a number from JSON). */
  readonly held_seats: number[];
  readonly held_by: string[];
  readonly held_until_ms: readonly (string | number)[];
  /** Hold commands that passed the seat rules: the principal's live holds before this one. */
  readonly live_holds: number | null;
  /** Lapsed holds the command ended before taking their seats, in id order: ended_counts[k] of ended_seats each. */
  readonly ended_holds: string[];
  readonly ended_counts: number[];
  readonly ended_seats: number[];
}

/** How a batch runs its seat commands: who takes the locks, and whether its show rows are locked yet. */
export interface SeatCommandLocks {
  /**
   * undefined: apply_seat_commands takes every lock itself (a batch of only
   * book, cancel and hold commands). Otherwise the batch took them all
   * already, and these are the lapsed holds it locked.
   */
  readonly lockedLapsedHolds: readonly string[] | undefined;
  /** True when the batch locked its show rows before running commands (it has a close or resize). */
  readonly showsLocked: boolean;
}

/**
 * Runs book, cancel and hold commands in order in one round trip (the
 * apply_seat_commands function of the schema), then judges each with the
 * shared rules from what the function found on the locked rows at `now`, the
 * transaction's now() in epoch ms, which the function decided with too. The
 * function changes a command's seats only when those rules allow it; if the
 * two ever disagree, the batch fails rather than commit.
 *
 * Each applied command adds its changes to `changes`: the lapsed holds it
 * ended ("hold-ended", each whole, in hold id order), then its own
 * ("booked", "held" or "released"). A sale in a show whose row the batch has
 * not locked is noted, so that the version step checks the show is still
 * open.
 */
export async function runSeatCommands(
  client: PoolClient,
  commands: readonly SeatLevelCommand[],
  now: number,
  locks: SeatCommandLocks,
  changes: BatchChanges,
): Promise<CommandOutcome[]> {
  if (commands.length === 0) return [];
  const seatCounts: number[] = [];
  const flatSeats: number[] = [];
  const seatShows: string[] = [];
  for (const command of commands) {
    seatCounts.push(command.seats.length);
    for (const seat of command.seats) {
      flatSeats.push(seat);
      seatShows.push(command.showId);
    }
  }
  const holdField = <T>(pick: (command: HoldCommand) => T, otherwise: T): T[] =>
    commands.map((command) => (command.kind === "hold" ? pick(command) : otherwise));
  const result = await client.query<CommandRow>({
    name: "apply-seat-commands-v4",
    text: `SELECT * FROM apply_seat_commands($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $7::text[],
             $8::boolean[], $9::text[], $10::bigint[], $11::int[], $12::text[])`,
    values: [
      commands.map((command) => command.kind),
      commands.map((command) => command.showId),
      seatCounts,
      flatSeats,
      seatShows,
      commands.map((command) => command.principal),
      commands.map((command) => command.requestId),
      commands.map((command) => command.isAdmin),
      holdField((command) => command.holdId, null),
      holdField((command) => command.ttlMs, null),
      holdField((command) => command.maxHoldsPerPrincipal, null),
      locks.lockedLapsedHolds === undefined ? null : [...locks.lockedLapsedHolds],
    ],
  });
  return commands.map((command, index) => {
    const row = result.rows[index];
    if (row === undefined) throw new Error("apply_seat_commands returned fewer rows than commands");
    const outcome = judgeSeatCommand(command, row, now);
    const disagreement = verdictDisagreement(command, row, outcome);
    if (disagreement !== undefined) throw new Error(disagreement);
    if (outcome.ok) recordChanges(command, row, locks, changes);
    return outcome;
  });
}

/** The command's changes: the lapsed holds it ended, then its own. */
function recordChanges(command: SeatLevelCommand, row: CommandRow, locks: SeatCommandLocks, changes: BatchChanges): void {
  let next = 0;
  changes.addEndedHolds(
    command.showId,
    row.ended_counts.map((count) => ({ seats: row.ended_seats.slice(next, (next += count)) })),
  );
  const kind = command.kind === "book" ? "booked" : command.kind === "hold" ? "held" : "released";
  changes.add({ showId: command.showId, kind, seats: command.seats });
  if (command.kind !== "cancel" && !locks.showsLocked) changes.soldIn.add(command.showId);
}

/**
 * Why what apply_seat_commands changed is not what the shared rules decided,
 * or undefined when the two agree: it changes all of a command's seats when
 * the rules allow the command, and none otherwise.
 */
export function verdictDisagreement(command: SeatLevelCommand, row: CommandRow, outcome: CommandOutcome): string | undefined {
  if (row.changed === (outcome.ok ? command.seats.length : 0) && (outcome.ok || row.ended_holds.length === 0)) return undefined;
  return `${command.kind} of seats ${command.seats.join(", ")} changed ${row.changed} rows, against the rules' verdict`;
}

/** The shared rules' verdict on a seat command, from what apply_seat_commands found at `now` (epoch ms). */
export function judgeSeatCommand(command: SeatLevelCommand, row: CommandRow, now: number): CommandOutcome {
  const show = row.show_total === null || row.show_state === null ? undefined : { totalSeats: row.show_total, state: row.show_state };
  const refused = checkShow(command, show);
  if (refused !== undefined) return refused;
  // Rows exist for exactly 1..total, so this is only a resize committing
  // between the function's two reads; report the seats that are not there.
  const found = new Set(row.found_seats);
  const missing = command.seats.filter((seat) => !found.has(seat));
  if (missing.length > 0) {
    return { ok: false, reason: "SEATS_OUT_OF_RANGE", seats: missing, replayed: false, totalSeats: show?.totalSeats ?? 0 };
  }
  const seats = new Map<number, { owner: string | undefined; hold: SeatView["hold"] }>();
  const at = (seat: number) => {
    let view = seats.get(seat);
    if (view === undefined) seats.set(seat, (view = { owner: undefined, hold: undefined }));
    return view;
  };
  row.booked_seats.forEach((seat, i) => (at(seat).owner = row.booked_owners[i] ?? ""));
  row.held_seats.forEach((seat, i) => (at(seat).hold = { holdId: row.held_by[i] ?? "", expiresAt: Number(row.held_until_ms[i]) }));
  const outcome = decideSeatCommand(command, (seat) => seats.get(seat), now);
  if (!outcome.ok || command.kind !== "hold") return outcome;
  if (row.live_holds === null) throw new Error("apply_seat_commands did not count the holder's live holds");
  if (row.live_holds >= command.maxHoldsPerPrincipal) return tooManyHolds();
  return { ...outcome, hold: newHold(command, command.seats, now) };
}
