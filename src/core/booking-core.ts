import { randomBytes } from "node:crypto";
import { Semaphore } from "async-mutex";
import { AvailabilityFeed, type AvailabilityFeedOptions, type Watcher } from "./availability-feed.js";
import { BookingFailure } from "./booking-failure.js";
import { ANY_SHOW_ID_PATTERN, CORE_DEFAULTS } from "./core-defaults.js";
import { refusalFailure, type RefusalSubject } from "./failure-messages.js";
import { validateHoldId, validateTtl } from "./hold-request-validation.js";
import type {
  Applied,
  CommandOutcome,
  HoldRecord,
  SeatStore,
  ShowDefinition,
  ShowRecord,
  ShowSnapshot,
  StoreCommand,
} from "./seat-store.js";
import { isStoreUnavailable } from "./seat-store.js";
import { validateRequestId, validateSeats } from "./seat-request-validation.js";
import { decodePageToken, encodePageToken, validateNewShow, validatePageSize, validateTotalSeats } from "./show-request-validation.js";

/** What a caller asks the core to change. */
export interface SeatChangeRequest {
  /** "" means the default show. */
  readonly showId: string;
  readonly seats: readonly number[];
  /** The client's idempotency key; "" for none. */
  readonly requestId: string;
}

/** A hold to make. */
export interface HoldRequest extends SeatChangeRequest {
  /** How long; undefined means the default TTL. */
  readonly ttlMs?: number | undefined;
}

/** An existing hold to act on. */
export interface HoldActionRequest {
  readonly holdId: string;
  readonly requestId: string;
}

/** An extension of a hold. */
export interface ExtendRequest extends HoldActionRequest {
  readonly ttlMs?: number | undefined;
}

/** A show to create. */
export interface CreateShowRequest {
  readonly showId: string;
  readonly totalSeats: number;
  readonly displayName: string;
  readonly requestId: string;
}

/** Per-call context the transport supplies. */
export interface CallContext {
  /** The authenticated principal. */
  readonly principal: string;
  /** Epoch ms after which the caller no longer waits; the change is not started then. */
  readonly deadline?: number | undefined;
}

/** A committed change of seats. */
export interface SeatChange {
  readonly showId: string;
  readonly seats: readonly number[];
  readonly owner: string;
  /** True when the store repeated an earlier outcome for the same request id. */
  readonly replayed: boolean;
}

/** A committed change of a hold. */
export interface HoldChange {
  readonly hold: HoldRecord;
  readonly replayed: boolean;
}

/** A committed change of a show. */
export interface ShowChange {
  readonly show: ShowRecord;
  readonly replayed: boolean;
}

/** A page of shows. */
export interface ShowPage {
  readonly shows: readonly ShowRecord[];
  /** "" on the last page. */
  readonly nextPageToken: string;
}

/** Options of {@link BookingCore}; every limit defaults to {@link CORE_DEFAULTS}. */
export interface BookingCoreOptions {
  readonly store: SeatStore;
  /** Shows to make sure exist at start (created when missing, never changed); the first is the default unless named. */
  readonly shows: readonly ShowDefinition[];
  readonly defaultShowId?: string;
  /** Principals who may manage shows, and cancel anyone's seats and release anyone's holds. */
  readonly admins?: readonly string[];
  readonly maxSeatsPerRequest?: number;
  readonly maxBatchSize?: number;
  readonly maxQueuedChanges?: number;
  readonly maxSeatsPerShow?: number;
  readonly defaultHoldTtlMs?: number;
  readonly maxHoldTtlMs?: number;
  readonly maxHoldLifetimeMs?: number;
  readonly maxHoldsPerPrincipal?: number;
  /** Makes hold ids; default 128 random bits, URL-safe base64. Tests may pass their own. */
  readonly newHoldId?: () => string;
  /** Limits of the watchers' feed. */
  readonly feed?: AvailabilityFeedOptions;
}

interface QueuedChange {
  readonly command: StoreCommand;
  readonly deadline: number | undefined;
  readonly resolve: (outcome: CommandOutcome) => void;
  readonly reject: (error: unknown) => void;
}

