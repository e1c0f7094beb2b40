import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BookingClient } from "../client/index.js";
import { DEV_PRINCIPALS, type TestCertificate } from "./support/test-pki.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { SdkClients } from "./support/sdk-clients.js";
import { sdkFailure } from "./support/sdk-failure.js";

/** Low enough for carol to reach in a few calls, high enough for alice's holds across this file. */
const MAX_HOLDS = 10;

let server: TestServer;
const clients = new SdkClients(() => server);
let alice: BookingClient;
let bob: BookingClient;
let admin: BookingClient;

function clientAs(identity: TestCertificate): BookingClient {
  return clients.as(identity);
}

const failure = sdkFailure;

/** A live hold of alice's in show "main". */
async function aliceHolds(seats: number[], ttlMs = 60_000): Promise<string> {
  const { hold } = await alice.holdSeats({ seats, ttlMs });
  if (hold === undefined) throw new Error("no hold in the answer");
  return hold.holdId;
}

beforeAll(async () => {
  server = await startTestServer({
    shows: [
      { id: "main", totalSeats: 100 },
      { id: "small", totalSeats: 5 },
      { id: "limits", totalSeats: 20 },
    ],
    core: { maxHoldsPerPrincipal: MAX_HOLDS },
  });
  alice = clientAs(server.pki.clients.alice);
  bob = clientAs(server.pki.clients.bob);
  admin = clientAs(server.pki.clients.admin);
});

afterAll(async () => {
  clients.closeAll();
  await server.stop();
});

