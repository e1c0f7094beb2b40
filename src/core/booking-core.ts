import { Mutex } from "async-mutex";
import type {
  CommandKind,
  CommandOutcome,
  Refusal,
  SeatCommand,
  SeatStore,
  ShowDefinition,
  ShowSnapshot,
} from "./seat-store.js";
import { isStoreUnavailable } from "./seat-store.js";
import { BookingFailure, describeSeats } from "./booking-failure.js";
import { validateRequestId, validateSeats } from "./seat-request-validation.js";

/** What a caller asks the core to change. */
export interface SeatChangeRequest {
  /** "" means the default show. */
  readonly showId: string;
  readonly seats: readonly number[];
  /** The client's idempotency key; "" for none. */
  readonly requestId: string;
}

/** Per-call context the transport supplies. */
export interface CallContext {
  /** The authenticated principal. */
  readonly principal: string;
  /** Epoch ms after which the caller no longer waits; the change is not started then. */
  readonly deadline?: number | undefined;
}

/** A committed change. */
export interface SeatChange {
  readonly showId: string;
  readonly seats: readonly number[];
  readonly owner: string;
  /** True when the store repeated an earlier outcome for the same request id. */
  readonly replayed: boolean;
}

/** Options of {@link BookingCore}. */
export interface BookingCoreOptions {
  readonly store: SeatStore;
  /** The shows this server hosts; the first is the default unless named. */
  readonly shows: readonly ShowDefinition[];
  readonly defaultShowId?: string;
  /** Principals who may cancel anyone's seats. */
  readonly admins?: readonly string[];
  /** The most seats one request may name (default 64). */
  readonly maxSeatsPerRequest?: number;
  /** The most commands one store transaction carries (default 256). */
  readonly maxBatchSize?: number;
  /** The most changes waiting for the store before new ones are refused (default 4096). */
  readonly maxQueuedChanges?: number;
}

interface QueuedChange {
  readonly command: SeatCommand;
  readonly deadline: number | undefined;
  readonly resolve: (outcome: CommandOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/** Observations of the write path, for metrics. */
export interface BatchObserver {
  (batch: { readonly size: number; readonly commitMs: number }): void;
}

/**
 * The booking rules over a store: validation, ownership, and one guarded path
 * for every change.
 *
 * Changes queue behind one mutex. Whoever holds it takes every change queued
 * so far (up to maxBatchSize) into one store batch, so requests that arrive
 * while a commit is in progress share the next transaction and its fsync
 * (group commit). Each change is still decided on its own.
 */
export class BookingCore {
  readonly defaultShowId: string;
  readonly maxSeatsPerRequest: number;
  readonly #store: SeatStore;
  readonly #shows: ReadonlyMap<string, ShowDefinition>;
  readonly #admins: ReadonlySet<string>;
  readonly #maxBatchSize: number;
  readonly #maxQueuedChanges: number;
  readonly #mutex = new Mutex();
  #queue: QueuedChange[] = [];
  #observer: BatchObserver | undefined;
  #turnScheduled = false;

  // One commit turn per event-loop iteration (setImmediate): every change that
  // arrived in this iteration's I/O joins the same batch, even with a
  // synchronous store that blocks the loop while it commits.
  #scheduleTurn(): void {
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    setImmediate(() => {
      this.#turnScheduled = false;
      void this.#mutex.runExclusive(async () => {
        await this.#commitQueued();
        if (this.#queue.length > 0) this.#scheduleTurn();
      });
    });
  }

  private constructor(options: BookingCoreOptions) {
    const first = options.shows[0];
    if (first === undefined) throw new TypeError("at least one show must be configured");
    this.#store = options.store;
    this.#shows = new Map(options.shows.map((show) => [show.id, show]));
    this.defaultShowId = options.defaultShowId ?? first.id;
    if (!this.#shows.has(this.defaultShowId)) {
      throw new TypeError(`the default show "${this.defaultShowId}" is not among the configured shows`);
    }
    this.#admins = new Set(options.admins ?? []);
    this.maxSeatsPerRequest = options.maxSeatsPerRequest ?? 64;
    this.#maxBatchSize = options.maxBatchSize ?? 256;
    this.#maxQueuedChanges = options.maxQueuedChanges ?? 4096;
  }

  /** Creates a core and makes sure the store holds every configured show. */
  static async open(options: BookingCoreOptions): Promise<BookingCore> {
    const core = new BookingCore(options);
    await options.store.ensureShows(options.shows);
    return core;
  }

  /** The store's kind, for logs. */
  get storeKind(): string {
    return this.#store.kind;
  }

  /** The configured shows. */
  get shows(): readonly ShowDefinition[] {
    return [...this.#shows.values()];
  }

  /** How many changes wait for the store right now. */
  get queuedChanges(): number {
    return this.#queue.length;
  }

  /** Registers a callback told about every committed batch. */
  observeBatches(observer: BatchObserver): void {
    this.#observer = observer;
  }

  /** True for configured admins. */
  isAdmin(principal: string): boolean {
    return this.#admins.has(principal);
  }

  /** Books every seat for the caller, or none. Resolves after commit. */
  book(request: SeatChangeRequest, context: CallContext): Promise<SeatChange> {
    return this.#change("book", request, context);
  }

  /** Releases seats the caller (or, for admins, anyone) holds, or none. */
  cancel(request: SeatChangeRequest, context: CallContext): Promise<SeatChange> {
    return this.#change("cancel", request, context);
  }

  /** A consistent snapshot of a show's seats, read from the store. */
  async available(showId: string): Promise<ShowSnapshot> {
    const show = this.#resolveShow(showId);
    try {
      return await this.#store.snapshot(show.id);
    } catch (error) {
      throw storeFailure(error, show.id);
    }
  }

  /** Waits for queued changes, then closes the store. */
  async close(): Promise<void> {
    await this.#mutex.runExclusive(async () => {
      while (this.#queue.length > 0) await this.#commitQueued();
    });
    await this.#store.close();
  }

