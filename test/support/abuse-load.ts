import type { CallResult } from "./abuse-channel.js";

/** Calls made and how long the phase lasted. */
export interface LoadPhase<T> {
  readonly results: T[];
  readonly seconds: number;
}

/**
 * Closed loop: `concurrency` callers, each starting its next call when the
 * last one ends, until `seconds` have passed; then waits for the last calls.
 * Measures what the server can serve at that concurrency.
 */
export async function closedLoop<T>(
  concurrency: number,
  seconds: number,
  call: (index: number) => Promise<T>,
): Promise<LoadPhase<T>> {
  const results: T[] = [];
  const started = performance.now();
  let next = 0;
  const caller = async (): Promise<void> => {
    while (performance.now() - started < seconds * 1000) results.push(await call(next++));
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  return { results, seconds: (performance.now() - started) / 1000 };
}

/**
 * Open loop: starts calls at `perSecond` for `seconds` whether or not earlier
 * ones have ended, as independent clients do, and catches up after any pause
 * of its own timer, so exactly perSecond × seconds calls are offered. Calls
 * `during` every `everyMs` ms too (a health probe). Resolves when every call
 * has ended.
 */
export async function openLoop<T, P>(options: {
  readonly perSecond: number;
  readonly seconds: number;
  readonly call: (index: number) => Promise<T>;
  readonly everyMs: number;
  readonly during: () => Promise<P>;
}): Promise<{ readonly results: T[]; readonly probes: P[] }> {
  const calls: Promise<T>[] = [];
  const probes: Promise<P>[] = [];
  const total = Math.round(options.perSecond * options.seconds);
  const started = performance.now();
  let lastProbe = -Infinity;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const elapsed = (performance.now() - started) / 1000;
      const due = Math.min(total, Math.floor(elapsed * options.perSecond));
      while (calls.length < due) calls.push(options.call(calls.length));
      if (elapsed * 1000 - lastProbe >= options.everyMs) {
        lastProbe = elapsed * 1000;
        probes.push(options.during());
      }
      if (calls.length >= total) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, 5);
  });
  return { results: await Promise.all(calls), probes: await Promise.all(probes) };
}

/** The latencies of results with one of `codes`. */
export function latencies(results: readonly CallResult[], codes: readonly number[]): number[] {
  return results.filter((result) => codes.includes(result.code)).map((result) => result.ms);
}
