/**
 * How far behind the event loop is: the time since a timer that should have
 * fired by now. When one I/O callback hands the server a backlog of calls,
 * calls late in it see the lag grow while the ones before them are served,
 * so admission can turn them away cheaply instead of queueing work nobody
 * can wait for (the idea of toobusy-js and @fastify/under-pressure). Starts
 * no timer until {@link start}; its timer never keeps the process alive.
 */
export class EventLoopLag {
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #due = 0;
  #lastLagMs = 0;

  constructor(intervalMs = 10) {
    this.#intervalMs = intervalMs;
  }

  /** Starts sampling every intervalMs. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#due = performance.now() + this.#intervalMs;
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#lastLagMs = Math.max(0, now - this.#due);
      this.#due = now + this.#intervalMs;
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops sampling; the lag reads 0 afterwards. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#lastLagMs = 0;
  }

  /** The lag now, in ms: the last sample, or how overdue the next one already is. */
  get lagMs(): number {
    if (this.#timer === undefined) return 0;
    return Math.max(this.#lastLagMs, performance.now() - this.#due);
  }
}
