import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AvailabilityForm,
  createBookingClient,
  type AvailabilityWatch,
  type BookingClient,
  type WatchReconnectedEvent,
  type WatchRetryEvent,
  type WatchUpdate,
} from "../client/index.js";
import { PostgresStore } from "../src/stores/postgres-store.js";
import { seededRandom } from "./support/booking-ledger.js";
import { startPostgres } from "./support/postgres-cluster.js";
import { startServerProcess, type ServerProcess } from "./support/server-process.js";
import { writeTestPki, type WrittenTestPki } from "./support/test-pki.js";

const postgres = await startPostgres();
const SHOW = "main";
const SEATS = 40;
const INSTANCES = ["A", "B", "C"] as const;
type Instance = (typeof INSTANCES)[number];
/**
 * Each instance's writers change only these seats, so a change's seats say
 * which instance committed it. Alice and bob own 20 seats each, so neither
 * can reach the default limit of 20 live holds (refused at the 21st).
 */
const SEATS_OF: Record<Instance, readonly number[]> = { A: range(1, 12), B: range(13, 26), C: range(27, 40) };

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, index) => first + index);
}

/** A change as the watcher and the change log both describe it. */
interface SeenChange {
  readonly version: bigint;
  readonly kind: string;
  readonly seats: readonly number[];
}

/** A write a worker sent, and the change it commits. */
interface Write {
  readonly kind: string;
  readonly seats: readonly number[];
}

