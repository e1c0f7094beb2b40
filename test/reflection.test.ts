import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { credentials, makeGenericClientConstructor, Metadata, Server, status } from "@grpc/grpc-js";
import type { Client, ClientDuplexStream, ServiceError } from "@grpc/grpc-js";
import { service as healthPackageService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { descriptorSetBytes } from "../gen/descriptor-set.js";
import {
  Health,
  HealthCheckRequestSchema,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflectionRequestSchema } from "../gen/grpc/reflection/v1/reflection_pb.js";
import type { ServerReflectionRequest, ServerReflectionResponse } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { BOOKING_SERVICE_NAME } from "../src/transport/booking-server.js";
import { addReflectionService, reflectionServiceDefinitions } from "../src/transport/reflection-service.js";
import { startTestServer } from "./support/test-server.js";
import type { TestServer } from "./support/test-server.js";

type Question = NonNullable<MessageInitShape<typeof ServerReflectionRequestSchema>["messageRequest"]>;

const advertised = [BOOKING_SERVICE_NAME, "grpc.health.v1.Health"];
let server: TestServer;
const clients: Client[] = [];

beforeAll(async () => {
  server = await startTestServer({
    server: {
      registerExtras: (grpcServer) =>
        addReflectionService(grpcServer, { descriptorSet: descriptorSetBytes, serviceNames: advertised }),
    },
  });
});

afterAll(async () => {
  for (const client of clients) client.close();
  await server.stop();
});

describe.each(["v1", "v1alpha"] as const)("reflection-service %s", (version) => {
  let session: ReflectionSession;

  beforeAll(() => {
    session = new ReflectionSession(version);
  });

  afterAll(() => session.end());

  it("lists the booking, health and reflection services", async () => {
    const response = await session.ask({ case: "listServices", value: "*" });
    expect(response.messageResponse.case).toBe("listServicesResponse");
    const names = response.messageResponse.case === "listServicesResponse" ? response.messageResponse.value.service.map((s) => s.name) : [];
    expect(names.sort()).toEqual(
      ["booking.v1.BookingService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"].sort(),
    );
  });

  it("serves files from which every method of every listed service resolves its types", async () => {
    const files = new Map<string, FileDescriptorProto>();
    const services = await session.listServices();
    const serviceFiles = new Map<string, string>();
    for (const name of services) {
      const [first, ...rest] = await session.files({ case: "fileContainingSymbol", value: name });
      if (first === undefined) throw new Error(`no file for ${name}`);
      serviceFiles.set(name, first.name);
      for (const file of [first, ...rest]) files.set(file.name, file);
    }
    // Follow every import by name, as grpcurl does for files it has not seen.
    for (let pending = missingImports(files); pending.length > 0; pending = missingImports(files)) {
      for (const name of pending) {
        for (const file of await session.files({ case: "fileByFilename", value: name })) files.set(file.name, file);
      }
    }
    let methods = 0;
    for (const name of services) {
      const root = files.get(serviceFiles.get(name) ?? "");
      if (root === undefined) throw new Error(`file of ${name} was not fetched`);
      const registry = createFileRegistry(root, (file) => files.get(file));
      const service = registry.getService(name);
      expect(service, name).toBeDefined();
      for (const method of service?.methods ?? []) {
        expect(registry.getMessage(method.input.typeName), `${name}.${method.name} input`).toBe(method.input);
        expect(registry.getMessage(method.output.typeName), `${name}.${method.name} output`).toBe(method.output);
        methods++;
      }
    }
    // BookingService 14 (3 seat calls, 10 show and hold calls, WatchAvailability), health 3, reflection 1 + 1.
    expect(methods).toBe(14 + 3 + 1 + 1);
  });

  it("keeps the real file names and imports", async () => {
    const booking = await session.files({ case: "fileContainingSymbol", value: "booking.v1.BookSeatsRequest" });
    expect(booking.map((file) => [file.name, file.dependency])).toEqual([
      ["booking/v1/booking.proto", ["google/protobuf/duration.proto", "google/protobuf/timestamp.proto"]],
      ["google/protobuf/duration.proto", []],
      ["google/protobuf/timestamp.proto", []],
    ]);
    const status = await session.files({ case: "fileByFilename", value: "google/rpc/status.proto" });
    expect(status.map((file) => [file.name, file.dependency])).toEqual([
      ["google/rpc/status.proto", ["google/protobuf/any.proto"]],
      ["google/protobuf/any.proto", []],
    ]);
    const details = await session.files({ case: "fileContainingSymbol", value: "google.rpc.RetryInfo" });
    expect(details.map((file) => file.name)).toEqual(["google/rpc/error_details.proto", "google/protobuf/duration.proto"]);
    const health = await session.files({ case: "fileContainingSymbol", value: "grpc.health.v1.Health" });
    expect(health.map((file) => file.name)).toEqual(["grpc/health/v1/health.proto"]);
    // buf's image metadata (field 8042) is not part of a FileDescriptorProto.
    for (const file of [...booking, ...status, ...details, ...health]) expect(file.$unknown).toBeUndefined();
  });

  it("keeps the proto comments of booking.v1 (source code info)", async () => {
    const [booking] = await session.files({ case: "fileContainingSymbol", value: "booking.v1.BookingService" });
    const serviceComment = booking?.sourceCodeInfo?.location.find((location) => location.path.join(".") === "6.0")?.leadingComments;
    expect(serviceComment).toMatch(/^ BookingService books, cancels and lists the seats/);
    const methodComments = booking?.sourceCodeInfo?.location.filter((location) => /^6\.0\.2\.\d+$/.test(location.path.join(".")));
    expect(methodComments?.map((location) => location.leadingComments.length > 0)).toEqual(Array.from({ length: 14 }, () => true));
    const methodNames = booking?.service[0]?.method.map((method) => method.name) ?? [];
    const commentOf = (name: string) =>
      booking?.sourceCodeInfo?.location.find((location) => location.path.join(".") === `6.0.2.${methodNames.indexOf(name)}`)?.leadingComments ?? "";
    expect(commentOf("HoldSeats")).toContain("the database's clock decides");
    expect(commentOf("WatchAvailability")).toContain("resume_from_version");
  });

  it("finds the file of methods, fields, nested enums and enum values", async () => {
    const cases: Array<[string, string]> = [
      ["booking.v1.BookingService.CancelSeats", "booking/v1/booking.proto"],
      [".booking.v1.ShowAvailableResponse", "booking/v1/booking.proto"],
      ["booking.v1.BookSeatsRequest.seats", "booking/v1/booking.proto"],
      ["grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"],
      ["grpc.health.v1.HealthCheckResponse.SERVING", "grpc/health/v1/health.proto"],
      ["grpc.health.v1.HealthListResponse.StatusesEntry", "grpc/health/v1/health.proto"],
      ["grpc.reflection.v1alpha.ServerReflectionRequest.message_request", "grpc/reflection/v1alpha/reflection.proto"],
    ];
    for (const [symbol, file] of cases) {
      const [first] = await session.files({ case: "fileContainingSymbol", value: symbol });
      expect(first?.name, symbol).toBe(file);
    }
  });

  it("answers NOT_FOUND for unknown symbols, files, extensions and types", async () => {
    const questions: Question[] = [
      { case: "fileContainingSymbol", value: "booking.v1.NoSuchThing" },
      { case: "fileByFilename", value: "booking/v2/booking.proto" },
      { case: "fileContainingExtension", value: { containingType: "booking.v1.BookSeatsRequest", extensionNumber: 1000 } },
      { case: "allExtensionNumbersOfType", value: "booking.v1.NoSuchMessage" },
    ];
    for (const question of questions) {
      const response = await session.ask(question);
      expect(response.messageResponse.case, JSON.stringify(question)).toBe("errorResponse");
      expect(response.messageResponse.value).toMatchObject({ errorCode: status.NOT_FOUND });
    }
  });

  it("reports no extension numbers for a known message type and echoes the request", async () => {
    const response = await session.ask({ case: "allExtensionNumbersOfType", value: "booking.v1.BookSeatsRequest" });
    expect(response.messageResponse).toMatchObject({
      case: "allExtensionNumbersResponse",
      value: { baseTypeName: "booking.v1.BookSeatsRequest", extensionNumber: [] },
    });
    expect(response.originalRequest?.messageRequest).toEqual({ case: "allExtensionNumbersOfType", value: "booking.v1.BookSeatsRequest" });
  });
});

describe("reflection-service registration", () => {
  it("refuses a service that is not in the descriptor set", () => {
    expect(() => addReflectionService(new Server(), { descriptorSet: descriptorSetBytes, serviceNames: ["booking.v9.Nope"] })).toThrow(
      TypeError,
    );
  });
});

describe("health over the restated grpc/health/v1/health.proto", () => {
  it("describes the same methods as the service grpc-health-check registers", () => {
    const fromPackage = Object.values(healthPackageService).map((method) => [method.path, method.requestStream, method.responseStream]);
    const fromProto = Health.methods.map((method) => [
      `/${Health.typeName}/${method.name}`,
      method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
    ]);
    expect(fromPackage).toEqual(fromProto);
    expect(fromPackage[0]?.[0]).toBe("/grpc.health.v1.Health/Check");
  });

  it("answers SERVING for the server and the booking service", async () => {
    const client = new (makeGenericClientConstructor({}, "Health"))(server.address, channelCredentials(), channelOptions);
    clients.push(client);
    for (const service of ["", BOOKING_SERVICE_NAME]) {
      const response = await new Promise<Uint8Array>((resolve, reject) => {
        client.makeUnaryRequest(
          "/grpc.health.v1.Health/Check",
          (request: Uint8Array) => Buffer.from(request),
          (bytes: Buffer) => new Uint8Array(bytes),
          toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service })),
          new Metadata(),
          { deadline: Date.now() + 5000 },
          (error: ServiceError | null, value?: Uint8Array) => (error === null && value !== undefined ? resolve(value) : reject(error)),
        );
      });
      expect(fromBinary(HealthCheckResponseSchema, response).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    }
  });
});

