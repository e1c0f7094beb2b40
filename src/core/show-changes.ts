import type { ShowState } from "./seat-store.js";

/**
 * What became of a change's seats. Applying a show's changes in version
 * order to a snapshot gives the show at every later version.
 */
export type ChangeKind =
  /** Booked, by BookSeats or by ConfirmHold of their hold (held seats stop being held). */
  | "booked"
  /** A booking cancelled: the seats are free. */
  | "released"
  /** Held by a hold. */
  | "held"
  /** A hold ended by release or expiry: the seats are free. */
  | "hold-ended"
  /** The show's seat count changed to totalSeats; seats gained are free, seats lost were free. */
  | "resized"
  /** The show closed; no seat changed. */
  | "closed";

/** One versioned change of a show, committed in the same transaction as the change itself. */
export interface ShowChange {
  readonly showId: string;
  /** The show's version after this change: 1, 2, 3... with no gaps. */
  readonly version: number;
  readonly kind: ChangeKind;
  /** Ascending; empty for "resized" and "closed". */
  readonly seats: readonly number[];
  /** For "resized": the new seat count. */
  readonly totalSeats?: number;
  /** Epoch ms of the commit, by the clock that decides expiry. */
  readonly at: number;
}

/** A change before the store numbers it. */
export type UnnumberedChange = Omit<ShowChange, "version" | "at">;

/** What the change log answers for "the changes of a show after version V". */
export type ChangeLogRead =
  | { readonly kind: "changes"; readonly changes: readonly ShowChange[] }
  /** The log no longer reaches back to V: start again from a snapshot. */
  | { readonly kind: "too-old"; readonly oldestVersion: number }
  | { readonly kind: "unknown-show" };

/** How far back a store keeps each show's changes. */
export interface ChangeLogRetention {
  /** At most this many of each show's newest changes are kept. */
  readonly maxVersions: number;
  /** Changes older than this are dropped. */
  readonly maxAgeMs: number;
}

/** A show at one version, as a watcher starts from it. */
export interface VersionedSnapshot {
  readonly showId: string;
  readonly version: number;
  readonly totalSeats: number;
  readonly state: ShowState;
  readonly bookedCount: number;
  readonly heldCount: number;
  /** Ascending. */
  readonly free: readonly number[];
  /** Ascending. */
  readonly held: readonly number[];
}

/** A run of seats first..last, both included. */
export interface SeatRun {
  readonly first: number;
  readonly last: number;
}

/** Ascending seat numbers as maximal runs: [1,2,3,7] gives 1-3 and 7-7. */
export function seatRuns(ascending: readonly number[]): SeatRun[] {
  const runs: SeatRun[] = [];
  let first = 0;
  let last = -1;
  for (const seat of ascending) {
    if (seat === last + 1) {
      last = seat;
      continue;
    }
    if (last >= first && last > 0) runs.push({ first, last });
    first = seat;
    last = seat;
  }
  if (last >= first && last > 0) runs.push({ first, last });
  return runs;
}
