import type { ChangeData, SnapshotData } from "./wire.js";

/** What a seat is, as the page colours it. */
export type SeatState = "free" | "held" | "booked";

const FREE = 0;
const HELD = 1;
const BOOKED = 2;
const STATES: readonly SeatState[] = ["free", "held", "booked"];

/**
 * One show's seats at one version, kept by applying a snapshot and then the
 * changes after it in order. Pure data (no DOM), so it is tested on its own.
 */
export class SeatMap {
  readonly showId: string;
  version = 0;
  state = "open";
  bookedCount = 0;
  heldCount = 0;
  #seats = new Uint8Array(0);

  constructor(showId: string) {
    this.showId = showId;
  }

  get totalSeats(): number {
    return this.#seats.length;
  }

  get freeCount(): number {
    return this.#seats.length - this.bookedCount - this.heldCount;
  }

  /** The state of seat `seat` (1-based); undefined outside the show. */
  seat(seat: number): SeatState | undefined {
    const value = this.#seats[seat - 1];
    return value === undefined ? undefined : STATES[value];
  }

  /** Starts again from a snapshot: free and held runs, every other seat booked. */
  reset(snapshot: SnapshotData): void {
    this.#seats = new Uint8Array(snapshot.totalSeats).fill(BOOKED);
    for (const [first, last] of snapshot.free) this.#seats.fill(FREE, first - 1, last);
    for (const [first, last] of snapshot.held) this.#seats.fill(HELD, first - 1, last);
    this.version = snapshot.version;
    this.state = snapshot.state;
    this.#count();
  }

  /**
   * Applies one change; returns the seats whose state changed (all of them
   * for a resize). A change at or before the current version is ignored (a
   * resumed stream never sends one, but applying it twice would be wrong).
   */
  apply(change: ChangeData): readonly number[] {
    if (change.version <= this.version) return [];
    this.version = change.version;
    switch (change.kind) {
      case "booked":
        return this.#set(change.seats, BOOKED);
      case "held":
        return this.#set(change.seats, HELD);
      case "released":
      case "hold-ended":
        return this.#set(change.seats, FREE);
      case "resized": {
        const total = change.totalSeats ?? this.#seats.length;
        const resized = new Uint8Array(total);
        resized.set(this.#seats.subarray(0, total));
        this.#seats = resized;
        this.#count();
        return Array.from({ length: total }, (_, index) => index + 1);
      }
      case "closed":
        this.state = "closed";
        return [];
    }
  }

  #set(seats: readonly number[], value: number): number[] {
    const changed: number[] = [];
    for (const seat of seats) {
      const old = this.#seats[seat - 1];
      if (old === undefined || old === value) continue;
      this.#seats[seat - 1] = value;
      this.#adjust(old, -1);
      this.#adjust(value, 1);
      changed.push(seat);
    }
    return changed;
  }

  #adjust(value: number, by: number): void {
    if (value === BOOKED) this.bookedCount += by;
    else if (value === HELD) this.heldCount += by;
  }

  #count(): void {
    this.bookedCount = 0;
    this.heldCount = 0;
    for (const value of this.#seats) this.#adjust(value, 1);
  }
}
