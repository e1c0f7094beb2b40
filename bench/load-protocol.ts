/**
 * The IPC messages between the benchmark (parent) and its load-generator
 * processes. A run goes: parent sends `prepare`; each generator connects
 * and answers `ready`; parent sends `go` to all at once; generators send
 * `progress` about once a second and a `result` at the end. `exit` ends a
 * generator.
 */
import type { SerializedHistogram } from "./latency-histogram.js";
import type { IdentityFiles } from "./raw-client.js";
import type { ScenarioName, ScenarioShow } from "./scenarios.js";

/** What one generator does in one run. */
export interface LoadJob {
  readonly address: string;
  readonly caCertPath: string;
  /** Connections take these identities in turn (alice, bob, ...). */
  readonly identities: readonly IdentityFiles[];
  readonly connections: number;
  /** This generator's slots, numbered across every generator of the run. */
  readonly slots: readonly number[];
  readonly totalSlots: number;
  readonly scenario: ScenarioName;
  readonly show: ScenarioShow;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Per-call deadline. */
  readonly deadlineMs: number;
  readonly requestIds: boolean;
  /** Unique per run and generator, so no connection outlives its run. */
  readonly runTag: string;
}

/** Parent to generator. */
export type ToGenerator =
  | { readonly type: "prepare"; readonly job: LoadJob }
  | { readonly type: "go" }
  | { readonly type: "exit" };

/** What a generator measured in one run. */
export interface GeneratorResult {
  /** Length of the measured window (the calls counted finished inside it). */
  readonly measuredMs: number;
  readonly calls: number;
  /** Seats of successful BookSeats and ConfirmHold calls. */
  readonly seatsBooked: number;
  /** Method (as on the wire, e.g. "BookSeats") -> status name -> calls. */
  readonly codes: Record<string, Record<string, number>>;
  /** Calls answered with a status their scenario does not expect, warm-up included. */
  readonly unexpected: number;
  /** A few of those answers, for the report. */
  readonly unexpectedSamples: readonly string[];
  readonly latency: SerializedHistogram;
  /** The generator's CPU time (user + system) during the window. */
  readonly cpuMs: number;
  /** The generator's own largest event-loop delay during the window. */
  readonly loopMaxMs: number;
  /** Calls made after the window to leave the show as found, and how many failed. */
  readonly cleanupCalls: number;
  readonly cleanupFailures: number;
}

/** Generator to parent. */
export type FromGenerator =
  | { readonly type: "ready" }
  | { readonly type: "progress"; readonly completed: number; readonly elapsedMs: number }
  | { readonly type: "result"; readonly result: GeneratorResult }
  | { readonly type: "failed"; readonly message: string };
