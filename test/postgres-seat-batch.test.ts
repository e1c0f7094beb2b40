import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CommandOutcome, StoreCommand } from "../src/core/seat-store.js";
import { MemoryStore } from "../src/stores/memory-store.js";
import { PostgresStore } from "../src/stores/postgres-store.js";
import { seededRandom } from "./support/booking-ledger.js";
import { startPostgres } from "./support/postgres-cluster.js";

const postgres = await startPostgres();
const ALICE = "user:alice";
const BOB = "user:bob";

const book = (seats: number[], requestId: string, principal = ALICE): StoreCommand => ({
  kind: "book", showId: "main", seats, principal, isAdmin: false, requestId,
});
const hold = (seats: number[], requestId: string, holdId: string, maxHoldsPerPrincipal = 20): StoreCommand => ({
  kind: "hold", showId: "main", seats, principal: ALICE, isAdmin: false, requestId, holdId, ttlMs: 60_000, maxHoldsPerPrincipal,
});
const release = (holdId: string, requestId: string): StoreCommand => ({
  kind: "release", holdId, principal: ALICE, isAdmin: false, requestId,
});
const cancel = (seats: number[], requestId: string, principal = ALICE): StoreCommand => ({
  kind: "cancel", showId: "main", seats, principal, isAdmin: false, requestId,
});

/** The outcome without the replayed flag, to compare a first answer with its replay. */
const answer = (outcome: CommandOutcome | undefined) => {
  if (outcome === undefined) throw new Error("no outcome");
  const { replayed: _replayed, ...rest } = outcome;
  return rest;
};

