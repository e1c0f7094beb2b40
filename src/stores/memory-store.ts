import { DEFAULT_CHANGE_LOG_RETENTION, readChangeLog, trimChangeLog } from "../core/change-log.js";
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
import { checkShow, decideSeatCommand, type SeatView } from "../core/seat-rules.js";
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
import type { ChangeLogRead, ChangeLogRetention, ShowChange, UnnumberedChange } from "../core/show-changes.js";
import { decideCreate, decideResize } from "../core/show-rules.js";
import { MemoryRequestRecords } from "./memory-request-records.js";

interface MemorySeat {
  booking: SeatBooking | undefined;
  /** The hold on the seat whose end is not recorded yet (it may have lapsed by the clock). */
  hold: { readonly holdId: string; readonly expiresAt: number } | undefined;
}

interface MemoryShow {
  readonly id: string;
  readonly displayName: string;
  readonly createdAt: number;
  state: ShowState;
  /** Index = seat number - 1. */
  seats: MemorySeat[];
  version: number;
  /** The retained tail of the change log, ascending by version. */
  readonly changes: ShowChange[];
}

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** How long request ids are remembered. */
  readonly requestIdRetentionMs?: number;
  /** The clock, in ms, that decides hold expiry and request-id ages; tests move it. */
  readonly now?: () => number;
  /** How much of each show's change log is kept. */
  readonly changeLog?: ChangeLogRetention;
}

const emptySeat = (): MemorySeat => ({ booking: undefined, hold: undefined });

/**
 * Shows, seats, holds and change logs in process memory: fast, and gone when
 * the process ends. For tests and throwaway runs only; it is never the
 * default. Its clock (the injected `now`) decides hold expiry.
 */
