import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBookingClient, type BookingClient } from "../client/index.js";
import { startPostgres } from "./support/postgres-cluster.js";
import { startServerProcess } from "./support/server-process.js";
import { TcpProxy } from "./support/tcp-proxy.js";
import { writeTestPki, type WrittenTestPki } from "./support/test-pki.js";

const postgres = await startPostgres();
let dir: string;
let pki: WrittenTestPki;
let network: TcpProxy;

beforeAll(async () => {
  if (postgres === undefined) return;
  dir = await mkdtemp(join(tmpdir(), "booking-hung-store-"));
  pki = await writeTestPki(join(dir, "certs"));
  const direct = new URL(postgres.url);
  network = await TcpProxy.start(Number(direct.port), direct.hostname);
});

afterAll(async () => {
  await network?.close();
  await postgres?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(postgres === undefined)("SIGTERM while the database hangs", () => {
  it("abandons the store after one more grace period (a second at least), says so, and exits 1 instead of waiting for the database forever", async () => {
    // The server reaches PostgreSQL through a proxy that can stop answering
    // while keeping the connections open: a frozen database host.
    const viaProxy = new URL(await postgres!.createDatabase());
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = String(network.port);
    const server = await startServerProcess(
      ["--listen", "127.0.0.1:0", "--store", viaProxy.toString(), "--certs-dir", pki.paths.dir, "--shutdown-grace-ms", "300"],
      { cwd: dir },
    );
    const [ca, cert, key] = await Promise.all([
      readFile(pki.paths.caCert),
      readFile(pki.paths.clients.alice.cert),
      readFile(pki.paths.clients.alice.key),
    ]);
    const client: BookingClient = createBookingClient({ address: server.address, ca, cert, key, retry: { maxAttempts: 1 } });
    try {
      await client.bookSeats({ seats: [1] });
      network.dropReplies = true;
      const dropped = network.replyDropped();
      const hung = client.bookSeats({ seats: [2] }, { deadlineMs: 120_000 }).then(
        () => "answered",
        (error: unknown) => error,
      );
      // The booking's batch reached the database, whose answer is lost.
      await dropped;
      const code = await server.stop("SIGTERM");
      expect(code).toBe(1);
      const messages = server.logLines.map((line) => line["msg"]);
      expect(messages).toContain("the store did not close within the grace period (the database does not answer); exiting without it");
      expect(messages).not.toContain("stopped");
      // The call in flight was cut by the drain, not acknowledged.
      expect(await hung).toMatchObject({ codeName: expect.stringMatching(/^(UNAVAILABLE|CANCELLED|INTERNAL)$/) });
    } finally {
      client.close();
      network.dropReplies = false;
      server.kill("SIGKILL");
    }
  });
});
