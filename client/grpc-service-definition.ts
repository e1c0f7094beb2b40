import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { fastSerializer } from "./show-available-encoding.js";

/**
 * Turns a protobuf-es service descriptor into the ServiceDefinition grpc-js
 * uses on both sides of a connection: servers register handlers against it,
 * and `makeGenericClientConstructor` builds clients from it.
 *
 * Only unary methods are supported, because the booking API has no streams;
 * anything else throws a TypeError at startup instead of failing per call.
 *
 * Serialising goes through `create` first, so handlers and callers may pass a
 * message or its init shape.
 */
export function grpcServiceDefinition(service: DescService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary") {
      throw new TypeError(`${service.typeName}.${method.name} is ${method.methodKind}; only unary methods are supported`);
    }
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: false,
      originalName: method.name,
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
    };
  }
  return definition;
}

function serializer<Desc extends DescMessage>(schema: Desc): (value: unknown) => Buffer {
  const fast = fastSerializer(schema);
  if (fast !== undefined) return fast;
  return (value) => {
    const message = create(schema, value as MessageInitShape<Desc>);
    const bytes = toBinary(schema, message);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<Desc extends DescMessage>(schema: Desc): (bytes: Buffer) => MessageShape<Desc> {
  return (bytes) => fromBinary(schema, bytes);
}
