import { freeSeats } from "../core/free-seats.js";
import { decideHoldCommand, holdAsOf, newHold, tooManyHolds, type StoredHold } from "../core/hold-rules.js";
import {
  commandFingerprint,
  decodeReplayedOutcome,
  DEFAULT_REQUEST_ID_RETENTION_MS,
  encodeOutcome,
  requestIdReused,
  requestKey,
} from "../core/idempotency.js";
import { checkShow, decideSeatCommand, isHoldLive, type SeatView } from "../core/seat-rules.js";
import type {
  CommandOutcome,
  HoldRecord,
  SeatBooking,
  ShowDefinition,
  SeatStore,
  ShowRecord,
  ShowSnapshot,
  ShowState,
  StoreCommand,
} from "../core/seat-store.js";
import { decideCreate, decideResize } from "../core/show-rules.js";

interface MemorySeat {
  booking: SeatBooking | undefined;
  hold: { readonly holdId: string; readonly expiresAt: number } | undefined;
}

interface MemoryShow {
  readonly id: string;
  readonly displayName: string;
  readonly createdAt: number;
  state: ShowState;
  /** Index = seat number - 1. */
  seats: MemorySeat[];
}

interface RequestRecord {
  readonly fingerprint: string;
  readonly outcome: string;
  readonly at: number;
}

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** How long request ids are remembered. */
  readonly requestIdRetentionMs?: number;
  /** The clock, in ms, that decides hold expiry and request-id ages; tests move it. */
  readonly now?: () => number;
}

const emptySeat = (): MemorySeat => ({ booking: undefined, hold: undefined });

/**
 * Shows, seats and holds in process memory: fast, and gone when the process
 * ends. For tests and throwaway runs only; it is never the default. Its clock
 * (the injected `now`) decides hold expiry.
 */
