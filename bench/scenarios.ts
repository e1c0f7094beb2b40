import { status } from "@grpc/grpc-js";

/** The workloads the benchmark knows, by the name used on the command line. */
export const SCENARIO_NAMES = ["book-1", "book-4", "hot-seat", "hold-confirm", "show-available"] as const;

/** One of {@link SCENARIO_NAMES}. */
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** The BookingService methods, as grpc-js generic clients name them. */
export type BenchMethod = "bookSeats" | "cancelSeats" | "showAvailable" | "holdSeats" | "confirmHold";

/** The show every scenario uses, and its size. */
export interface ScenarioShow {
  readonly showId: string;
  readonly totalSeats: number;
  /** How many seats hot-seat contention fights over (seats 1..hotSeats). */
  readonly hotSeats: number;
}

/** One call a workload wants made next. */
export interface BenchCall {
  readonly method: BenchMethod;
  readonly showId: string;
  /** Seats to book, hold or cancel (for ConfirmHold: the held seats); empty for ShowAvailable. */
  readonly seats: readonly number[];
  /** ConfirmHold only: the hold to confirm. */
  readonly holdId?: string;
  /** Status codes that are correct answers here; anything else counts as unexpected. */
  readonly expected: ReadonlySet<status>;
}

/**
 * What one call slot does, call after call. A slot keeps exactly one call in
 * flight; the generator runs many slots at once. `settle` hears each
 * outcome and the answer, so the next call depends on the last (book, then
 * cancel what was booked; hold, then confirm that hold). Once the measured
 * time is over, `cleanup` is asked again after each settled cleanup call
 * for the next call that leaves the show as the slot found it, until it
 * returns undefined.
 */
export interface SlotWorkload {
  next(): BenchCall;
  settle(call: BenchCall, code: status, response: unknown): void;
  cleanup(): BenchCall | undefined;
}

/** A scenario: what it measures, and how each slot behaves. */
export interface Scenario {
  readonly name: ScenarioName;
  readonly description: string;
  /** True when the show must hold no bookings after every slot cleaned up. */
  readonly leavesShowEmpty: boolean;
  /** The workload of `slot` (0-based) among `slots` slots in the whole run. */
  slot(show: ScenarioShow, slot: number, slots: number): SlotWorkload;
}

const OK_ONLY: ReadonlySet<status> = new Set([status.OK]);
const BOOK_CONTENDED: ReadonlySet<status> = new Set([status.OK, status.ALREADY_EXISTS]);

/**
 * Books `seatsPerCall` seats from blocks that belong to this slot alone,
 * then cancels them, then moves to its next block: no two slots ever want
 * the same seat, and the show never fills up.
 */
function disjointBlocks(seatsPerCall: number): Scenario["slot"] {
  return (show, slot, slots) => {
    const blocks = Math.floor(show.totalSeats / seatsPerCall);
    if (slots > blocks) throw new RangeError(`${slots} slots need at least ${slots * seatsPerCall} seats`);
    let block = slot;
    let held: readonly number[] | undefined;
    const seatsOf = (index: number): number[] =>
      Array.from({ length: seatsPerCall }, (_, offset) => index * seatsPerCall + offset + 1);
    return {
      next: () =>
        held === undefined
          ? { method: "bookSeats", showId: show.showId, seats: seatsOf(block), expected: OK_ONLY }
          : { method: "cancelSeats", showId: show.showId, seats: held, expected: OK_ONLY },
      settle: (call, code) => {
        if (call.method === "bookSeats") {
          held = code === status.OK ? call.seats : undefined;
          // Wrap within the blocks this slot owns: slot, slot+slots, ...
          block += slots;
          if (block >= blocks) block = slot;
        } else {
          // A failed cancel is counted as unexpected; do not retry it forever.
          held = undefined;
        }
      },
      cleanup: () =>
        held === undefined ? undefined : { method: "cancelSeats", showId: show.showId, seats: held, expected: OK_ONLY },
    };
  };
}

/** Where a hold-confirm slot is: nothing held, a hold to confirm, or a booked seat to cancel. */
type HoldSlotState =
  | { readonly step: "idle" }
  | { readonly step: "held"; readonly holdId: string; readonly seats: readonly number[] }
  | { readonly step: "booked"; readonly seats: readonly number[] };

