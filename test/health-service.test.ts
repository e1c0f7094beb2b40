import { credentials, makeGenericClientConstructor, status, type Client, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckResponse,
  type HealthListResponse,
} from "../gen/grpc/health/v1/health_pb.js";
import { grpcServiceDefinition } from "../wire/grpc-service-definition.js";
import { BOOKING_SERVICE_NAME } from "../src/transport/booking-server.js";
import { MAX_LISTED_SERVICES } from "../src/transport/health-service.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

type Unary<Req, Res> = (request: Req, options: { deadline: number }, callback: (error: ServiceError | null, response?: Res) => void) => void;
type HealthClient = Client & {
  check: Unary<{ service: string }, HealthCheckResponse>;
  list: Unary<object, HealthListResponse>;
  watch(request: { service: string }): ClientReadableStream<HealthCheckResponse>;
};

const HealthClientConstructor = makeGenericClientConstructor(grpcServiceDefinition(Health), "Health");

let server: TestServer;
let client: HealthClient;

beforeAll(async () => {
  server = await startTestServer();
  const alice = server.pki.clients.alice;
  client = new HealthClientConstructor(server.address, credentials.createSsl(server.pki.caCert, alice.key, alice.cert), {
    "grpc.ssl_target_name_override": "localhost",
    "grpc.default_authority": "localhost",
  }) as unknown as HealthClient;
});

afterAll(async () => {
  client.close();
  await server.stop();
});

function call<Req, Res>(method: Unary<Req, Res>, request: Req): Promise<{ error: ServiceError | null; response?: Res | undefined }> {
  return new Promise((resolve) =>
    method.call(client, request, { deadline: Date.now() + 5000 }, (error, response) => resolve({ error, response })),
  );
}

/** Reads statuses from a Watch stream until `count` have arrived. */
function statuses(stream: ClientReadableStream<HealthCheckResponse>, count: number): Promise<ServingStatus[]> {
  const seen: ServingStatus[] = [];
  return new Promise((resolve, reject) => {
    stream.on("data", (response: HealthCheckResponse) => {
      seen.push(response.status);
      if (seen.length === count) resolve(seen);
    });
    stream.on("error", (error: ServiceError) => {
      if (error.code !== status.CANCELLED) reject(error);
    });
  });
}

async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 500 && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
  expect(condition()).toBe(true);
}

describe("grpc.health.v1.Health", () => {
  it("answers Check with SERVING for the server and the booking service", async () => {
    for (const service of ["", BOOKING_SERVICE_NAME]) {
      const { error, response } = await call(client.check, { service });
      expect(error).toBeNull();
      expect(response?.status).toBe(ServingStatus.SERVING);
    }
  });

  it("refuses Check of a name it does not know with NOT_FOUND naming it", async () => {
    const { error } = await call(client.check, { service: "no.such.Service" });
    expect(error?.code).toBe(status.NOT_FOUND);
    expect(error?.details).toBe("Health status unknown for service no.such.Service");
  });

  it("lists every name with its status", async () => {
    const { error, response } = await call(client.list, {});
    expect(error).toBeNull();
    expect(Object.fromEntries(Object.entries(response?.statuses ?? {}).map(([name, value]) => [name, value.status]))).toEqual({
      "": ServingStatus.SERVING,
      [BOOKING_SERVICE_NAME]: ServingStatus.SERVING,
    });
  });

  it("streams a watched name's status, then each change, and forgets the watch when it is cancelled", async () => {
    const stream = client.watch({ service: "reports.v1.Reports" });
    const seen = statuses(stream, 3);
    await until(() => server.server.health.watchers === 1);
    server.server.health.setStatus("reports.v1.Reports", "SERVING");
    server.server.health.setStatus("reports.v1.Reports", "NOT_SERVING");
    expect(await seen).toEqual([ServingStatus.SERVICE_UNKNOWN, ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    stream.cancel();
    await until(() => server.server.health.watchers === 0);
  });

  it(`refuses List with RESOURCE_EXHAUSTED beyond ${MAX_LISTED_SERVICES} names`, async () => {
    const known = (await call(client.list, {})).response?.statuses ?? {};
    for (let index = Object.keys(known).length; index <= MAX_LISTED_SERVICES; index++) {
      server.server.health.setStatus(`extra.v1.Service${index}`, "SERVING");
    }
    const { error } = await call(client.list, {});
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error?.details).toBe("Too many services to list.");
  });
});
