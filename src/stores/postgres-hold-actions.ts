import type { ClientBase, Pool } from "pg";
import { decideHoldCommand, holdAsOf, type StoredHold } from "../core/hold-rules.js";
import type { CommandOutcome, ExtendCommand, HoldActionCommand, HoldRecord, ShowState, StoreCommand } from "../core/seat-store.js";
import type { BatchChanges } from "./postgres-show-versions.js";

/** Confirm, release and extend: commands on an existing hold. */
export type HoldAction = HoldActionCommand | ExtendCommand;

/** True for the kinds run_hold_batch runs: confirm, release and extend. */
export function isHoldAction(command: StoreCommand): command is HoldAction {
  return command.kind === "confirm" || command.kind === "release" || command.kind === "extend";
}

/** What run_hold_batch found for one command: the hold as locked, and how many seat rows it changed. */
export interface HoldFindings {
  readonly changed: number;
  readonly found: boolean;
  readonly show_id: string | null;
  readonly owner: string | null;
  readonly seats: number[] | null;
  readonly created_ms: number | string | null;
  readonly expires_ms: number | string | null;
  readonly state: "active" | "confirmed" | "released" | "expired" | null;
  readonly show_state: ShowState | null;
  readonly carried: number | null;
}

/**
 * The shared rules' verdict (decideHoldCommand) on a hold action, from what
 * run_hold_batch found at `now` (epoch ms); with the number of seat rows the
 * function changed, checked against it: all the hold's seats when allowed,
 * none otherwise.
 */
export function judgeHoldAction(command: HoldAction, found: HoldFindings, now: number): { outcome: CommandOutcome; disagreement?: string } {
  const hold =
    found.found && found.show_id !== null && found.owner !== null && found.seats !== null && found.state !== null
      ? storedHold(
          {
            hold_id: command.holdId,
            show_id: found.show_id,
            owner: found.owner,
            seats: found.seats,
            created_ms: Number(found.created_ms),
            expires_ms: Number(found.expires_ms),
            state: found.state,
            show_state: found.show_state ?? "closed",
            carried: found.carried ?? 0,
          },
          now,
        )
      : undefined;
  const outcome = decideHoldCommand(command, hold, found.show_state ?? undefined, now);
  const expected = outcome.ok ? (hold?.seats.length ?? 0) : 0;
  if (found.changed === expected) return { outcome };
  return {
    outcome,
    disagreement: `${command.kind} of hold ${command.holdId} changed ${found.changed} seat rows, against the rules' verdict (the batch has committed)`,
  };
}

/** A hold row as read with its show's state and how many of its seats carry its mark. */
export interface HoldRow {
  readonly hold_id: string;
  readonly show_id: string;
  readonly owner: string;
  readonly seats: number[];
  readonly created_ms: number;
  readonly expires_ms: number;
  readonly state: StoredHold["state"];
  readonly show_state: ShowState;
  /** The hold's seats that still carry its mark. */
  readonly carried: number;
  readonly now_ms: number;
}

const HOLD_COLUMNS = `h.hold_id, h.show_id, h.owner, h.seats, epoch_ms(h.created_at)::float8 AS created_ms,
  epoch_ms(h.expires_at)::float8 AS expires_ms, h.state, sh.state AS show_state,
  (SELECT count(*)::integer FROM seats s WHERE s.show_id = h.show_id AND s.seat = ANY (h.seats) AND s.hold_id = h.hold_id) AS carried,
  epoch_ms(now())::float8 AS now_ms`;

/**
 * A hold as stored, read against its seats. An active hold lives on its
 * seats' marks; when a mark is gone, the seat was booked or held by someone
 * who found the hold lapsed (their transaction started later than this
 * one), so the hold is treated as having expired by then, whatever its
 * expires_at says against this transaction's earlier now().
 */
export function storedHold(row: Omit<HoldRow, "now_ms">, now: number): StoredHold {
  const hold: StoredHold = {
    holdId: row.hold_id,
    showId: row.show_id,
    seats: row.seats,
    owner: row.owner,
    createdAt: row.created_ms,
    expiresAt: row.expires_ms,
    state: row.state,
  };
  const lostSeats = row.state === "active" && row.carried < row.seats.length;
  return lostSeats ? { ...hold, expiresAt: Math.min(hold.expiresAt, now) } : hold;
}

/** One hold as of now() by the database's clock; undefined when unknown. */
export async function readHold(db: ClientBase | Pool, holdId: string): Promise<HoldRecord | undefined> {
  const result = await db.query<HoldRow>({
    name: "read-hold",
    text: `SELECT ${HOLD_COLUMNS} FROM holds h JOIN shows sh USING (show_id) WHERE h.hold_id = $1`,
    values: [holdId],
  });
  const row = result.rows[0];
  return row === undefined ? undefined : holdAsOf(storedHold(row, row.now_ms), row.now_ms);
}