/** Observations of the write path, for metrics. */
export interface BatchObserver {
  (batch: { readonly size: number; readonly commitMs: number; readonly outcomes: readonly ObservedOutcome[] }): void;
}

/** One decided command, as metrics see it. */
export interface ObservedOutcome {
  readonly kind: StoreCommand["kind"];
  readonly ok: boolean;
  readonly reason: string | undefined;
  readonly replayed: boolean;
  /** expire-holds: holds recorded as ended. */
  readonly endedHolds: number;
}

/** Who the server's own changes (the expiry sweeper's) are made by. */
export const SERVER_PRINCIPAL = "seat-booking:server";

/** 128 random bits: a hold id nobody can guess. */
function randomHoldId(): string {
  return randomBytes(16).toString("base64url");
}

/**
 * The booking rules over a store: validation, ownership, holds, shows, and
 * one guarded path for every change.
 *
 * Changes queue behind one guard: an async-mutex semaphore with as many
 * slots as the store takes batches at once (one for memory and SQLite, so a
 * mutex; several for PostgreSQL, whose row locks order its transactions).
 * Whoever takes a slot takes every change queued so far (up to
 * maxBatchSize) into one store batch, so requests that arrive while the
 * slots are busy share the next transaction and its fsync (group commit).
 * Each change is still decided on its own, by the store, with the shared
 * rules, at the moment its batch commits.
 */