export class MemoryStore implements SeatStore {
  readonly kind = "memory";
  readonly #shows = new Map<string, MemoryShow>();
  readonly #holds = new Map<string, StoredHold>();
  readonly #requests = new MemoryRequestRecords();
  readonly #listeners = new Set<(showId: string, version: number) => void>();
  /** The shows the current batch changed, and their latest versions. */
  readonly #touched = new Map<string, number>();
  readonly #retentionMs: number;
  readonly #changeLog: ChangeLogRetention;
  readonly #now: () => number;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#retentionMs = options.requestIdRetentionMs ?? DEFAULT_REQUEST_ID_RETENTION_MS;
    this.#changeLog = options.changeLog ?? DEFAULT_CHANGE_LOG_RETENTION;
    this.#now = options.now ?? Date.now;
  }

  async ensureShows(shows: readonly ShowDefinition[]): Promise<ShowRecord[]> {
    this.#assertOpen();
    const now = this.#now();
    return shows.map((show) => {
      let stored = this.#shows.get(show.id);
      if (stored === undefined) {
        stored = this.#newShow(show.id, show.displayName ?? "", show.totalSeats, now);
        this.#shows.set(show.id, stored);
      }
      return this.#record(stored, now);
    });
  }

  // Synchronous inside: nothing else runs between deciding and applying.
  async applyBatch(commands: readonly StoreCommand[]): Promise<CommandOutcome[]> {
    this.#assertOpen();
    this.#forgetExpiredRequests();
    const now = this.#now();
    this.#touched.clear();
    const outcomes = commands.map((command) => this.#apply(command, now));
    for (const [showId, version] of this.#touched) {
      const show = this.#shows.get(showId);
      if (show !== undefined) trimChangeLog(show.changes, this.#changeLog, now);
      for (const listener of this.#listeners) listener(showId, version);
    }
    return outcomes;
  }

  async snapshot(showId: string): Promise<ShowSnapshot | undefined> {
    this.#assertOpen();
    const show = this.#shows.get(showId);
    if (show === undefined) return undefined;
    const taken: number[] = [];
    const held: number[] = [];
    let bookedCount = 0;
    show.seats.forEach((seat, index) => {
      if (seat.booking !== undefined) bookedCount++;
      else if (seat.hold !== undefined) held.push(index + 1);
      else return;
      taken.push(index + 1);
    });
    return {
      showId,
      totalSeats: show.seats.length,
      bookedCount,
      heldCount: held.length,
      available: freeSeats(show.seats.length, taken),
      version: show.version,
      held,
      state: show.state,
    };
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

  async changesSince(showId: string, afterVersion: number, limit: number): Promise<ChangeLogRead> {
    this.#assertOpen();
    const show = this.#shows.get(showId);
    if (show === undefined) return { kind: "unknown-show" };
    return readChangeLog(show.changes, show.version, afterVersion, limit);
  }

  onCommit(listener: (showId: string, version: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async lapsedHoldShows(): Promise<string[]> {
    this.#assertOpen();
    const now = this.#now();
    const shows = new Set<string>();
    for (const hold of this.#holds.values()) if (hold.state === "active" && hold.expiresAt <= now) shows.add(hold.showId);
    return [...shows];
  }

  async bookings(showId: string): Promise<SeatBooking[]> {
    this.#assertOpen();
    const show = this.#shows.get(showId);
    if (show === undefined) throw new Error(`show "${showId}" is not in the store`);
    return show.seats.flatMap((seat) => (seat.booking === undefined ? [] : [seat.booking]));
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
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
    if (key !== undefined) this.#requests.remember(key, now, fingerprint, encodeOutcome(outcome));
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
        if (command.kind === "hold" && this.#liveHoldsOf(command.principal, now) >= command.maxHoldsPerPrincipal) return tooManyHolds();
        const changes: UnnumberedChange[] = command.kind === "cancel" ? [] : this.#endLapsedHolds(show, command.seats);
        if (command.kind === "hold") {
          const hold = newHold(command, command.seats, now);
          this.#holds.set(hold.holdId, hold);
          for (const seat of command.seats) (show.seats[seat - 1] as MemorySeat).hold = { holdId: hold.holdId, expiresAt: hold.expiresAt };
          changes.push({ showId: show.id, kind: "held", seats: command.seats });
          this.#commit(show, changes, now);
          return { ...outcome, hold };
        }
        for (const seat of command.seats) {
          const place = show.seats[seat - 1] as MemorySeat;
          place.booking = command.kind === "book" ? { seat, owner: command.principal, requestId: command.requestId } : undefined;
        }
        changes.push({ showId: show.id, kind: command.kind === "book" ? "booked" : "released", seats: command.seats });
        this.#commit(show, changes, now);
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
        this.#holds.set(changed.holdId, changed);
        for (const seat of changed.seats) {
          const place = show.seats[seat - 1] as MemorySeat;
          if (command.kind === "extend") place.hold = { holdId: changed.holdId, expiresAt: changed.expiresAt };
          else place.hold = undefined;
          if (command.kind === "confirm") place.booking = { seat, owner: changed.owner, requestId: command.requestId };
        }
        // An extension changes no seat's availability: it takes no version.
        if (command.kind === "extend") return outcome;
        const kind = command.kind === "confirm" ? "booked" : "hold-ended";
        this.#commit(show, [{ showId: show.id, kind, seats: changed.seats }], now);
        return outcome;
      }
      case "create-show": {
        const existing = this.#shows.get(command.showId);
        const outcome = decideCreate(command, existing === undefined ? undefined : this.#record(existing, now), now);
        if (outcome.ok) this.#shows.set(command.showId, this.#newShow(command.showId, command.displayName, command.totalSeats, now));
        return outcome;
      }
      case "close-show": {
        const show = this.#shows.get(command.showId);
        if (show === undefined) return { ok: false, reason: "SHOW_NOT_FOUND", seats: [], replayed: false };
        if (show.state === "closed") return { ok: true, seats: [], replayed: false, show: this.#record(show, now) };
        show.state = "closed";
        this.#commit(show, [{ showId: show.id, kind: "closed", seats: [] }], now);
        return { ok: true, seats: [], replayed: false, show: this.#record(show, now) };
      }
      case "resize-show": {
        const show = this.#shows.get(command.showId);
        const takenAbove: number[] = [];
        show?.seats.forEach((seat, index) => {
          const live = seat.hold !== undefined && seat.hold.expiresAt > now;
          if (index + 1 > command.totalSeats && (seat.booking !== undefined || live)) takenAbove.push(index + 1);
        });
        const outcome = decideResize(command, show === undefined ? undefined : this.#record(show, now), takenAbove);
        if (!outcome.ok || show === undefined) return outcome;
        const dropped = show.seats.slice(command.totalSeats).flatMap((_, index) => [command.totalSeats + index + 1]);
        const changes = this.#endLapsedHolds(show, dropped);
        show.seats =
          command.totalSeats <= show.seats.length
            ? show.seats.slice(0, command.totalSeats)
            : [...show.seats, ...Array.from({ length: command.totalSeats - show.seats.length }, emptySeat)];
        changes.push({ showId: show.id, kind: "resized", seats: [], totalSeats: command.totalSeats });
        this.#commit(show, changes, now);
        return { ...outcome, show: this.#record(show, now) };
      }
      case "expire-holds": {
        const show = this.#shows.get(command.showId);
        if (show === undefined) return { ok: true, seats: [], replayed: false, endedHolds: 0 };
        const lapsed = [...this.#holds.values()].filter((hold) => hold.showId === show.id && hold.state === "active" && hold.expiresAt <= now);
        const changes = this.#endLapsedHolds(show, lapsed.flatMap((hold) => hold.seats));
        this.#commit(show, changes, now);
        return { ok: true, seats: [], replayed: false, endedHolds: changes.length };
      }
    }
  }

  /**
   * Records the end of every lapsed hold that marks one of `seats` (all of
   * each such hold's seats are freed): the "hold-ended" changes a request
   * that takes those seats commits before its own.
   */
  #endLapsedHolds(show: MemoryShow, seats: readonly number[]): UnnumberedChange[] {
    const ended = new Set<string>();
    for (const seat of seats) {
      const mark = show.seats[seat - 1]?.hold;
      if (mark !== undefined) ended.add(mark.holdId);
    }
    const changes: UnnumberedChange[] = [];
    for (const holdId of [...ended].sort()) {
      const hold = this.#holds.get(holdId);
      if (hold === undefined) continue;
      this.#holds.set(holdId, { ...hold, state: "expired" });
      for (const seat of hold.seats) {
        const place = show.seats[seat - 1];
        if (place?.hold?.holdId === holdId) place.hold = undefined;
      }
      changes.push({ showId: show.id, kind: "hold-ended", seats: hold.seats });
    }
    return changes;
  }

  /** Numbers changes with the show's next versions and appends them to its log. */
  #commit(show: MemoryShow, changes: readonly UnnumberedChange[], now: number): void {
    if (changes.length === 0) return;
    for (const change of changes) {
      // Written out, not spread: one object shape for every entry, built without a property walk.
      const numbered: ShowChange =
        change.totalSeats === undefined
          ? { showId: change.showId, version: ++show.version, kind: change.kind, seats: change.seats, at: now }
          : { showId: change.showId, version: ++show.version, kind: change.kind, seats: change.seats, totalSeats: change.totalSeats, at: now };
      show.changes.push(numbered);
    }
    this.#touched.set(show.id, show.version);
  }

  #newShow(id: string, displayName: string, totalSeats: number, now: number): MemoryShow {
    return { id, displayName, createdAt: now, state: "open", seats: Array.from({ length: totalSeats }, emptySeat), version: 0, changes: [] };
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
      else if (seat.hold !== undefined) heldCount++;
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
    this.#requests.forgetBefore(this.#now() - this.#retentionMs);
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("the memory store is closed");
  }
}

function seatView(seat: MemorySeat | undefined): SeatView | undefined {
  return seat === undefined ? undefined : { owner: seat.booking?.owner, hold: seat.hold };
}
