import { describe, expect, it } from "vitest";
import { BookingCore } from "../src/core/booking-core.js";
import type { SeatStore, StoreCommand } from "../src/core/seat-store.js";
import { MemoryStore } from "../src/stores/memory-store.js";

const alice = { principal: "spiffe://test/alice" };

/**
 * A real MemoryStore whose applyBatch waits until the test opens the gate,
 * counting how many batches are inside it at once. `batchesInFlight` is what
 * the store tells the core it may take (undefined: not stated).
 */
function gatedStore(batchesInFlight: number | undefined, batchGroup?: (command: StoreCommand) => string, oneBatchPerShow?: boolean) {
  const store = new MemoryStore();
  const batches: string[][] = [];
  const batchSeats: string[][] = [];
  let inside = 0;
  let mostInside = 0;
  const insideByShow = new Map<string, number>();
  let mostInsideOneShow = 0;
  const waiting: (() => void)[] = [];
  const gated = new Proxy(store, {
    get(target, property) {
      if (property === "batchesInFlight") return batchesInFlight;
      if (property === "batchGroup") return batchGroup;
      if (property === "oneBatchPerShow") return oneBatchPerShow;
      if (property === "applyBatch") {
        return async (commands: readonly StoreCommand[]) => {
          batches.push(commands.map((command) => command.kind));
          batchSeats.push(commands.map((command) => ("seats" in command ? `${command.showId}:${command.seats.join(",")}` : command.kind)));
          const shows = new Set(commands.map((command) => ("showId" in command ? command.showId : "")));
          inside++;
          mostInside = Math.max(mostInside, inside);
          for (const show of shows) {
            insideByShow.set(show, (insideByShow.get(show) ?? 0) + 1);
            mostInsideOneShow = Math.max(mostInsideOneShow, insideByShow.get(show) ?? 0);
          }
          await new Promise<void>((resolve) => waiting.push(resolve));
          inside--;
          for (const show of shows) insideByShow.set(show, (insideByShow.get(show) ?? 1) - 1);
          return target.applyBatch(commands);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as SeatStore;
  return {
    store: gated,
    /** The commands of each batch, in the order the batches reached the store. */
    batches,
    /** Each batch's commands as "show:seats", in the same order. */
    batchSeats,
    get mostInside() {
      return mostInside;
    },
    /** The most batches of one show inside the store at once. */
    get mostInsideOneShow() {
      return mostInsideOneShow;
    },
    get waiting() {
      return waiting.length;
    },
    /** Lets every batch waiting at the gate through, until none is left and none arrives. */
    async drain(): Promise<void> {
      for (let idle = 0; idle < 3; ) {
        const open = waiting.splice(0);
        for (const resolve of open) resolve();
        idle = open.length === 0 ? idle + 1 : 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
  };
}

/** Books seats 1..n, each in its own event-loop turn, so that each could be a batch of its own. */
async function bookEachInItsTurn(core: BookingCore, n: number): Promise<Promise<unknown>[]> {
  const calls: Promise<unknown>[] = [];
  for (let seat = 1; seat <= n; seat++) {
    calls.push(core.book({ showId: "main", seats: [seat], requestId: `r-${seat}` }, alice));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return calls;
}

describe("BookingCore batches in flight", () => {
  it("runs as many store batches at once as the store takes, and no more", async () => {
    const gate = gatedStore(3);
    const core = await BookingCore.open({ store: gate.store, shows: [{ id: "main", totalSeats: 20 }] });
    const calls = await bookEachInItsTurn(core, 8);
    expect(gate.waiting).toBe(3);
    await gate.drain();
    await Promise.all(calls);
    expect(gate.mostInside).toBe(3);
    expect((await core.available("main")).bookedCount).toBe(8);
  });

  it("runs one batch at a time for a store that does not say it takes more", async () => {
    const gate = gatedStore(undefined);
    const core = await BookingCore.open({ store: gate.store, shows: [{ id: "main", totalSeats: 20 }] });
    const calls = await bookEachInItsTurn(core, 5);
    expect(gate.waiting).toBe(1);
    await gate.drain();
    await Promise.all(calls);
    expect(gate.mostInside).toBe(1);
    expect((await core.available("main")).bookedCount).toBe(5);
  });

  it("keeps a store's batch groups apart, in queue order within each, and runs them side by side", async () => {
    const gate = gatedStore(2, (command) => (command.kind === "cancel" ? "cancels" : "the rest"));
    const core = await BookingCore.open({ store: gate.store, shows: [{ id: "main", totalSeats: 20 }] });
    const booked = await bookEachInItsTurn(core, 2);
    await gate.drain();
    await Promise.all(booked);
    gate.batches.length = 0;
    // Queued in one turn: book, cancel, book, cancel, book.
    const calls = [
      core.book({ showId: "main", seats: [10], requestId: "" }, alice),
      core.cancel({ showId: "main", seats: [1], requestId: "" }, alice),
      core.book({ showId: "main", seats: [11], requestId: "" }, alice),
      core.cancel({ showId: "main", seats: [2], requestId: "" }, alice),
      core.book({ showId: "main", seats: [12], requestId: "" }, alice),
    ];
    for (let turn = 0; turn < 5 && gate.waiting < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
    expect(gate.waiting).toBe(2);
    await gate.drain();
    await Promise.all(calls);
    expect(gate.batches).toEqual([["book", "book", "book"], ["cancel", "cancel"]]);
    const free = Array.from({ length: 20 }, (_, index) => index + 1).filter((seat) => seat < 10 || seat > 12);
    expect((await core.available("main")).available).toEqual(free);
  });

  it("runs one batch per show at a time for a store that asks, batches of other shows beside it, and the waiting ones together next", async () => {
    for (const oneBatchPerShow of [true, false]) {
      const gate = gatedStore(4, undefined, oneBatchPerShow);
      const core = await BookingCore.open({
        store: gate.store,
        shows: [
          { id: "main", totalSeats: 20 },
          { id: "gala", totalSeats: 20 },
        ],
      });
      // Each in its own event-loop turn, so that each could start a batch of its own.
      const calls: Promise<unknown>[] = [];
      for (const [showId, seat] of [["main", 1], ["gala", 1], ["main", 2], ["main", 3], ["gala", 2], ["main", 4]] as const) {
        calls.push(core.book({ showId, seats: [seat], requestId: `${showId}-${seat}` }, alice));
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (oneBatchPerShow) {
        // main's first and gala's first are in the store; the rest wait for their show's batch.
        expect(gate.waiting).toBe(2);
        expect(gate.batchSeats).toEqual([["main:1"], ["gala:1"]]);
      } else {
        expect(gate.waiting).toBe(4);
      }
      await gate.drain();
      await Promise.all(calls);
      expect(gate.mostInsideOneShow).toBe(oneBatchPerShow ? 1 : 3);
      if (oneBatchPerShow) {
        // What waited went together once its show's batch ended (one batch may hold several shows), in queue order.
        expect(gate.batchSeats.slice(2)).toEqual([["main:2", "main:3", "gala:2", "main:4"]]);
      }
      expect((await core.available("main")).bookedCount).toBe(4);
      expect((await core.available("gala")).bookedCount).toBe(2);
      await core.close();
    }
  });

  it("closes only after every batch in flight has committed", async () => {
    const gate = gatedStore(2);
    const core = await BookingCore.open({ store: gate.store, shows: [{ id: "main", totalSeats: 20 }] });
    const calls = await bookEachInItsTurn(core, 4);
    let closed = false;
    const closing = core.close().then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    await gate.drain();
    await closing;
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.every((outcome) => outcome.status === "fulfilled")).toBe(true);
  });
});
