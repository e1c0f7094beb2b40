import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  SeatChangeKind,
  ShowState,
  type AvailabilitySnapshot,
  type SeatChange,
} from "../gen/booking/v1/booking_pb.js";

/**
 * The plain-data shapes of WatchAvailability's messages as the SDK hands
 * them out: seat change kinds and show states as words, free seats as
 * ranges whatever form the server sent. Versions stay `bigint`, as on the
 * wire (uint64).
 */

/** What became of a change's seats (SeatChangeKind, as a word). */
export type WatchChangeKind = "booked" | "released" | "held" | "hold-ended" | "resized" | "closed";

/** Whether a show sells seats. */
export type ShowStateName = "open" | "closed";

/** Seats first to last, both included. */
export interface SeatRun {
  readonly first: number;
  readonly last: number;
}

/** One versioned change of a show. */
export interface WatchChange {
  /** The show's version after this change. */
  readonly version: bigint;
  readonly kind: WatchChangeKind;
  /** The seats changed, ascending; empty for "resized" and "closed". */
  readonly seats: readonly number[];
  /** For "resized": the new number of seats. */
  readonly totalSeats?: number;
  /** When the change was committed, by the clock that decides expiry. */
  readonly commitTime: Date | undefined;
}

/** A show's availability at one version. */
export interface WatchSnapshot {
  readonly showId: string;
  readonly version: bigint;
  readonly totalSeats: number;
  readonly state: ShowStateName;
  readonly bookedCount: number;
  readonly heldCount: number;
  /** The free seats as ascending, non-adjacent runs. */
  readonly freeRanges: readonly SeatRun[];
  /** The held seats, ascending. */
  readonly heldSeats: readonly number[];
}

/**
 * A change kind or show state this SDK does not know: a newer server. The
 * SDK cannot keep a seat map right through it, so it stops rather than guess.
 */
export class UnknownWatchValueError extends Error {
  override readonly name = "UnknownWatchValueError";
}

/** The SDK's form of a wire snapshot (free seats as runs, from the list or the ranges the server sent). */
export function snapshotFromWire(snapshot: AvailabilitySnapshot): WatchSnapshot {
  return {
    showId: snapshot.showId,
    version: snapshot.version,
    totalSeats: snapshot.totalSeats,
    state: stateName(snapshot.state),
    bookedCount: snapshot.bookedCount,
    heldCount: snapshot.heldCount,
    freeRanges: mergeRuns([
      ...snapshot.freeRanges.map(({ first, last }) => ({ first, last })),
      ...runsOf(snapshot.freeSeats),
    ]),
    heldSeats: [...snapshot.heldSeats],
  };
}

/** The SDK's form of a wire change. Throws {@link UnknownWatchValueError} for a kind this SDK does not know. */
export function changeFromWire(change: SeatChange): WatchChange {
  const kind = changeKindName(change.kind);
  const commitTime = change.commitTime === undefined ? undefined : timestampDate(change.commitTime);
  return kind === "resized"
    ? { version: change.version, kind, seats: [], totalSeats: change.totalSeats, commitTime }
    : { version: change.version, kind, seats: [...change.seats], commitTime };
}

/** Ascending seats as maximal runs: [1, 2, 3, 7] gives 1-3 and 7-7. Unsorted input is sorted first. */
export function runsOf(seats: readonly number[]): SeatRun[] {
  const sorted = isAscending(seats) ? seats : [...seats].sort((a, b) => a - b);
  const runs: SeatRun[] = [];
  let current: { first: number; last: number } | undefined;
  for (const seat of sorted) {
    if (current !== undefined && seat <= current.last + 1) {
      current.last = Math.max(current.last, seat);
      continue;
    }
    if (current !== undefined) runs.push(current);
    current = { first: seat, last: seat };
  }
  if (current !== undefined) runs.push(current);
  return runs;
}

function mergeRuns(runs: readonly SeatRun[]): SeatRun[] {
  const sorted = [...runs].sort((a, b) => a.first - b.first);
  const merged: { first: number; last: number }[] = [];
  for (const run of sorted) {
    const previous = merged[merged.length - 1];
    if (previous !== undefined && run.first <= previous.last + 1) previous.last = Math.max(previous.last, run.last);
    else merged.push({ first: run.first, last: run.last });
  }
  return merged;
}

function isAscending(seats: readonly number[]): boolean {
  for (let index = 1; index < seats.length; index++) {
    if ((seats[index] ?? 0) < (seats[index - 1] ?? 0)) return false;
  }
  return true;
}

function changeKindName(kind: SeatChangeKind): WatchChangeKind {
  switch (kind) {
    case SeatChangeKind.BOOKED:
      return "booked";
    case SeatChangeKind.RELEASED:
      return "released";
    case SeatChangeKind.HELD:
      return "held";
    case SeatChangeKind.HOLD_ENDED:
      return "hold-ended";
    case SeatChangeKind.RESIZED:
      return "resized";
    case SeatChangeKind.CLOSED:
      return "closed";
    default:
      throw new UnknownWatchValueError(`the server sent seat change kind ${String(kind)}, which this SDK does not know`);
  }
}

function stateName(state: ShowState): ShowStateName {
  switch (state) {
    case ShowState.OPEN:
      return "open";
    case ShowState.CLOSED:
      return "closed";
    default:
      throw new UnknownWatchValueError(`the server sent show state ${String(state)}, which this SDK does not know`);
  }
}