/** Waits (bounded) until `done` holds: the watcher and three processes cannot be driven in lockstep from here. */
async function until(done: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Follows a watch in the background: every update, and every change it applied. */
function follow(watch: AvailabilityWatch) {
  const updates: WatchUpdate[] = [];
  const changes: SeenChange[] = [];
  let failure: unknown;
  const done = (async () => {
    try {
      for await (const update of watch) {
        updates.push(update);
        if (update.kind === "changes") changes.push(...update.changes.map(({ version, kind, seats }) => ({ version, kind, seats })));
      }
    } catch (error) {
      failure = error;
    }
  })();
  return {
    updates,
    changes,
    done,
    /** Throws the error the watch loop ended with, if it did. */
    check: () => {
      if (failure !== undefined) throw failure;
    },
  };
}

/**
 * A writer that owns a few seats and sends books, cancels, holds, confirms
 * and releases for them through one instance. Owning them, it knows each
 * seat's state, so every write it sends should succeed; it records the change
 * each acknowledged write commits, in order.
 */
class SeatWorker {
  readonly acknowledged: Write[] = [];
  /** The write in flight when its instance died: committed or not, nobody knows. */
  unknown: Write | undefined;
  readonly #state = new Map<number, "free" | "booked" | "held">();
  readonly #holds: { holdId: string; seats: number[] }[] = [];

  constructor(
    readonly instance: Instance,
    readonly seats: readonly number[],
    readonly client: BookingClient,
    readonly random: () => number,
  ) {
    for (const seat of seats) this.#state.set(seat, "free");
  }

  /** Writes until `stop()` says so; for instance A, also until a write fails once A is being killed. */
  async run(stop: () => boolean, killing: () => boolean): Promise<void> {
    while (!stop()) {
      const write = this.#next();
      try {
        await write.send();
      } catch (error) {
        if (!killing()) throw error;
        this.unknown = write.change;
        return;
      }
      write.apply();
      this.acknowledged.push(write.change);
    }
  }

  #pick(state: "free" | "booked"): number[] {
    const seats = this.seats.filter((seat) => this.#state.get(seat) === state);
    const first = Math.floor(this.random() * seats.length);
    // One seat, or now and then two.
    return seats.slice(first, first + (this.random() < 0.3 ? 2 : 1));
  }

  #next(): { change: Write; send: () => Promise<unknown>; apply: () => void } {
    const roll = this.random();
    const hold = this.#holds[0];
    if (hold !== undefined && roll < 0.3) {
      this.#holds.shift();
      const confirm = this.random() < 0.5;
      return {
        change: { kind: confirm ? "booked" : "hold-ended", seats: hold.seats },
        send: () => (confirm ? this.client.confirmHold({ holdId: hold.holdId }) : this.client.releaseHold({ holdId: hold.holdId })),
        apply: () => hold.seats.forEach((seat) => this.#state.set(seat, confirm ? "booked" : "free")),
      };
    }
    const booked = this.#pick("booked");
    if (booked.length > 0 && roll < 0.5) {
      return {
        change: { kind: "released", seats: booked },
        send: () => this.client.cancelSeats({ showId: SHOW, seats: booked }),
        apply: () => booked.forEach((seat) => this.#state.set(seat, "free")),
      };
    }
    const free = this.#pick("free");
    if (free.length === 0) return this.#next();
    if (roll < 0.75) {
      return {
        change: { kind: "booked", seats: free },
        send: () => this.client.bookSeats({ showId: SHOW, seats: free }),
        apply: () => free.forEach((seat) => this.#state.set(seat, "booked")),
      };
    }
    let holdId = "";
    return {
      change: { kind: "held", seats: free },
      // The default TTL (10 minutes) outlives the test: no hold lapses, so every change is a write's.
      send: async () => (holdId = (await this.client.holdSeats({ showId: SHOW, seats: free })).hold?.holdId ?? ""),
      apply: () => {
        free.forEach((seat) => this.#state.set(seat, "held"));
        this.#holds.push({ holdId, seats: free });
      },
    };
  }
}

describe.skipIf(postgres === undefined)("watchAvailability across three instances on one PostgreSQL, one killed", () => {
  let dir: string;
  let certs: WrittenTestPki;
  const servers = new Map<Instance, ServerProcess>();
  const clients: BookingClient[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "booking-watch-failover-"));
    certs = await writeTestPki(join(dir, "certs"));
    const started = await Promise.all(
      INSTANCES.map(() =>
        startServerProcess([
          "--listen", "127.0.0.1:0",
          "--store", postgres!.url,
          "--shows", `${SHOW}:${SEATS}`,
          "--certs-dir", certs.paths.dir,
          // The shared test machine's load must not shed calls or streams.
          "--max-event-loop-lag-ms", "0",
          "--log-level", "warn",
          "--pg-pool-size", "8",
        ]),
      ),
    );
    INSTANCES.forEach((name, index) => servers.set(name, started[index]!));
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    for (const server of servers.values()) await server.stop();
    await postgres?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const clientOf = (instance: Instance, name: "alice" | "bob") => {
    const client = createBookingClient({
      address: servers.get(instance)!.address,
      ca: certs.paths.caCert,
      cert: certs.paths.clients[name].cert,
      key: certs.paths.clients[name].key,
      // A failed write is not retried: through A it fails once A is gone, and through B or C it should not fail.
      retry: { maxAttempts: 1 },
      defaultDeadlineMs: 15_000,
    });
    clients.push(client);
    return client;
  };

  it(
    "resumes through B after A is killed -9 mid-stream: every version once, in order, from one snapshot, ending equal to ShowAvailable",
    async () => {
      const address = (instance: Instance) => servers.get(instance)!.address;
      const retries: WatchRetryEvent[] = [];
      const reconnected: WatchReconnectedEvent[] = [];
      const watcher = createBookingClient({
        address: address("A"),
        ca: certs.paths.caCert,
        cert: certs.paths.clients.admin.cert,
        key: certs.paths.clients.admin.key,
        retry: { initialBackoffMs: 20, maxBackoffMs: 200 },
      });
      clients.push(watcher);
      const watch = watcher.watchAvailability(
        { showId: SHOW },
        {
          addresses: INSTANCES.map(address),
          retry: { onRetry: (event) => retries.push(event) },
          onReconnected: (event) => reconnected.push(event),
        },
      );
      const followed = follow(watch);
      const instanceOf = (seat: number): Instance => INSTANCES.find((name) => SEATS_OF[name].includes(seat))!;
      /** The instances whose commits the watcher applied, among its changes after version `after` (and up to `upTo`). */
      const committers = (after: bigint, upTo = BigInt(Number.MAX_SAFE_INTEGER)) =>
        new Set(followed.changes.filter((change) => change.version > after && change.version <= upTo).flatMap((change) => change.seats.map(instanceOf)));
      const version = () => {
        followed.check();
        return watch.seatMap?.version ?? -1n;
      };

      await until(() => version() >= 0n, "the watcher has its snapshot", 5_000);
      const start = version();

      const random = seededRandom(2024);
      const workers = INSTANCES.flatMap((instance) =>
        (["alice", "bob"] as const).map(
          (name, index) => new SeatWorker(instance, SEATS_OF[instance].filter((_, seat) => seat % 2 === index), clientOf(instance, name), random),
        ),
      );
      let stopped = false;
      let killing = false;
      let atKill = -1n;
      let writeFailure: unknown;
      const writing = Promise.all(workers.map((worker) => worker.run(() => stopped, () => killing && worker.instance === "A")));
      writing.catch((error: unknown) => (writeFailure = error));
      /** False, or throws when a writer or the watch has failed, or the watch resubscribed for another reason than a drop: waiting on would only time out. */
      const failed = (): boolean => {
        if (writeFailure !== undefined) throw writeFailure;
        followed.check();
        const odd = retries.find((event) => event.error.codeName !== "UNAVAILABLE");
        if (odd !== undefined) throw new Error(`the watch resubscribed after ${odd.error.codeName}: ${odd.error.message}`);
        return false;
      };
      try {
        // Phase 1: the watcher is on A and applies commits of all three instances through it.
        await until(() => failed() || (version() >= start + 40n && committers(start).size === 3), "the watcher applied 40 changes through A, from A, B and C", 15_000);
        expect(reconnected).toEqual([]);

        // Kill -9 the instance the watcher is connected to, while all writers write.
        killing = true;
        const a = servers.get("A")!;
        a.kill("SIGKILL");
        expect(await a.exited).toBe("SIGKILL");
        atKill = version();

        // Phase 2: B and C keep writing; the watcher resumes at B, from the last version it applied.
        await until(
          () => failed() || (reconnected.length > 0 && version() >= atKill + 40n && committers(reconnected[0]!.fromVersion ?? 0n).has("B") && committers(reconnected[0]!.fromVersion ?? 0n).has("C")),
          "the watcher resumed and applied 40 more changes from B and C",
          15_000,
        );
      } finally {
        stopped = true;
        await writing.catch(() => undefined);
      }
      await writing;

      // The writers have stopped (and no hold lapses): the show stays at one version, which the watcher reaches.
      const reader = clientOf("B", "alice");
      let listing = await reader.showAvailable({ showId: SHOW, form: AvailabilityForm.SEATS });
      await until(
        async () => {
          listing = await reader.showAvailable({ showId: SHOW, form: AvailabilityForm.SEATS });
          return version() === listing.version;
        },
        "the watcher's seat map is at ShowAvailable's version",
        10_000,
      );
      const map = watch.seatMap!;
      expect({ free: map.freeSeats(), held: map.heldCount, booked: map.bookedCount, total: map.totalSeats }).toEqual({
        free: listing.availableSeats,
        held: listing.heldCount,
        booked: listing.bookedCount,
        total: listing.totalSeats,
      });

      // One snapshot, then every version after it exactly once, in order.
      const snapshots = followed.updates.filter((update) => update.kind === "snapshot");
      expect(snapshots.map((update) => [update.version, update.resumeTooOld])).toEqual([[start, false]]);
      const versions = followed.changes.map((change) => change.version);
      expect(versions).toEqual(range(1, versions.length).map((offset) => start + BigInt(offset)));
      expect(versions.at(-1)).toBe(listing.version);

      // The one drop was A's death; the watch resumed at B (next after A) from the version it had applied.
      const resumedFrom = retries[0]?.fromVersion;
      expect(retries.map((event) => event.error.codeName)).toEqual(retries.map(() => "UNAVAILABLE"));
      expect(retries[0]).toMatchObject({ attempt: 1, address: address("B") });
      expect(reconnected).toEqual([{ address: address("B"), fromVersion: resumedFrom }]);
      // What A had sent before it died may still have been read after: the watch resumed from at least there.
      expect(resumedFrom).toBeGreaterThanOrEqual(atKill);
      const resumedUpdates = followed.updates.filter((update) => update.kind === "changes" && update.resumed);
      expect(resumedUpdates).toHaveLength(1);
      expect(resumedUpdates[0]?.kind === "changes" && resumedUpdates[0].changes[0]?.version).toBe(resumedFrom! + 1n);

      // Commits through A, B and C arrived through A's stream; B's and C's also through B's after the resume.
      expect([...committers(start, resumedFrom)].sort()).toEqual(["A", "B", "C"]);
      expect(committers(resumedFrom!).has("B") && committers(resumedFrom!).has("C")).toBe(true);

      // Each worker's writes, and nothing else, show in the watcher's changes of its seats, in the order it made them.
      for (const worker of workers) {
        const seen = followed.changes
          .filter((change) => change.seats.some((seat) => worker.seats.includes(seat)))
          .map(({ kind, seats }) => ({ kind, seats: [...seats] }));
        const acknowledged = worker.acknowledged.map(({ kind, seats }) => ({ kind, seats: [...seats].sort((x, y) => x - y) }));
        const label = `${worker.instance} seats ${worker.seats.join(",")}`;
        if (worker.unknown === undefined || seen.length === acknowledged.length) {
          expect(seen, label).toEqual(acknowledged);
        } else {
          // Its write in flight when A died committed after all.
          expect(seen, label).toEqual([...acknowledged, { kind: worker.unknown.kind, seats: [...worker.unknown.seats].sort((x, y) => x - y) }]);
        }
        expect(acknowledged.length, label).toBeGreaterThan(0);
        if (worker.instance !== "A") expect(worker.unknown, label).toBeUndefined();
      }

      // And the watcher's changes are the database's change log after the snapshot.
      const store = await PostgresStore.open(postgres!.url);
      try {
        const read = await store.changesSince(SHOW, Number(start), 10_000);
        expect(read.kind === "changes" && read.changes.map(({ version, kind, seats }) => ({ version: BigInt(version), kind, seats: [...seats] }))).toEqual(
          followed.changes.map(({ version, kind, seats }) => ({ version, kind, seats: [...seats] })),
        );
      } finally {
        await store.close();
      }

      watcher.close();
      await followed.done;
    },
    60_000,
  );
});
