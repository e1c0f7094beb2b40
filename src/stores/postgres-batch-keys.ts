import { commandFingerprint, requestIdReused, requestKey } from "../core/idempotency.js";
import type { CommandOutcome, StoreCommand } from "../core/seat-store.js";
import type { LatestVersion } from "./postgres-show-versions.js";
import { replayStoredOutcome } from "./postgres-stored-outcome.js";

/** What a one-statement batch function reports about a sent command's request id. */
export interface StoredRecordRow {
  /** The fingerprint of a live record of the command's key, or null when it ran. */
  readonly stored_fingerprint: string | null;
  readonly stored_outcome: string | null;
}

/** The row after the last command's: the changed shows and their latest versions. */
export interface LatestVersionsRow {
  readonly changed_shows: string[] | null;
  /** bigint: text from node-postgres, a number from JSON. */
  readonly latest_versions: readonly (string | number)[] | null;
}

/**
 * A batch as sent to run_seat_batch or run_hold_batch (postgres-migration-5.ts):
 * each (principal, request id) once, since the functions record each key at
 * most once per batch. Commands without a request id are all sent.
 */
export class BatchKeys<C extends StoreCommand> {
  /** The commands sent, in batch order: the first of each key, and every command without one. */
  readonly sent: C[] = [];
  /** The fingerprint of each sent command. */
  readonly fingerprints: string[] = [];
  /** For each command of the batch: the index in `sent` of the command that carries its key. */
  readonly #carrier: number[] = [];
  readonly #commands: readonly C[];

  constructor(commands: readonly C[]) {
    this.#commands = commands;
    const sentByKey = new Map<string, number>();
    for (const command of commands) {
      const key = command.requestId === "" ? undefined : requestKey(command.principal, command.requestId);
      const earlier = key === undefined ? undefined : sentByKey.get(key);
      if (earlier !== undefined) {
        this.#carrier.push(earlier);
        continue;
      }
      if (key !== undefined) sentByKey.set(key, this.sent.length);
      this.#carrier.push(this.sent.length);
      this.sent.push(command);
      this.fingerprints.push(commandFingerprint(command));
    }
  }

  /**
   * The outcome of every command of the batch, given the rows the function
   * returned (one per sent command, in order) and a judge for a sent command
   * that ran (no live record of its key). A command whose key had a record
   * replays it when the fingerprints match and gets REQUEST_ID_REUSED when
   * not; so does a later repeat of a key within the batch, compared with the
   * record or with the command that ran.
   */
  settle<R extends StoredRecordRow>(rows: readonly R[], functionName: string, judge: (command: C, row: R) => CommandOutcome): CommandOutcome[] {
    const sentOutcomes = this.sent.map((command, index) => {
      const row = rows[index];
      if (row === undefined) throw new Error(`${functionName} returned fewer rows than commands`);
      return row.stored_fingerprint === null ? judge(command, row) : fromRecord(command, row, this.fingerprints[index] as string);
    });
    return this.#commands.map((command, index) => {
      const first = this.#carrier[index] as number;
      const outcome = sentOutcomes[first] as CommandOutcome;
      if (this.sent[first] === command) return outcome;
      const row = rows[first] as R;
      const fingerprint = commandFingerprint(command);
      if (row.stored_fingerprint !== null) return fromRecord(command, row, fingerprint);
      return this.fingerprints[first] === fingerprint ? { ...outcome, replayed: true } : requestIdReused(command);
    });
  }
}

/** The versions the trailer row (the one after the sent commands') reports, to announce once committed. */
export function latestVersionsOf(trailer: LatestVersionsRow | undefined, functionName: string): LatestVersion[] {
  if (trailer === undefined) throw new Error(`${functionName} returned no row of latest versions`);
  const versions = trailer.latest_versions ?? [];
  return (trailer.changed_shows ?? []).map((showId, index) => ({ showId, version: Number(versions[index]) }));
}

function fromRecord(command: StoreCommand, row: StoredRecordRow, fingerprint: string): CommandOutcome {
  return row.stored_fingerprint === fingerprint ? replayStoredOutcome(command, row.stored_outcome ?? "") : requestIdReused(command);
}
