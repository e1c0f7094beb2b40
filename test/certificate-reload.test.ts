import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBookingClient } from "../client/index.js";
import { rawCall } from "./support/raw-client.js";
import { startServerProcess, type ServerProcess } from "./support/server-process.js";
import { createTestPki, writeTestPki, type TestPki, type WrittenTestPki } from "./support/test-pki.js";

let dir: string;
let original: WrittenTestPki;
let server: ServerProcess;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "booking-reload-"));
  original = await writeTestPki(join(dir, "certs"));
  server = await startServerProcess([
    "--listen", "127.0.0.1:0",
    "--store", "memory",
    "--shows", "main:100000",
    "--certs-dir", original.paths.dir,
    "--log-level", "info",
  ]);
});

afterAll(async () => {
  await server.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Replaces a file the way rotation tools do: write beside it, then rename over it. */
async function replace(path: string, content: Buffer | string): Promise<void> {
  await writeFile(`${path}.next`, content, { mode: 0o600 });
  await rename(`${path}.next`, path);
}

function credentialsFor(pki: TestPki) {
  return credentials.createSsl(pki.caCert, pki.clients.alice.key, pki.clients.alice.cert);
}

describe("certificate rotation", () => {
  it("serves new connections with replaced files, without a restart and without failing calls in flight", async () => {
    const steady = createBookingClient({
      address: server.address,
      ca: original.paths.caCert,
      cert: original.paths.clients.alice.cert,
      key: original.paths.clients.alice.key,
      retry: { maxAttempts: 1 },
    });
    let seat = 0;
    let failures = 0;
    let completed = 0;
    let loading = true;
    const load = (async () => {
      while (loading) {
        seat++;
        await steady.bookSeats({ seats: [seat] }).then(
          () => completed++,
          () => failures++,
        );
      }
    })();

    while (completed < 50) await new Promise((resolve) => setImmediate(resolve));
    const rotated = await createTestPki();
    const paths = original.paths;
    // A half-done rotation first: a key that matches no certificate is ignored,
    // and new connections still get the previous, working set.
    await replace(paths.serverKey, rotated.clients.bob.key);
    const ignored = (): boolean => server.logLines.some((line) => String(line["msg"]).startsWith("ignored changed certificate files"));
    for (let attempt = 0; attempt < 100 && !ignored(); attempt++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ignored()).toBe(true);
    const during = await rawCall(server.address, credentialsFor(original.pki), "showAvailable", {}, { deadlineMs: 2000 });
    expect(during.error).toBeNull();
    await replace(paths.serverCert, rotated.server.cert);
    await replace(paths.serverKey, rotated.server.key);
    await replace(paths.caCert, rotated.caCert);

    let accepted = false;
    for (let attempt = 0; attempt < 100 && !accepted; attempt++) {
      const outcome = await rawCall(server.address, credentialsFor(rotated), "showAvailable", {}, { deadlineMs: 2000 });
      accepted = outcome.error === null;
      if (!accepted) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const completedAtRotation = completed;
    while (completed < completedAtRotation + 50) await new Promise((resolve) => setImmediate(resolve));
    loading = false;
    await load;
    steady.close();

    expect(accepted).toBe(true);
    expect(failures).toBe(0);
    const stale = await rawCall(server.address, credentialsFor(original.pki), "showAvailable", {}, { deadlineMs: 2000 });
    expect(stale.error?.code).toBe(status.UNAVAILABLE);
    expect(server.logLines.some((line) => line["msg"]?.toString().startsWith("reloaded the server certificate"))).toBe(true);
  }, 60_000);
});
