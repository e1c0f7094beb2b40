import { runsOf, type SeatRun, type ShowStateName, type WatchChange, type WatchSnapshot } from "./watch-updates.js";

/** Where a seat stands at the map's version. */
export type SeatStatus = "free" | "held" | "booked";

/** Why a {@link SeatMap} refused a snapshot or changes. */
export type SeatMapErrorReason =
  /** The changes do not start at version + 1, or skip a version: something was missed. */
  | "VERSION_GAP"
  /** The changes start at or before the map's version: they were applied already. */
  | "STALE_VERSION"
  /** The snapshot or changes are of another show. */
  | "SHOW_MISMATCH"
  /** A change names seat 0 or a seat beyond the show. */
  | "SEAT_OUT_OF_RANGE"
  /** A snapshot's counts disagree with its seats. */
  | "INCONSISTENT_SNAPSHOT";

/**
 * A snapshot or changes that a {@link SeatMap} cannot apply. The map is left
 * exactly as it was: a refused batch changes nothing.
 */
export class SeatMapError extends Error {
  override readonly name = "SeatMapError";
  readonly reason: SeatMapErrorReason;
  /** For VERSION_GAP and STALE_VERSION: the version the next change should have had. */
  readonly expectedVersion: bigint | undefined;
  /** For VERSION_GAP and STALE_VERSION: the version it had. */
  readonly receivedVersion: bigint | undefined;

  constructor(reason: SeatMapErrorReason, message: string, versions: { expected?: bigint; received?: bigint } = {}) {
    super(message);
    this.reason = reason;
    this.expectedVersion = versions.expected;
    this.receivedVersion = versions.received;
  }
}

/** True for a {@link SeatMapError}, of this copy of the SDK or another (checked by shape). */
export function isSeatMapError(error: unknown): error is SeatMapError {
  return error instanceof Error && error.name === "SeatMapError" && typeof (error as Partial<SeatMapError>).reason === "string";
}

const FREE = 0;
const HELD = 1;
const BOOKED = 2;
const STATUS_NAMES: readonly SeatStatus[] = ["free", "held", "booked"];

/**
 * A show's seats at one version, built from a WatchAvailability snapshot and
 * kept current by applying its changes in version order; what an app renders
 * a seat map from without writing merge logic.
 *
 * Applying is strict: changes must continue at exactly version + 1 with no
 * gaps (else a {@link SeatMapError}, and nothing is applied), so a map is
 * never silently wrong. Applying the changes after a snapshot at V gives what
 * ShowAvailable answers at each later version.
 *
 * One byte per seat; reading a list of seats walks the whole show.
 */
export class SeatMap {
  #showId: string;
  #version: bigint;
  #state: ShowStateName;
  #totalSeats: number;
  /** Index = seat number (0 unused). */
  #seats: Uint8Array;
  #heldCount: number;
  #bookedCount: number;

  private constructor(snapshot: WatchSnapshot) {
    const built = SeatMap.#build(snapshot);
    this.#showId = snapshot.showId;
    this.#version = snapshot.version;
    this.#state = snapshot.state;
    this.#totalSeats = snapshot.totalSeats;
    this.#seats = built.seats;
    this.#heldCount = built.held;
    this.#bookedCount = built.booked;
  }

  /** A map at the snapshot's version. Throws a SeatMapError when its counts disagree with its seats. */
  static fromSnapshot(snapshot: WatchSnapshot): SeatMap {
    return new SeatMap(snapshot);
  }

  /** The show's id. */
  get showId(): string {
    return this.#showId;
  }

  /** The version this map describes. */
  get version(): bigint {
    return this.#version;
  }

  /** Whether the show sells seats at this version. */
  get state(): ShowStateName {
    return this.#state;
  }

  /** Seats are numbered 1 to totalSeats. */
  get totalSeats(): number {
    return this.#totalSeats;
  }

  get freeCount(): number {
    return this.#totalSeats - this.#heldCount - this.#bookedCount;
  }

  get heldCount(): number {
    return this.#heldCount;
  }

  get bookedCount(): number {
    return this.#bookedCount;
  }

