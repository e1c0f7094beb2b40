import { describe, expect, it } from "vitest";
import { BookingCore } from "../src/core/booking-core.js";
import { BookingFailure, isBookingFailure } from "../src/core/booking-failure.js";
import { MemoryStore } from "../src/stores/memory-store.js";

const alice = { principal: "spiffe://test/alice" };
const bob = { principal: "spiffe://test/bob" };
const admin = { principal: "spiffe://test/admin" };

function openCore(options: { maxSeatsPerRequest?: number; maxQueuedChanges?: number } = {}): Promise<BookingCore> {
  return BookingCore.open({
    store: new MemoryStore(),
    shows: [
      { id: "main", totalSeats: 10 },
      { id: "matinee", totalSeats: 3 },
    ],
    admins: [admin.principal],
    ...options,
  });
}

async function refusal(promise: Promise<unknown>): Promise<BookingFailure> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isBookingFailure(error)) throw new Error(`expected a BookingFailure, got ${String(error)}`);
  return error;
}

describe("BookingCore", () => {
  it("books seats for the caller and lists the rest as available", async () => {
    const core = await openCore();
    const change = await core.book({ showId: "", seats: [3, 1, 2], requestId: "" }, alice);
    expect(change).toEqual({ showId: "main", seats: [1, 2, 3], owner: alice.principal, replayed: false });
    const snapshot = await core.available("main");
    expect(snapshot.bookedCount).toBe(3);
    expect(snapshot.available).toEqual([4, 5, 6, 7, 8, 9, 10]);
  });

  it("refuses an empty seat list", async () => {
    const core = await openCore();
    const error = await refusal(core.book({ showId: "", seats: [], requestId: "" }, alice));
    expect(error.reason).toBe("INVALID_SEATS");
    expect(error.violations[0]?.field).toBe("seats");
  });

  it("refuses seat 0 and seats beyond the show, naming each of them", async () => {
    const core = await openCore();
    const error = await refusal(core.book({ showId: "main", seats: [0, 5, 11, 12], requestId: "" }, alice));
    expect(error.reason).toBe("INVALID_SEATS");
    expect(error.seats).toEqual([0, 11, 12]);
    expect(error.message).toContain("seats 0, 11, 12 not in 1-10");
    expect((await core.available("main")).bookedCount).toBe(0);
  });

  it("refuses a seat named twice in one request", async () => {
    const core = await openCore();
    const error = await refusal(core.book({ showId: "main", seats: [4, 2, 4], requestId: "" }, alice));
    expect(error.reason).toBe("INVALID_SEATS");
    expect(error.seats).toEqual([4]);
    expect(error.message).toContain("seat 4 repeated");
  });

  it("refuses more seats than the per-request maximum", async () => {
    const core = await openCore({ maxSeatsPerRequest: 2 });
    const error = await refusal(core.book({ showId: "main", seats: [1, 2, 3], requestId: "" }, alice));
    expect(error.reason).toBe("TOO_MANY_SEATS");
    expect(error.message).toContain("at most 2 seats");
  });

  it("refuses an unknown show", async () => {
    const core = await openCore();
    const error = await refusal(core.book({ showId: "gala", seats: [1], requestId: "" }, alice));
    expect(error.reason).toBe("SHOW_NOT_FOUND");
    expect(error.message).toContain('"gala"');
    await expect(core.available("gala")).rejects.toMatchObject({ reason: "SHOW_NOT_FOUND" });
  });

  it("refuses a request id longer than 128 characters", async () => {
    const core = await openCore();
    const error = await refusal(core.book({ showId: "main", seats: [1], requestId: "x".repeat(129) }, alice));
    expect(error.reason).toBe("INVALID_REQUEST_ID");
  });

  it("books all seats or none: one taken seat refuses the whole request", async () => {
    const core = await openCore();
    await core.book({ showId: "main", seats: [2, 5], requestId: "" }, bob);
    const error = await refusal(core.book({ showId: "main", seats: [1, 2, 3, 5], requestId: "" }, alice));
    expect(error.reason).toBe("SEAT_ALREADY_BOOKED");
    expect(error.seats).toEqual([2, 5]);
    expect(error.message).toBe('seats 2, 5 of show "main" are already booked');
    expect((await core.available("main")).available).toEqual([1, 3, 4, 6, 7, 8, 9, 10]);
  });

  it("refuses to cancel a seat that is not booked", async () => {
    const core = await openCore();
    await core.book({ showId: "main", seats: [1], requestId: "" }, alice);
    const error = await refusal(core.cancel({ showId: "main", seats: [1, 2], requestId: "" }, alice));
    expect(error.reason).toBe("SEAT_NOT_BOOKED");
    expect(error.seats).toEqual([2]);
    expect((await core.available("main")).bookedCount).toBe(1);
  });

  it("lets only the owner or an admin cancel a seat", async () => {
    const core = await openCore();
    await core.book({ showId: "main", seats: [7, 8], requestId: "" }, alice);
    const error = await refusal(core.cancel({ showId: "main", seats: [7], requestId: "" }, bob));
    expect(error.reason).toBe("SEAT_NOT_OWNED");
    expect(error.message).toBe('seat 7 of show "main" is booked by another principal');
    await expect(core.cancel({ showId: "main", seats: [7], requestId: "" }, alice)).resolves.toMatchObject({ seats: [7] });
    await expect(core.cancel({ showId: "main", seats: [8], requestId: "" }, admin)).resolves.toMatchObject({ seats: [8] });
    expect((await core.available("main")).bookedCount).toBe(0);
  });

  it("replays the outcome of a repeated request id instead of acting twice", async () => {
    const core = await openCore();
    const first = await core.book({ showId: "main", seats: [1], requestId: "r-1" }, alice);
    const again = await core.book({ showId: "main", seats: [1], requestId: "r-1" }, alice);
    expect(first.replayed).toBe(false);
    expect(again).toEqual({ ...first, replayed: true });
    const reused = await refusal(core.book({ showId: "main", seats: [2], requestId: "r-1" }, alice));
    expect(reused.reason).toBe("REQUEST_ID_REUSED");
    expect((await core.available("main")).bookedCount).toBe(1);
  });

  it("refuses new changes once its queue is full, asking the client to retry", async () => {
    const core = await openCore({ maxQueuedChanges: 1 });
    const queued = [1, 2, 3].map((seat) => core.book({ showId: "main", seats: [seat], requestId: "" }, alice));
    const settled = await Promise.allSettled(queued);
    const overloaded = settled.filter((result) => result.status === "rejected");
    expect(overloaded.length).toBeGreaterThan(0);
    for (const result of overloaded) {
      expect(result.status === "rejected" && isBookingFailure(result.reason) && result.reason.reason).toBe("OVERLOADED");
      expect(result.status === "rejected" && (result.reason as BookingFailure).retryDelayMs).toBeGreaterThan(0);
    }
  });

  it("does not start a change whose deadline passed while it waited", async () => {
    const core = await openCore();
    const error = await refusal(core.book({ showId: "main", seats: [1], requestId: "" }, { ...alice, deadline: Date.now() - 1 }));
    expect(error.reason).toBe("DEADLINE_EXCEEDED");
    expect((await core.available("main")).bookedCount).toBe(0);
  });

  it("books every seat at most once under 1,000 concurrent overlapping bookings", async () => {
    const core = await BookingCore.open({ store: new MemoryStore(), shows: [{ id: "main", totalSeats: 100 }] });
    const requests = Array.from({ length: 1000 }, (_, index) => {
      const first = (index * 7) % 98 + 1;
      return { principal: `spiffe://test/p${index % 50}`, seats: [first, first + 1, first + 2] };
    });
    const results = await Promise.allSettled(
      requests.map((request) => core.book({ showId: "main", seats: request.seats, requestId: "" }, request)),
    );
    const owners = new Map<number, string>();
    results.forEach((result, index) => {
      const request = requests[index];
      if (result.status === "fulfilled" && request !== undefined) {
        for (const seat of result.value.seats) {
          expect(owners.has(seat), `seat ${seat} booked twice`).toBe(false);
          owners.set(seat, request.principal);
        }
      } else if (result.status === "rejected") {
        expect((result.reason as BookingFailure).reason).toBe("SEAT_ALREADY_BOOKED");
      }
    });
    const snapshot = await core.available("main");
    expect(snapshot.bookedCount).toBe(owners.size);
    expect(snapshot.available.length + owners.size).toBe(100);
    for (const seat of snapshot.available) expect(owners.has(seat)).toBe(false);
  });
});

describe("isBookingFailure", () => {
  it("recognises a failure by its shape, so one from another copy of the module counts, and nothing else does", () => {
    const fromAnotherCopy = Object.assign(new Error("seat 3 is taken"), { name: "BookingFailure", reason: "SEAT_ALREADY_BOOKED", showId: "main", seats: [3] });
    expect(isBookingFailure(fromAnotherCopy)).toBe(true);
    expect(isBookingFailure(new BookingFailure("x", { reason: "OVERLOADED", showId: "" }))).toBe(true);
    expect(isBookingFailure(Object.assign(new Error("x"), { name: "BookingFailure" }))).toBe(false);
    expect(isBookingFailure({ name: "BookingFailure", reason: "OVERLOADED", showId: "", seats: [] })).toBe(false);
    expect(isBookingFailure(new TypeError("x"))).toBe(false);
  });
});
