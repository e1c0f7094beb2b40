import { decodeReplayedOutcome } from "../core/idempotency.js";
import type { CommandOutcome, StoreCommand } from "../core/seat-store.js";
import { isHoldAction, judgeHoldAction, type HoldAction, type HoldFindings } from "./postgres-hold-actions.js";
import { isSeatLevel, judgeSeatCommand, type CommandRow, type SeatLevelCommand } from "./postgres-seat-commands.js";

/**
 * An idempotency record written by run_seat_batch (schema version 5): what
 * the first attempt was decided from, not its outcome. See
 * postgres-migration-5.ts.
 */
interface StoredFindings {
  readonly findings: CommandRow;
  readonly now_ms: number;
  readonly hold_id: string | null;
  readonly is_admin: boolean;
  readonly max_holds: number | null;
}

/** An idempotency record written by run_hold_batch: what a confirm, release or extend was decided from. */
interface StoredHoldFindings {
  readonly hold_findings: HoldFindings;
  readonly now_ms: number;
  readonly is_admin: boolean;
  readonly max_lifetime_ms: number | null;
}

function replayHoldAction(command: StoreCommand, stored: StoredHoldFindings): CommandOutcome {
  if (!isHoldAction(command)) throw new Error(`a ${command.kind} command's request id holds a hold action's findings`);
  const first: HoldAction =
    command.kind === "extend"
      ? { ...command, isAdmin: stored.is_admin, maxLifetimeMs: stored.max_lifetime_ms ?? command.maxLifetimeMs }
      : { ...command, isAdmin: stored.is_admin };
  return { ...judgeHoldAction(first, stored.hold_findings, Number(stored.now_ms)).outcome, replayed: true };
}

/**
 * The outcome a retry replays, marked as replayed. A record holding an
 * outcome (written by earlier schema versions and by batches with hold
 * actions or show commands) is decoded; a record holding findings is judged
 * again by the shared rules, with the first attempt's instant, hold id,
 * admin flag and hold limit, so the retry gets the first attempt's answer
 * even if the limits were reconfigured since. `command` has the record's
 * fingerprint, so its kind, show, seats and TTL are the first attempt's.
 */
export function replayStoredOutcome(command: StoreCommand, stored: string): CommandOutcome {
  const parsed = JSON.parse(stored) as Partial<StoredFindings> & Partial<StoredHoldFindings>;
  if (parsed.hold_findings !== undefined) return replayHoldAction(command, parsed as StoredHoldFindings);
  if (parsed.findings === undefined) return decodeReplayedOutcome(stored);
  if (!isSeatLevel(command)) {
    throw new Error(`a ${command.kind} command's request id holds a seat command's findings`);
  }
  const first: SeatLevelCommand =
    command.kind === "hold"
      ? {
          ...command,
          isAdmin: parsed.is_admin ?? command.isAdmin,
          holdId: parsed.hold_id ?? command.holdId,
          maxHoldsPerPrincipal: parsed.max_holds ?? command.maxHoldsPerPrincipal,
        }
      : { ...command, isAdmin: parsed.is_admin ?? command.isAdmin };
  const outcome = judgeSeatCommand(first, parsed.findings, Number(parsed.now_ms));
  return { ...outcome, replayed: true };
}