/**
 * Applies a confirm, release or extend inside the batch's transaction at
 * `now` (the transaction's now() in epoch ms). The hold row is locked FOR
 * UPDATE and then its seats (the batch locked both already, in the global
 * order); the shared rules decide, and the seats are changed only where they
 * still carry this hold. A confirm is a "booked" change, a release
 * "hold-ended"; an extend changes no seat's availability and takes no
 * version. Unless `showsLocked`, the show's open state was read unlocked, so
 * a confirm asks the version step to check it is still open.
 */
export async function applyHoldAction(
  client: ClientBase,
  command: HoldAction,
  now: number,
  showsLocked: boolean,
  changes: BatchChanges,
): Promise<CommandOutcome> {
  const result = await client.query<HoldRow>({
    name: "lock-hold",
    text: `SELECT ${HOLD_COLUMNS} FROM holds h JOIN shows sh USING (show_id) WHERE h.hold_id = $1 FOR UPDATE OF h`,
    values: [command.holdId],
  });
  const row = result.rows[0];
  const hold = row === undefined ? undefined : storedHold(row, now);
  const outcome = decideHoldCommand(command, hold, row?.show_state, now);
  if (!outcome.ok || outcome.hold === undefined || hold === undefined) return outcome;
  const changed = outcome.hold;
  const seats = await client.query({
    name: `${command.kind}-hold`,
    text: HOLD_WRITES[command.kind],
    values:
      command.kind === "confirm"
        ? [changed.holdId, changed.showId, changed.seats, changed.owner, command.requestId, now]
        : command.kind === "extend"
          ? [changed.holdId, changed.showId, changed.seats, changed.expiresAt]
          : [changed.holdId, changed.showId, changed.seats],
  });
  if (seats.rowCount !== changed.seats.length) {
    throw new Error(`${command.kind} of hold ${changed.holdId} changed ${seats.rowCount} of its ${changed.seats.length} seats`);
  }
  if (command.kind === "confirm") {
    changes.add({ showId: changed.showId, kind: "booked", seats: changed.seats });
    if (!showsLocked) changes.soldIn.add(changed.showId);
  } else if (command.kind === "release") {
    changes.add({ showId: changed.showId, kind: "hold-ended", seats: changed.seats });
  }
  return outcome;
}

/**
 * Records the end of lapsed holds of one show (the batch locked their rows
 * and seats already): state 'expired', their marks cleared. Returns each
 * hold's freed seats, in hold id order, for its "hold-ended" change. Holds
 * no longer active (ended earlier in the batch) are skipped.
 */
export async function endLapsedHolds(
  client: ClientBase,
  showId: string,
  holdIds: readonly string[],
): Promise<{ readonly holdId: string; readonly seats: number[] }[]> {
  if (holdIds.length === 0) return [];
  const result = await client.query<{ hold_id: string; seats: number[] }>({
    name: "end-lapsed-holds",
    text: `WITH ended AS (
             UPDATE holds SET state = 'expired'
             WHERE hold_id = ANY ($2::text[]) AND show_id = $1 AND state = 'active' AND expires_at <= now()
             RETURNING hold_id, seats
           ), cleared AS (
             UPDATE seats s SET hold_id = NULL, hold_expires_at = NULL FROM ended e
             WHERE s.show_id = $1 AND s.seat = ANY (e.seats) AND s.hold_id = e.hold_id
             RETURNING e.hold_id, s.seat
           )
           SELECT e.hold_id, coalesce(array_agg(c.seat ORDER BY c.seat) FILTER (WHERE c.seat IS NOT NULL), '{}') AS seats
           FROM ended e LEFT JOIN cleared c USING (hold_id)
           GROUP BY e.hold_id ORDER BY e.hold_id COLLATE "C"`,
    values: [showId, [...holdIds]],
  });
  return result.rows.map((row) => ({ holdId: row.hold_id, seats: row.seats }));
}

/** One statement per action: the hold row, then exactly the seats that carry the hold. */
const HOLD_WRITES: Record<HoldAction["kind"], string> = {
  confirm: `WITH h AS (UPDATE holds SET state = 'confirmed' WHERE hold_id = $1)
            UPDATE seats SET owner = $4, request_id = $5, booked_at = from_epoch_ms($6), hold_id = NULL, hold_expires_at = NULL
            WHERE show_id = $2 AND seat = ANY ($3::int[]) AND hold_id = $1 AND owner IS NULL`,
  release: `WITH h AS (UPDATE holds SET state = 'released' WHERE hold_id = $1)
            UPDATE seats SET hold_id = NULL, hold_expires_at = NULL
            WHERE show_id = $2 AND seat = ANY ($3::int[]) AND hold_id = $1`,
  extend: `WITH h AS (UPDATE holds SET expires_at = from_epoch_ms($4) WHERE hold_id = $1)
           UPDATE seats SET hold_expires_at = from_epoch_ms($4)
           WHERE show_id = $2 AND seat = ANY ($3::int[]) AND hold_id = $1`,
};
