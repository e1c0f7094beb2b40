import { status } from "@grpc/grpc-js";

/** A request as the fuzzers generate it, for any of the three methods. */
export interface ModelRequest {
  readonly method: "bookSeats" | "cancelSeats" | "showAvailable";
  readonly principal: string;
  readonly showId: string;
  /** Ignored by showAvailable. */
  readonly seats: readonly number[];
  /** Ignored by showAvailable. */
  readonly requestId: string;
  /** showAvailable only: the AvailabilityForm number, when the request set one. */
  readonly form?: number;
}

/** What the contract says the call must answer. */
export interface ModelAnswer {
  readonly code: status;
  /** The resolved show id, for OK answers. */
  readonly showId?: string;
  /** For OK changes: the seats, ascending. */
  readonly seats?: readonly number[];
  /** For OK changes: whether this repeats an earlier answer. */
  readonly replayed?: boolean;
  /** For OK showAvailable: the free seats, ascending. */
  readonly available?: readonly number[];
}

/** The service configuration the model mirrors. */
export interface ModelConfig {
  readonly shows: readonly { readonly id: string; readonly totalSeats: number }[];
  readonly defaultShowId: string;
  readonly maxSeatsPerRequest: number;
  readonly admins: readonly string[];
  /** The longest request_id accepted (128 in the contract). */
  readonly maxRequestIdLength: number;
}

interface RecordedAnswer {
  readonly fingerprint: string;
  readonly answer: ModelAnswer;
}

/**
 * An independent model of the booking contract, written from the proto's
 * documentation rather than from src/: which status each request must get,
 * given everything the model has seen. Calls must be applied in the order
 * the server received them, so the fuzzers that use it call one at a time.
 *
 * Where the contract does not order two failures, the model follows the
 * documented order of the rules: show, then seat list, then request id, then
 * idempotency, then seat state (for cancels: not booked before not owned).
 */
export class BookingModel {
  readonly #config: ModelConfig;
  readonly #owners = new Map<string, (string | undefined)[]>();
  readonly #answers = new Map<string, RecordedAnswer>();

  constructor(config: ModelConfig) {
    this.#config = config;
    for (const show of config.shows) {
      this.#owners.set(show.id, new Array<string | undefined>(show.totalSeats).fill(undefined));
    }
  }

  /** The answer `request` must get now; the model is updated as the server would be. */
  apply(request: ModelRequest): ModelAnswer {
    const showId = request.showId === "" ? this.#config.defaultShowId : request.showId;
    // The README's rule for any show id: an id outside it is refused unread.
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(showId)) return { code: status.INVALID_ARGUMENT };
    const owners = this.#owners.get(showId);
    if (owners === undefined) return { code: status.NOT_FOUND };
    if (request.method === "showAvailable") {
      const available = owners.flatMap((owner, index) => (owner === undefined ? [index + 1] : []));
      return { code: status.OK, showId, available };
    }
    const seats = request.seats;
    const invalid =
      seats.length === 0 ||
      seats.length > this.#config.maxSeatsPerRequest ||
      seats.some((seat) => seat < 1 || seat > owners.length) ||
      new Set(seats).size !== seats.length ||
      [...request.requestId].length > this.#config.maxRequestIdLength ||
      /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/.test(request.requestId);
    if (invalid) return { code: status.INVALID_ARGUMENT };
    const sorted = [...seats].sort((a, b) => a - b);
    const fingerprint = `${request.method}:${showId}:${sorted.join(",")}`;
    const key = request.requestId === "" ? undefined : `${request.principal}\u0000${request.requestId}`;
    const earlier = key === undefined ? undefined : this.#answers.get(key);
    if (earlier !== undefined) {
      if (earlier.fingerprint !== fingerprint) return { code: status.INVALID_ARGUMENT };
      return earlier.answer.code === status.OK ? { ...earlier.answer, replayed: true } : earlier.answer;
    }
    const answer = this.#decide(request, showId, sorted, owners);
    if (key !== undefined) this.#answers.set(key, { fingerprint, answer });
    return answer;
  }

  /** The free seats of a show, ascending. */
  available(showId: string): number[] {
    return (this.#owners.get(showId) ?? []).flatMap((owner, index) => (owner === undefined ? [index + 1] : []));
  }

  #decide(request: ModelRequest, showId: string, seats: number[], owners: (string | undefined)[]): ModelAnswer {
    const ownerOf = (seat: number): string | undefined => owners[seat - 1];
    if (request.method === "bookSeats") {
      if (seats.some((seat) => ownerOf(seat) !== undefined)) return { code: status.ALREADY_EXISTS };
      for (const seat of seats) owners[seat - 1] = request.principal;
    } else {
      if (seats.some((seat) => ownerOf(seat) === undefined)) return { code: status.FAILED_PRECONDITION };
      const admin = this.#config.admins.includes(request.principal);
      if (!admin && seats.some((seat) => ownerOf(seat) !== request.principal)) return { code: status.PERMISSION_DENIED };
      for (const seat of seats) owners[seat - 1] = undefined;
    }
    return { code: status.OK, showId, seats, replayed: false };
  }
}
