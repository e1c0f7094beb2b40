import { request } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServerProcess, type ServerProcess } from "./support/server-process.js";
import { writeTestPki } from "./support/test-pki.js";

let dir: string;
let server: ServerProcess;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "booking-metrics-host-"));
  const pki = await writeTestPki(join(dir, "certs"));
  server = await startServerProcess(["--listen", "127.0.0.1:0", "--store", "memory", "--certs-dir", pki.paths.dir, "--metrics-listen", "127.0.0.1:0"]);
});

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** GET /metrics at the server's metrics address with a Host header of our choosing. */
function getMetrics(host: string): Promise<{ status: number; body: string }> {
  const [address, port] = (server.metricsAddress ?? "").split(/:(?=\d+$)/);
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: address, port: Number(port), path: "/metrics", headers: { host } }, (response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    outgoing.on("error", reject);
    outgoing.end();
  });
}

describe("the metrics endpoint on a loopback address", () => {
  it("answers requests for loopback host names only, so a page on another site cannot read it by DNS rebinding", async () => {
    const port = (server.metricsAddress ?? "").split(":").pop();
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      const answer = await getMetrics(host);
      expect([host, answer.status]).toEqual([host, 200]);
      expect(answer.body).toContain("booking_rpc_duration_seconds");
    }
    for (const host of ["evil.example", `evil.example:${port}`, `127.0.0.1.nip.io:${port}`]) {
      const answer = await getMetrics(host);
      expect([host, answer.status]).toEqual([host, 403]);
      expect(answer.body).not.toContain("booking_");
    }
  });
});
