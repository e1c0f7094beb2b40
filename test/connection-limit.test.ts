import { connect } from "node:net";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AbuseChannel } from "./support/abuse-channel.js";
import { DEV_PRINCIPALS } from "./support/test-pki.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ server: { maxConnectionsPerPrincipal: 2 } });
});

afterAll(async () => {
  await server.stop();
});

/** A channel on a connection of its own, as alice or bob, that has answered one call. */
async function connected(who: "alice" | "bob"): Promise<{ channel: AbuseChannel; code: status }> {
  const channel = AbuseChannel.open(server.address, server.pki.caCert, server.pki.clients[who]);
  const { code } = await channel.booking("showAvailable", { showId: "small" }, { deadline: Date.now() + 5000 });
  return { channel, code };
}

/** Waits, turn by turn, until the server has seen a closed connection go. */
async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 10_000 && !condition(); turn++) await new Promise((resolve) => setTimeout(resolve, 1));
  expect(condition()).toBe(true);
}

describe("--max-connections-per-principal", () => {
  it("closes one principal's connection beyond the cap before any call on it, serves others, and admits one again when one closes", async () => {
    const limit = server.server.connectionLimit;
    const first = await connected("alice");
    const second = await connected("alice");
    expect([first.code, second.code]).toEqual([status.OK, status.OK]);
    expect(limit.openConnections(DEV_PRINCIPALS.alice)).toBe(2);

    const third = await connected("alice");
    expect(third.code).toBe(status.UNAVAILABLE);
    expect(limit.refused).toBe(1);
    expect(server.logLines.find((line) => line["refused_by"] === "connections_per_principal")).toMatchObject({
      level: 40,
      principal: DEV_PRINCIPALS.alice,
      max_connections: 2,
      refused: 1,
    });
    third.channel.close();

    // Another principal has a cap of its own.
    const bob = await connected("bob");
    expect(bob.code).toBe(status.OK);

    first.channel.close();
    await until(() => limit.openConnections(DEV_PRINCIPALS.alice) === 1);
    const again = await connected("alice");
    expect(again.code).toBe(status.OK);
    for (const channel of [second.channel, bob.channel, again.channel]) channel.close();
  });
});

describe("a connection that never finishes its TLS handshake", () => {
  it("is closed by the server after the handshake timeout, while a real client is served", async () => {
    const quick = await startTestServer({ pki: server.pki, server: { tlsHandshakeTimeoutMs: 300 } });
    try {
      // Plain TCP, no ClientHello: the server is left waiting for a handshake.
      const idle = connect(quick.port, "127.0.0.1");
      const closed = new Promise<boolean>((resolve) => idle.once("close", () => resolve(true)));
      await new Promise<void>((resolve) => idle.once("connect", () => resolve()));
      const channel = AbuseChannel.open(quick.address, quick.pki.caCert, quick.pki.clients.bob);
      expect((await channel.booking("showAvailable", { showId: "small" })).code).toBe(status.OK);
      channel.close();
      // The test's own timeout bounds this wait; Node's default would hold the socket 120 s.
      expect(await closed).toBe(true);
    } finally {
      await quick.stop();
    }
  });
});
