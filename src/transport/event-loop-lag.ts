/** A monotonic clock in ms; `performance.now` unless a test passes its own. */
export type Clock = () => number;

/** One reading of the sampler: how late its timer fired, and when, on the sampler's clock. */
export interface LagSample {
  readonly lagMs: number;
  readonly atMs: number;
}

/**
 * What admission reads of the event loop: its lag now, and each sample as
 * it is taken (the sustained-overload rule is judged on the samples, in
 * event-loop-lag-step.ts).
 */
export interface LagSource {
  /** The lag now, in ms. */
  readonly lagMs: number;
  /** Hears every sample from now on. */
  onSample(listener: (sample: LagSample) => void): void;
}

/** Runs `tick` every `periodMs` until the returned function is called. */
export type Repeat = (periodMs: number, tick: () => void) => () => void;

/** Options of {@link EventLoopLag}; tests pass `now` and `repeat` and tick by hand. */
export interface EventLoopLagOptions {
  /** How often the timer is due: 10 ms. */
  readonly periodMs?: number;
  readonly now?: Clock;
  /** Default: setInterval, unref'd so it never keeps the process alive. */
  readonly repeat?: Repeat;
}

const unrefInterval: Repeat = (periodMs, tick) => {
  const timer = setInterval(tick, periodMs);
  timer.unref();
  return () => clearInterval(timer);
};

/**
 * How far behind the event loop is: the time since a timer that should have
 * fired by now (the idea of toobusy-js and @fastify/under-pressure). Each
 * firing is a sample: the loop was busy with other work for that long. One
 * sample says nothing about overload: one I/O callback that hands the server
 * a burst of handshakes and calls makes one long turn, and the loop catches
 * up after it. Starts no timer until {@link start}.
 */
export class EventLoopLag implements LagSource {
  readonly #periodMs: number;
  readonly #now: Clock;
  readonly #repeat: Repeat;
  readonly #listeners: Array<(sample: LagSample) => void> = [];
  #cancel: (() => void) | undefined;
  #due = 0;
  #lastLagMs = 0;

  constructor(options: EventLoopLagOptions = {}) {
    this.#periodMs = options.periodMs ?? 10;
    if (!(this.#periodMs > 0)) throw new TypeError(`the sampling period must be above 0 ms, got ${this.#periodMs}`);
    this.#now = options.now ?? (() => performance.now());
    this.#repeat = options.repeat ?? unrefInterval;
  }

  /** Starts sampling every periodMs. */
  start(): void {
    if (this.#cancel !== undefined) return;
    this.#due = this.#now() + this.#periodMs;
    this.#cancel = this.#repeat(this.#periodMs, () => this.#sample());
  }

  /** Stops sampling; the lag reads 0 afterwards. */
  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
    this.#lastLagMs = 0;
  }

  /** The lag now, in ms: the last sample, or how overdue the next one already is. */
  get lagMs(): number {
    if (this.#cancel === undefined) return 0;
    return Math.max(this.#lastLagMs, this.#now() - this.#due);
  }

  onSample(listener: (sample: LagSample) => void): void {
    this.#listeners.push(listener);
  }

  #sample(): void {
    const atMs = this.#now();
    this.#lastLagMs = Math.max(0, atMs - this.#due);
    this.#due = atMs + this.#periodMs;
    const sample: LagSample = { lagMs: this.#lastLagMs, atMs };
    for (const listener of this.#listeners) listener(sample);
  }
}
