import { status } from "@grpc/grpc-js";
import { errorInfo, retryInfo, richStatus } from "../error-status.js";
import type { LagSample, LagSource } from "../event-loop-lag.js";
import type { AdmissionStep, Refusal } from "./admission-step.js";

/** The shortest retry delay a lag refusal advertises, in ms. */
const MIN_RETRY_MS = 50;

/** When the event loop counts as overloaded (`--max-event-loop-lag-ms`, `--overload-interval-ms`). */
export interface OverloadRule {
  /** The lag the loop may have; 0 turns shedding off. */
  readonly targetMs: number;
  /** How long every sample must stay above the target before calls are shed. */
  readonly intervalMs: number;
}

/**
 * Sheds load on sustained overload, not on one slow turn, after CoDel: the
 * step watches the lag samples, and once every sample for a whole
 * `intervalMs` was above `targetMs`, calls are refused with
 * RESOURCE_EXHAUSTED (OVERLOADED) and a RetryInfo of the lag (at least
 * 50 ms). The first sample at or below the target stops shedding.
 *
 * Why: a burst (an on-sale's handshakes and calls arriving together) makes
 * the lag it would be measured by; the server absorbs it in a second or so,
 * well inside callers' deadlines, and refusing it turned most of an on-sale
 * away. Only a loop that stays behind cannot catch up.
 *
 * Like CoDel, the rule remembers a recent overload: a sample above the
 * target within `intervalMs` of the last one that shed resumes shedding at
 * once. Refusing is cheap, so shedding brings the lag below the target
 * within a turn or two while the overload goes on; without the memory, the
 * server would then admit everything for another whole interval, and shed
 * for a few ms of every second. Unlike CoDel, every call is refused while
 * shedding, not a growing share of them: the in-flight bound and the rate
 * limits shape what gets through, and a single switch is simple to reason
 * about and to test.
 *
 * The rule is judged on samples, each stamped by the source's clock, so a
 * test drives it with a fake source and no sleeps. Without a source, or
 * with a target of 0, the step never refuses.
 */
export class EventLoopLagStep implements AdmissionStep {
  readonly name = "event_loop_lag";
  readonly #lag: LagSource | undefined;
  readonly #rule: OverloadRule;
  /** When the current run of samples above the target began. */
  #aboveSinceMs: number | undefined;
  /** The last sample at which the step shed. */
  #lastShedMs: number | undefined;
  #shedding = false;

  constructor(lag: LagSource | undefined, rule: OverloadRule) {
    if (!(rule.targetMs >= 0)) throw new TypeError(`the lag target must be 0 (off) or more, got ${rule.targetMs}`);
    if (!(rule.intervalMs >= 0)) throw new TypeError(`the overload interval must be 0 or more, got ${rule.intervalMs}`);
    this.#lag = lag;
    this.#rule = rule;
    if (rule.targetMs > 0) lag?.onSample((sample) => this.#observe(sample));
  }

  /** True while calls are refused. */
  get shedding(): boolean {
    return this.#shedding;
  }

  admit(): Refusal | undefined {
    if (!this.#shedding) return undefined;
    const lagMs = this.#lag?.lagMs ?? 0;
    return {
      limit: "event_loop_lag",
      status: richStatus(
        status.RESOURCE_EXHAUSTED,
        `the server has been more than ${this.#rule.targetMs} ms behind its work for over ${this.#rule.intervalMs} ms ` +
          `(now ${Math.round(lagMs)} ms); retry shortly`,
        [errorInfo("OVERLOADED"), retryInfo(Math.max(MIN_RETRY_MS, Math.round(lagMs)))],
      ),
    };
  }

  #observe({ lagMs, atMs }: LagSample): void {
    if (lagMs <= this.#rule.targetMs) {
      this.#aboveSinceMs = undefined;
      this.#shedding = false;
      return;
    }
    this.#aboveSinceMs ??= atMs;
    const sustained = atMs - this.#aboveSinceMs >= this.#rule.intervalMs;
    const recentlyShed = this.#lastShedMs !== undefined && atMs - this.#lastShedMs < this.#rule.intervalMs;
    this.#shedding = sustained || recentlyShed;
    if (this.#shedding) this.#lastShedMs = atMs;
  }
}
