import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AvailabilityForm, SeatChangeKind, type HoldSeatsResponse, type WatchAvailabilityResponse } from "../gen/booking/v1/booking_pb.js";
import { MemoryStore } from "../src/stores/memory-store.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { listingFields, ReplayedShow, WatchTestClient, type WatchStream } from "./support/watch-client.js";

/** The memory store's clock: holds lapse when a test moves it, never by waiting. */
let clock = Date.parse("2030-01-01T00:00:00Z");
let server: TestServer;
let alice: WatchTestClient;
let bob: WatchTestClient;
const clients: WatchTestClient[] = [];

function client(who: "alice" | "bob" | "admin"): WatchTestClient {
  const made = new WatchTestClient(server.address, server.pki.caCert, server.pki.clients[who]);
  clients.push(made);
  return made;
}

/** A small deterministic random source, so a failure can be replayed. */
function random(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % below;
  };
}

function snapshotOf(message: WatchAvailabilityResponse) {
  if (message.event.case !== "snapshot") throw new Error(`expected a snapshot, got ${message.event.case}`);
  return message.event.value;
}

function changesOf(message: WatchAvailabilityResponse) {
  if (message.event.case !== "changes") throw new Error(`expected changes, got ${message.event.case}`);
  return message.event.value.changes;
}

/** Waits, turn by turn of the event loop, until the server has no watcher left. */
async function noWatchersLeft(): Promise<void> {
  while (server.core.watchers > 0 || server.server.watchStreams() > 0) await new Promise((resolve) => setImmediate(resolve));
}

beforeAll(async () => {
  server = await startTestServer({
    store: new MemoryStore({ now: () => clock, changeLog: { maxVersions: 50, maxAgeMs: 24 * 60 * 60 * 1000 } }),
    shows: [
      { id: "main", totalSeats: 40 },
      { id: "resume", totalSeats: 20 },
      { id: "old", totalSeats: 20 },
      { id: "forms", totalSeats: 10 },
    ],
  });
  alice = client("alice");
  bob = client("bob");
});

afterAll(async () => {
  for (const made of clients) made.close();
  await server.stop();
});

