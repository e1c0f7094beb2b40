import { timestampMs } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HoldState,
  ShowState,
  type BookingClient,
  type BookingClientOptions,
  type RetryEvent,
  type Show,
} from "../client/index.js";
import { TcpProxy } from "./support/tcp-proxy.js";
import { DEV_PRINCIPALS, type TestCertificate } from "./support/test-pki.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { SdkClients } from "./support/sdk-clients.js";
import { sdkFailure } from "./support/sdk-failure.js";

let server: TestServer;
let proxy: TcpProxy;
/** Called when a call of `method` has succeeded on the server, before its reply is sent. */
let onCommitted: ((method: string) => void) | undefined;
const clients = new SdkClients(() => server);

beforeAll(async () => {
  server = await startTestServer({
    server: {
      observer: {
        callStarted: () => {},
        callFinished: (method, code) => {
          if (code === status.OK) onCommitted?.(method);
        },
        callRejected: () => {},
      },
    },
  });
  proxy = await TcpProxy.start(server.port);
});

afterAll(async () => {
  clients.closeAll();
  await proxy.close();
  await server.stop();
});

function clientAs(identity: TestCertificate, options: Partial<BookingClientOptions> = {}): BookingClient {
  return clients.as(identity, options);
}

const failure = sdkFailure;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected the call to reject");
    },
    (caught: unknown) => caught,
  );
}

describe("BookingClient shows", () => {
  it("creates, reads, resizes and closes a show as the admin", async () => {
    const admin = clientAs(server.pki.clients.admin);
    const created = await admin.createShow({ showId: "gala", totalSeats: 40, displayName: "Gala night" });
    expect(created.replayed).toBe(false);
    expect(created.show).toMatchObject({
      showId: "gala",
      displayName: "Gala night",
      totalSeats: 40,
      bookedCount: 0,
      heldCount: 0,
      state: ShowState.OPEN,
    });
    expect(Math.abs(timestampMs(created.show!.createTime!) - Date.now())).toBeLessThan(60_000);

    const alice = clientAs(server.pki.clients.alice);
    await alice.bookSeats({ showId: "gala", seats: [1, 2] });
    expect((await alice.getShow({ showId: "gala" })).show).toMatchObject({ totalSeats: 40, bookedCount: 2 });

    expect((await admin.resizeShow({ showId: "gala", totalSeats: 60 })).show?.totalSeats).toBe(60);
    expect((await admin.resizeShow({ showId: "gala", totalSeats: 10 })).show?.totalSeats).toBe(10);
    const closed = await admin.closeShow({ showId: "gala" });
    expect(closed.show?.state).toBe(ShowState.CLOSED);
    // Closing again is a no-op, not an error.
    expect((await admin.closeShow({ showId: "gala" })).show?.state).toBe(ShowState.CLOSED);
  });

  it("reads the server's default show when getShow is given no show id", async () => {
    const alice = clientAs(server.pki.clients.alice);
    expect((await alice.getShow()).show?.showId).toBe("main");
    expect((await alice.getShow({})).show?.totalSeats).toBe(100);
  });

  it("replays a CreateShow sent again with the same request id", async () => {
    const admin = clientAs(server.pki.clients.admin);
    const first = await admin.createShow({ showId: "matinee", totalSeats: 5 }, { requestId: "sdk-create-matinee" });
    const again = await admin.createShow({ showId: "matinee", totalSeats: 5 }, { requestId: "sdk-create-matinee" });
    expect(first.replayed).toBe(false);
    expect(again.replayed).toBe(true);
    expect(again.show?.showId).toBe("matinee");
  });

  it("lists one page at a time, and listAllShows walks every page in id order", async () => {
    const admin = clientAs(server.pki.clients.admin);
    const ids = Array.from({ length: 7 }, (_, index) => `page-${index}`);
    for (const showId of ids) await admin.createShow({ showId, totalSeats: 3 });

    const first = await admin.listShows({ pageSize: 2 });
    expect(first.shows).toHaveLength(2);
    expect(first.nextPageToken).not.toBe("");
    const second = await admin.listShows({ pageSize: 2, pageToken: first.nextPageToken });
    expect(second.shows[0]!.showId > first.shows[1]!.showId).toBe(true);

    const everything: Show[] = [];
    for await (const show of admin.listAllShows({ pageSize: 2 })) everything.push(show);
    const listed = everything.map((show) => show.showId);
    expect(listed).toEqual([...listed].sort());
    expect(new Set(listed).size).toBe(listed.length);
    expect(listed).toEqual(expect.arrayContaining([...ids, "main", "small"]));
    // The default page size answers the same shows in one page.
    const onePage = await admin.listShows();
    expect(onePage.nextPageToken).toBe("");
    expect(onePage.shows.map((show) => show.showId)).toEqual(listed);
  });

  it("rejects the listAllShows loop with a BookingError when a page fails", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const loop = async () => {
      for await (const show of alice.listAllShows({ pageSize: 5000 })) void show;
    };
    const error = await failure(loop());
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.reason).toBe("INVALID_ARGUMENT");
    expect(error.message).toBe("page_size must be 1 to 1000 (0 for 100), got 5000");
  });
});

