import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientCredentialsError, createBookingClient } from "../client/index.js";
import { createTestPki, type TestPki } from "./support/test-pki.js";

let pki: TestPki;
let dir: string;

beforeAll(async () => {
  pki = await createTestPki();
  dir = await mkdtemp(join(tmpdir(), "sdk-construction-"));
  await writeFile(join(dir, "garbage.pem"), "this is not pem\n");
  await writeFile(join(dir, "broken.pem"), "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const alice = () => ({ cert: pki.clients.alice.cert, key: pki.clients.alice.key });

describe("createBookingClient refuses at construction what could only fail later", () => {
  it("a CA file that holds no certificate, or one that does not parse, naming the file (each call would have been UNAVAILABLE)", () => {
    const garbage = join(dir, "garbage.pem");
    expect(() => createBookingClient({ ca: garbage, ...alice() })).toThrow(
      new ClientCredentialsError(`the CA certificate (${garbage}) holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`),
    );
    const broken = join(dir, "broken.pem");
    expect(() => createBookingClient({ ca: broken, ...alice() })).toThrow(
      expect.objectContaining({ name: "ClientCredentialsError", message: expect.stringMatching(new RegExp(`^certificate 1 of the CA certificate \\(${broken.replace(/[.]/g, "\\.")}\\) does not parse: `)) }),
    );
    // The real CA, as bytes, is accepted; no connection is made until the first call.
    createBookingClient({ ca: pki.caCert, ...alice() }).close();
  });

  it.each([
    ["", "empty"],
    ["127.0.0.1", "no port"],
    ["127.0.0.1:abc", "a port that is not a number"],
    ["127.0.0.1:99999", "a port beyond 65535"],
    ["127.0.0.1:50051/x", "a path"],
    ["http://127.0.0.1:50051", "a URL"],
    ["a b:1", "a space"],
    [":50051", "no host"],
  ])("an address %j (%s), with a TypeError naming the option", (address) => {
    expect(() => createBookingClient({ address, ca: pki.caCert, ...alice() })).toThrow(
      new TypeError(
        `address must be "host:port" (a name or IPv4 address, or [IPv6], and a port 1-65535) or a grpc target such as "dns:///host:port", got ${JSON.stringify(address)}`,
      ),
    );
  });

  it("accepts host:port, [IPv6]:port and grpc targets", () => {
    for (const address of ["127.0.0.1:50051", "localhost:1", "booking.example.com:443", "[::1]:50051", "dns:///booking.example.com:443", "ipv4:127.0.0.1:50051"]) {
      createBookingClient({ address, ca: pki.caCert, ...alice() }).close();
    }
  });
});