/**
 * Holds one seat of this slot's own (disjoint as in book-1), confirms that
 * hold, then cancels the booked seat, so the slot can start again: three
 * calls per round, all expected to succeed. A hold left unconfirmed when
 * the window ends is confirmed and cancelled by the cleanup calls.
 */
const holdConfirmCancel: Scenario["slot"] = (show, slot, slots) => {
  if (slots > show.totalSeats) throw new RangeError(`${slots} slots need at least ${slots} seats`);
  let seat = slot + 1;
  let state: HoldSlotState = { step: "idle" };
  const call = (): BenchCall | undefined => {
    switch (state.step) {
      case "idle":
        return undefined;
      case "held":
        return { method: "confirmHold", showId: show.showId, seats: state.seats, holdId: state.holdId, expected: OK_ONLY };
      case "booked":
        return { method: "cancelSeats", showId: show.showId, seats: state.seats, expected: OK_ONLY };
    }
  };
  return {
    next: () => call() ?? { method: "holdSeats", showId: show.showId, seats: [seat], expected: OK_ONLY },
    settle: (done, code, response) => {
      // A failed call is counted as unexpected; the slot starts over rather than retry it forever.
      if (code !== status.OK) {
        state = { step: "idle" };
        return;
      }
      switch (done.method) {
        case "holdSeats": {
          const holdId = (response as { hold?: { holdId?: string } } | undefined)?.hold?.holdId ?? "";
          state = { step: "held", holdId, seats: done.seats };
          seat += slots;
          if (seat > show.totalSeats) seat = slot + 1;
          return;
        }
        case "confirmHold":
          state = { step: "booked", seats: done.seats };
          return;
        default:
          state = { step: "idle" };
      }
    },
    cleanup: call,
  };
};

/** A small deterministic generator (xorshift32), so runs are repeatable per slot. */
function randomSource(seed: number): () => number {
  let state = (seed * 2654435761) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 0x1_0000_0000;
  };
}

/** Every scenario, by name. */
export const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = {
  "book-1": {
    name: "book-1",
    description: "single-seat bookings spread over the show (no conflicts), each cancelled again",
    leavesShowEmpty: true,
    slot: disjointBlocks(1),
  },
  "book-4": {
    name: "book-4",
    description: "4-seat bookings spread over the show (no conflicts), each cancelled again",
    leavesShowEmpty: true,
    slot: disjointBlocks(4),
  },
  "hot-seat": {
    name: "hot-seat",
    description: "every slot books a random one of a few hot seats; most calls must be refused with ALREADY_EXISTS; a winner cancels its seat at once",
    leavesShowEmpty: true,
    slot: (show, slot) => {
      const random = randomSource(slot + 1);
      let held: readonly number[] | undefined;
      return {
        next: () => {
          if (held !== undefined) return { method: "cancelSeats", showId: show.showId, seats: held, expected: OK_ONLY };
          const seat = 1 + Math.floor(random() * show.hotSeats);
          return { method: "bookSeats", showId: show.showId, seats: [seat], expected: BOOK_CONTENDED };
        },
        settle: (call, code) => {
          held = call.method === "bookSeats" && code === status.OK ? call.seats : undefined;
        },
        cleanup: () =>
          held === undefined ? undefined : { method: "cancelSeats", showId: show.showId, seats: held, expected: OK_ONLY },
      };
    },
  },
  "hold-confirm": {
    name: "hold-confirm",
    description: "HoldSeats on one seat (no conflicts), ConfirmHold of that hold, then CancelSeats of the seat; calls/s counts all three",
    leavesShowEmpty: true,
    slot: holdConfirmCancel,
  },
  "show-available": {
    name: "show-available",
    description: "ShowAvailable on the whole show (every seat free: the largest answer)",
    leavesShowEmpty: false,
    slot: (show) => {
      const call: BenchCall = { method: "showAvailable", showId: show.showId, seats: [], expected: OK_ONLY };
      return { next: () => call, settle: () => {}, cleanup: () => undefined };
    },
  },
};

/** Parses a comma-separated list of scenario names; throws naming the bad one. */
export function parseScenarioNames(list: string): ScenarioName[] {
  const names = list.split(",").map((name) => name.trim()).filter((name) => name !== "");
  for (const name of names) {
    if (!(SCENARIO_NAMES as readonly string[]).includes(name)) {
      throw new RangeError(`unknown scenario "${name}"; choose from ${SCENARIO_NAMES.join(", ")}`);
    }
  }
  return [...new Set(names)] as ScenarioName[];
}
