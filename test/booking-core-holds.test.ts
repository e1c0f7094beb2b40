import { describe, expect, it } from "vitest";
import { BookingCore } from "../src/core/booking-core.js";
import { isBookingFailure, type BookingFailure } from "../src/core/booking-failure.js";
import { MemoryStore } from "../src/stores/memory-store.js";

const alice = { principal: "spiffe://test/alice" };
const bob = { principal: "spiffe://test/bob" };
const admin = { principal: "spiffe://test/admin" };

/** A core over a memory store whose clock the test moves: no sleeps. */
async function openCore(options: { maxHoldsPerPrincipal?: number } = {}) {
  const clock = { now: 1_800_000_000_000 };
  let ids = 0;
  const core = await BookingCore.open({
    store: new MemoryStore({ now: () => clock.now }),
    shows: [{ id: "main", totalSeats: 10 }],
    admins: [admin.principal],
    maxHoldTtlMs: 15 * 60_000,
    maxHoldLifetimeMs: 30 * 60_000,
    newHoldId: () => `h${++ids}`,
    ...options,
  });
  return { core, clock };
}

async function failure(promise: Promise<unknown>): Promise<BookingFailure> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isBookingFailure(error)) throw new Error(`expected a BookingFailure, got ${String(error)}`);
  return error;
}

