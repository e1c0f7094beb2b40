/** Options of {@link ListingPacer}. */
export interface ListingPacerOptions {
  /** Answer bytes let out per event-loop turn; an answer larger than this goes out alone in its turn. */
  readonly bytesPerTurn: number;
}

interface Waiting {
  readonly size: number;
  readonly resolve: () => void;
}

const NOW: Promise<void> = Promise.resolve();

/**
 * Spreads large answers over event-loop turns. The requests of many
 * listings arrive in one socket read and, served from one cached encoding,
 * are all answered inside that read's turn: each answer's framing copy,
 * HTTP/2 write and logging then run back to back, 64 listings of a
 * 100,000-seat show keep the loop for tens of milliseconds, and a health
 * check or a booking read in the same turn waits behind all of them.
 *
 * The pacer lets out at most `bytesPerTurn` of answers per turn (always at
 * least one answer) and holds the rest, in arrival order, for later turns,
 * which it starts with setImmediate: timers, other sockets and other calls
 * run between them. A turn here is the stretch from one check phase to the
 * next. Small answers pass at once while the turn's budget lasts, so only
 * large or many listings are ever held.
 *
 * Limits: it paces only what goes through it (ShowAvailable answers), and a
 * held answer keeps its place even if its call is cancelled meanwhile.
 */
export class ListingPacer {
  readonly #bytesPerTurn: number;
  readonly #waiting: Waiting[] = [];
  #spent = 0;
  #turnScheduled = false;

  constructor(options: ListingPacerOptions) {
    if (!(options.bytesPerTurn > 0)) throw new TypeError(`bytesPerTurn must be positive, got ${options.bytesPerTurn}`);
    this.#bytesPerTurn = options.bytesPerTurn;
  }

  /** Answers held for a later turn, now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Resolves when an answer of `size` bytes may be sent: at once while this
   * turn's budget lasts and nothing is held, else in a later turn, after
   * the answers held before it.
   */
  turnFor(size: number): Promise<void> {
    if (this.#waiting.length === 0 && this.#fits(size)) {
      this.#spend(size);
      return NOW;
    }
    return new Promise((resolve) => {
      this.#waiting.push({ size, resolve });
      this.#scheduleTurn();
    });
  }

  #fits(size: number): boolean {
    return this.#spent === 0 || this.#spent + size <= this.#bytesPerTurn;
  }

  #spend(size: number): void {
    this.#spent += size;
    // The budget is per turn: the next check phase gives it back.
    this.#scheduleTurn();
  }

  #scheduleTurn(): void {
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    setImmediate(this.#nextTurn);
  }

  readonly #nextTurn = (): void => {
    this.#turnScheduled = false;
    this.#spent = 0;
    let released = 0;
    while (released < this.#waiting.length) {
      const next = this.#waiting[released];
      if (next === undefined || !this.#fits(next.size)) break;
      this.#spent += next.size;
      released++;
    }
    // The released answers continue in this turn's microtasks, after this callback.
    for (const waiting of this.#waiting.splice(0, released)) waiting.resolve();
    if (this.#spent > 0) this.#scheduleTurn();
  };
}
