import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, makeGenericClientConstructor, status, type Client, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus, type HealthCheckResponse } from "../gen/grpc/health/v1/health_pb.js";
import { grpcServiceDefinition } from "../wire/grpc-service-definition.js";
import { errorReason } from "./support/abuse-status.js";
import { startServerProcess, type ServerProcess } from "./support/server-process.js";
import { writeTestPki, type WrittenTestPki } from "./support/test-pki.js";
import { WatchTestClient } from "./support/watch-client.js";

let dir: string;
let pki: WrittenTestPki;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "booking-watch-shutdown-"));
  pki = await writeTestPki(join(dir, "certs"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * A memory-store server with a grace far beyond the test's timeout: were the
 * drain to wait for a watch stream, the process would not exit within the test.
 */
function startWithLongGrace(extra: readonly string[]): Promise<ServerProcess> {
  return startServerProcess(["--listen", "127.0.0.1:0", "--store", "memory", "--certs-dir", pki.paths.dir, "--shutdown-grace-ms", "600000", ...extra]);
}

/** The CA certificate, and alice's certificate and key. */
function aliceFiles(): Promise<[Buffer, Buffer, Buffer]> {
  return Promise.all([readFile(pki.paths.caCert), readFile(pki.paths.clients.alice.cert), readFile(pki.paths.clients.alice.key)]);
}

describe("SIGTERM with watchers connected", () => {
  it("ends every watch stream with UNAVAILABLE (SHUTTING_DOWN) before draining, and exits 0", async () => {
    const server = await startWithLongGrace(["--shows", "main:50,second:10"]);
    const [caCert, aliceCert, aliceKey] = await aliceFiles();
    const client = new WatchTestClient(server.address, caCert, { cert: aliceCert, key: aliceKey });
    try {
      const watches = [client.watch({}), client.watch({ showId: "second" })];
      await Promise.all(watches.map((watch) => watch.next()));
      // A resume from the show's current version starts with no message: the next change is its first.
      const resumed = client.watch({ resumeFromVersion: 0n });
      watches.push(resumed);
      await client.unary("bookSeats", { seats: [1] });
      await Promise.all([watches[0]?.next(), resumed.next()]);

      server.kill("SIGTERM");
      const ends = await Promise.all(watches.map((watch) => watch.ended));
      for (const end of ends) {
        expect(end).toMatchObject({ code: status.UNAVAILABLE, reason: "SHUTTING_DOWN" });
        expect(end.details).toContain("resume elsewhere");
      }
      expect(await server.exited).toBe(0);
    } finally {
      client.close();
    }
    const lines = server.logLines;
    expect(lines.find((line) => line["msg"] === "shutting down: ending watch streams (UNAVAILABLE), draining calls in flight")).toMatchObject({
      watchers: 3,
    });
    expect(lines.filter((line) => line["method"] === "WatchAvailability").map((line) => line["code"])).toEqual([
      "UNAVAILABLE",
      "UNAVAILABLE",
      "UNAVAILABLE",
    ]);
    expect(lines.some((line) => line["msg"] === "stopped")).toBe(true);
  }, 30_000);
});

type HealthWatchClient = Client & { watch(request: { service: string }): ClientReadableStream<HealthCheckResponse> };

describe("SIGTERM with a health Watch open", () => {
  it("sends NOT_SERVING, ends the Watch with UNAVAILABLE (SHUTTING_DOWN) and exits 0 without waiting out the grace", async () => {
    const server = await startWithLongGrace([]);
    const [caCert, aliceCert, aliceKey] = await aliceFiles();
    const HealthClient = makeGenericClientConstructor(grpcServiceDefinition(Health), "Health");
    const client = new HealthClient(server.address, credentials.createSsl(caCert, aliceKey, aliceCert), {
      "grpc.ssl_target_name_override": "localhost",
      "grpc.default_authority": "localhost",
    }) as unknown as HealthWatchClient;
    try {
      const stream = client.watch({ service: "" });
      const seen: ServingStatus[] = [];
      const ended = new Promise<ServiceError>((resolve) => stream.on("error", resolve));
      const first = new Promise<void>((resolve) =>
        stream.on("data", (response: HealthCheckResponse) => {
          seen.push(response.status);
          resolve();
        }),
      );
      await first;
      server.kill("SIGTERM");
      const end = await ended;
      expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
      expect(end.code).toBe(status.UNAVAILABLE);
      expect(end.details).toBe("the server is shutting down; watch another instance");
      expect(errorReason(end.metadata)).toBe("SHUTTING_DOWN");
      expect(await server.exited).toBe(0);
    } finally {
      client.close();
    }
    const lines = server.logLines;
    expect(lines.find((line) => line["msg"] === "shutting down: ending watch streams (UNAVAILABLE), draining calls in flight")).toMatchObject({
      watchers: 0,
      health_watchers: 1,
    });
    expect(lines.some((line) => line["msg"] === "stopped")).toBe(true);
  }, 30_000);
});

describe("a start with --shows", () => {
  it("warns about a configured show whose stored seat count differs, and serves the stored count", async () => {
    const args = ["--listen", "127.0.0.1:0", "--store", `sqlite:${join(dir, "shows.sqlite")}`, "--shows", "main:50", "--certs-dir", pki.paths.dir];
    const [caCert, adminCert, adminKey] = await Promise.all([
      readFile(pki.paths.caCert),
      readFile(pki.paths.clients.admin.cert),
      readFile(pki.paths.clients.admin.key),
    ]);
    const first = await startServerProcess(args);
    const admin = new WatchTestClient(first.address, caCert, { cert: adminCert, key: adminKey });
    const resized = await admin.unary("resizeShow", { showId: "main", totalSeats: 60 });
    admin.close();
    expect(resized.end.code).toBe(status.OK);
    expect(first.logLines.some((line) => line["msg"]?.toString().includes("different seat count"))).toBe(false);
    expect(await first.stop()).toBe(0);

    const second = await startServerProcess(args);
    expect(await second.stop()).toBe(0);
    expect(second.logLines.find((line) => String(line["msg"]).includes("different seat count"))).toMatchObject({
      level: 40,
      show: "main",
      configured_seats: 50,
      stored_seats: 60,
    });
    // Each start says what it did to the file's schema, and with which binding.
    const schemaLine = (lines: readonly Record<string, unknown>[]) => lines.find((line) => "schema_version" in line);
    expect(schemaLine(first.logLines)).toMatchObject({ level: 30, store: "sqlite", from_version: 0, msg: expect.stringMatching(/^migrated the store's schema from version 0 to \d+$/) });
    const version = schemaLine(first.logLines)?.["schema_version"];
    expect(schemaLine(second.logLines)).toMatchObject({ from_version: version, schema_version: version, msg: `opened the store at schema version ${String(version)}` });
    expect(schemaLine(second.logLines)?.["engine"]).toMatch(/^better-sqlite3(-13)? \d+\.\d+\.\d+$/);
    // The listening line names what is served, not what --shows said.
    expect(second.logLines.find((line) => line["msg"] === "listening")?.["shows"]).toEqual([{ id: "main", totalSeats: 60 }]);
  }, 30_000);
});
