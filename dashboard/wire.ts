/**
 * What the dashboard server sends (src/dashboard/dashboard-events.ts and
 * dashboard-shows.ts are the other side; the browser test checks the two
 * agree). The page imports nothing of the server, so the shapes are restated.
 */

/** A run of seats first..last, both included. */
export type SeatRun = readonly [first: number, last: number];

/** The `snapshot` event: free and held seats as runs; every other seat is booked. */
export interface SnapshotData {
  readonly showId: string;
  readonly version: number;
  readonly totalSeats: number;
  readonly state: string;
  readonly bookedCount: number;
  readonly heldCount: number;
  readonly free: readonly SeatRun[];
  readonly held: readonly SeatRun[];
  readonly resumeTooOld: boolean;
}

/** What became of a change's seats. */
export type ChangeKind = "booked" | "released" | "held" | "hold-ended" | "resized" | "closed";

/** One versioned change. */
export interface ChangeData {
  readonly version: number;
  readonly kind: ChangeKind;
  readonly seats: readonly number[];
  readonly totalSeats?: number;
  /** Epoch ms of the commit. */
  readonly at: number;
}

/** The `changes` event. */
export interface ChangesData {
  readonly showId: string;
  readonly changes: readonly ChangeData[];
}

/** One show of `/shows`. */
export interface ListedShow {
  readonly id: string;
  readonly displayName: string;
  readonly totalSeats: number;
  readonly state: string;
  readonly bookedCount: number;
  readonly heldCount: number;
}

/** The body of `/shows`. */
export interface ShowList {
  readonly shows: readonly ListedShow[];
  readonly truncated: boolean;
}
