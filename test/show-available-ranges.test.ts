import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AvailabilityForm, type ShowAvailableResponse } from "../gen/booking/v1/booking_pb.js";
import { BookingCore } from "../src/core/booking-core.js";
import { MemoryStore } from "../src/stores/memory-store.js";
import { ListingCache } from "../src/transport/listing-cache.js";
import { encodeShowAvailable } from "../src/transport/show-available-encoding.js";
import { DEV_PRINCIPALS } from "./support/test-pki.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { WatchTestClient } from "./support/watch-client.js";

const store = new MemoryStore();
let server: TestServer;
let alice: WatchTestClient;

beforeAll(async () => {
  server = await startTestServer({ store, shows: [{ id: "main", totalSeats: 10 }, { id: "other", totalSeats: 3 }] });
  alice = new WatchTestClient(server.address, server.pki.caCert, server.pki.clients.alice);
  await alice.unary("bookSeats", { seats: [3, 4, 9] });
  await alice.unary("holdSeats", { seats: [6], ttl: { seconds: 600n } });
});

afterAll(async () => {
  alice.close();
  await server.stop();
});

function shape(listing: ShowAvailableResponse) {
  return {
    availableSeats: listing.availableSeats,
    freeRanges: listing.freeRanges.map(({ first, last }) => ({ first, last })),
    heldCount: listing.heldCount,
    bookedCount: listing.bookedCount,
    version: listing.version,
  };
}

describe("ShowAvailable", () => {
  it("sends the free seats as a list (unset or SEATS), as ranges only (RANGES) or both (BOTH), with held_count and version", async () => {
    const seats = [1, 2, 5, 7, 8, 10];
    const ranges = [
      { first: 1, last: 2 },
      { first: 5, last: 5 },
      { first: 7, last: 8 },
      { first: 10, last: 10 },
    ];
    const common = { heldCount: 1, bookedCount: 3, version: 2n };
    expect(shape(await alice.showAvailable({}))).toEqual({ availableSeats: seats, freeRanges: [], ...common });
    expect(shape(await alice.showAvailable({ form: AvailabilityForm.SEATS }))).toEqual({ availableSeats: seats, freeRanges: [], ...common });
    expect(shape(await alice.showAvailable({ form: AvailabilityForm.RANGES }))).toEqual({ availableSeats: [], freeRanges: ranges, ...common });
    expect(shape(await alice.showAvailable({ form: AvailabilityForm.BOTH }))).toEqual({ availableSeats: seats, freeRanges: ranges, ...common });
  });

  it("encodes a listing of an unchanged show version once, and again after a change through the store itself", async () => {
    const encodes = (): number => server.server.listings.encodes;
    const first = await alice.showAvailable({ showId: "other", form: AvailabilityForm.BOTH });
    const afterFirst = encodes();
    const again = await Promise.all([1, 2, 3].map(() => alice.showAvailable({ showId: "other", form: AvailabilityForm.BOTH })));
    expect(encodes()).toBe(afterFirst);
    for (const listing of again) expect(shape(listing)).toEqual(shape(first));

    // Each form is its own listing.
    await alice.showAvailable({ showId: "other", form: AvailabilityForm.RANGES });
    expect(encodes()).toBe(afterFirst + 1);

    // A change committed past this server's core (as another instance would) is seen at the next listing.
    await store.applyBatch([{ kind: "book", showId: "other", seats: [2], principal: DEV_PRINCIPALS.bob, isAdmin: false, requestId: "" }]);
    const changed = await alice.showAvailable({ showId: "other", form: AvailabilityForm.BOTH });
    expect(encodes()).toBe(afterFirst + 2);
    expect(changed.version).toBe(first.version + 1n);
    expect(changed.availableSeats).toEqual(first.availableSeats.filter((seat) => seat !== 2));
    expect(changed.freeRanges.map(({ first: from, last }) => ({ first: from, last }))).toEqual([
      { first: 1, last: 1 },
      { first: 3, last: 3 },
    ]);
  });

  it("answers NOT_FOUND for an unknown show and caches nothing for it", async () => {
    const before = server.server.listings.encodes;
    const { end } = await alice.unary("showAvailable", { showId: "nowhere" });
    expect(end).toMatchObject({ code: status.NOT_FOUND, reason: "SHOW_NOT_FOUND" });
    expect(server.server.listings.encodes).toBe(before);
  });
});

describe("ListingCache", () => {
  it("reuses bytes while the version stands, re-encodes after a change, and keeps at most maxEntries listings", async () => {
    const core = await BookingCore.open({
      store: new MemoryStore(),
      shows: [
        { id: "a", totalSeats: 4 },
        { id: "b", totalSeats: 4 },
      ],
    });
    let encoded = 0;
    const cache = new ListingCache(core, {
      maxEntries: 1,
      encode: (message) => {
        encoded++;
        return encodeShowAvailable(message);
      },
    });
    const first = await cache.listing("", AvailabilityForm.UNSPECIFIED);
    // The default show "" and its id, and unset and SEATS, are the same listing.
    expect(await cache.listing("a", AvailabilityForm.SEATS)).toBe(first);
    expect(encoded).toBe(1);
    await core.book({ showId: "a", seats: [1], requestId: "" }, { principal: "p" });
    expect(await cache.listing("a", AvailabilityForm.SEATS)).not.toBe(first);
    expect(encoded).toBe(2);
    // One entry: listing b evicts a.
    await cache.listing("b", AvailabilityForm.SEATS);
    await cache.listing("a", AvailabilityForm.SEATS);
    expect(encoded).toBe(4);
    expect(cache.encodes).toBe(4);
    await core.close();
  });
});