  /** A seat's status, or undefined for seat 0 and seats beyond the show. */
  statusOf(seat: number): SeatStatus | undefined {
    if (!Number.isInteger(seat) || seat < 1 || seat > this.#totalSeats) return undefined;
    return STATUS_NAMES[this.#seats[seat] ?? FREE];
  }

  /** The seats with `status`, ascending. */
  seatsWith(status: SeatStatus): number[] {
    const wanted = STATUS_NAMES.indexOf(status);
    const seats: number[] = [];
    for (let seat = 1; seat <= this.#totalSeats; seat++) if (this.#seats[seat] === wanted) seats.push(seat);
    return seats;
  }

  /** The free seats, ascending (what ShowAvailable lists as available_seats). */
  freeSeats(): number[] {
    return this.seatsWith("free");
  }

  /** The free seats as ascending, non-adjacent runs (ShowAvailable's free_ranges). */
  freeRanges(): SeatRun[] {
    return runsOf(this.freeSeats());
  }

  /**
   * Replaces the whole map with a snapshot (a resumed watch whose version the
   * server's change log no longer reached gets a fresh one). The show must be
   * the same.
   */
  applySnapshot(snapshot: WatchSnapshot): void {
    if (snapshot.showId !== this.#showId) {
      throw new SeatMapError("SHOW_MISMATCH", `a snapshot of show "${snapshot.showId}" cannot replace the map of show "${this.#showId}"`);
    }
    const built = SeatMap.#build(snapshot);
    this.#version = snapshot.version;
    this.#state = snapshot.state;
    this.#totalSeats = snapshot.totalSeats;
    this.#seats = built.seats;
    this.#heldCount = built.held;
    this.#bookedCount = built.booked;
  }

  /**
   * Applies changes that follow the map's version: the first must be
   * version + 1 and each next one + 1 again. On any problem nothing is
   * applied and a {@link SeatMapError} says why. An empty list is a no-op.
   */
  applyChanges(changes: readonly WatchChange[]): void {
    this.#check(changes);
    for (const change of changes) this.#applyOne(change);
  }

  /** Applies a snapshot or a list of changes, as {@link applySnapshot} and {@link applyChanges} do. */
  apply(update: WatchSnapshot | readonly WatchChange[]): void {
    if (isChangeList(update)) this.applyChanges(update);
    else this.applySnapshot(update);
  }

  /** Checks a batch completely before any of it is applied. */
  #check(changes: readonly WatchChange[]): void {
    let expected = this.#version + 1n;
    let total = this.#totalSeats;
    for (const change of changes) {
      if (change.version !== expected) {
        const gap = change.version > expected;
        throw new SeatMapError(
          gap ? "VERSION_GAP" : "STALE_VERSION",
          gap
            ? `show "${this.#showId}": expected the change of version ${expected}, got ${change.version} (versions in between were missed)`
            : `show "${this.#showId}": the change of version ${change.version} is at or before version ${expected - 1n}, already applied`,
          { expected, received: change.version },
        );
      }
      for (const seat of change.seats) {
        if (!Number.isInteger(seat) || seat < 1 || seat > total) {
          throw new SeatMapError(
            "SEAT_OUT_OF_RANGE",
            `show "${this.#showId}" v${change.version}: seat ${seat} is outside seats 1-${total}`,
          );
        }
      }
      if (change.kind === "resized") total = change.totalSeats ?? total;
      expected++;
    }
  }

  #applyOne(change: WatchChange): void {
    switch (change.kind) {
      case "booked":
        this.#mark(change.seats, BOOKED);
        break;
      case "held":
        this.#mark(change.seats, HELD);
        break;
      case "released":
      case "hold-ended":
        this.#mark(change.seats, FREE);
        break;
      case "resized":
        this.#resize(change.totalSeats ?? this.#totalSeats);
        break;
      case "closed":
        this.#state = "closed";
        break;
    }
    this.#version = change.version;
  }

  #mark(seats: readonly number[], status: number): void {
    for (const seat of seats) {
      this.#count(this.#seats[seat] ?? FREE, -1);
      this.#seats[seat] = status;
      this.#count(status, +1);
    }
  }

  #count(status: number, delta: number): void {
    if (status === HELD) this.#heldCount += delta;
    else if (status === BOOKED) this.#bookedCount += delta;
  }

  /** Seats gained are free; seats lost were free (the server refuses to drop a taken seat). */
  #resize(totalSeats: number): void {
    for (let seat = totalSeats + 1; seat <= this.#totalSeats; seat++) this.#count(this.#seats[seat] ?? FREE, -1);
    const seats = new Uint8Array(totalSeats + 1);
    seats.set(this.#seats.subarray(0, Math.min(this.#seats.length, totalSeats + 1)));
    this.#seats = seats;
    this.#totalSeats = totalSeats;
  }

  static #build(snapshot: WatchSnapshot): { seats: Uint8Array; held: number; booked: number } {
    const total = snapshot.totalSeats;
    const seats = new Uint8Array(total + 1).fill(BOOKED);
    let free = 0;
    for (const { first, last } of snapshot.freeRanges) {
      if (first < 1 || last > total || last < first) {
        throw new SeatMapError("INCONSISTENT_SNAPSHOT", `show "${snapshot.showId}" v${snapshot.version}: free seats ${first}-${last} are outside seats 1-${total}`);
      }
      seats.fill(FREE, first, last + 1);
      free += last - first + 1;
    }
    let held = 0;
    for (const seat of snapshot.heldSeats) {
      if (seat < 1 || seat > total || seats[seat] !== BOOKED) {
        throw new SeatMapError("INCONSISTENT_SNAPSHOT", `show "${snapshot.showId}" v${snapshot.version}: held seat ${seat} is outside the show or also free`);
      }
      seats[seat] = HELD;
      held++;
    }
    const booked = total - free - held;
    if (booked !== snapshot.bookedCount || held !== snapshot.heldCount) {
      throw new SeatMapError(
        "INCONSISTENT_SNAPSHOT",
        `show "${snapshot.showId}" v${snapshot.version}: ${free} free and ${held} held of ${total} seats leave ${booked} booked, ` +
          `but the snapshot counts ${snapshot.bookedCount} booked and ${snapshot.heldCount} held`,
      );
    }
    seats[0] = FREE;
    return { seats, held, booked };
  }
}

function isChangeList(update: WatchSnapshot | readonly WatchChange[]): update is readonly WatchChange[] {
  return Array.isArray(update);
}
