import type { Logger } from "pino";

/** A running sweeper: {@link HoldSweeper.stop} ends it. */
export interface HoldSweeper {
  /** Stops sweeping and resolves once a sweep in progress has finished. */
  stop(): Promise<void>;
}

/**
 * Runs `sweep` (the core's expireLapsedHolds) every `intervalMs`, so that a
 * lapsed hold becomes a versioned HOLD_ENDED that watchers see when it takes
 * effect, not only when a request next meets its seats. Sweeps never
 * overlap: the next is scheduled when one ends. A failed sweep (say, the
 * store is unreachable) is logged and the next one runs as planned; it never
 * ends the process, since no outcome depends on the sweeper (expiry is
 * decided when a request is decided). `intervalMs` 0 starts nothing.
 */
export function startHoldSweeper(sweep: () => Promise<unknown>, intervalMs: number, logger: Logger): HoldSweeper {
  if (intervalMs <= 0) return { stop: async () => {} };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let failing = false;
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = sweep().then(
        () => {
          if (failing) logger.info("the hold expiry sweeper works again");
          failing = false;
        },
        (error: unknown) => {
          // One line when sweeps start failing, not one per interval.
          if (!failing) logger.warn({ err: error }, "the hold expiry sweeper failed; retrying every interval");
          failing = true;
        },
      );
      void running.finally(() => {
        running = undefined;
        schedule();
      });
    }, intervalMs);
  };
  schedule();
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
