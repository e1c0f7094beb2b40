import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBookingClient, isBookingError } from "../client/index.js";
import { createTestPki, writeTestPki, type TestPki, type WrittenTestPki } from "./support/test-pki.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const root = fileURLToPath(new URL("..", import.meta.url));
/** The SDK as built by `npm run build`, loaded by a child process as an app would load it. */
const sdkUrl = pathToFileURL(join(root, "dist/client/index.js")).href;

let pki: TestPki;
let written: WrittenTestPki;
let dir: string;
/** Its certificate has the IP SANs 127.0.0.1 and ::1, as the development one has. */
let server: TestServer;
/** Its certificate names only the DNS name localhost, no IP address. */
let dnsOnlyServer: TestServer;

beforeAll(async () => {
  pki = await createTestPki();
  dir = await mkdtemp(join(tmpdir(), "sdk-tls-"));
  written = await writeTestPki(dir, pki);
  const dnsOnly = await pki.ca.issue({ commonName: "localhost", dnsNames: ["localhost"], usage: "server" });
  [server, dnsOnlyServer] = await Promise.all([
    startTestServer({ pki }),
    startTestServer({ pki: { ...pki, server: { cert: Buffer.from(dnsOnly.certPem), key: Buffer.from(dnsOnly.keyPem) } } }),
  ]);
});

afterAll(async () => {
  await Promise.all([server?.stop(), dnsOnlyServer?.stop()]);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Runs an ES module in a fresh Node process (so no earlier warning was used up) and collects its output. */
function runModule(source: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", source], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

function tlsFiles(): string {
  return JSON.stringify({ ca: written.paths.caCert, cert: written.paths.clients.alice.cert, key: written.paths.clients.alice.key });
}

describe("SDK over TLS to an IP address", () => {
  it("calls 127.0.0.1 without Node's DEP0123 warning (an IP address as TLS server name)", async () => {
    const { code, stdout, stderr } = await runModule(`
      import { createBookingClient } from ${JSON.stringify(sdkUrl)};
      const client = createBookingClient({ address: ${JSON.stringify(server.address)}, ...${tlsFiles()} });
      const show = await client.showAvailable({});
      console.log(JSON.stringify({ showId: show.showId, total: show.totalSeats }));
      client.close();
    `);
    expect(stderr).not.toContain("DEP0123");
    expect(stderr).not.toMatch(/Warning/);
    expect({ code, stdout: stdout.trim() }).toEqual({ code: 0, stdout: JSON.stringify({ showId: "main", total: 100 }) });
  });

  it("would see the warning if grpc-js sent the IP as server name (the check above can fail)", async () => {
    const { stderr } = await runModule(`
      import { credentials, makeGenericClientConstructor } from "@grpc/grpc-js";
      import { readFileSync } from "node:fs";
      const files = ${tlsFiles()};
      const creds = credentials.createSsl(readFileSync(files.ca), readFileSync(files.key), readFileSync(files.cert));
      const Client = makeGenericClientConstructor({}, "Nothing");
      const client = new Client(${JSON.stringify(server.address)}, creds);
      await new Promise((resolve) => client.waitForReady(Date.now() + 5000, resolve));
      client.close();
    `);
    expect(stderr).toContain("DEP0123");
  });

  it("still checks the certificate against the IP: a server certificate without that IP SAN is refused", async () => {
    const client = createBookingClient({
      address: dnsOnlyServer.address,
      ca: pki.caCert,
      cert: pki.clients.alice.cert,
      key: pki.clients.alice.key,
      retry: { maxAttempts: 1 },
    });
    try {
      const error: unknown = await client.showAvailable({}).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isBookingError(error) && error.code).toBe(status.UNAVAILABLE);
      expect(String(error instanceof Error ? error.message : error)).toMatch(/IP: 127\.0\.0\.1 is not in the cert.s list/);
    } finally {
      client.close();
    }
  });

  it("accepts the same DNS-only certificate when dialled by its DNS name (the refusal above is about the IP)", async () => {
    const client = createBookingClient({
      address: `localhost:${dnsOnlyServer.port}`,
      ca: pki.caCert,
      cert: pki.clients.alice.cert,
      key: pki.clients.alice.key,
      retry: { maxAttempts: 1 },
    });
    try {
      expect((await client.showAvailable({})).totalSeats).toBe(100);
    } finally {
      client.close();
    }
  });
});
