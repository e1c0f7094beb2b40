import { EventLoopLag } from "../../src/transport/event-loop-lag.js";

/** The sampler's period in these tests, ms. */
export const PERIOD_MS = 10;

/**
 * An {@link EventLoopLag} on a clock the test moves: no timers, no sleeps.
 * `fire(lateMs)` is one turn of the loop: the clock moves to when the
 * sampler's timer was due plus `lateMs` (the time the loop was busy with
 * other work), and the timer fires.
 */
export function fakeEventLoop(): { lag: EventLoopLag; fire(lateMs: number): void; advance(ms: number): void; now(): number } {
  let now = 1000;
  let tick: (() => void) | undefined;
  const lag = new EventLoopLag({
    periodMs: PERIOD_MS,
    now: () => now,
    repeat: (_periodMs, onTick) => {
      tick = onTick;
      return () => {
        tick = undefined;
      };
    },
  });
  let due = 0;
  lag.onSample(({ atMs }) => {
    due = atMs + PERIOD_MS;
  });
  lag.start();
  due = now + PERIOD_MS;
  return {
    lag,
    fire(lateMs) {
      if (tick === undefined) throw new Error("the sampler is stopped");
      now = due + lateMs;
      tick();
    },
    advance(ms) {
      now += ms;
    },
    now: () => now,
  };
}