describe("BookingCore holds", () => {
  it("holds for the default TTL of 10 minutes, and the seats stop being available", async () => {
    const { core, clock } = await openCore();
    const { hold, replayed } = await core.hold({ showId: "", seats: [4, 3], requestId: "" }, alice);
    expect(replayed).toBe(false);
    expect(hold).toEqual({
      holdId: "h1",
      showId: "main",
      seats: [3, 4],
      owner: alice.principal,
      createdAt: clock.now,
      expiresAt: clock.now + 10 * 60_000,
      state: "active",
    });
    expect(await core.available("main")).toMatchObject({ heldCount: 2, bookedCount: 0 });
    const refused = await failure(core.book({ showId: "main", seats: [3], requestId: "" }, bob));
    expect(refused.reason).toBe("SEAT_HELD");
    expect(refused.retryDelayMs).toBe(10 * 60_000);
    expect(refused.message).toBe('seat 3 of show "main" is held; the hold lapses in 600 s unless confirmed');
  });

  it("makes hold ids of 128 random bits by default", async () => {
    const core = await BookingCore.open({ store: new MemoryStore(), shows: [{ id: "main", totalSeats: 10 }] });
    const first = await core.hold({ showId: "", seats: [1], requestId: "" }, alice);
    const second = await core.hold({ showId: "", seats: [2], requestId: "" }, alice);
    for (const { hold } of [first, second]) expect(Buffer.from(hold.holdId, "base64url")).toHaveLength(16);
    expect(first.hold.holdId).not.toBe(second.hold.holdId);
  });

  it("refuses a TTL under one second or over the maximum, naming the field", async () => {
    const { core } = await openCore();
    for (const ttlMs of [999, 15 * 60_000 + 1, -5_000]) {
      const error = await failure(core.hold({ showId: "", seats: [1], requestId: "", ttlMs }, alice));
      expect(error.reason).toBe("INVALID_ARGUMENT");
      expect(error.violations).toEqual([{ field: "ttl", description: "outside 1-900 s" }]);
    }
    expect((await core.available("main")).heldCount).toBe(0);
  });

  it("confirms at the last millisecond, and calls it expired at the instant of expiry", async () => {
    const { core, clock } = await openCore();
    await core.hold({ showId: "", seats: [1], requestId: "", ttlMs: 60_000 }, alice);
    await core.hold({ showId: "", seats: [2], requestId: "", ttlMs: 60_000 }, alice);
    clock.now += 59_999;
    await expect(core.confirmHold({ holdId: "h1", requestId: "" }, alice)).resolves.toMatchObject({ seats: [1], owner: alice.principal });
    clock.now += 1;
    const late = await failure(core.confirmHold({ holdId: "h2", requestId: "" }, alice));
    expect(late.reason).toBe("HOLD_EXPIRED");
    expect(late.holdId).toBe("h2");
    expect(late.message).toBe("hold h2 expired; its seats are no longer held");
    await expect(core.getHold("h2", alice)).resolves.toMatchObject({ state: "expired" });
    await expect(core.book({ showId: "", seats: [2], requestId: "" }, bob)).resolves.toMatchObject({ seats: [2] });
  });

  it("extends to now + TTL, capped at creation + the maximum lifetime, and not after expiry", async () => {
    const { core, clock } = await openCore();
    const created = clock.now;
    await core.hold({ showId: "", seats: [5], requestId: "", ttlMs: 60_000 }, alice);
    clock.now += 30_000;
    expect((await core.extendHold({ holdId: "h1", requestId: "", ttlMs: 15 * 60_000 }, alice)).hold.expiresAt).toBe(clock.now + 15 * 60_000);
    clock.now = created + 15 * 60_000 + 10_000;
    expect((await core.extendHold({ holdId: "h1", requestId: "", ttlMs: 15 * 60_000 }, alice)).hold.expiresAt).toBe(created + 30 * 60_000);
    clock.now = created + 30 * 60_000;
    expect((await failure(core.extendHold({ holdId: "h1", requestId: "" }, alice))).reason).toBe("HOLD_EXPIRED");
  });

  it("tells anyone but the owner that a hold does not exist; an admin may read and release it", async () => {
    const { core } = await openCore();
    await core.hold({ showId: "", seats: [6], requestId: "" }, alice);
    for (const attempt of [
      () => core.getHold("h1", bob),
      () => core.confirmHold({ holdId: "h1", requestId: "" }, bob),
      () => core.extendHold({ holdId: "h1", requestId: "" }, bob),
      () => core.releaseHold({ holdId: "h1", requestId: "" }, bob),
      () => core.confirmHold({ holdId: "h1", requestId: "" }, admin),
      () => core.getHold("nope", alice),
    ]) {
      const error = await failure(attempt());
      expect(error.reason).toBe("HOLD_NOT_FOUND");
    }
    await expect(core.getHold("h1", admin)).resolves.toMatchObject({ owner: alice.principal });
    await expect(core.releaseHold({ holdId: "h1", requestId: "" }, admin)).resolves.toMatchObject({ hold: { state: "released" } });
  });

  it("settles a confirm racing a release of the same hold: exactly one wins, the seats end in one state", async () => {
    for (let round = 0; round < 20; round++) {
      const { core } = await openCore();
      await core.hold({ showId: "", seats: [1, 2], requestId: "" }, alice);
      const [confirmed, released] = await Promise.allSettled(
        round % 2 === 0
          ? [core.confirmHold({ holdId: "h1", requestId: "" }, alice), core.releaseHold({ holdId: "h1", requestId: "" }, alice)]
          : [core.confirmHold({ holdId: "h1", requestId: "" }, alice), core.releaseHold({ holdId: "h1", requestId: "" }, admin)],
      );
      expect([confirmed?.status, released?.status].filter((status) => status === "fulfilled")).toHaveLength(1);
      const snapshot = await core.available("main");
      if (confirmed?.status === "fulfilled") {
        expect(snapshot).toMatchObject({ bookedCount: 2, heldCount: 0 });
        expect(released?.status === "rejected" && (released.reason as BookingFailure).reason).toBe("HOLD_CONFIRMED");
      } else {
        expect(snapshot).toMatchObject({ bookedCount: 0, heldCount: 0 });
        expect(confirmed?.status === "rejected" && (confirmed.reason as BookingFailure).reason).toBe("HOLD_RELEASED");
      }
    }
  });

  it("limits live holds per principal with TOO_MANY_HOLDS, naming the limit", async () => {
    const { core } = await openCore({ maxHoldsPerPrincipal: 2 });
    await core.hold({ showId: "", seats: [1], requestId: "" }, alice);
    await core.hold({ showId: "", seats: [2], requestId: "" }, alice);
    const error = await failure(core.hold({ showId: "", seats: [3], requestId: "" }, alice));
    expect(error.reason).toBe("TOO_MANY_HOLDS");
    expect(error.message).toContain("maximum of 2 live holds");
    await core.confirmHold({ holdId: "h1", requestId: "" }, alice);
    await expect(core.hold({ showId: "", seats: [3], requestId: "" }, alice)).resolves.toMatchObject({ hold: { seats: [3] } });
  });
});

