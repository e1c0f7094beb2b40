import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescService, MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { DescriptorProto, EnumDescriptorProto, FieldDescriptorProto } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import type { MethodDefinition, Server, ServerDuplexStream, ServiceDefinition } from "@grpc/grpc-js";
import {
  ServerReflection as ServerReflectionV1,
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import type { ServerReflectionRequest, ServerReflectionResponse } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** What {@link addReflectionService} serves. */
export interface ReflectionOptions {
  /**
   * A serialized google.protobuf.FileDescriptorSet (a buf image is one) that
   * holds every file the services need, imports included. Source info in it
   * is served as is, so clients see the proto comments.
   */
  readonly descriptorSet: Uint8Array;
  /**
   * Fully qualified names of the services to list. The two reflection
   * services are always listed as well.
   */
  readonly serviceNames: readonly string[];
}

/**
 * grpc-js definitions of ServerReflection v1 and v1alpha (bidi streaming),
 * for servers and for clients built with makeGenericClientConstructor. Both
 * carry v1 messages: the two packages are identical on the wire.
 */
export const reflectionServiceDefinitions: { readonly v1: ServiceDefinition; readonly v1alpha: ServiceDefinition } = {
  v1: reflectionDefinition(ServerReflectionV1),
  v1alpha: reflectionDefinition(ServerReflectionV1alpha),
};

/**
 * Registers gRPC server reflection, both grpc.reflection.v1 and v1alpha
 * (many clients still speak only v1alpha), answering from the files
 * of a descriptor set: list_services, file_by_filename, file_containing_symbol,
 * file_containing_extension and all_extension_numbers_of_type.
 *
 * Files go out as stored in the set, with their real names and imports, the
 * requested file first and then everything it imports, transitively (as
 * grpc-go does, but resent on every answer: a stateless answer costs a few
 * kilobytes here and clients cache by name). Written here rather than taken from @grpc/reflection 1.0.4,
 * which rebuilds files from a package definition and loses names and imports
 * of protobuf-es descriptors (grpc/grpc-node#3018, #3034).
 *
 * Throws a TypeError at startup when a service name, or a file's import, is
 * missing from the set. Limits: the host field is echoed, not checked.
 */
export function addReflectionService(server: Server, options: ReflectionOptions): void {
  const index = indexDescriptorSet(options.descriptorSet);
  const services = [...new Set([...options.serviceNames, ServerReflectionV1.typeName, ServerReflectionV1alpha.typeName])];
  for (const name of services) {
    if (index.symbols.get(name)?.kind !== "service") {
      throw new TypeError(`service ${name} is not in the descriptor set`);
    }
  }
  const implementation = {
    [ServerReflectionV1.method.serverReflectionInfo.localName]: (call: ServerDuplexStream<ServerReflectionRequest, ServerReflectionResponse>) => {
      call.on("data", (request: ServerReflectionRequest) => {
        call.write(answer(index, services, request));
      });
      call.on("end", () => call.end());
      // A client that goes away mid-stream is normal; nothing to clean up.
      call.on("error", () => undefined);
    },
  };
  server.addService(reflectionServiceDefinitions.v1, implementation);
  server.addService(reflectionServiceDefinitions.v1alpha, implementation);
}

interface SymbolEntry {
  readonly kind: "service" | "other";
  readonly file: string;
}

interface DescriptorIndex {
  /** File name -> serialized FileDescriptorProto and its direct imports. */
  readonly files: ReadonlyMap<string, { readonly bytes: Uint8Array; readonly imports: readonly string[] }>;
  /** Fully qualified symbol (no leading dot) -> the file that defines it. */
  readonly symbols: ReadonlyMap<string, SymbolEntry>;
  /** Extended message (no leading dot) -> extension number -> file. */
  readonly extensions: ReadonlyMap<string, ReadonlyMap<number, string>>;
}

/** Field 8042 of a FileDescriptorProto is buf's image metadata, not part of the file. */
const bufImageExtensionField = 8042;

function indexDescriptorSet(bytes: Uint8Array): DescriptorIndex {
  const set = fromBinary(FileDescriptorSetSchema, bytes);
  const files = new Map<string, { bytes: Uint8Array; imports: readonly string[] }>();
  const symbols = new Map<string, SymbolEntry>();
  const extensions = new Map<string, Map<number, string>>();
  const addSymbol = (name: string, file: string, kind: SymbolEntry["kind"] = "other") => {
    if (!symbols.has(name)) symbols.set(name, { kind, file });
  };
  const addExtensions = (fields: readonly FieldDescriptorProto[], scope: string, file: string) => {
    for (const field of fields) {
      addSymbol(qualify(scope, field.name), file);
      const extendee = field.extendee.replace(/^\./, "");
      const numbers = extensions.get(extendee) ?? new Map<number, string>();
      numbers.set(field.number, file);
      extensions.set(extendee, numbers);
    }
  };
  const addEnum = (enumType: EnumDescriptorProto, scope: string, file: string) => {
    addSymbol(qualify(scope, enumType.name), file);
    // Enum values are scoped beside their enum, C++ style.
    for (const value of enumType.value) addSymbol(qualify(scope, value.name), file);
  };
  const addMessage = (message: DescriptorProto, scope: string, file: string) => {
    const name = qualify(scope, message.name);
    addSymbol(name, file);
    for (const field of message.field) addSymbol(qualify(name, field.name), file);
    for (const oneof of message.oneofDecl) addSymbol(qualify(name, oneof.name), file);
    for (const nested of message.nestedType) addMessage(nested, name, file);
    for (const nested of message.enumType) addEnum(nested, name, file);
    addExtensions(message.extension, name, file);
  };

  for (const file of set.file) {
    if (file.$unknown !== undefined) {
      file.$unknown = file.$unknown.filter((field) => field.no !== bufImageExtensionField);
    }
    files.set(file.name, { bytes: toBinary(FileDescriptorProtoSchema, file), imports: file.dependency });
    for (const message of file.messageType) addMessage(message, file.package, file.name);
    for (const enumType of file.enumType) addEnum(enumType, file.package, file.name);
    addExtensions(file.extension, file.package, file.name);
    for (const service of file.service) {
      const name = qualify(file.package, service.name);
      addSymbol(name, file.name, "service");
      for (const method of service.method) addSymbol(qualify(name, method.name), file.name);
    }
  }
  for (const [name, file] of files) {
    const missing = file.imports.find((dependency) => !files.has(dependency));
    if (missing !== undefined) throw new TypeError(`${name} imports ${missing}, which is not in the descriptor set`);
  }
  return { files, symbols, extensions };
}

function answer(index: DescriptorIndex, services: readonly string[], request: ServerReflectionRequest): ServerReflectionResponse {
  const respond = (messageResponse: NonNullable<MessageInitShape<typeof ServerReflectionResponseSchema>["messageResponse"]>) =>
    create(ServerReflectionResponseSchema, { validHost: request.host, originalRequest: request, messageResponse });
  const notFound = (what: string) =>
    respond({ case: "errorResponse", value: { errorCode: status.NOT_FOUND, errorMessage: `${what} not found` } });
  const files = (name: string) => respond({ case: "fileDescriptorResponse", value: { fileDescriptorProto: withImports(index, name) } });

  const question = request.messageRequest;
  switch (question.case) {
    case "listServices":
      return respond({ case: "listServicesResponse", value: { service: services.map((name) => ({ name })) } });
    case "fileByFilename":
      return index.files.has(question.value) ? files(question.value) : notFound(`file ${question.value}`);
    case "fileContainingSymbol": {
      const symbol = index.symbols.get(question.value.replace(/^\./, ""));
      return symbol === undefined ? notFound(`symbol ${question.value}`) : files(symbol.file);
    }
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = question.value;
      const file = index.extensions.get(containingType.replace(/^\./, ""))?.get(extensionNumber);
      return file === undefined ? notFound(`extension ${extensionNumber} of ${containingType}`) : files(file);
    }
    case "allExtensionNumbersOfType": {
      const baseTypeName = question.value.replace(/^\./, "");
      if (index.symbols.get(baseTypeName) === undefined) return notFound(`type ${question.value}`);
      const numbers = [...(index.extensions.get(baseTypeName)?.keys() ?? [])].sort((a, b) => a - b);
      return respond({ case: "allExtensionNumbersResponse", value: { baseTypeName, extensionNumber: numbers } });
    }
    case undefined:
      return respond({
        case: "errorResponse",
        value: { errorCode: status.INVALID_ARGUMENT, errorMessage: "the request asks nothing (message_request is unset)" },
      });
  }
}

