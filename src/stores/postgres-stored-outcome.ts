import { decodeReplayedOutcome } from "../core/idempotency.js";
import type { CommandOutcome, StoreCommand } from "../core/seat-store.js";
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
  const parsed = JSON.parse(stored) as Partial<StoredFindings>;
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
