import { status } from "@grpc/grpc-js";
import { isBookingError, type BookingClient } from "../../client/index.js";

/** One worker of a workload: a principal's client, and the seats it holds. */
export interface Worker {
  readonly id: string;
  readonly principal: string;
  client: BookingClient;
}

/** An operation whose outcome the client never learned (the server died). */
export interface UnknownOutcome {
  readonly worker: Worker;
  readonly kind: "book" | "cancel" | "hold" | "confirm";
  readonly seats: number[];
  readonly requestId: string;
  /** For a confirm: the hold it confirms. */
  readonly holdId?: string;
}

/** A hold a worker made (acknowledged), and whether its confirmation was acknowledged. */
export interface LedgerHold {
  readonly worker: Worker;
  readonly holdId: string;
  readonly seats: readonly number[];
  confirmed: boolean;
}

/**
 * What clients know was committed: seat → the worker holding it, built only
 * from acknowledged calls. Unknown outcomes are kept aside until a retry with
 * their request id settles them.
 */
export class BookingLedger {
  readonly holder = new Map<number, Worker>();
  readonly unknown: UnknownOutcome[] = [];
  /** Every hold acknowledged to a worker, by id. */
  readonly holds = new Map<string, LedgerHold>();
  /** Seats whose cancel a worker has sent but not yet seen acknowledged. */
  private readonly cancelling = new Map<Worker, Set<number>>();
  acknowledged = 0;
  refused = 0;
  private sequence = 0;

  constructor(readonly showId: string, readonly totalSeats: number) {}

  /** Records a committed change. */
  apply(worker: Worker, kind: "book" | "cancel", seats: readonly number[]): void {
    this.acknowledged++;
    for (const seat of seats) {
      if (kind === "book") {
        const earlier = this.holder.get(seat);
        // Replies travel on separate connections: a booking of a freed seat may
        // be acknowledged before the cancel that freed it. Anything else is a
        // double booking.
        if (earlier !== undefined && !this.cancelling.get(earlier)?.has(seat)) {
          throw new Error(`seat ${seat} acknowledged to ${worker.id} while ${earlier.id} holds it`);
        }
        this.holder.set(seat, worker);
      } else if (this.holder.get(seat) === worker) {
        // A cancel's acknowledgement may arrive after another worker's
        // booking of the freed seat; only the holder's entry is removed.
        this.holder.delete(seat);
      }
    }
  }

  /**
   * One random operation for `worker`: book 1–4 random seats, or cancel some
   * of the seats it holds. Acknowledged outcomes update the ledger; refusals
   * must carry an expected code; a lost connection becomes an unknown outcome.
   */
  async step(worker: Worker, random: () => number): Promise<void> {
    if (random() < 0.25) return this.#holdAndConfirm(worker, random);
    const held = [...this.holder].filter(([, holder]) => holder === worker).map(([seat]) => seat);
    const cancel = held.length > 0 && random() < 0.4;
    const seats = cancel
      ? held.filter(() => random() < 0.6).slice(0, 4)
      : [...new Set(Array.from({ length: 1 + Math.floor(random() * 4) }, () => 1 + Math.floor(random() * this.totalSeats)))];
    if (seats.length === 0) return;
    seats.sort((a, b) => a - b);
    const kind = cancel ? "cancel" : "book";
    const requestId = `${worker.id}-${++this.sequence}-${Math.floor(random() * 1e9)}`;
    const request = { showId: this.showId, seats, requestId };
    if (kind === "cancel") this.cancelling.set(worker, new Set(seats));
    try {
      const response = kind === "book" ? await worker.client.bookSeats(request) : await worker.client.cancelSeats(request);
      this.apply(worker, kind, response.seats);
      if (kind === "cancel") this.cancelling.delete(worker);
    } catch (error) {
      if (isBookingError(error) && error.code === status.ALREADY_EXISTS && kind === "book") {
        // Booked by someone, or held by a live hold (SEAT_HELD): both are refusals.
        this.refused++;
        return;
      }
      if (isShed(error)) {
        // Refused at admission (the server was behind its work): nothing was applied.
        if (kind === "cancel") this.cancelling.delete(worker);
        this.refused++;
        return;
      }
      if (isBookingError(error) && (error.code === status.UNAVAILABLE || error.code === status.DEADLINE_EXCEEDED || error.code === status.CANCELLED || error.code === status.INTERNAL && /RST_STREAM|stream|connection/i.test(error.message))) {
        this.unknown.push({ worker, kind, seats, requestId });
        return;
      }
      throw error;
    }
  }