export class BookingCore {
  readonly defaultShowId: string;
  readonly maxSeatsPerRequest: number;
  readonly #store: SeatStore;
  readonly #configuredShows: readonly ShowDefinition[];
  readonly #admins: ReadonlySet<string>;
  readonly #maxBatchSize: number;
  readonly #maxQueuedChanges: number;
  readonly #maxSeatsPerShow: number;
  readonly #defaultHoldTtlMs: number;
  readonly #maxHoldTtlMs: number;
  readonly #maxHoldLifetimeMs: number;
  readonly #maxHoldsPerPrincipal: number;
  readonly #newHoldId: () => string;
  /**
   * Seat counts of shows seen, for early validation only: the store decides
   * with the current count, so a stale entry can only cost a re-read.
   */
  readonly #knownTotals = new Map<string, number>();
  readonly #batchSlots: number;
  readonly #guard: Semaphore;
  readonly #feed: AvailabilityFeed;
  #queue: QueuedChange[] = [];
  /** Shows with a batch in flight, for a store that takes one batch per show at a time (SeatStore.oneBatchPerShow). */
  readonly #showsInFlight = new Set<string>();
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
      void this.#guard.runExclusive(async () => {
        await this.#commitQueued();
        if (this.#hasTakeable()) this.#scheduleTurn();
      });
    });
  }

  private constructor(options: BookingCoreOptions) {
    const first = options.shows[0];
    if (first === undefined) throw new TypeError("at least one show must be configured");
    this.#store = options.store;
    this.#batchSlots = Math.max(1, Math.floor(options.store.batchesInFlight ?? 1));
    this.#guard = new Semaphore(this.#batchSlots);
    this.#configuredShows = options.shows;
    this.defaultShowId = options.defaultShowId ?? first.id;
    if (!options.shows.some((show) => show.id === this.defaultShowId)) {
      throw new TypeError(`the default show "${this.defaultShowId}" is not among the configured shows`);
    }
    this.#admins = new Set(options.admins ?? []);
    this.maxSeatsPerRequest = options.maxSeatsPerRequest ?? CORE_DEFAULTS.maxSeatsPerRequest;
    this.#maxBatchSize = options.maxBatchSize ?? CORE_DEFAULTS.maxBatchSize;
    this.#maxQueuedChanges = options.maxQueuedChanges ?? CORE_DEFAULTS.maxQueuedChanges;
    this.#maxSeatsPerShow = options.maxSeatsPerShow ?? CORE_DEFAULTS.maxSeatsPerShow;
    this.#defaultHoldTtlMs = options.defaultHoldTtlMs ?? CORE_DEFAULTS.defaultHoldTtlMs;
    this.#maxHoldTtlMs = options.maxHoldTtlMs ?? CORE_DEFAULTS.maxHoldTtlMs;
    this.#maxHoldLifetimeMs = options.maxHoldLifetimeMs ?? CORE_DEFAULTS.maxHoldLifetimeMs;
    this.#maxHoldsPerPrincipal = options.maxHoldsPerPrincipal ?? CORE_DEFAULTS.maxHoldsPerPrincipal;
    this.#newHoldId = options.newHoldId ?? randomHoldId;
    this.#feed = new AvailabilityFeed(options.store, options.feed);
  }

  /**
   * Creates a core and makes sure the store holds every configured show.
   * Resolves the core and the configured shows whose stored seat count
   * differs from the configuration (they were resized at run time, and were
   * left as they are).
   */
  static async open(options: BookingCoreOptions): Promise<BookingCore> {
    const core = new BookingCore(options);
    const stored = await options.store.ensureShows(options.shows);
    for (const show of stored) core.#knownTotals.set(show.id, show.totalSeats);
    return core;
  }

  /** The store's kind, for logs. */
  get storeKind(): string {
    return this.#store.kind;
  }

  /** The shows configured at start (--shows). Shows created at run time are listed by {@link listShows}. */
  get shows(): readonly ShowDefinition[] {
    return this.#configuredShows;
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
  async book(request: SeatChangeRequest, context: CallContext): Promise<SeatChange> {
    return this.#seatChange("book", request, context);
  }

  /** Releases seats the caller (or, for admins, anyone) booked, or none. */
  async cancel(request: SeatChangeRequest, context: CallContext): Promise<SeatChange> {
    return this.#seatChange("cancel", request, context);
  }

  /** Holds every seat for the caller, or none, for a limited time. */
  async hold(request: HoldRequest, context: CallContext): Promise<HoldChange> {
    const showId = this.#showIdOf(request.showId);
    const seats = this.#validSeatsKnown(showId, request.seats) ?? (await this.#validSeats(showId, request.seats));
    validateRequestId(request.requestId, showId);
    const ttlMs = validateTtl(request.ttlMs, this.#defaultHoldTtlMs, this.#maxHoldTtlMs, showId);
    const subject = { showId, requestId: request.requestId, maxHoldsPerPrincipal: this.#maxHoldsPerPrincipal };
    const applied = await this.#apply(
      {
        kind: "hold",
        showId,
        seats,
        holdId: this.#newHoldId(),
        ttlMs,
        maxHoldsPerPrincipal: this.#maxHoldsPerPrincipal,
        ...this.#who(context, request.requestId),
      },
      context,
      subject,
    );
    return { hold: requireHold(applied), replayed: applied.replayed };
  }

  /** Moves a live hold's expiry to now + TTL, capped at its creation plus the maximum lifetime. */
  async extendHold(request: ExtendRequest, context: CallContext): Promise<HoldChange> {
    validateHoldId(request.holdId);
    validateRequestId(request.requestId, "");
    const ttlMs = validateTtl(request.ttlMs, this.#defaultHoldTtlMs, this.#maxHoldTtlMs, "");
    const applied = await this.#apply(
      {
        kind: "extend",
        holdId: request.holdId,
        ttlMs,
        maxLifetimeMs: this.#maxHoldLifetimeMs,
        ...this.#who(context, request.requestId),
      },
      context,
      { showId: "", requestId: request.requestId, holdId: request.holdId },
    );
    return { hold: requireHold(applied), replayed: applied.replayed };
  }

  /** Books exactly the held seats for the hold's owner, atomically. */
  async confirmHold(request: HoldActionRequest, context: CallContext): Promise<SeatChange & { readonly holdId: string }> {
    validateHoldId(request.holdId);
    validateRequestId(request.requestId, "");
    const applied = await this.#apply(
      { kind: "confirm", holdId: request.holdId, ...this.#who(context, request.requestId) },
      context,
      { showId: "", requestId: request.requestId, holdId: request.holdId },
    );
    const hold = requireHold(applied);
    return { showId: hold.showId, seats: hold.seats, owner: hold.owner, replayed: applied.replayed, holdId: hold.holdId };
  }

  /** Frees a live hold's seats (its owner, or an admin). */
  async releaseHold(request: HoldActionRequest, context: CallContext): Promise<HoldChange> {
    validateHoldId(request.holdId);
    validateRequestId(request.requestId, "");
    const applied = await this.#apply(
      { kind: "release", holdId: request.holdId, ...this.#who(context, request.requestId) },
      context,
      { showId: "", requestId: request.requestId, holdId: request.holdId },
    );
    return { hold: requireHold(applied), replayed: applied.replayed };
  }

  /** Reads a hold (its owner, or an admin); to anyone else it does not exist. */
  async getHold(holdId: string, context: CallContext): Promise<HoldRecord> {
    validateHoldId(holdId);
    const hold = await this.#read(() => this.#store.getHold(holdId), "");
    if (hold === undefined || (hold.owner !== context.principal && !this.isAdmin(context.principal))) {
      throw refusalFailure({ showId: "", requestId: "", holdId }, { ok: false, reason: "HOLD_NOT_FOUND", seats: [], replayed: false });
    }
    return hold;
  }

  /** Creates a show (admins only). */
  async createShow(request: CreateShowRequest, context: CallContext): Promise<ShowChange> {
    this.#requireAdmin(context, "create a show", request.showId);
    validateNewShow(request, this.#maxSeatsPerShow);
    validateRequestId(request.requestId, request.showId);
    const applied = await this.#apply(
      {
        kind: "create-show",
        showId: request.showId,
        totalSeats: request.totalSeats,
        displayName: request.displayName,
        ...this.#who(context, request.requestId),
      },
      context,
      { showId: request.showId, requestId: request.requestId },
    );
    const show = requireShow(applied);
    this.#knownTotals.set(show.id, show.totalSeats);
    return { show, replayed: applied.replayed };
  }

  /** Closes a show to sales (admins only); cancels and listings still work. */
  async closeShow(request: { readonly showId: string; readonly requestId: string }, context: CallContext): Promise<ShowChange> {
    const showId = this.#showIdOf(request.showId);
    this.#requireAdmin(context, "close a show", showId);
    validateRequestId(request.requestId, showId);
    const applied = await this.#apply(
      { kind: "close-show", showId, ...this.#who(context, request.requestId) },
      context,
      { showId, requestId: request.requestId },
    );
    return { show: requireShow(applied), replayed: applied.replayed };
  }

  /** Changes a show's seat count (admins only); never drops a booked or held seat. */
  async resizeShow(
    request: { readonly showId: string; readonly totalSeats: number; readonly requestId: string },
    context: CallContext,
  ): Promise<ShowChange> {
    const showId = this.#showIdOf(request.showId);
    this.#requireAdmin(context, "resize a show", showId);
    validateTotalSeats(request.totalSeats, this.#maxSeatsPerShow, showId);
    validateRequestId(request.requestId, showId);
    const applied = await this.#apply(
      { kind: "resize-show", showId, totalSeats: request.totalSeats, ...this.#who(context, request.requestId) },
      context,
      { showId, requestId: request.requestId },
    );
    const show = requireShow(applied);
    this.#knownTotals.set(show.id, show.totalSeats);
    return { show, replayed: applied.replayed };
  }

  /** One show with its counts. */
  async getShow(showId: string): Promise<ShowRecord> {
    const id = this.#showIdOf(showId);
    const show = await this.#read(() => this.#store.getShow(id), id);
    if (show === undefined) throw showNotFound(id);
    this.#knownTotals.set(show.id, show.totalSeats);
    return show;
  }

  /** A page of shows in id order. */
  async listShows(request: { readonly pageSize: number; readonly pageToken: string }): Promise<ShowPage> {
    const limit = validatePageSize(request.pageSize);
    const afterId = decodePageToken(request.pageToken);
    // One more than asked says whether another page follows.
    const shows = await this.#read(() => this.#store.listShows(afterId, limit + 1), "");
    const page = shows.slice(0, limit);
    const last = page[page.length - 1];
    return { shows: page, nextPageToken: shows.length > limit && last !== undefined ? encodePageToken(last.id) : "" };
  }

  /** A consistent snapshot of a show's seats, read from the store. */
  async available(showId: string): Promise<ShowSnapshot> {
    const id = this.#showIdOf(showId);
    const snapshot = await this.#read(() => this.#store.snapshot(id), id);
    if (snapshot === undefined) throw showNotFound(id);
    this.#knownTotals.set(id, snapshot.totalSeats);
    return snapshot;
  }

  /**
   * Watches a show: a snapshot, or the changes after `resumeFromVersion`
   * when the change log still reaches it, then every change as it commits.
   */
  async watch(showId: string, resumeFromVersion?: number): Promise<Watcher> {
    const id = this.#showIdOf(showId);
    try {
      return await this.#feed.watch(id, resumeFromVersion);
    } catch (error) {
      throw storeFailure(error, id, "read");
    }
  }

  /** Watchers connected to this core now. */
  get watchers(): number {
    return this.#feed.watchers;
  }

  /** Ends every watch, with `error` (for example: the server is shutting down) or quietly. */
  endWatches(error?: unknown): void {
    this.#feed.closeAll(error);
  }

  /**
   * True when the show has no change after `version`: a listing encoded at
   * that version is still the listing. Asks the store, so a change committed
   * through another instance counts.
   */
  async unchangedSince(showId: string, version: number): Promise<boolean> {
    const id = this.#showIdOf(showId);
    const read = await this.#read(() => this.#store.changesSince(id, version, 1), id);
    return read.kind === "changes" && read.changes.length === 0;
  }

  /**
   * Records the end of every hold that has lapsed by the store's clock: the
   * expiry sweeper's work, through the one guarded path. Resolves how many
   * shows it swept. Outcomes never depend on it having run; it makes a lapse
   * a versioned change that watchers see when it takes effect.
   */
  async expireLapsedHolds(): Promise<number> {
    const shows = await this.#read(() => this.#store.lapsedHoldShows(), "");
    await Promise.all(
      shows.map((showId) =>
        this.#enqueue({ kind: "expire-holds", showId, principal: SERVER_PRINCIPAL, isAdmin: true, requestId: "" }, undefined),
      ),
    );
    return shows.length;
  }

  /** Waits for queued changes, then closes the store. */
  async close(): Promise<void> {
    this.#feed.closeAll();
    // Every slot: the batches in flight end first, then nothing else starts.
    await this.#guard.runExclusive(async () => {
      while (this.#queue.length > 0) await this.#commitQueued();
    }, this.#batchSlots);
    await this.#store.close();
  }

  async #seatChange(kind: "book" | "cancel", request: SeatChangeRequest, context: CallContext): Promise<SeatChange> {
    const showId = this.#showIdOf(request.showId);
    const seats = this.#validSeatsKnown(showId, request.seats) ?? (await this.#validSeats(showId, request.seats));
    validateRequestId(request.requestId, showId);
    const applied = await this.#apply(
      { kind, showId, seats, ...this.#who(context, request.requestId) },
      context,
      { showId, requestId: request.requestId },
    );
    return { showId, seats: applied.seats, owner: context.principal, replayed: applied.replayed };
  }

  /**
   * Checks the seat list, against the show's seat count as last seen. A seat
   * beyond that count re-reads the show first (it may have grown through
   * another instance), so the answer names every bad seat at once; the store
   * checks the count again when it decides.
   */
  /**
   * The check of {@link #validSeats} without a store read, when the show's
   * seat count is known and covers every seat: the common case, answered
   * without the await (a promise and a turn of the microtask queue per call).
   * Undefined when the store must be asked.
   */
  #validSeatsKnown(showId: string, seats: readonly number[]): number[] | undefined {
    const total = this.#knownTotals.get(showId);
    if (total === undefined) return undefined;
    for (const seat of seats) if (seat > total) return undefined;
    return validateSeats({ id: showId, totalSeats: total }, seats, this.maxSeatsPerRequest);
  }

  async #validSeats(showId: string, seats: readonly number[]): Promise<number[]> {
    let total = this.#knownTotals.get(showId);
    if (total === undefined || seats.some((seat) => seat > (total ?? 0))) {
      const show = await this.#read(() => this.#store.getShow(showId), showId);
      if (show === undefined) throw showNotFound(showId);
      total = show.totalSeats;
      this.#knownTotals.set(showId, total);
    }
    return validateSeats({ id: showId, totalSeats: total }, seats, this.maxSeatsPerRequest);
  }

  #who(context: CallContext, requestId: string) {
    return { principal: context.principal, isAdmin: this.#admins.has(context.principal), requestId };
  }

  #requireAdmin(context: CallContext, what: string, showId: string): void {
    if (this.#admins.has(context.principal)) return;
    throw new BookingFailure(`only an admin may ${what}; ${context.principal} is not one`, { reason: "ADMIN_ONLY", showId });
  }

  /** The show a request names ("" = the default one); an id no show can have is refused, not looked up. */
  #showIdOf(showId: string): string {
    if (showId === "") return this.defaultShowId;
    if (!ANY_SHOW_ID_PATTERN.test(showId)) throw impossibleShowId(showId);
    return showId;
  }

  async #read<T>(read: () => Promise<T>, showId: string): Promise<T> {
    try {
      return await read();
    } catch (error) {
      throw storeFailure(error, showId, "read");
    }
  }

  async #apply(command: StoreCommand, context: CallContext, subject: RefusalSubject): Promise<Applied> {
    const outcome = await this.#enqueue(command, context.deadline);
    if (!outcome.ok) {
      // A refusal of a hold command names the hold's show when the store knows it.
      throw refusalFailure(subject, outcome);
    }
    return outcome;
  }

  #enqueue(command: StoreCommand, deadline: number | undefined): Promise<CommandOutcome> {
    const showId = showOf(command);
    if (this.#queue.length >= this.#maxQueuedChanges) {
      return Promise.reject(
        new BookingFailure(`the server is busy: ${this.#queue.length} changes are waiting; retry shortly`, {
          reason: "OVERLOADED",
          showId,
          retryDelayMs: 50,
        }),
      );
    }
    return new Promise<CommandOutcome>((resolve, reject) => {
      const change = { command, deadline, resolve, reject };
      this.#queue.push(change);
      // A change of a show with a batch in flight is taken when that batch ends.
      if (!this.#waitsForItsShow(change)) this.#scheduleTurn();
    });
  }

  /** Whether the change's show has a batch in flight that it must wait for (SeatStore.oneBatchPerShow). */
  #waitsForItsShow(change: QueuedChange): boolean {
    if (this.#showsInFlight.size === 0) return false;
    const showId = showOf(change.command);
    return showId !== "" && this.#showsInFlight.has(showId);
  }

  /** Whether a turn would take anything: a queued change that does not wait for its show. */
  #hasTakeable(): boolean {
    return this.#queue.some((change) => !this.#waitsForItsShow(change));
  }

  /**
   * Takes up to maxBatchSize queued changes, in queue order: all of them
   * from the front, or, for a store with batch groups, those of the front
   * change's group (the rest keep their order for the next turn, which may
   * run at the same time in another slot). For a store that takes one batch
   * per show at a time, changes of a show with a batch in flight stay
   * queued, in order, and the front is the first change that does not wait.
   */
  #takeBatch(): QueuedChange[] {
    const group = this.#store.batchGroup?.bind(this.#store);
    if (group === undefined && this.#showsInFlight.size === 0) return this.#queue.splice(0, this.#maxBatchSize);
    let wanted: string | undefined;
    const taken: QueuedChange[] = [];
    const left: QueuedChange[] = [];
    for (const change of this.#queue) {
      if (taken.length >= this.#maxBatchSize || this.#waitsForItsShow(change)) {
        left.push(change);
        continue;
      }
      const changeGroup = group === undefined ? "" : group(change.command);
      wanted ??= changeGroup;
      if (changeGroup === wanted) taken.push(change);
      else left.push(change);
    }
    this.#queue = left;
    return taken;
  }

  async #commitQueued(): Promise<void> {
    if (this.#queue.length === 0) return;
    const taken = this.#takeBatch();
    const shows = this.#store.oneBatchPerShow === true ? showsOf(taken) : [];
    for (const showId of shows) this.#showsInFlight.add(showId);
    try {
      // Another group's or show's changes left behind may start in a free slot now.
      if (this.#hasTakeable()) this.#scheduleTurn();
      await this.#commitTaken(taken);
    } finally {
      for (const showId of shows) this.#showsInFlight.delete(showId);
    }
  }

  async #commitTaken(taken: readonly QueuedChange[]): Promise<void> {
    const now = Date.now();
    const batch: QueuedChange[] = [];
    for (const change of taken) {
      if (change.deadline !== undefined && change.deadline <= now) {
        change.reject(
          new BookingFailure("the request's deadline passed before it reached the store; nothing was changed", {
            reason: "DEADLINE_EXCEEDED",
            showId: showOf(change.command),
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
      for (const change of batch) {
        change.reject(storeFailure(error, showOf(change.command), "write"));
      }
      return;
    }
    this.#observer?.({
      size: batch.length,
      commitMs: performance.now() - started,
      outcomes: outcomes.map((outcome, index) => ({
        kind: batch[index]?.command.kind ?? "book",
        ok: outcome.ok,
        reason: outcome.ok ? undefined : outcome.reason,
        replayed: outcome.replayed,
        endedHolds: outcome.ok ? (outcome.endedHolds ?? 0) : 0,
      })),
    });
    batch.forEach((change, index) => {
      const outcome = outcomes[index];
      if (outcome === undefined) change.reject(new Error("the store returned fewer outcomes than commands"));
      else change.resolve(outcome);
    });
  }
}

/** The show a command changes, or "" for one that names only a hold (confirm, release, extend). */
function showOf(command: StoreCommand): string {
  return "showId" in command ? command.showId : "";
}

/** The shows the changes name, each once. */
function showsOf(changes: readonly QueuedChange[]): Set<string> {
  const shows = new Set<string>();
  for (const change of changes) {
    const showId = showOf(change.command);
    if (showId !== "") shows.add(showId);
  }
  return shows;
}

function requireHold(applied: Applied): HoldRecord {
  if (applied.hold === undefined) throw new Error("the store applied a hold command without returning the hold");
  return applied.hold;
}

function requireShow(applied: Applied): ShowRecord {
  if (applied.show === undefined) throw new Error("the store applied a show command without returning the show");
  return applied.show;
}

function impossibleShowId(showId: string): BookingFailure {
  const shown = showId.length > 64 ? `${showId.slice(0, 64)}…` : showId;
  return new BookingFailure(
    `show_id "${shown}" cannot name a show: show ids are 1-64 letters, digits, "_", "." and "-", starting with a letter or digit`,
    { reason: "INVALID_ARGUMENT", showId: "", violations: [{ field: "show_id", description: "must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}" }] },
  );
}

function showNotFound(showId: string): BookingFailure {
  // Echo a bounded prefix: a 60 KiB id must not come back 60 KiB long.
  const shown = showId.length > 64 ? `${showId.slice(0, 64)}…` : showId;
  return new BookingFailure(`show "${shown}" does not exist on this server`, { reason: "SHOW_NOT_FOUND", showId: shown });
}

/**
 * An unreachable store is the client's to retry; anything else stays an
 * unexpected error. A write's outcome is unknown then (retry with the same
 * request id, which settles it); a read changed nothing.
 */
function storeFailure(error: unknown, showId: string, access: "read" | "write"): unknown {
  if (!isStoreUnavailable(error)) return error;
  const advice =
    access === "write"
      ? "the change may or may not have been applied, retry with the same request_id"
      : "nothing was read; retry shortly";
  const failure = new BookingFailure(`the booking store is unreachable; ${advice}`, {
    reason: "STORE_UNAVAILABLE",
    showId,
    retryDelayMs: 200,
  });
  failure.cause = error;
  return failure;
}