describe("WatchAvailability", () => {
  it("replays to exactly what ShowAvailable lists at the same version, under concurrent bookings, cancels, holds and expiries", async () => {
    const watch = alice.watch({ showId: "main" });
    const replay = new ReplayedShow();
    const states = new Map<number, ReturnType<ReplayedShow["listing"]>>();
    const record = (show: ReplayedShow): void => void states.set(show.version, show.listing());
    replay.apply(await watch.next(), record);

    const listings: ReturnType<typeof listingFields>[] = [];
    const actors = [alice, bob, client("alice"), client("bob")];
    const holdsOf = new Map<WatchTestClient, string[]>();
    const loops = actors.map(async (actor, index) => {
      const next = random(index + 1);
      for (let step = 0; step < 60; step++) {
        const seats = [...new Set([1 + next(40), 1 + next(40)])];
        const action = next(6);
        if (action === 0 || action === 1) await actor.unary("bookSeats", { showId: "main", seats });
        else if (action === 2) await actor.unary("cancelSeats", { showId: "main", seats });
        else if (action === 3) {
          const { response } = await actor.unary<HoldSeatsResponse>("holdSeats", { showId: "main", seats, ttl: { seconds: 60n } });
          if (response?.hold !== undefined) holdsOf.set(actor, [...(holdsOf.get(actor) ?? []), response.hold.holdId]);
        } else if (action === 4) {
          const holdId = holdsOf.get(actor)?.shift();
          if (holdId !== undefined) await actor.unary(next(2) === 0 ? "confirmHold" : "releaseHold", { holdId });
        } else {
          listings.push(listingFields(await actor.showAvailable({ showId: "main" })));
        }
        if (index === 0 && step % 20 === 19) {
          // Every hold made so far lapses; the sweeper's work records their ends.
          clock += 61_000;
          await server.core.expireLapsedHolds();
        }
      }
    });
    await Promise.all(loops);
    const final = listingFields(await bob.showAvailable({ showId: "main" }));
    while (replay.version < final.version) replay.apply(await watch.next(), record);
    watch.cancel();

    expect(replay.listing()).toEqual(final);
    expect(listings.length).toBeGreaterThan(10);
    for (const listing of listings) expect(states.get(listing.version), `version ${listing.version}`).toEqual(listing);
    // The run made every kind of seat change, expiry included.
    const kinds = new Set(
      watch.messages.flatMap((message) => (message.event.case === "changes" ? message.event.value.changes.map((change) => change.kind) : [])),
    );
    for (const kind of [SeatChangeKind.BOOKED, SeatChangeKind.RELEASED, SeatChangeKind.HELD, SeatChangeKind.HOLD_ENDED]) {
      expect(kinds.has(kind), SeatChangeKind[kind]).toBe(true);
    }
    await noWatchersLeft();
  }, 60_000);

  it("sends each change with its version, kind, seats and commit time by the store's clock", async () => {
    const watch = alice.watch({ showId: "forms" });
    const start = Number(snapshotOf(await watch.next()).version);
    await alice.unary("bookSeats", { showId: "forms", seats: [2, 3] });
    const [change] = changesOf(await watch.next());
    watch.cancel();
    expect(change).toMatchObject({ version: BigInt(start + 1), kind: SeatChangeKind.BOOKED, seats: [2, 3] });
    expect(Number(change?.commitTime?.seconds) * 1000).toBe(Math.floor(clock / 1000) * 1000);
    await noWatchersLeft();
  });

  it("resumes after a version with the changes after it and no snapshot", async () => {
    const first = alice.watch({ showId: "resume" });
    const replay = new ReplayedShow();
    replay.apply(await first.next());
    await alice.unary("bookSeats", { showId: "resume", seats: [1] });
    replay.apply(await first.next());
    first.cancel();
    const applied = replay.version;

    // Changes the client misses while it is away.
    await bob.unary("bookSeats", { showId: "resume", seats: [5, 6] });
    await alice.unary("cancelSeats", { showId: "resume", seats: [1] });
    await bob.unary("holdSeats", { showId: "resume", seats: [9] });

    const resumed = alice.watch({ showId: "resume", resumeFromVersion: BigInt(applied) });
    const listing = listingFields(await alice.showAvailable({ showId: "resume" }));
    while (replay.version < listing.version) {
      const message = await resumed.next();
      expect(message.event.case).toBe("changes");
      replay.apply(message);
    }
    resumed.cancel();
    expect(Number(changesOf(resumed.messages[0] as WatchAvailabilityResponse)[0]?.version)).toBe(applied + 1);
    expect(replay.listing()).toEqual(listing);
    await noWatchersLeft();
  });

  it("starts from a fresh snapshot marked resume_too_old when the change log no longer reaches the version", async () => {
    // The log keeps 50 versions per show here: 60 changes push version 1 out of it.
    for (let seat = 1; seat <= 20; seat++) await alice.unary("bookSeats", { showId: "old", seats: [seat] });
    for (let seat = 1; seat <= 20; seat++) await alice.unary("cancelSeats", { showId: "old", seats: [seat] });
    for (let seat = 1; seat <= 20; seat++) await alice.unary("bookSeats", { showId: "old", seats: [seat] });
    const watch = alice.watch({ showId: "old", resumeFromVersion: 1n });
    const snapshot = snapshotOf(await watch.next());
    watch.cancel();
    const listing = await alice.showAvailable({ showId: "old" });
    expect(snapshot).toMatchObject({ resumeTooOld: true, version: listing.version, bookedCount: 20, freeSeats: [] });
    expect(Number(snapshot.version)).toBe(60);
    await noWatchersLeft();
  });

  it("sends the snapshot's free seats as a list, ranges or both, as the request asks (unset = both)", async () => {
    await bob.unary("bookSeats", { showId: "forms", seats: [5] });
    const forms = [AvailabilityForm.UNSPECIFIED, AvailabilityForm.SEATS, AvailabilityForm.RANGES, AvailabilityForm.BOTH];
    const snapshots = await Promise.all(
      forms.map(async (form) => {
        const watch = alice.watch({ showId: "forms", form });
        const snapshot = snapshotOf(await watch.next());
        watch.cancel();
        return snapshot;
      }),
    );
    const seats = [1, 4, 6, 7, 8, 9, 10];
    const ranges = [
      { first: 1, last: 1 },
      { first: 4, last: 4 },
      { first: 6, last: 10 },
    ];
    const shape = (snapshot: (typeof snapshots)[number]) => ({
      freeSeats: snapshot.freeSeats,
      freeRanges: snapshot.freeRanges.map(({ first, last }) => ({ first, last })),
    });
    expect(snapshots.map(shape)).toEqual([
      { freeSeats: seats, freeRanges: ranges },
      { freeSeats: seats, freeRanges: [] },
      { freeSeats: [], freeRanges: ranges },
      { freeSeats: seats, freeRanges: ranges },
    ]);
    await noWatchersLeft();
  });

  it("answers NOT_FOUND (SHOW_NOT_FOUND) for an unknown show and gives its stream slot back", async () => {
    const end = await alice.watch({ showId: "no-such-show" }).ended;
    expect(end).toMatchObject({ code: status.NOT_FOUND, reason: "SHOW_NOT_FOUND" });
    expect(server.server.watchStreams()).toBe(0);
    expect(server.core.watchers).toBe(0);
  });

  it("closes the watcher when the client cancels, and logs one line for the stream with the changes sent", async () => {
    const watch = alice.watch({ showId: "forms" });
    await watch.next();
    await alice.unary("cancelSeats", { showId: "forms", seats: [2, 3] });
    await watch.next();
    expect(server.core.watchers).toBe(1);
    watch.cancel();
    await noWatchersLeft();
    const line = server.logLines.filter((entry) => entry["method"] === "WatchAvailability").at(-1);
    expect(line).toMatchObject({ msg: "rpc", principal: "spiffe://seat-booking.dev/alice", code: "CANCELLED", changes_sent: 1 });
    expect(line?.["duration_ms"]).toEqual(expect.any(Number));
  });
});