  /**
   * Settles every unknown outcome by repeating it with its request id: the
   * server either replays what it committed or performs it now.
   */
  async settleUnknown(): Promise<number> {
    const pending = this.unknown.splice(0);
    for (const operation of pending) {
      if (operation.kind === "hold" || operation.kind === "confirm") {
        await this.#settleHoldOperation(operation);
        continue;
      }
      const request = { showId: this.showId, seats: operation.seats, requestId: operation.requestId };
      try {
        const response =
          operation.kind === "book"
            ? await operation.worker.client.bookSeats(request)
            : await operation.worker.client.cancelSeats(request);
        this.apply(operation.worker, operation.kind, response.seats);
        if (operation.kind === "cancel") this.cancelling.delete(operation.worker);
      } catch (error) {
        if (isBookingError(error) && error.code === status.ALREADY_EXISTS) {
          this.refused++;
          continue;
        }
        throw error;
      }
    }
    // A hold whose confirmation never ran (the server died between the two) is confirmed now.
    for (const hold of this.holds.values()) {
      if (!hold.confirmed) await this.#confirm(hold, `${hold.holdId}-settle`);
    }
    return pending.length;
  }

  /** Holds 1-3 free-looking seats, then confirms the hold: the ticketing workflow under crashes. */
  async #holdAndConfirm(worker: Worker, random: () => number): Promise<void> {
    const seats = [...new Set(Array.from({ length: 1 + Math.floor(random() * 3) }, () => 1 + Math.floor(random() * this.totalSeats)))].sort(
      (a, b) => a - b,
    );
    const requestId = `${worker.id}-hold-${++this.sequence}-${Math.floor(random() * 1e9)}`;
    let holdId: string;
    try {
      const { hold } = await worker.client.holdSeats({ showId: this.showId, seats, requestId, ttlMs: 10 * 60_000 });
      holdId = hold?.holdId ?? "";
      this.acknowledged++;
      this.holds.set(holdId, { worker, holdId, seats, confirmed: false });
    } catch (error) {
      if ((isBookingError(error) && error.code === status.ALREADY_EXISTS) || isShed(error)) {
        this.refused++;
        return;
      }
      if (isLostAnswer(error)) {
        this.unknown.push({ worker, kind: "hold", seats, requestId });
        return;
      }
      throw error;
    }
    const hold = this.holds.get(holdId);
    if (hold !== undefined) await this.#confirm(hold, `${requestId}-confirm`, true);
  }

  /** Confirms a known hold; a lost answer is kept for settling when `mayBeLost`. */
  async #confirm(hold: LedgerHold, requestId: string, mayBeLost = false): Promise<void> {
    try {
      const confirmed = await hold.worker.client.confirmHold({ holdId: hold.holdId, requestId });
      hold.confirmed = true;
      this.apply(hold.worker, "book", confirmed.seats);
    } catch (error) {
      if (mayBeLost && (isLostAnswer(error) || isShed(error))) {
        this.unknown.push({ worker: hold.worker, kind: "confirm", seats: [...hold.seats], requestId, holdId: hold.holdId });
        return;
      }
      throw error;
    }
  }

  /** Repeats a hold (same request id: the same hold comes back) or a confirm whose answer was lost. */
  async #settleHoldOperation(operation: UnknownOutcome): Promise<void> {
    if (operation.kind === "confirm") {
      const hold = this.holds.get(operation.holdId ?? "");
      if (hold !== undefined) await this.#confirm(hold, operation.requestId);
      return;
    }
    try {
      const { hold } = await operation.worker.client.holdSeats({
        showId: this.showId,
        seats: operation.seats,
        requestId: operation.requestId,
        ttlMs: 10 * 60_000,
      });
      const holdId = hold?.holdId ?? "";
      this.acknowledged++;
      this.holds.set(holdId, { worker: operation.worker, holdId, seats: operation.seats, confirmed: false });
    } catch (error) {
      if (isBookingError(error) && error.code === status.ALREADY_EXISTS) {
        this.refused++;
        return;
      }
      throw error;
    }
  }
}

/** Turned away by the server's admission control (RESOURCE_EXHAUSTED): nothing was applied. */
function isShed(error: unknown): boolean {
  return isBookingError(error) && error.code === status.RESOURCE_EXHAUSTED;
}

/** The call may or may not have been applied: the server went away. */
function isLostAnswer(error: unknown): boolean {
  return (
    isBookingError(error) &&
    (error.code === status.UNAVAILABLE ||
      error.code === status.DEADLINE_EXCEEDED ||
      error.code === status.CANCELLED ||
      (error.code === status.INTERNAL && /RST_STREAM|stream|connection/i.test(error.message)))
  );
}

/** A small deterministic PRNG (mulberry32), so a failing run can be repeated. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