  async #change(kind: CommandKind, request: SeatChangeRequest, context: CallContext): Promise<SeatChange> {
    const show = this.#resolveShow(request.showId);
    const seats = validateSeats(show, request.seats, this.maxSeatsPerRequest);
    validateRequestId(request.requestId, show.id);
    const command: SeatCommand = {
      kind,
      showId: show.id,
      seats,
      principal: context.principal,
      isAdmin: this.#admins.has(context.principal),
      requestId: request.requestId,
    };
    const outcome = await this.#enqueue(command, context.deadline);
    if (!outcome.ok) throw refusalError(command, outcome);
    return { showId: show.id, seats: outcome.seats, owner: context.principal, replayed: outcome.replayed };
  }

  #enqueue(command: SeatCommand, deadline: number | undefined): Promise<CommandOutcome> {
    if (this.#queue.length >= this.#maxQueuedChanges) {
      return Promise.reject(
        new BookingFailure(`the server is busy: ${this.#queue.length} changes are waiting; retry shortly`, {
          reason: "OVERLOADED",
          showId: command.showId,
          retryDelayMs: 50,
        }),
      );
    }
    return new Promise<CommandOutcome>((resolve, reject) => {
      this.#queue.push({ command, deadline, resolve, reject });
      this.#scheduleTurn();
    });
  }

  async #commitQueued(): Promise<void> {
    if (this.#queue.length === 0) return;
    const taken = this.#queue.splice(0, this.#maxBatchSize);
    const now = Date.now();
    const batch: QueuedChange[] = [];
    for (const change of taken) {
      if (change.deadline !== undefined && change.deadline <= now) {
        change.reject(
          new BookingFailure("the request's deadline passed before it reached the store; nothing was changed", {
            reason: "DEADLINE_EXCEEDED",
            showId: change.command.showId,
          }),
        );
      } else {
        batch.push(change);
      }
    }
    if (batch.length === 0) return;
    const started = performance.now();
    let outcomes: CommandOutcome[];
    try {
      outcomes = await this.#store.applyBatch(batch.map((change) => change.command));
    } catch (error) {
      for (const change of batch) change.reject(storeFailure(error, change.command.showId));
      return;
    }
    this.#observer?.({ size: batch.length, commitMs: performance.now() - started });
    batch.forEach((change, index) => {
      const outcome = outcomes[index];
      if (outcome === undefined) change.reject(new Error("the store returned fewer outcomes than commands"));
      else change.resolve(outcome);
    });
  }

  #resolveShow(showId: string): ShowDefinition {
    const id = showId === "" ? this.defaultShowId : showId;
    const show = this.#shows.get(id);
    if (show === undefined) {
      // Echo a bounded prefix: a 60 KiB id must not come back 60 KiB long.
      const shown = id.length > 64 ? `${id.slice(0, 64)}…` : id;
      throw new BookingFailure(`show "${shown}" does not exist on this server`, {
        reason: "SHOW_NOT_FOUND",
        showId: shown,
      });
    }
    return show;
  }
}

/**
 * An unreachable store is the client's to retry (with the same request id,
 * which settles whether the change happened); anything else stays an
 * unexpected error.
 */
function storeFailure(error: unknown, showId: string): unknown {
  if (!isStoreUnavailable(error)) return error;
  const failure = new BookingFailure(
    "the booking store is unreachable; the change may or may not have been applied, retry with the same request_id",
    { reason: "STORE_UNAVAILABLE", showId, retryDelayMs: 200 },
  );
  failure.cause = error;
  return failure;
}

function refusalError(command: SeatCommand, refusal: Refusal): BookingFailure {
  const facts = { reason: refusal.reason, showId: command.showId, seats: refusal.seats };
  const seats = describeSeats(refusal.seats);
  const show = `show "${command.showId}"`;
  const plural = refusal.seats.length > 1;
  switch (refusal.reason) {
    case "SEAT_ALREADY_BOOKED":
      return new BookingFailure(`${seats} of ${show} ${plural ? "are" : "is"} already booked`, facts);
    case "SEAT_NOT_BOOKED":
      return new BookingFailure(`${seats} of ${show} ${plural ? "are" : "is"} not booked`, facts);
    case "SEAT_NOT_OWNED":
      return new BookingFailure(`${seats} of ${show} ${plural ? "are" : "is"} booked by another principal`, facts);
    case "REQUEST_ID_REUSED":
      return new BookingFailure(
        `request_id "${command.requestId}" was already used for a different request; use a new id for a new request`,
        { ...facts, violations: [{ field: "request_id", description: "already used for a different request" }] },
      );
  }
}