describe.skipIf(postgres === undefined)("PostgreSQL seat batches in one statement (run_seat_batch)", () => {
  let store: PostgresStore;

  beforeAll(async () => {
    store = await PostgresStore.open({ connectionString: postgres!.url });
    await store.ensureShows([{ id: "main", totalSeats: 20 }]);
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await postgres?.stop();
  });

  it("replays a seat command's record through a batch with hold actions, and an outcome record through a seat batch", async () => {
    const [first] = await store.applyBatch([book([1], "r-book-1")]);
    // A batch with a release takes the several-statement path; the book's record holds findings.
    const [, replayed] = await store.applyBatch([release("no-such-hold", "r-release-1"), book([1], "r-book-1")]);
    expect(replayed?.replayed).toBe(true);
    expect(answer(replayed)).toEqual(answer(first));

    // A record written by that path (an outcome) replays through a seat batch.
    const [, second] = await store.applyBatch([release("no-such-hold", "r-release-2"), book([2], "r-book-2")]);
    const [again] = await store.applyBatch([book([2], "r-book-2")]);
    expect(again?.replayed).toBe(true);
    expect(answer(again)).toEqual(answer(second));
    expect((await store.bookings("main")).map((booking) => booking.seat)).toEqual([1, 2]);
  });

  it("replays a refusal after the seat became free, and a repeat within the batch", async () => {
    await store.applyBatch([book([5], "r-bob-5", BOB)]);
    const [refused] = await store.applyBatch([book([5], "r-alice-5")]);
    expect(refused).toMatchObject({ ok: false, reason: "SEAT_ALREADY_BOOKED", seats: [5] });
    await store.applyBatch([cancel([5], "r-bob-cancel-5", BOB)]);
    const [retried, repeated, reused] = await store.applyBatch([book([5], "r-alice-5"), book([5], "r-alice-5"), book([6], "r-alice-5")]);
    expect(retried?.replayed).toBe(true);
    expect(answer(retried)).toEqual(answer(refused));
    expect(answer(repeated)).toEqual(answer(refused));
    expect(reused).toMatchObject({ ok: false, reason: "REQUEST_ID_REUSED" });
    expect((await store.bookings("main")).some((booking) => booking.seat === 5 || booking.seat === 6)).toBe(false);
  });

  it("gives a retried hold the first attempt's hold, even with a new hold id and a lower hold limit", async () => {
    const [first] = await store.applyBatch([hold([10, 11], "r-hold-10", "hold-first")]);
    expect(first?.ok).toBe(true);
    const [retried] = await store.applyBatch([hold([10, 11], "r-hold-10", "hold-second", 1)]);
    expect(retried?.replayed).toBe(true);
    expect(answer(retried)).toEqual(answer(first));
    expect(retried?.ok === true ? retried.hold?.holdId : undefined).toBe("hold-first");
    expect(await store.getHold("hold-second")).toBeUndefined();
  });

  it("runs confirm, release and extend batches in one statement, replaying each with its first answer", async () => {
    const extend = (holdId: string, requestId: string, maxLifetimeMs: number): StoreCommand => ({
      kind: "extend", holdId, principal: ALICE, isAdmin: false, requestId, ttlMs: 120_000, maxLifetimeMs,
    });
    const confirm = (holdId: string, requestId: string, principal = ALICE): StoreCommand => ({
      kind: "confirm", holdId, principal, isAdmin: false, requestId,
    });
    await store.applyBatch([hold([14], "r-h14", "h14"), hold([15], "r-h15", "h15"), hold([16], "r-h16", "h16")]);
    const [extended, confirmed, stranger, released] = await store.applyBatch([
      extend("h14", "r-x14", 90_000),
      confirm("h15", "r-c15"),
      confirm("h16", "r-c16-bob", BOB),
      release("h16", "r-r16"),
    ]);
    expect(extended).toMatchObject({ ok: true, seats: [14] });
    expect(confirmed).toMatchObject({ ok: true, seats: [15] });
    expect(stranger).toMatchObject({ ok: false, reason: "HOLD_NOT_FOUND" });
    expect(released).toMatchObject({ ok: true, seats: [16] });
    // Retries, one with a lower lifetime cap than the first attempt had: each gets the first answer.
    const retried = await store.applyBatch([extend("h14", "r-x14", 1_000), confirm("h15", "r-c15"), release("h16", "r-r16")]);
    expect(retried.map((outcome) => outcome.replayed)).toEqual([true, true, true]);
    expect(retried.map(answer)).toEqual([extended, confirmed, released].map(answer));
    expect((await store.bookings("main")).find((booking) => booking.seat === 15)?.owner).toBe(ALICE);
    expect((await store.getHold("h16"))?.state).toBe("released");
  });

  it("decides book and cancel batches as the memory store does, on the set path (distinct seats) and the loop (shared seats) alike", async () => {
    const url = await postgres!.createDatabase();
    const pgStore = await PostgresStore.open({ connectionString: url });
    const memory = new MemoryStore();
    const shows = [{ id: "main", totalSeats: 30 }, { id: "small", totalSeats: 5 }];
    await pgStore.ensureShows(shows);
    await memory.ensureShows(shows);
    const random = seededRandom(11);
    const pick = (n: number) => Math.floor(random() * n);
    try {
      for (let round = 0; round < 40; round++) {
        const distinct = round % 2 === 0;
        const used = new Set<string>();
        const batch: StoreCommand[] = [];
        for (let k = 0; k < 1 + pick(12); k++) {
          const showId = pick(5) === 0 ? (pick(4) === 0 ? "nowhere" : "small") : "main";
          const seats = [...new Set(Array.from({ length: 1 + pick(3) }, () => 1 + pick(showId === "main" ? 32 : 7)))];
          if (distinct && seats.some((seat) => used.has(`${showId}:${seat}`))) continue;
          for (const seat of seats) used.add(`${showId}:${seat}`);
          const principal = pick(2) === 0 ? ALICE : BOB;
          batch.push({ kind: pick(2) === 0 ? "book" : "cancel", showId, seats, principal, isAdmin: pick(6) === 0, requestId: `p-${round}-${k}` });
        }
        const [fromPostgres, fromMemory] = await Promise.all([pgStore.applyBatch(batch), memory.applyBatch(batch)]);
        expect(fromPostgres, `round ${round}`).toEqual(fromMemory);
      }
      for (const show of shows) expect(await pgStore.bookings(show.id)).toEqual(await memory.bookings(show.id));
    } finally {
      await pgStore.close();
      await memory.close();
    }
  });

  it("decides batches with holds as the memory store does, hold limits included, on the set path (distinct seats) and the loop alike", async () => {
    const url = await postgres!.createDatabase();
    const pgStore = await PostgresStore.open({ connectionString: url });
    const memory = new MemoryStore();
    const shows = [{ id: "main", totalSeats: 200 }, { id: "small", totalSeats: 5 }];
    await pgStore.ensureShows(shows);
    await memory.ensureShows(shows);
    const random = seededRandom(23);
    const pick = (n: number) => Math.floor(random() * n);
    // The two stores' clocks differ by a little: compare everything but the instants.
    const timeless = (value: unknown): unknown =>
      value === undefined ? undefined : JSON.parse(JSON.stringify(value, (key, field: unknown) => (["expiresAt", "createdAt", "retryDelayMs"].includes(key) ? undefined : field)));
    const holdIds: string[] = [];
    let setPathHolds = 0;
    let overLimit = 0;
    try {
      for (let round = 0; round < 40; round++) {
        const distinct = round % 4 !== 3;
        const used = new Set<string>();
        const batch: StoreCommand[] = [];
        for (let k = 0; k < 1 + pick(12); k++) {
          const showId = pick(6) === 0 ? (pick(4) === 0 ? "nowhere" : "small") : "main";
          const seats = [...new Set(Array.from({ length: 1 + pick(3) }, () => 1 + pick(showId === "main" ? 202 : 7)))];
          if (distinct && seats.some((seat) => used.has(`${showId}:${seat}`))) continue;
          for (const seat of seats) used.add(`${showId}:${seat}`);
          const principal = pick(2) === 0 ? ALICE : BOB;
          const base = { showId, seats, principal, isAdmin: pick(6) === 0, requestId: `h-${round}-${k}` };
          const kind = pick(4);
          if (kind < 2) {
            const holdId = `hold-${round}-${k}`;
            holdIds.push(holdId);
            batch.push({ kind: "hold", ...base, holdId, ttlMs: 60_000, maxHoldsPerPrincipal: 3 + pick(4) });
          } else {
            batch.push({ kind: kind === 2 ? "book" : "cancel", ...base });
          }
        }
        // Now and then free some holds, so that the limits are reached and left again.
        if (round % 5 === 4) {
          for (const holdId of holdIds.slice(-8)) {
            const release = { kind: "release", holdId, principal: ALICE, isAdmin: true, requestId: "" } as const;
            expect(timeless(await pgStore.applyBatch([release]))).toEqual(timeless(await memory.applyBatch([release])));
          }
        }
        const [fromPostgres, fromMemory] = await Promise.all([pgStore.applyBatch(batch), memory.applyBatch(batch)]);
        expect(timeless(fromPostgres), `round ${round}`).toEqual(timeless(fromMemory));
        const holdOutcomes = fromPostgres.filter((_, index) => batch[index]?.kind === "hold");
        if (distinct) setPathHolds += holdOutcomes.filter((outcome) => outcome.ok).length;
        overLimit += holdOutcomes.filter((outcome) => !outcome.ok && outcome.reason === "TOO_MANY_HOLDS").length;
      }
      for (const show of shows) {
        expect(await pgStore.bookings(show.id)).toEqual(await memory.bookings(show.id));
        expect(timeless(await pgStore.snapshot(show.id))).toEqual(timeless(await memory.snapshot(show.id)));
      }
      for (const holdId of holdIds) expect(timeless(await pgStore.getHold(holdId)), holdId).toEqual(timeless(await memory.getHold(holdId)));
      // Holds were granted in batches that could take the set path, and the limit refused some.
      expect(setPathHolds).toBeGreaterThan(10);
      expect(overLimit).toBeGreaterThan(0);
    } finally {
      await pgStore.close();
      await memory.close();
    }
  });

  it("tells listeners of a commit whose NOTIFY was never sent, at the next catch-up read", async () => {
    const url = await postgres!.createDatabase();
    const listening = await PostgresStore.open({ connectionString: url, commitCatchUpMs: 100 });
    await listening.ensureShows([{ id: "main", totalSeats: 4 }]);
    const heard: string[] = [];
    listening.onCommit((showId, version) => heard.push(`${showId}:${version}`));
    const writer = await PostgresStore.open({ connectionString: url });
    const raw = new pg.Client({ connectionString: url });
    await raw.connect();
    try {
      await writer.applyBatch([book([1], "r-heard")]);
      await expect.poll(() => heard, { timeout: 10_000 }).toContain("main:1");
      // A version taken as a batch would take it, with no NOTIFY after it (its instance died).
      await raw.query("UPDATE shows SET version = version + 1 WHERE show_id = 'main'");
      await expect.poll(() => heard, { timeout: 10_000 }).toContain("main:2");
    } finally {
      await raw.end();
      await writer.close();
      await listening.close();
    }
  });

  it("looks request ids up by the primary key even while the requests table is empty and analyzed so", async () => {
    const url = await postgres!.createDatabase();
    const fresh = await PostgresStore.open({ connectionString: url });
    await fresh.ensureShows([{ id: "main", totalSeats: 4 }]);
    await fresh.close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const plans: string[] = [];
    client.on("notice", (notice) => plans.push(notice.message ?? ""));
    try {
      // auto_explain sends the plan of every statement inside the function to this session.
      await client.query("LOAD 'auto_explain'");
      await client.query("SET auto_explain.log_min_duration = 0");
      await client.query("SET auto_explain.log_nested_statements = on");
      await client.query("SET auto_explain.log_level = notice");
      await client.query(
        `SELECT * FROM run_seat_batch('{book}', '{main}', '{1}', '{1}', '{user:alice}', '{r-1}', '{f}',
           '{NULL}', '{NULL}', '{NULL}', '{book:main:1}', 0, 0, 100, 3600000)`,
      );
    } finally {
      await client.end();
    }
    const lookup = plans.find((plan) => /FROM requests r\s+WHERE r\.principal/.test(plan));
    expect(lookup, plans.join("\n---\n")).toBeDefined();
    // A keyed lookup: the key is the index condition, not a filter over a scan of the whole index.
    expect(lookup).toMatch(/Index Scan using requests_pkey on requests r[^\n]*\n\s+Index Cond: \(\(principal = /);
    expect(lookup).not.toMatch(/Seq Scan on requests|Join Filter/);
  });

  it("run_book_cancel_batch declines, changing nothing, a replay, a held seat, a repeated seat and a hold", async () => {
    const url = await postgres!.createDatabase();
    const fresh = await PostgresStore.open({ connectionString: url });
    await fresh.ensureShows([{ id: "main", totalSeats: 10 }]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const send = async (kinds: string[], seats: number[][], ids: string[]) => {
      const result = await client.query(
        `SELECT * FROM run_book_cancel_batch($1::text[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $7::boolean[],
           $8::text[], $9::bigint[], $10::int[], $11::text[], 0, 0, 100, 3600000)`,
        [kinds, kinds.map(() => "main"), seats.map((list) => list.length), seats.flat(), kinds.map(() => ALICE), ids,
          kinds.map(() => false), kinds.map(() => null), kinds.map(() => null), kinds.map(() => null), ids.map((id) => `fp-${id}`)],
      );
      return result.rows;
    };
    const state = async () =>
      (await client.query("SELECT (SELECT version FROM shows) AS version, (SELECT count(*) FROM requests) AS records, " +
        "(SELECT count(*) FROM seats WHERE owner IS NOT NULL) AS booked")).rows[0];
    try {
      // A batch it takes: one row per command and the trailer, the seat booked and recorded.
      const taken = await send(["book"], [[1]], ["r-1"]);
      expect(taken).toHaveLength(2);
      expect(taken[0]).toMatchObject({ changed: 1, found_seats: [1], booked_seats: [], stored_fingerprint: null });
      expect(taken[1]).toMatchObject({ changed_shows: ["main"] });
      const before = await state();
      expect(before).toMatchObject({ records: "1", booked: "1" });

      expect(await send(["book", "cancel"], [[2], [1]], ["r-2", "r-1"])).toEqual([]); // r-1 is recorded: a replay
      await fresh.applyBatch([hold([3], "h-req", "hold-3")]);
      const afterHold = await state();
      expect(await send(["book"], [[3]], ["r-3"])).toEqual([]); // seat 3 is held
      expect(await send(["book", "book"], [[4], [4, 5]], ["r-4", "r-5"])).toEqual([]); // seat 4 twice
      expect(await send(["book", "hold"], [[6], [7]], ["r-6", "r-7"])).toEqual([]); // a hold
      expect(await send(["book"], [[]], ["r-8"])).toEqual([]); // no seat
      expect(await state()).toEqual(afterHold);
    } finally {
      await client.end();
      await fresh.close();
    }
  });

  it("plans the statements on seats once per connection, keyed, and again once a show adds seats (schema version 7)", async () => {
    const url = await postgres!.createDatabase();
    const fresh = await PostgresStore.open({ connectionString: url });
    await fresh.ensureShows([{ id: "main", totalSeats: 40 }]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const plans: string[] = [];
    client.on("notice", (notice) => plans.push(notice.message ?? ""));
    // The plans of one batch of each function, sent on this one connection.
    const batchPlans = async (batchFunction: string, show: string, seat: number, id: string, kind = "book") => {
      plans.length = 0;
      await client.query(
        `SELECT * FROM ${batchFunction}($4::text[], $1::text[], '{1,2}', $2::int[], '{user:alice,user:bob}', $3::text[],
           '{f,f}', '{NULL,NULL}', '{NULL,NULL}', '{NULL,NULL}', '{fa,fb}', 0, 0, 100, 3600000)`,
        [[show, show], [seat, seat + 1, seat + 2], [`a-${id}`, `b-${id}`], [kind, kind]],
      );
      return plans.filter((plan) => /on public\.seats s\b/.test(plan));
    };
    const expectKeyed = (onSeats: string[]) => {
      // The locking read, the findings, the set-path check, the UPDATE.
      expect(onSeats.length, plans.join("\n---\n")).toBeGreaterThanOrEqual(4);
      for (const plan of onSeats) {
        // A custom plan unnests the batch's arrays as constants; a generic one, as parameters.
        expect(plan).not.toMatch(/Function Call: [^\n]*unnest\('/);
        // Every seat is reached by its key: no scan of the whole index, inside or outside a join.
        expect(plan).toMatch(/Index Scan using seats_pkey on public\.seats s[^\n]*\n\s+Output:[^\n]*\n\s+Index Cond: /);
        expect(plan).not.toMatch(/Index Scan using seats_pkey on public\.seats s[^\n]*\n\s+Output:[^\n]*\n\s+Filter: /);
        expect(plan).not.toMatch(/Seq Scan on public\.seats|Hash Join|Merge Join/);
      }
    };
    try {
      await client.query("LOAD 'auto_explain'");
      await client.query("SET auto_explain.log_min_duration = 0");
      await client.query("SET auto_explain.log_nested_statements = on");
      await client.query("SET auto_explain.log_verbose = on");
      await client.query("SET auto_explain.log_level = notice");
      // More batches than the five custom plans PostgreSQL makes before it may settle on a generic one.
      for (const batchFunction of ["run_seat_batch", "run_book_cancel_batch"]) {
        for (let batch = 1; batch <= 7; batch += 1) {
          const onSeats = await batchPlans(batchFunction, "main", batch * 3, `${batchFunction}-${batch}`);
          if (batch === 7) expect(onSeats.every((plan) => /Function Call: unnest\(\$\d+/.test(plan))).toBe(true);
        }
      }
      // A show of 20,000 seats joins the 40: plans made while seats was small must not stay.
      await fresh.ensureShows([{ id: "big", totalSeats: 20_000 }]);
      expectKeyed(await batchPlans("run_seat_batch", "big", 100, "seat-batch-big"));
      expectKeyed(await batchPlans("run_book_cancel_batch", "big", 200, "set-big"));
      // Cancelling them: few seats are booked, and the plan must not read every booked one.
      expectKeyed(await batchPlans("run_book_cancel_batch", "big", 200, "set-big-cancel", "cancel"));
    } finally {
      await client.end();
      await fresh.close();
    }
  });
});
