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
    if (roll < 0.97) return { ...base, kind: "resize-show", showId: pick(showWeights), totalSeats: 1 + Math.floor(random() * 9) };
    return { principal: "server", isAdmin: false, requestId: "", kind: "expire-holds", showId: pick(showWeights) };
  };
  /** Hears an outcome: hold actions aim at holds that were made. */
  const settle = (command: StoreCommand, outcome: CommandOutcome): void => {
    if (command.kind === "hold" && outcome.ok) holds.push({ holdId: command.holdId, owner: command.principal });
  };
  return { next, settle };
}

/** Small enough that both limits trim during a run (the clock ticks 1 or 2 a round). */
const changeLog = { maxVersions: 25, maxAgeMs: 40 };

/** The state of every show and hold, and each show's changes after the versions in `since`. */
async function stateOf(store: SeatStore, holdIds: readonly string[], since: readonly number[]) {
  const shows = await store.listShows("", 100);
  const snapshots = await Promise.all(showIds.map((id) => store.snapshot(id)));
  return {
    shows,
    snapshots,
    bookings: await Promise.all(shows.map((show) => store.bookings(show.id))),
    holds: await Promise.all(holdIds.map((id) => store.getHold(id))),
    one: await store.getShow("main"),
    // Since the last round; from the start (too-old once trimmed); the latest few, two at a time.
    recent: await Promise.all(showIds.map((id, at) => store.changesSince(id, since[at] ?? 0, 1_000))),
    fromStart: await Promise.all(showIds.map((id) => store.changesSince(id, 0, 1_000))),
    latest: await Promise.all(showIds.map((id, at) => store.changesSince(id, (snapshots[at]?.version ?? 0) - 3, 2))),
    lapsed: (await store.lapsedHoldShows()).sort(),
  };
}

describe("SqliteStore against MemoryStore", () => {
  // Seeds whose runs reach every kind and clock-dependent refusal (checked at the end of each run).
  it.each([7, 10, 13, 18])(
    "gives the same outcomes, state, versions, change log and commit notifications as the reference store for every command kind, with expiry by the injected clock (seed %i)",
    async (seed) => {
      let clock = 1_000_000;
      const now = () => clock;
      const memory = new MemoryStore({ now, changeLog });
      const sqlite = SqliteStore.open({ path: join(dir, `parity-${seed}.sqlite`), now, changeLog });
      const heard = { memory: [] as [string, number][], sqlite: [] as [string, number][] };
      memory.onCommit((showId, version) => heard.memory.push([showId, version]));
      sqlite.onCommit((showId, version) => heard.sqlite.push([showId, version]));
      const changeKinds = new Set<string>();
      let since = showIds.map(() => 0);
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
          const state = await stateOf(memory, holdIds, since);
          expect(await stateOf(sqlite, holdIds, since), `round ${round}`).toEqual(state);
          expect(heard.sqlite.splice(0), `round ${round}: commit notifications`).toEqual(heard.memory.splice(0));
          for (const read of [...state.recent, ...state.fromStart]) {
            changeKinds.add(read.kind);
            if (read.kind === "changes") for (const change of read.changes) changeKinds.add(change.kind);
          }
          state.fromStart.forEach((read, at) => {
            // Fewer than maxVersions kept: the age limit trimmed this log.
            const kept = read.kind === "too-old" ? (state.snapshots[at]?.version ?? 0) - read.oldestVersion + 1 : Infinity;
            if (kept < changeLog.maxVersions) changeKinds.add("trimmed by age");
          });
          since = state.snapshots.map((snapshot) => snapshot?.version ?? 0);
          // Lands on expiry boundaries too: ttls of 1, 5, 20 and 60 against ticks of 1 and 2.
          clock += 1 + (round % 2);
        }
        // The run reached every kind and the refusals that depend on the clock.
        for (const kind of ["book", "cancel", "hold", "confirm", "release", "extend", "create-show", "close-show", "resize-show", "expire-holds"]) {
          expect(seen).toContain(kind);
        }
        // ...every kind of change, and answers from a trimmed log.
        for (const kind of ["booked", "released", "held", "hold-ended", "resized", "closed", "too-old", "trimmed by age"]) expect(changeKinds).toContain(kind);
        for (const reason of ["SEAT_HELD", "HOLD_EXPIRED", "TOO_MANY_HOLDS", "SHOW_SHRINK_BLOCKED", "SHOW_CLOSED"]) expect(seen).toContain(reason);
      } finally {
        await sqlite.close();
        await memory.close();
      }
    },
  );
});