function channelCredentials() {
  const alice = server.pki.clients.alice;
  return credentials.createSsl(server.pki.caCert, alice.key, alice.cert);
}

/** Verify the server as "localhost": Node deprecates an IP address as TLS server name (DEP0123). */
const channelOptions = { "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost" };

function missingImports(files: ReadonlyMap<string, FileDescriptorProto>): string[] {
  return [...new Set([...files.values()].flatMap((file) => file.dependency))].filter((name) => !files.has(name));
}

/**
 * One ServerReflectionInfo stream: each request gets exactly one response,
 * in order, so answers are matched to questions by position.
 */
class ReflectionSession {
  readonly #client: Client;
  readonly #stream: ClientDuplexStream<ServerReflectionRequest, ServerReflectionResponse>;
  readonly #waiting: Array<{ resolve: (response: ServerReflectionResponse) => void; reject: (error: Error) => void }> = [];

  constructor(version: "v1" | "v1alpha") {
    const Constructor = makeGenericClientConstructor(reflectionServiceDefinitions[version], "ServerReflection");
    this.#client = new Constructor(server.address, channelCredentials(), channelOptions);
    clients.push(this.#client);
    const method = (this.#client as unknown as Record<string, () => ClientDuplexStream<ServerReflectionRequest, ServerReflectionResponse>>)[
      "serverReflectionInfo"
    ];
    if (method === undefined) throw new Error("no serverReflectionInfo method");
    this.#stream = method.call(this.#client);
    this.#stream.on("data", (response: ServerReflectionResponse) => this.#waiting.shift()?.resolve(response));
    this.#stream.on("error", (error: Error) => {
      for (const waiter of this.#waiting.splice(0)) waiter.reject(error);
    });
  }

  ask(question: Question): Promise<ServerReflectionResponse> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      this.#stream.write(create(ServerReflectionRequestSchema, { host: "localhost", messageRequest: question }));
    });
  }

  async listServices(): Promise<string[]> {
    const response = await this.ask({ case: "listServices", value: "" });
    if (response.messageResponse.case !== "listServicesResponse") throw new Error(`unexpected ${response.messageResponse.case}`);
    return response.messageResponse.value.service.map((service) => service.name);
  }

  async files(question: Question): Promise<FileDescriptorProto[]> {
    const response = await this.ask(question);
    if (response.messageResponse.case !== "fileDescriptorResponse") {
      throw new Error(`${JSON.stringify(question)}: ${JSON.stringify(response.messageResponse.value)}`);
    }
    return response.messageResponse.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
  }

  end(): void {
    this.#stream.end();
  }
}
