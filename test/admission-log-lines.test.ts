import { credentials, Metadata, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rawCall } from "./support/raw-client.js";
import { DEV_PRINCIPALS, type TestCertificate } from "./support/test-pki.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({
    server: { allowedPrincipals: [DEV_PRINCIPALS.alice], writeRatePerSecond: 1, writeBurst: 1 },
  });
});

afterAll(async () => {
  await server.stop();
});

async function call(who: TestCertificate, correlationId: string, seats: number[]) {
  const metadata = new Metadata();
  metadata.set("x-request-id", correlationId);
  const outcome = await rawCall(
    server.address,
    credentials.createSsl(server.pki.caCert, who.key, who.cert),
    "bookSeats",
    { seats },
    { metadata },
  );
  const line = server.logLines.find((entry) => entry["correlation_id"] === correlationId);
  return { ...outcome, line };
}

describe("a call's log line", () => {
  it("carries the correlation id and no refused_by when the call is served", async () => {
    const { error, line } = await call(server.pki.clients.alice, "served-1", [1]);
    expect(error).toBeNull();
    expect(line).toMatchObject({ method: "BookSeats", principal: DEV_PRINCIPALS.alice, code: "OK", request_id: "served-1" });
    expect(line).not.toHaveProperty("refused_by");
  });

  it("names the rate limit when it refuses the call", async () => {
    const { error, line } = await call(server.pki.clients.alice, "limited-1", [2]);
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(line).toMatchObject({ principal: DEV_PRINCIPALS.alice, code: "RESOURCE_EXHAUSTED", refused_by: "rate_limit" });
  });

  it("names the allow-list when it refuses the call", async () => {
    const { error, line } = await call(server.pki.clients.bob, "outsider-1", [3]);
    expect(error?.code).toBe(status.PERMISSION_DENIED);
    expect(line).toMatchObject({ principal: DEV_PRINCIPALS.bob, code: "PERMISSION_DENIED", refused_by: "not_allowed" });
  });
});
