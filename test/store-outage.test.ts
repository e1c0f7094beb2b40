import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBookingClient, isBookingError, type BookingClient } from "../client/index.js";
import { PostgresStore } from "../src/stores/postgres-store.js";
import { startPostgres } from "./support/postgres-cluster.js";
import { TcpProxy } from "./support/tcp-proxy.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const postgres = await startPostgres();

describe.skipIf(postgres === undefined)("a PostgreSQL outage", () => {
  let server: TestServer;
  let client: BookingClient;
  let network: TcpProxy;

  beforeAll(async () => {
    // The store reaches the database through a proxy the test can cut.
    const direct = new URL(postgres!.url);
    network = await TcpProxy.start(Number(direct.port), direct.hostname);
    const viaProxy = new URL(postgres!.url);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = String(network.port);
    server = await startTestServer({ store: await PostgresStore.open({ connectionString: viaProxy.toString(), poolSize: 2 }) });
    client = createBookingClient({
      address: server.address,
      ca: server.pki.caCert,
      cert: server.pki.clients.alice.cert,
      key: server.pki.clients.alice.key,
      retry: { maxAttempts: 1 },
    });
  });

  afterAll(async () => {
    client?.close();
    await server?.stop();
    await network?.close();
    await postgres?.stop();
  });

  it("answers UNAVAILABLE with STORE_UNAVAILABLE while the database is unreachable, then recovers", async () => {
    await client.bookSeats({ seats: [1] });
    network.refuseConnections = true;
    network.resetConnections();

    // One call at a time: a second promise created up front would reject
    // unobserved while the first is awaited.
    const calls = [
      // A write's outcome is unknown: the retry must carry the same request id. A read changed nothing.
      { call: () => client.bookSeats({ seats: [2], requestId: "during-outage" }), advice: "retry with the same request_id" },
      { call: () => client.showAvailable({}), advice: "nothing was read" },
    ];
    for (const { call, advice } of calls) {
      const error = await call().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isBookingError(error)).toBe(true);
      if (!isBookingError(error)) return;
      expect(error.code).toBe(status.UNAVAILABLE);
      expect(error.reason).toBe("STORE_UNAVAILABLE");
      expect(error.message).toContain(advice);
      expect(error.retryDelayMs).toBe(200);
    }

    network.refuseConnections = false;
    const retried = await client.bookSeats({ seats: [2], requestId: "during-outage" });
    expect(retried.seats).toEqual([2]);
    expect((await client.showAvailable({})).bookedCount).toBe(2);
  });
});