describe("holds and shows over mutual TLS: refusals", () => {
  it("answers ALREADY_EXISTS (SEAT_HELD) with the hold's time left as RetryInfo, to a booking and to a hold", async () => {
    await aliceHolds([5, 6], 60_000);
    for (const call of [() => bob.bookSeats({ seats: [4, 5, 6] }), () => bob.holdSeats({ seats: [6, 7] })]) {
      const error = await failure(call());
      expect(error.code).toBe(status.ALREADY_EXISTS);
      expect(error.reason).toBe("SEAT_HELD");
      expect(error.message).toMatch(/^seats? [56](, 6)? of show "main" (is|are) held; the hold lapses in (59|60) s unless confirmed$/);
      expect(error.retryDelayMs).toBeGreaterThan(55_000);
      expect(error.retryDelayMs).toBeLessThanOrEqual(60_000);
      expect(error.showId).toBe("main");
    }
    const booking = await failure(bob.bookSeats({ seats: [4, 5, 6] }));
    expect(booking.seats).toEqual([5, 6]);
    expect((await bob.showAvailable({})).availableSeats).toContain(4);
  });

  it("answers NOT_FOUND (HOLD_NOT_FOUND) to everyone but the hold's owner, for every hold call", async () => {
    const holdId = await aliceHolds([8]);
    for (const call of [
      () => bob.getHold({ holdId }),
      () => bob.confirmHold({ holdId }),
      () => bob.extendHold({ holdId, ttlMs: 60_000 }),
      () => bob.releaseHold({ holdId }),
    ]) {
      const error = await failure(call());
      expect(error.code).toBe(status.NOT_FOUND);
      expect(error.reason).toBe("HOLD_NOT_FOUND");
      expect(error.message).toBe(`hold ${holdId} does not exist`);
      expect(error.metadata["hold_id"]).toBe(holdId);
      expect(error.message).not.toContain(DEV_PRINCIPALS.alice);
    }
    expect((await failure(alice.getHold({ holdId: "no-such-hold" }))).reason).toBe("HOLD_NOT_FOUND");
    // Bob's attempts changed nothing.
    expect((await alice.getHold({ holdId })).hold?.seats).toEqual([8]);
  });

  it("answers FAILED_PRECONDITION (HOLD_CONFIRMED, HOLD_RELEASED) for a hold that already ended", async () => {
    const confirmed = await aliceHolds([9]);
    await alice.confirmHold({ holdId: confirmed });
    const again = await failure(alice.confirmHold({ holdId: confirmed }));
    expect([again.code, again.reason, again.message]).toEqual([
      status.FAILED_PRECONDITION,
      "HOLD_CONFIRMED",
      `hold ${confirmed} was already confirmed`,
    ]);

    const released = await aliceHolds([10]);
    await alice.releaseHold({ holdId: released });
    for (const call of [() => alice.extendHold({ holdId: released }), () => alice.releaseHold({ holdId: released })]) {
      const error = await failure(call());
      expect([error.code, error.reason, error.message]).toEqual([
        status.FAILED_PRECONDITION,
        "HOLD_RELEASED",
        `hold ${released} was released`,
      ]);
    }
  });

  it("answers PERMISSION_DENIED (ADMIN_ONLY) when a non-admin creates, closes or resizes a show", async () => {
    for (const call of [
      () => alice.createShow({ showId: "alices-show", totalSeats: 10 }),
      () => alice.closeShow({ showId: "main" }),
      () => alice.resizeShow({ showId: "main", totalSeats: 200 }),
    ]) {
      const error = await failure(call());
      expect(error.code).toBe(status.PERMISSION_DENIED);
      expect(error.reason).toBe("ADMIN_ONLY");
      expect(error.message).toMatch(new RegExp(`^only an admin may .+; ${DEV_PRINCIPALS.alice} is not one$`));
    }
    expect((await failure(alice.getShow({ showId: "alices-show" }))).reason).toBe("SHOW_NOT_FOUND");
  });

  it("answers FAILED_PRECONDITION (SHOW_CLOSED) to bookings, holds and confirmations in a closed show; cancels still work", async () => {
    await admin.createShow({ showId: "closing", totalSeats: 10 });
    await alice.bookSeats({ showId: "closing", seats: [1] });
    const { hold } = await alice.holdSeats({ showId: "closing", seats: [2], ttlMs: 60_000 });
    await admin.closeShow({ showId: "closing" });
    for (const call of [
      () => alice.bookSeats({ showId: "closing", seats: [3] }),
      () => alice.holdSeats({ showId: "closing", seats: [3] }),
    ]) {
      const error = await failure(call());
      expect(error.code).toBe(status.FAILED_PRECONDITION);
      expect(error.reason).toBe("SHOW_CLOSED");
      expect(error.message).toBe('show "closing" is closed: no new bookings, holds or confirmations');
      expect(error.showId).toBe("closing");
    }
    const confirm = await failure(alice.confirmHold({ holdId: hold!.holdId }));
    expect([confirm.code, confirm.reason]).toEqual([status.FAILED_PRECONDITION, "SHOW_CLOSED"]);
    expect(confirm.message).toMatch(/ is closed: no new bookings, holds or confirmations$/);
    expect(confirm.seats).toEqual([2]);
    expect((await alice.cancelSeats({ showId: "closing", seats: [1] })).seats).toEqual([1]);
  });

  it("names the hold's show in a SHOW_CLOSED refusal of ConfirmHold", async () => {
    await admin.createShow({ showId: "closing-confirm", totalSeats: 10 });
    const { hold } = await alice.holdSeats({ showId: "closing-confirm", seats: [2], ttlMs: 60_000 });
    await admin.closeShow({ showId: "closing-confirm" });
    const error = await failure(alice.confirmHold({ holdId: hold!.holdId }));
    expect(error.message).toBe('show "closing-confirm" is closed: no new bookings, holds or confirmations');
    expect(error.showId).toBe("closing-confirm");
  });

  it("answers FAILED_PRECONDITION (SHOW_SHRINK_BLOCKED) naming every booked or held seat above the new total", async () => {
    await admin.createShow({ showId: "shrinking", totalSeats: 30 });
    await alice.bookSeats({ showId: "shrinking", seats: [12, 25] });
    await bob.holdSeats({ showId: "shrinking", seats: [18], ttlMs: 60_000 });
    const error = await failure(admin.resizeShow({ showId: "shrinking", totalSeats: 10 }));
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.reason).toBe("SHOW_SHRINK_BLOCKED");
    expect(error.seats).toEqual([12, 18, 25]);
    expect(error.message).toBe('show "shrinking" cannot shrink: seats 12, 18, 25 above the new total are booked or held');
    expect((await admin.getShow({ showId: "shrinking" })).show?.totalSeats).toBe(30);
    // Down to the highest sold seat is fine.
    expect((await admin.resizeShow({ showId: "shrinking", totalSeats: 25 })).show?.totalSeats).toBe(25);
  });

  it("answers ALREADY_EXISTS (SHOW_EXISTS) for a show id that is taken, and NOT_FOUND for a hold in an unknown show", async () => {
    const exists = await failure(admin.createShow({ showId: "small", totalSeats: 5 }));
    expect([exists.code, exists.reason, exists.message]).toEqual([status.ALREADY_EXISTS, "SHOW_EXISTS", 'show "small" already exists']);
    const missing = await failure(alice.holdSeats({ showId: "nowhere", seats: [1] }));
    expect([missing.code, missing.reason, missing.message]).toEqual([
      status.NOT_FOUND,
      "SHOW_NOT_FOUND",
      'show "nowhere" does not exist on this server',
    ]);
  });

  it(`answers RESOURCE_EXHAUSTED (TOO_MANY_HOLDS) for a principal's hold beyond ${MAX_HOLDS} live ones, without RetryInfo`, async () => {
    const carol = clientAs(server.pki.clients.carol);
    const holds: string[] = [];
    for (let seat = 1; seat <= MAX_HOLDS; seat++) {
      holds.push((await carol.holdSeats({ showId: "limits", seats: [seat] })).hold!.holdId);
    }
    const error = await failure(carol.holdSeats({ showId: "limits", seats: [MAX_HOLDS + 1] }));
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.reason).toBe("TOO_MANY_HOLDS");
    expect(error.message).toBe(`the caller has the maximum of ${MAX_HOLDS} live holds; confirm or release one first`);
    expect(error.retryDelayMs).toBeUndefined();
    expect(error.attempts).toBe(1);
    // Releasing one makes room; other principals were never limited by carol's holds.
    await carol.releaseHold({ holdId: holds[0]! });
    expect((await carol.holdSeats({ showId: "limits", seats: [MAX_HOLDS + 1] })).hold?.seats).toEqual([MAX_HOLDS + 1]);
    expect((await bob.holdSeats({ showId: "limits", seats: [MAX_HOLDS + 2] })).hold?.owner).toBe(DEV_PRINCIPALS.bob);
  });

  it("answers INVALID_ARGUMENT (REQUEST_ID_REUSED) for a request id reused for a different hold", async () => {
    await alice.holdSeats({ seats: [30], requestId: "e2e-hold-reuse" });
    const error = await failure(alice.holdSeats({ seats: [31], requestId: "e2e-hold-reuse" }));
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.reason).toBe("REQUEST_ID_REUSED");
    expect(error.message).toBe(
      'request_id "e2e-hold-reuse" was already used for a different request; use a new id for a new request',
    );
    expect(error.violations.map((violation) => violation.field)).toEqual(["request_id"]);
    expect((await alice.showAvailable({})).availableSeats).toContain(31);
  });

  it.each([
    { case: "half a second", ttlMs: 500, text: "ttl must be between 1 s and 900 s, got 0.5 s" },
    { case: "an hour", ttlMs: 3_600_000, text: "ttl must be between 1 s and 900 s, got 3600 s" },
  ])("answers INVALID_ARGUMENT naming the ttl field for a TTL of $case, to a hold and an extension", async ({ ttlMs, text }) => {
    const holdId = await aliceHolds([40]);
    for (const call of [() => alice.holdSeats({ seats: [41], ttlMs }), () => alice.extendHold({ holdId, ttlMs })]) {
      const error = await failure(call());
      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.reason).toBe("INVALID_ARGUMENT");
      expect(error.message).toBe(text);
      expect(error.violations.map((violation) => violation.field)).toEqual(["ttl"]);
    }
    await alice.releaseHold({ holdId });
  });

  it("answers INVALID_ARGUMENT naming the field for a bad show id, seat count or page token", async () => {
    const badId = await failure(admin.createShow({ showId: "Gala Night", totalSeats: 10 }));
    expect([badId.code, badId.reason]).toEqual([status.INVALID_ARGUMENT, "INVALID_ARGUMENT"]);
    expect(badId.message).toBe(
      'show_id "Gala Night" is not a valid id: use 1-63 lowercase letters, digits and dashes, starting with a letter or digit',
    );
    expect(badId.violations.map((violation) => violation.field)).toEqual(["show_id"]);

    const noSeats = await failure(admin.createShow({ showId: "empty", totalSeats: 0 }));
    expect([noSeats.code, noSeats.reason, noSeats.message]).toEqual([
      status.INVALID_ARGUMENT,
      "INVALID_ARGUMENT",
      "total_seats must be 1 to 1000000, got 0",
    ]);

    const badToken = await failure(alice.listShows({ pageToken: "not-a-token" }));
    expect([badToken.code, badToken.reason, badToken.message]).toEqual([
      status.INVALID_ARGUMENT,
      "INVALID_ARGUMENT",
      "page_token is not a token this server made; pass next_page_token as received",
    ]);
    expect(badToken.violations.map((violation) => violation.field)).toEqual(["page_token"]);
  });
});
