import pg from "pg";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { CommandOutcome, ShowSnapshot, StoreCommand } from "../src/core/seat-store.js";
import type { ShowChange } from "../src/core/show-changes.js";
import { COMMIT_LISTENER_APPLICATION_NAME } from "../src/stores/postgres-commit-listener.js";
import { PostgresStore } from "../src/stores/postgres-store.js";
import { seededRandom } from "./support/booking-ledger.js";
import { startPostgres } from "./support/postgres-cluster.js";

const postgres = await startPostgres();
afterAll(async () => {
  await postgres?.stop();
});

const opened: PostgresStore[] = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
});

const admin = "spiffe://test/admin";
const who = (principal: string) => ({ principal, isAdmin: principal === admin, requestId: "" });

async function instances(count: number, shows: { id: string; totalSeats: number }[]): Promise<{ url: string; stores: PostgresStore[] }> {
  const url = await postgres!.createDatabase();
  const stores = await Promise.all(Array.from({ length: count }, () => PostgresStore.open({ connectionString: url, poolSize: 4 })));
  opened.push(...stores);
  await stores[0]!.ensureShows(shows);
  return { url, stores };
}

/** Waits (bounded) until `done` holds; the database's clock and NOTIFY delivery cannot be driven from here. */
async function until(done: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function allChanges(store: PostgresStore, showId: string): Promise<ShowChange[]> {
  const changes: ShowChange[] = [];
  for (;;) {
    const read = await store.changesSince(showId, changes.at(-1)?.version ?? 0, 50);
    if (read.kind !== "changes") throw new Error(`changesSince answered ${read.kind}`);
    if (read.changes.length === 0) return changes;
    changes.push(...read.changes);
  }
}

/** The seats of a snapshot as a watcher keeps them, and the same after applying changes in order. */
interface SeatMap {
  totalSeats: number;
  state: string;
  booked: Set<number>;
  held: Set<number>;
}

function seatMap(snapshot: ShowSnapshot): SeatMap {
  const free = new Set(snapshot.available);
  const held = new Set(snapshot.held);
  const booked = new Set<number>();
  for (let seat = 1; seat <= snapshot.totalSeats; seat++) if (!free.has(seat) && !held.has(seat)) booked.add(seat);
  return { totalSeats: snapshot.totalSeats, state: snapshot.state, booked, held };
}

function replay(start: SeatMap, changes: readonly ShowChange[]): SeatMap {
  const map: SeatMap = { ...start, booked: new Set(start.booked), held: new Set(start.held) };
  for (const change of changes) {
    for (const seat of change.seats) {
      map.booked.delete(seat);
      map.held.delete(seat);
      if (change.kind === "booked") map.booked.add(seat);
      if (change.kind === "held") map.held.add(seat);
    }
    if (change.kind === "closed") map.state = "closed";
    if (change.kind === "resized") {
      map.totalSeats = change.totalSeats ?? map.totalSeats;
      for (const seat of [...map.booked, ...map.held]) {
        if (seat > map.totalSeats) throw new Error(`resize to ${map.totalSeats} dropped taken seat ${seat}`);
      }
    }
  }
  return map;
}

const asPlain = (map: SeatMap) => ({ totalSeats: map.totalSeats, state: map.state, booked: [...map.booked].sort((a, b) => a - b), held: [...map.held].sort((a, b) => a - b) });

describe.skipIf(postgres === undefined)("PostgresStore versions across instances", () => {
  it(
    "numbers every show's changes the same, gap-free, on every instance under concurrent traffic; every listener hears the latest; replaying the log gives the snapshot",
    async () => {
      const shows = [
        { id: "main", totalSeats: 24 },
        { id: "side", totalSeats: 12 },
      ];
      const { stores } = await instances(3, shows);
      const starts = new Map<string, SeatMap>();
      for (const show of shows) {
        const snapshot = await stores[1]!.snapshot(show.id);
        expect(snapshot?.version).toBe(0);
        starts.set(show.id, seatMap(snapshot!));
      }
      const heard = stores.map(() => new Map<string, number[]>());
      stores.forEach((store, index) =>
        store.onCommit((showId, version) => {
          const versions = heard[index]!.get(showId) ?? [];
          versions.push(version);
          heard[index]!.set(showId, versions);
        }),
      );

      const random = seededRandom(11);
      const pick = <T,>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
      let holdCount = 0;
      const applied = { count: 0 };
      const worker = async (index: number) => {
        const store = stores[index % stores.length]!;
        const principal = `spiffe://test/worker-${index}`;
        const myHolds: string[] = [];
        for (let step = 0; step < 30; step++) {
          const show = pick(shows);
          const seats = [1 + Math.floor(random() * show.totalSeats)];
          if (random() < 0.3 && seats[0]! < show.totalSeats) seats.push(seats[0]! + 1);
          const roll = random();
          let command: StoreCommand;
          if (index === 0 && step === 15) command = { kind: "resize-show", showId: "main", totalSeats: 26, ...who(admin) };
          else if (roll < 0.35) command = { kind: "book", showId: show.id, seats, ...who(principal) };
          else if (roll < 0.55) command = { kind: "cancel", showId: show.id, seats, ...who(principal) };
          else if (roll < 0.75) {
            const holdId = `hold-${index}-${++holdCount}`;
            myHolds.push(holdId);
            // Some lapse within the run, so that bookings end them and the sweeper expires them.
            command = { kind: "hold", showId: show.id, seats, holdId, ttlMs: random() < 0.5 ? 150 : 60_000, maxHoldsPerPrincipal: 50, ...who(principal) };
          } else if (roll < 0.9 && myHolds.length > 0) {
            command = { kind: random() < 0.5 ? "confirm" : "release", holdId: pick(myHolds), ...who(principal) };
          } else {
            command = { kind: "expire-holds", showId: show.id, ...who("server") };
          }
          // Now and then two commands in one batch, as the core batches them.
          const batch: StoreCommand[] = random() < 0.2 ? [command, { kind: "book", showId: show.id, seats: [1 + Math.floor(random() * show.totalSeats)], ...who(principal) }] : [command];
          const outcomes: CommandOutcome[] = await store.applyBatch(batch);
          applied.count += outcomes.filter((outcome) => outcome.ok).length;
        }
      };
      await Promise.all(Array.from({ length: 18 }, (_, index) => worker(index)));
      expect(applied.count).toBeGreaterThan(50);
      // The random cancels mostly name seats their worker does not own, so a
      // cancel that applies is left to chance: make one, through another instance.
      const free = (await stores[2]!.snapshot("main"))!.available[0]!;
      const closer = "spiffe://test/closer";
      expect(await stores[2]!.applyBatch([{ kind: "book", showId: "main", seats: [free], ...who(closer) }])).toMatchObject([{ ok: true }]);
      expect(await stores[1]!.applyBatch([{ kind: "cancel", showId: "main", seats: [free], ...who(closer) }])).toMatchObject([{ ok: true }]);

      const kinds = new Set<string>();
      for (const show of shows) {
        const latest = (await stores[0]!.snapshot(show.id))!.version;
        expect(latest).toBeGreaterThan(10);
        const logs = await Promise.all(stores.map((store) => allChanges(store, show.id)));
        expect(logs[0]!.map((change) => change.version)).toEqual(Array.from({ length: latest }, (_, index) => index + 1));
        for (const log of logs.slice(1)) expect(log).toEqual(logs[0]);
        for (const change of logs[0]!) kinds.add(change.kind);
        const snapshots = await Promise.all(stores.map((store) => store.snapshot(show.id)));
        for (const snapshot of snapshots) {
          expect(snapshot?.version).toBe(latest);
          expect(asPlain(replay(starts.get(show.id)!, logs[0]!))).toEqual(asPlain(seatMap(snapshot!)));
        }
        await until(() => heard.every((instance) => instance.get(show.id)?.at(-1) === latest), `every instance heard ${show.id} at version ${latest}`);
        for (const instance of heard) {
          const versions = instance.get(show.id) ?? [];
          expect(versions, "versions heard only grow").toEqual([...versions].sort((a, b) => a - b));
          expect(new Set(versions).size).toBe(versions.length);
        }
      }
      expect([...kinds].sort()).toEqual(["booked", "held", "hold-ended", "released", "resized"]);
    },
    60_000,
  );

  it("records a lapsed hold's end before the booking that takes its seats, by the database's clock", async () => {
    const { stores } = await instances(2, [{ id: "main", totalSeats: 10 }]);
    const [a, b] = stores as [PostgresStore, PostgresStore];
    await a.applyBatch([{ kind: "hold", showId: "main", seats: [4, 5], holdId: "short", ttlMs: 200, maxHoldsPerPrincipal: 5, ...who("spiffe://test/alice") }]);
    await until(async () => (await b.getHold("short"))?.state === "expired", "the hold lapsed");
    // Lapsed, but its end is not recorded: the listing still shows it.
    expect(await b.snapshot("main")).toMatchObject({ version: 1, held: [4, 5] });
    expect(await b.lapsedHoldShows()).toEqual(["main"]);
    expect(await b.applyBatch([{ kind: "book", showId: "main", seats: [4], ...who("spiffe://test/bob") }])).toMatchObject([{ ok: true }]);
    const read = await a.changesSince("main", 1, 10);
    expect(read.kind === "changes" && read.changes.map(({ version, kind, seats }) => [version, kind, seats])).toEqual([
      [2, "hold-ended", [4, 5]],
      [3, "booked", [4]],
    ]);
    expect(await a.snapshot("main")).toMatchObject({ version: 3, held: [], bookedCount: 1, available: [1, 2, 3, 5, 6, 7, 8, 9, 10] });
    expect(await a.lapsedHoldShows()).toEqual([]);
    expect(await a.applyBatch([{ kind: "expire-holds", showId: "main", ...who("server") }])).toEqual([{ ok: true, seats: [], replayed: false, endedHolds: 0 }]);
    expect((await a.snapshot("main"))?.version).toBe(3);
  });

  it("hears commits again after its listening connection is terminated", async () => {
    const { url, stores } = await instances(2, [{ id: "main", totalSeats: 10 }]);
    const [listening, writing] = stores as [PostgresStore, PostgresStore];
    const heard: number[] = [];
    listening.onCommit((showId, version) => {
      if (showId === "main") heard.push(version);
    });
    const book = (seat: number) => writing.applyBatch([{ kind: "book", showId: "main", seats: [seat], ...who("spiffe://test/alice") }]);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const listenerPids = async () =>
        (
          await admin.query<{ pid: number }>(
            // Listening and caught up: idle after its first read of every show's version.
            `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()
             AND state = 'idle' AND query LIKE 'SELECT show_id, version%'`,
            [COMMIT_LISTENER_APPLICATION_NAME],
          )
        ).rows.map((row) => row.pid);
      await until(async () => (await listenerPids()).length === 1, "the listener listened");
      await book(1);
      await until(() => heard.at(-1) === 1, "version 1 was heard");
      const [first] = await listenerPids();
      await admin.query("SELECT pg_terminate_backend($1)", [first]);
      await until(async () => {
        const pids = await listenerPids();
        return pids.length === 1 && pids[0] !== first;
      }, "the listener listened again");
      // Listening again: a later commit reaches it through NOTIFY.
      await book(2);
      await until(() => heard.at(-1) === 2, "version 2 was heard after the reconnect");
      expect(heard).toEqual([...heard].sort((x, y) => x - y));
    } finally {
      await admin.end();
    }
  });
});