/** The file first, then every file it imports, transitively, each once. */
function withImports(index: DescriptorIndex, name: string): Uint8Array[] {
  const order: string[] = [];
  const visit = (file: string) => {
    if (order.includes(file)) return;
    order.push(file);
    for (const dependency of index.files.get(file)?.imports ?? []) visit(dependency);
  };
  visit(name);
  return order.flatMap((file) => {
    const entry = index.files.get(file);
    return entry === undefined ? [] : [entry.bytes];
  });
}

function qualify(scope: string, name: string): string {
  return scope === "" ? name : `${scope}.${name}`;
}

/**
 * The bidi-streaming definition grpc-js needs (client/grpc-service-definition
 * only does unary). Function declarations are hoisted, so the constant above
 * can use it.
 */
function reflectionDefinition(service: DescService): ServiceDefinition {
  const method = service.methods[0];
  if (service.methods.length !== 1 || method === undefined || method.methodKind !== "bidi_streaming") {
    throw new TypeError(`${service.typeName} is not the reflection service`);
  }
  const definition: MethodDefinition<ServerReflectionRequest, ServerReflectionResponse> = {
    path: `/${service.typeName}/${method.name}`,
    requestStream: true,
    responseStream: true,
    originalName: method.name,
    requestSerialize: (message) => buffer(toBinary(ServerReflectionRequestSchema, message)),
    requestDeserialize: (bytes) => fromBinary(ServerReflectionRequestSchema, bytes),
    responseSerialize: (message) => buffer(toBinary(ServerReflectionResponseSchema, message)),
    responseDeserialize: (bytes) => fromBinary(ServerReflectionResponseSchema, bytes),
  };
  return { [method.localName]: definition } as ServiceDefinition;
}

function buffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
