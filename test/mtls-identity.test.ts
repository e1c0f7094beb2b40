import { connect } from "node:tls";
import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorReason } from "./support/abuse-status.js";
import { rawCall } from "./support/raw-client.js";
import {
  createCommonNameClient,
  createExpiredClient,
  createForeignClient,
  createNotYetValidClient,
  createServerOnlyClient,
  createTestPki,
  DEV_PRINCIPALS,
  type TestCertificate,
  type TestPki,
} from "./support/test-pki.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let pki: TestPki;
let server: TestServer;
let allowListed: TestServer;

function withCertificate(identity: TestCertificate) {
  return credentials.createSsl(pki.caCert, identity.key, identity.cert);
}

beforeAll(async () => {
  pki = await createTestPki();
  server = await startTestServer({ pki });
  allowListed = await startTestServer({
    pki,
    server: { allowedPrincipals: [DEV_PRINCIPALS.alice, DEV_PRINCIPALS.admin] },
  });
});

afterAll(async () => {
  await server.stop();
  await allowListed.stop();
});

describe("mutual TLS identity checks", () => {
  it("accepts a client certificate from the configured CA", async () => {
    const { error, response } = await rawCall(server.address, withCertificate(pki.clients.alice), "showAvailable", {});
    expect(error).toBeNull();
    expect(response).toMatchObject({ showId: "main", totalSeats: 100 });
  });

  it.each([
    ["no client certificate", () => Promise.resolve(credentials.createSsl(pki.caCert))],
    ["a certificate from another CA", async () => withCertificate(await createForeignClient())],
    ["an expired certificate", async () => withCertificate(await createExpiredClient(pki))],
    ["a certificate that is not yet valid", async () => withCertificate(await createNotYetValidClient(pki))],
    ["a certificate without the clientAuth extended key usage", async () => withCertificate(await createServerOnlyClient(pki))],
    ["a plaintext client", () => Promise.resolve(credentials.createInsecure())],
  ])("refuses %s before any booking happens", async (_case, makeCredentials) => {
    const { error } = await rawCall(server.address, await makeCredentials(), "bookSeats", { seats: [1] }, { deadlineMs: 3000 });
    expect(error?.code).toBe(status.UNAVAILABLE);
    const { response } = await rawCall(server.address, withCertificate(pki.clients.alice), "showAvailable", {});
    expect(response).toMatchObject({ bookedCount: 0 });
  });

  it("refuses TLS older than 1.2 during the handshake", async () => {
    const outcome = await new Promise<string>((resolve) => {
      const socket = connect({
        host: "127.0.0.1",
        port: server.port,
        ca: pki.caCert,
        cert: pki.clients.alice.cert,
        key: pki.clients.alice.key,
        servername: "localhost",
        minVersion: "TLSv1",
        maxVersion: "TLSv1.1",
        ALPNProtocols: ["h2"],
      });
      socket.once("secureConnect", () => {
        resolve(`connected with ${socket.getProtocol()}`);
        socket.destroy();
      });
      socket.once("error", (error) => resolve(`refused: ${error.message}`));
    });
    expect(outcome).toMatch(/^refused: /);
  });

  it("refuses a certificate whose only identity is a CN posing as the admin's URI, and books nothing", async () => {
    const posing = await createCommonNameClient(pki, DEV_PRINCIPALS.admin);
    const { error } = await rawCall(server.address, withCertificate(posing), "bookSeats", { seats: [7] });
    expect(error?.code).toBe(status.UNAUTHENTICATED);
    expect(error?.details).toBe(
      `the client certificate's CN "${DEV_PRINCIPALS.admin}" looks like a URI, and it has no URI SAN: an identity that is a URI must come from a URI SAN`,
    );
    expect(errorReason(error?.metadata)).toBe("NO_PRINCIPAL");
    const { response } = await rawCall(server.address, withCertificate(pki.clients.alice), "showAvailable", {});
    expect((response as { availableSeats: number[] }).availableSeats).toContain(7);
  });

  it("refuses a certificate whose CN holds a control character, and still serves a plain CN", async () => {
    const forging = await createCommonNameClient(pki, "eve\u001b]0;pwned\u0007");
    const refused = await rawCall(server.address, withCertificate(forging), "showAvailable", {});
    expect(refused.error?.code).toBe(status.UNAUTHENTICATED);
    expect(refused.error?.details).toBe("the client certificate's CN contains the control character U+001B; an identity must be printable");
    const carol = await rawCall(server.address, withCertificate(await createCommonNameClient(pki, "carol")), "showAvailable", {});
    expect(carol.error).toBeNull();
  });

  it("lets only allow-listed principals call when an allow-list is configured", async () => {
    const alice = await rawCall(allowListed.address, withCertificate(pki.clients.alice), "showAvailable", {});
    expect(alice.error).toBeNull();
    const bob = await rawCall(allowListed.address, withCertificate(pki.clients.bob), "bookSeats", { seats: [1] });
    expect(bob.error?.code).toBe(status.PERMISSION_DENIED);
    expect(bob.error?.details).toBe(`principal ${DEV_PRINCIPALS.bob} is not allowed to call this service`);
    const after = await rawCall(allowListed.address, withCertificate(pki.clients.admin), "showAvailable", {});
    expect(after.response).toMatchObject({ bookedCount: 0 });
  });
});