describe("WatchAvailability admission", () => {
  let capped: TestServer;
  const cappedClients: WatchTestClient[] = [];

  beforeAll(async () => {
    capped = await startTestServer({ server: { maxWatchStreamsPerPrincipal: 2, maxWatchStreams: 3, maxInFlight: 1 } });
  });

  afterAll(async () => {
    for (const made of cappedClients) made.close();
    await capped.stop();
  });

  function cappedClient(who: "alice" | "bob" | "admin"): WatchTestClient {
    const made = new WatchTestClient(capped.address, capped.pki.caCert, capped.pki.clients[who]);
    cappedClients.push(made);
    return made;
  }

  async function opened(made: WatchTestClient): Promise<WatchStream> {
    const watch = made.watch({});
    await watch.next();
    return watch;
  }

  it("caps streams per principal (TOO_MANY_STREAMS naming the cap) and over the server, and frees a place when a stream ends", async () => {
    const aliceClient = cappedClient("alice");
    const bobClient = cappedClient("bob");
    const adminClient = cappedClient("admin");
    const first = await opened(aliceClient);
    await opened(aliceClient);

    const third = await aliceClient.watch({}).ended;
    expect(third).toMatchObject({ code: status.RESOURCE_EXHAUSTED, reason: "TOO_MANY_STREAMS" });
    expect(third.details).toContain("maximum of 2 watch streams");
    expect(third.details).toContain("--max-watch-streams-per-principal");

    await opened(bobClient);
    const overServer = await adminClient.watch({}).ended;
    expect(overServer).toMatchObject({ code: status.RESOURCE_EXHAUSTED, reason: "TOO_MANY_STREAMS" });
    expect(overServer.details).toContain("--max-watch-streams");

    // Streams hold no in-flight slot: with --max-in-flight 1 and three streams open, a call is served.
    expect((await bobClient.unary("bookSeats", { seats: [1] })).end.code).toBe(status.OK);

    first.cancel();
    while (capped.server.watchStreams() > 2) await new Promise((resolve) => setImmediate(resolve));
    await opened(aliceClient);
    const refused = capped.logLines.filter((line) => line["refused_by"] === "watch_streams");
    expect(refused).toHaveLength(2);
  });
});