export class MemoryStore implements SeatStore {
  readonly kind = "memory";
  readonly #shows = new Map<string, MemoryShow>();
  readonly #holds = new Map<string, StoredHold>();
  readonly #requests = new Map<string, RequestRecord>();
  readonly #retentionMs: number;
  readonly #now: () => number;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#retentionMs = options.requestIdRetentionMs ?? DEFAULT_REQUEST_ID_RETENTION_MS;
    this.#now = options.now ?? Date.now;
  }

  async ensureShows(shows: readonly ShowDefinition[]): Promise<ShowRecord[]> {
    this.#assertOpen();
    const now = this.#now();
    return shows.map((show) => {
      let stored = this.#shows.get(show.id);
      if (stored === undefined) {
        stored = {
          id: show.id,
          displayName: show.displayName ?? "",
          createdAt: now,
          state: "open",
          seats: Array.from({ length: show.totalSeats }, emptySeat),
        };
        this.#shows.set(show.id, stored);
      }
      return this.#record(stored, now);
    });
  }

  // Synchronous inside: nothing else runs between deciding and applying.
  async applyBatch(commands: readonly StoreCommand[]): Promise<CommandOutcome[]> {
    this.#assertOpen();
    this.#forgetExpiredRequests();
    return commands.map((command) => this.#apply(command, this.#now()));
  }

  async snapshot(showId: string): Promise<ShowSnapshot | undefined> {
    this.#assertOpen();
    const show = this.#shows.get(showId);
    if (show === undefined) return undefined;
    const now = this.#now();
    const taken: number[] = [];
    let bookedCount = 0;
    let heldCount = 0;
    show.seats.forEach((seat, index) => {
      if (seat.booking !== undefined) bookedCount++;
      else if (isHoldLive(seat.hold, now)) heldCount++;
      else return;
      taken.push(index + 1);
    });
    return { showId, totalSeats: show.seats.length, bookedCount, heldCount, available: freeSeats(show.seats.length, taken) };
  }

  async getShow(showId: string): Promise<ShowRecord | undefined> {
    this.#assertOpen();
    const show = this.#shows.get(showId);
    return show === undefined ? undefined : this.#record(show, this.#now());
  }

  async listShows(afterId: string, limit: number): Promise<ShowRecord[]> {
    this.#assertOpen();
    const now = this.#now();
    return [...this.#shows.keys()]
      .filter((id) => id > afterId)
      .sort()
      .slice(0, limit)
      .map((id) => this.#record(this.#shows.get(id) as MemoryShow, now));
  }

  async getHold(holdId: string): Promise<HoldRecord | undefined> {
    this.#assertOpen();
    const hold = this.#holds.get(holdId);
    return hold === undefined ? undefined : holdAsOf(hold, this.#now());
  }

  async bookings(showId: string): Promise<SeatBooking[]> {
    this.#assertOpen();
    const show = this.#shows.get(showId);
    if (show === undefined) throw new Error(`show "${showId}" is not in the store`);
    return show.seats.flatMap((seat) => (seat.booking === undefined ? [] : [seat.booking]));
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #apply(command: StoreCommand, now: number): CommandOutcome {
    const key = command.requestId === "" ? undefined : requestKey(command.principal, command.requestId);
    const fingerprint = commandFingerprint(command);
    if (key !== undefined) {
      const earlier = this.#requests.get(key);
      if (earlier !== undefined) {
        return earlier.fingerprint === fingerprint ? decodeReplayedOutcome(earlier.outcome) : requestIdReused(command);
      }
    }
    const outcome = this.#decideAndApply(command, now);
    if (key !== undefined) this.#requests.set(key, { fingerprint, outcome: encodeOutcome(outcome), at: now });
    return outcome;
  }

  #decideAndApply(command: StoreCommand, now: number): CommandOutcome {
    switch (command.kind) {
      case "book":
      case "cancel":
      case "hold": {
        const show = this.#shows.get(command.showId);
        const refused = checkShow(command, show === undefined ? undefined : { totalSeats: show.seats.length, state: show.state });
        if (refused !== undefined || show === undefined) return refused ?? { ok: false, reason: "SHOW_NOT_FOUND", seats: [], replayed: false };
        const outcome = decideSeatCommand(command, (seat) => seatView(show.seats[seat - 1]), now);
        if (!outcome.ok) return outcome;
        if (command.kind === "hold") {
          if (this.#liveHoldsOf(command.principal, now) >= command.maxHoldsPerPrincipal) return tooManyHolds();
          const hold = newHold(command, command.seats, now);
          this.#holds.set(hold.holdId, { ...hold, state: "active" });
          for (const seat of command.seats) (show.seats[seat - 1] as MemorySeat).hold = { holdId: hold.holdId, expiresAt: hold.expiresAt };
          return { ...outcome, hold };
        }
        for (const seat of command.seats) {
          const place = show.seats[seat - 1] as MemorySeat;
          place.booking = command.kind === "book" ? { seat, owner: command.principal, requestId: command.requestId } : undefined;
          // A lapsed hold's mark goes when its seat is booked: nothing reads it again.
          if (command.kind === "book") place.hold = undefined;
        }
        return outcome;
      }
      case "confirm":
      case "release":
      case "extend": {
        const hold = this.#holds.get(command.holdId);
        const show = hold === undefined ? undefined : this.#shows.get(hold.showId);
        const outcome = decideHoldCommand(command, hold, show?.state, now);
        if (!outcome.ok || outcome.hold === undefined || show === undefined) return outcome;
        const changed = outcome.hold;
        this.#holds.set(changed.holdId, { ...changed, state: changed.state === "expired" ? "active" : changed.state });
        for (const seat of changed.seats) {
          const place = show.seats[seat - 1] as MemorySeat;
          if (command.kind === "extend") place.hold = { holdId: changed.holdId, expiresAt: changed.expiresAt };
          else place.hold = undefined;
          if (command.kind === "confirm") place.booking = { seat, owner: changed.owner, requestId: command.requestId };
        }
        return outcome;
      }
      case "create-show": {
        const existing = this.#shows.get(command.showId);
        const outcome = decideCreate(command, existing === undefined ? undefined : this.#record(existing, now), now);
        if (outcome.ok) {
          this.#shows.set(command.showId, {
            id: command.showId,
            displayName: command.displayName,
            createdAt: now,
            state: "open",
            seats: Array.from({ length: command.totalSeats }, emptySeat),
          });
        }
        return outcome;
      }
      case "close-show": {
        const show = this.#shows.get(command.showId);
        if (show === undefined) return { ok: false, reason: "SHOW_NOT_FOUND", seats: [], replayed: false };
        show.state = "closed";
        return { ok: true, seats: [], replayed: false, show: this.#record(show, now) };
      }
      case "resize-show": {
        const show = this.#shows.get(command.showId);
        const takenAbove: number[] = [];
        show?.seats.forEach((seat, index) => {
          if (index + 1 > command.totalSeats && (seat.booking !== undefined || isHoldLive(seat.hold, now))) takenAbove.push(index + 1);
        });
        const outcome = decideResize(command, show === undefined ? undefined : this.#record(show, now), takenAbove);
        if (!outcome.ok || show === undefined) return outcome;
        show.seats =
          command.totalSeats <= show.seats.length
            ? show.seats.slice(0, command.totalSeats)
            : [...show.seats, ...Array.from({ length: command.totalSeats - show.seats.length }, emptySeat)];
        return { ...outcome, show: this.#record(show, now) };
      }
    }
  }

  #liveHoldsOf(principal: string, now: number): number {
    let live = 0;
    for (const hold of this.#holds.values()) if (hold.owner === principal && holdAsOf(hold, now).state === "active") live++;
    return live;
  }

  #record(show: MemoryShow, now: number): ShowRecord {
    let bookedCount = 0;
    let heldCount = 0;
    for (const seat of show.seats) {
      if (seat.booking !== undefined) bookedCount++;
      else if (isHoldLive(seat.hold, now)) heldCount++;
    }
    return {
      id: show.id,
      displayName: show.displayName,
      totalSeats: show.seats.length,
      state: show.state,
      createdAt: show.createdAt,
      bookedCount,
      heldCount,
    };
  }

  #forgetExpiredRequests(): void {
    const oldest = this.#now() - this.#retentionMs;
    // Map iteration follows insertion order, which is time order here.
    for (const [key, record] of this.#requests) {
      if (record.at >= oldest) break;
      this.#requests.delete(key);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("the memory store is closed");
  }
}

function seatView(seat: MemorySeat | undefined): SeatView | undefined {
  return seat === undefined ? undefined : { owner: seat.booking?.owner, hold: seat.hold };
}
