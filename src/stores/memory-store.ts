import {
  commandFingerprint,
  decideCommand,
  decodeReplayedOutcome,
  encodeOutcome,
  requestIdReused,
} from "../core/seat-rules.js";
import { DEFAULT_REQUEST_ID_RETENTION_MS, requestKey } from "../core/idempotency.js";
import type {
  CommandOutcome,
  SeatBooking,
  SeatCommand,
  SeatStore,
  ShowDefinition,
  ShowSnapshot,
} from "../core/seat-store.js";

interface MemoryShow {
  readonly totalSeats: number;
  /** Index = seat number - 1; undefined = free. */
  readonly owners: (SeatBooking | undefined)[];
  bookedCount: number;
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
  /** The clock, in ms; tests move it. */
  readonly now?: () => number;
}

/**
 * Seats in process memory: fast, and gone when the process ends. For tests
 * and throwaway runs only; it is never the default.
 */
export class MemoryStore implements SeatStore {
  readonly kind = "memory";
  readonly #shows = new Map<string, MemoryShow>();
  readonly #requests = new Map<string, RequestRecord>();
  readonly #retentionMs: number;
  readonly #now: () => number;
  #closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.#retentionMs = options.requestIdRetentionMs ?? DEFAULT_REQUEST_ID_RETENTION_MS;
    this.#now = options.now ?? Date.now;
  }

  async ensureShows(shows: readonly ShowDefinition[]): Promise<void> {
    this.#assertOpen();
    for (const show of shows) {
      const existing = this.#shows.get(show.id);
      if (existing === undefined) {
        this.#shows.set(show.id, {
          totalSeats: show.totalSeats,
          owners: new Array<SeatBooking | undefined>(show.totalSeats).fill(undefined),
          bookedCount: 0,
        });
      } else if (existing.totalSeats !== show.totalSeats) {
        throw new Error(
          `show "${show.id}" exists with ${existing.totalSeats} seats, configured with ${show.totalSeats}`,
        );
      }
    }
  }

  // Synchronous inside: nothing else runs between deciding and applying.
  async applyBatch(commands: readonly SeatCommand[]): Promise<CommandOutcome[]> {
    this.#assertOpen();
    this.#forgetExpiredRequests();
    return commands.map((command) => this.#apply(command));
  }

  async snapshot(showId: string): Promise<ShowSnapshot> {
    const show = this.#show(showId);
    const available: number[] = [];
    const owners = show.owners;
    for (let index = 0; index < owners.length; index++) if (owners[index] === undefined) available.push(index + 1);
    return { showId, totalSeats: show.totalSeats, bookedCount: show.bookedCount, available };
  }

  async bookings(showId: string): Promise<SeatBooking[]> {
    return this.#show(showId).owners.filter((booking) => booking !== undefined);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #apply(command: SeatCommand): CommandOutcome {
    const key = command.requestId === "" ? undefined : requestKey(command.principal, command.requestId);
    const fingerprint = commandFingerprint(command);
    if (key !== undefined) {
      const earlier = this.#requests.get(key);
      if (earlier !== undefined) {
        return earlier.fingerprint === fingerprint
          ? decodeReplayedOutcome(earlier.outcome)
          : requestIdReused(command);
      }
    }
    const show = this.#show(command.showId);
    const outcome = decideCommand(command, (seat) => show.owners[seat - 1]?.owner);
    if (outcome.ok) {
      for (const seat of command.seats) {
        show.owners[seat - 1] =
          command.kind === "book"
            ? { seat, owner: command.principal, requestId: command.requestId }
            : undefined;
      }
      show.bookedCount += command.kind === "book" ? command.seats.length : -command.seats.length;
    }
    if (key !== undefined) {
      this.#requests.set(key, { fingerprint, outcome: encodeOutcome(outcome), at: this.#now() });
    }
    return outcome;
  }

  #forgetExpiredRequests(): void {
    const oldest = this.#now() - this.#retentionMs;
    // Map iteration follows insertion order, which is time order here.
    for (const [key, record] of this.#requests) {
      if (record.at >= oldest) break;
      this.#requests.delete(key);
    }
  }

  #show(showId: string): MemoryShow {
    this.#assertOpen();
    const show = this.#shows.get(showId);
    if (show === undefined) throw new Error(`show "${showId}" is not in the store`);
    return show;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("the memory store is closed");
  }
}
