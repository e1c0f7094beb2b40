import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";

/** A replacement encoder for one method's responses (the server's fast paths). */
export type ResponseSerializer = (value: unknown) => Buffer;

/** Options of {@link grpcServiceDefinition}. */
export interface ServiceDefinitionOptions {
  /**
   * Response encoders to use instead of protobuf-es, by method local name
   * (e.g. `showAvailable`). Each must write the same bytes as `toBinary`.
   */
  readonly responseSerializers?: Readonly<Record<string, ResponseSerializer>>;
}

/**
 * Turns a protobuf-es service descriptor into the ServiceDefinition grpc-js
 * uses on both sides of a connection: servers register handlers against it,
 * and `makeGenericClientConstructor` builds clients from it.
 *
 * Unary and server-streaming methods are supported; client and bidirectional
 * streams throw a TypeError at startup instead of failing per call.
 *
 * Serialising goes through `create` first, so handlers and callers may pass a
 * message or its init shape.
 */
export function grpcServiceDefinition(service: DescService, options: ServiceDefinitionOptions = {}): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      throw new TypeError(`${service.typeName}.${method.name} is ${method.methodKind}; only unary and server-streaming methods are supported`);
    }
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: method.methodKind === "server_streaming",
      originalName: method.name,
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: options.responseSerializers?.[method.localName] ?? serializer(method.output),
      responseDeserialize: deserializer(method.output),
    };
  }
  return definition;
}

function serializer<Desc extends DescMessage>(schema: Desc): (value: unknown) => Buffer {
  return (value) => {
    const message = create(schema, value as MessageInitShape<Desc>);
    const bytes = toBinary(schema, message);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<Desc extends DescMessage>(schema: Desc): (bytes: Buffer) => MessageShape<Desc> {
  return (bytes) => fromBinary(schema, bytes);
}