describe("BookingCore shows", () => {
  it("lets only admins create, close and resize shows", async () => {
    const { core } = await openCore();
    for (const attempt of [
      () => core.createShow({ showId: "gala", totalSeats: 5, displayName: "", requestId: "" }, alice),
      () => core.closeShow({ showId: "main", requestId: "" }, alice),
      () => core.resizeShow({ showId: "main", totalSeats: 20, requestId: "" }, alice),
    ]) {
      const error = await failure(attempt());
      expect(error.reason).toBe("ADMIN_ONLY");
      expect(error.message).toContain("spiffe://test/alice is not one");
    }
  });

  it("checks a new show's id, seat count and display name", async () => {
    const { core } = await openCore();
    const create = (showId: string, totalSeats: number, displayName = "") => failure(core.createShow({ showId, totalSeats, displayName, requestId: "" }, admin));
    expect((await create("Gala", 5)).violations[0]?.field).toBe("show_id");
    expect((await create("-gala", 5)).violations[0]?.field).toBe("show_id");
    expect((await create("gala", 0)).violations[0]?.field).toBe("total_seats");
    expect((await create("gala", 1_000_001)).violations[0]?.field).toBe("total_seats");
    expect((await create("gala", 5, "x".repeat(201))).violations[0]?.field).toBe("display_name");
    expect((await core.listShows({ pageSize: 0, pageToken: "" })).shows.map((show) => show.id)).toEqual(["main"]);
  });

  it("creates a show that is bookable at once, replays a retried create, and refuses an existing id", async () => {
    const { core } = await openCore();
    const created = await core.createShow({ showId: "gala", totalSeats: 5, displayName: "Gala", requestId: "c-1" }, admin);
    expect(created).toMatchObject({ replayed: false, show: { id: "gala", totalSeats: 5, displayName: "Gala", state: "open" } });
    await expect(core.createShow({ showId: "gala", totalSeats: 5, displayName: "Gala", requestId: "c-1" }, admin)).resolves.toMatchObject({ replayed: true });
    expect((await failure(core.createShow({ showId: "gala", totalSeats: 5, displayName: "Gala", requestId: "c-2" }, admin))).reason).toBe("SHOW_EXISTS");
    await expect(core.book({ showId: "gala", seats: [5], requestId: "" }, alice)).resolves.toMatchObject({ seats: [5] });
    expect((await failure(core.book({ showId: "gala", seats: [6, 0], requestId: "" }, alice))).message).toContain("seats 0, 6 not in 1-5");
  });

  it("pages through shows with opaque tokens and refuses a token it did not make", async () => {
    const { core } = await openCore();
    for (const id of ["a", "b", "c"]) await core.createShow({ showId: id, totalSeats: 1, displayName: "", requestId: "" }, admin);
    const first = await core.listShows({ pageSize: 2, pageToken: "" });
    expect(first.shows.map((show) => show.id)).toEqual(["a", "b"]);
    const second = await core.listShows({ pageSize: 2, pageToken: first.nextPageToken });
    expect(second.shows.map((show) => show.id)).toEqual(["c", "main"]);
    expect(second.nextPageToken).toBe("");
    expect((await failure(core.listShows({ pageSize: 2, pageToken: "garbage" }))).violations[0]?.field).toBe("page_token");
    expect((await failure(core.listShows({ pageSize: 1001, pageToken: "" }))).violations[0]?.field).toBe("page_size");
  });

  it("shrinks only above free seats, naming every booked or held seat in the way", async () => {
    const { core } = await openCore();
    await core.book({ showId: "", seats: [9], requestId: "" }, alice);
    await core.hold({ showId: "", seats: [7], requestId: "" }, bob);
    const blocked = await failure(core.resizeShow({ showId: "main", totalSeats: 6, requestId: "" }, admin));
    expect(blocked.reason).toBe("SHOW_SHRINK_BLOCKED");
    expect(blocked.seats).toEqual([7, 9]);
    expect(blocked.message).toBe('show "main" cannot shrink: seats 7, 9 above the new total are booked or held');
    await expect(core.resizeShow({ showId: "main", totalSeats: 9, requestId: "" }, admin)).resolves.toMatchObject({ show: { totalSeats: 9 } });
    expect((await failure(core.book({ showId: "", seats: [10], requestId: "" }, alice))).reason).toBe("INVALID_SEATS");
  });
});
