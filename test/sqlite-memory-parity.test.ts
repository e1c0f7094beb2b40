import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CommandOutcome, SeatStore, StoreCommand } from "../src/core/seat-store.js";
import { MemoryStore } from "../src/stores/memory-store.js";
import { SqliteStore } from "../src/stores/sqlite-store.js";

const dir = await mkdtemp(join(tmpdir(), "booking-sqlite-parity-"));

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const principals = ["alice", "bob", "carol", "admin"];
const showIds = ["main", "small", "gone"];
/** Mostly the big show, where seats are in range and collide; it is never closed. */
const showWeights = ["main", "main", "main", "main", "main", "main", "small", "small", "gone"];

/** A seeded generator of every command kind, aimed at few seats and holds so that they collide. */
function commandSource(seed: number) {
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const holds: { readonly holdId: string; readonly owner: string }[] = [];
  let nextHold = 0;
  const seats = () => [...new Set(Array.from({ length: 1 + Math.floor(random() * 3) }, () => 1 + Math.floor(random() * 9)))].sort((a, b) => a - b);
  const next = (): StoreCommand => {
    const roll = random();
    // Hold actions mostly come from the hold's owner, else from anyone (admins may release).
    const target = holds.length > 0 && random() < 0.9 ? pick(holds) : { holdId: "h-unknown", owner: "alice" };
    let principal = roll >= 0.6 && roll < 0.86 && random() < 0.8 ? target.owner : pick(principals);
    if (roll >= 0.25 && roll < 0.4 && random() < 0.4) principal = "admin";
    const heldId = target.holdId;
    const base = { principal, isAdmin: principal === "admin", requestId: random() < 0.3 ? `r-${Math.floor(random() * 12)}` : "" };
    if (roll < 0.25) return { ...base, kind: "book", showId: pick(showWeights), seats: seats() };
    if (roll < 0.4) return { ...base, kind: "cancel", showId: pick(showWeights), seats: seats() };
    if (roll < 0.6) {
      const holdId = `h-${nextHold++}`;
      return { ...base, kind: "hold", showId: pick(showWeights), seats: seats(), holdId, ttlMs: pick([1, 5, 20, 60]), maxHoldsPerPrincipal: 1 };
    }
    if (roll < 0.7) return { ...base, kind: "confirm", holdId: heldId };
    if (roll < 0.78) return { ...base, kind: "release", holdId: heldId };
    if (roll < 0.86) return { ...base, kind: "extend", holdId: heldId, ttlMs: pick([1, 10]), maxLifetimeMs: 25 };
    if (roll < 0.9) return { ...base, kind: "create-show", showId: pick(showWeights), totalSeats: 1 + Math.floor(random() * 9), displayName: "A show" };
    if (roll < 0.93) return { ...base, kind: "close-show", showId: pick(["small", "gone"]) };
    return { ...base, kind: "resize-show", showId: pick(showWeights), totalSeats: 1 + Math.floor(random() * 9) };
  };
  /** Hears an outcome: hold actions aim at holds that were made. */
  const settle = (command: StoreCommand, outcome: CommandOutcome): void => {
    if (command.kind === "hold" && outcome.ok) holds.push({ holdId: command.holdId, owner: command.principal });
  };
  return { next, settle };
}

async function stateOf(store: SeatStore, holdIds: readonly string[]) {
  const shows = await store.listShows("", 100);
  return {
    shows,
    snapshots: await Promise.all(showIds.map((id) => store.snapshot(id))),
    bookings: await Promise.all(shows.map((show) => store.bookings(show.id))),
    holds: await Promise.all(holdIds.map((id) => store.getHold(id))),
    one: await store.getShow("main"),
  };
}

describe("SqliteStore against MemoryStore", () => {
  // Seeds whose runs reach every kind and clock-dependent refusal (checked at the end of each run).
  it.each([4, 6, 7, 10])(
    "gives the same outcomes and state as the reference store for every command kind, with expiry by the injected clock (seed %i)",
    async (seed) => {
      let clock = 1_000_000;
      const now = () => clock;
      const memory = new MemoryStore({ now });
      const sqlite = SqliteStore.open({ path: join(dir, `parity-${seed}.sqlite`), now });
      try {
        const configured = [{ id: "main", totalSeats: 8, displayName: "Main" }, { id: "small", totalSeats: 3 }];
        expect(await sqlite.ensureShows(configured)).toEqual(await memory.ensureShows(configured));
        const { next, settle } = commandSource(seed);
        const holdIds = Array.from({ length: 350 }, (_, index) => `h-${index}`);
        const seen = new Set<string>();
        for (let round = 0; round < 400; round++) {
          const batch = Array.from({ length: 1 + (round % 4) }, next);
          const expected = await memory.applyBatch(batch);
          expect(await sqlite.applyBatch(batch), `round ${round}: ${JSON.stringify(batch)}`).toEqual(expected);
          expected.forEach((outcome, at) => {
            settle(batch[at] as StoreCommand, outcome);
            seen.add(outcome.ok ? `${batch[at]?.kind}` : outcome.reason);
          });
          expect(await stateOf(sqlite, holdIds), `round ${round}`).toEqual(await stateOf(memory, holdIds));
          // Lands on expiry boundaries too: ttls of 1, 5, 20 and 60 against ticks of 1 and 2.
          clock += 1 + (round % 2);
        }
        // The run reached every kind and the refusals that depend on the clock.
        for (const kind of ["book", "cancel", "hold", "confirm", "release", "extend", "create-show", "close-show", "resize-show"]) expect(seen).toContain(kind);
        for (const reason of ["SEAT_HELD", "HOLD_EXPIRED", "TOO_MANY_HOLDS", "SHOW_SHRINK_BLOCKED", "SHOW_CLOSED"]) expect(seen).toContain(reason);
      } finally {
        await sqlite.close();
        await memory.close();
      }
    },
  );
});