describe("BookingClient holds", () => {
  it("holds seats for the caller with ttlMs, and they stop being available", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const before = Date.now();
    const { hold, replayed } = await alice.holdSeats({ showId: "main", seats: [12, 11], ttlMs: 90_000 });
    expect(replayed).toBe(false);
    expect(hold).toMatchObject({ showId: "main", seats: [11, 12], owner: DEV_PRINCIPALS.alice, state: HoldState.ACTIVE });
    expect(hold?.holdId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const lifetime = timestampMs(hold!.expireTime!) - timestampMs(hold!.createTime!);
    expect(lifetime).toBe(90_000);
    expect(timestampMs(hold!.createTime!)).toBeGreaterThanOrEqual(before - 1000);
    const snapshot = await alice.showAvailable({});
    expect(snapshot.availableSeats).not.toContain(11);
    expect(snapshot.heldCount).toBeGreaterThanOrEqual(2);
  });

  it("takes the TTL as a Duration, and uses the server's default of 10 minutes without one", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const { hold: timed } = await alice.holdSeats({ seats: [13], ttl: { seconds: 30n, nanos: 500_000_000 } });
    expect(timestampMs(timed!.expireTime!) - timestampMs(timed!.createTime!)).toBe(30_500);
    const { hold: untimed } = await alice.holdSeats({ seats: [14] });
    expect(timestampMs(untimed!.expireTime!) - timestampMs(untimed!.createTime!)).toBe(10 * 60_000);
    await alice.releaseHold({ holdId: timed!.holdId });
    await alice.releaseHold({ holdId: untimed!.holdId });
  });

  it("extends a hold to now + ttlMs, and getHold reads the new expiry", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const { hold } = await alice.holdSeats({ seats: [15], ttlMs: 5_000 });
    const before = Date.now();
    const extended = await alice.extendHold({ holdId: hold!.holdId, ttlMs: 120_000 });
    const expiry = timestampMs(extended.hold!.expireTime!);
    expect(expiry).toBeGreaterThanOrEqual(before + 120_000 - 1000);
    expect(expiry).toBeLessThanOrEqual(Date.now() + 120_000);
    const read = await alice.getHold({ holdId: hold!.holdId });
    expect(timestampMs(read.hold!.expireTime!)).toBe(expiry);
    expect(read.hold?.state).toBe(HoldState.ACTIVE);
  });

  it("confirms a hold into a booking of exactly its seats, for its owner", async () => {
    const bob = clientAs(server.pki.clients.bob);
    const { hold } = await bob.holdSeats({ seats: [16, 17], ttlMs: 60_000 });
    const confirmed = await bob.confirmHold({ holdId: hold!.holdId });
    expect(confirmed).toMatchObject({ showId: "main", seats: [16, 17], owner: DEV_PRINCIPALS.bob, replayed: false, holdId: hold!.holdId });
    expect((await bob.getHold({ holdId: hold!.holdId })).hold?.state).toBe(HoldState.CONFIRMED);
    // The seats are booked now: bob may cancel them like any booking.
    expect((await bob.cancelSeats({ seats: [16] })).seats).toEqual([16]);
  });

  it("releases a hold, freeing its seats, and lets an admin read and release anyone's hold", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const admin = clientAs(server.pki.clients.admin);
    const { hold: mine } = await alice.holdSeats({ seats: [18] });
    const released = await alice.releaseHold({ holdId: mine!.holdId });
    expect(released.hold?.state).toBe(HoldState.RELEASED);
    expect((await alice.showAvailable({})).availableSeats).toContain(18);

    const { hold: other } = await alice.holdSeats({ seats: [19] });
    expect((await admin.getHold({ holdId: other!.holdId })).hold?.owner).toBe(DEV_PRINCIPALS.alice);
    expect((await admin.releaseHold({ holdId: other!.holdId })).hold?.state).toBe(HoldState.RELEASED);
  });

  it("sends one request id through every retry of a hold whose reply was lost, and gets the same hold replayed", async () => {
    const events: RetryEvent[] = [];
    const alice = clientAs(server.pki.clients.alice, {
      address: `127.0.0.1:${proxy.port}`,
      retry: { maxAttempts: 4, initialBackoffMs: 20, onRetry: (event) => events.push(event) },
    });
    onCommitted = (method) => {
      if (method !== "HoldSeats") return;
      onCommitted = undefined;
      proxy.resetConnections(); // the reply is not written yet: it is lost with the connection
    };

    const { hold, replayed } = await alice.holdSeats({ seats: [21, 22], ttlMs: 60_000 });

    expect(replayed).toBe(true);
    expect(events.map((event) => event.error.codeName)).toEqual(["UNAVAILABLE"]);
    const requestId = events[0]?.requestId;
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const attempts = server.logLines.filter((line) => line["method"] === "HoldSeats" && line["request_id"] === requestId);
    expect(attempts.map((line) => line["code"])).toEqual(["OK", "OK"]);
    // One hold, not two: it is alice's only hold on these seats, and it is live.
    expect((await alice.getHold({ holdId: hold!.holdId })).hold).toMatchObject({ seats: [21, 22], state: HoldState.ACTIVE });
  });

  it("uses the caller's request id for each write, so a repeated hold, extend, confirm or release is replayed", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const first = await alice.holdSeats({ seats: [23], ttlMs: 60_000, requestId: "sdk-hold-23" });
    const again = await alice.holdSeats({ seats: [23], ttlMs: 60_000 }, { requestId: "sdk-hold-23" });
    expect(again.replayed).toBe(true);
    expect(again.hold?.holdId).toBe(first.hold?.holdId);
    const holdId = first.hold!.holdId;
    await alice.extendHold({ holdId, ttlMs: 90_000, requestId: "sdk-extend-23" });
    await alice.extendHold({ holdId, ttlMs: 90_000, requestId: "sdk-extend-23" });
    const confirmed = await alice.confirmHold({ holdId }, { requestId: "sdk-confirm-23" });
    const confirmedAgain = await alice.confirmHold({ holdId }, { requestId: "sdk-confirm-23" });
    expect([confirmed.replayed, confirmedAgain.replayed]).toEqual([false, true]);
  });

  it("throws a TypeError, without calling, for a TTL given twice or one that is not whole milliseconds", async () => {
    const alice = clientAs(server.pki.clients.alice);
    const both = { seats: [24], ttlMs: 1000, ttl: { seconds: 1n } } as unknown as Parameters<BookingClient["holdSeats"]>[0];
    expect(await rejection(alice.holdSeats(both))).toBeInstanceOf(TypeError);
    expect(await rejection(alice.holdSeats({ seats: [24], ttlMs: 1.5 }))).toBeInstanceOf(TypeError);
    expect(await rejection(alice.extendHold({ holdId: "x", ttlMs: Number.NaN }))).toBeInstanceOf(TypeError);
    expect(await rejection(alice.holdSeats({ seats: [24], ttlMs: 1000, requestId: "a" }, { requestId: "b" }))).toBeInstanceOf(TypeError);
    expect((await alice.showAvailable({})).availableSeats).toContain(24);
  });
});
