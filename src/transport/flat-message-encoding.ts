import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";

/** How one field is written. */
interface FieldPlan {
  readonly localName: string;
  /** The field's tag byte: (number << 3) | wire type; numbers up to 15 fit in one byte. */
  readonly tag: number;
  readonly kind: "string" | "bool" | "uint32" | "packed-uint32";
}

/**
 * A hand-written encoder for the small answers of the booking hot path
 * (BookSeatsResponse, CancelSeatsResponse): messages whose fields are all
 * strings, bools, uint32s or packed uint32 lists, numbered 1 to 15. It
 * writes the bytes protobuf-es's `toBinary` writes, without building a
 * reflection wrapper, a writer and its chunks per call; protobuf-es's
 * encoder was the largest allocation of a booking after the log line.
 *
 * Returns undefined for a schema with any other field, so a field added
 * later is never dropped silently: the generic encoder takes that message.
 * A value the encoder does not expect (a number that is no uint32, unknown
 * fields) goes to `fallback`, which throws or encodes as protobuf-es does.
 * A test compares its bytes with toBinary.
 */
export function flatMessageSerializer(schema: DescMessage, fallback: (value: unknown) => Buffer): ((value: unknown) => Buffer) | undefined {
  const plan: FieldPlan[] = [];
  for (const field of [...schema.fields].sort((a, b) => a.number - b.number)) {
    const kind = kindOf(field);
    if (kind === undefined || field.number > 15) return undefined;
    plan.push({ localName: field.localName, tag: (field.number << 3) | (kind === "bool" || kind === "uint32" ? 0 : 2), kind });
  }
  return (value) => encodeFlat(plan, value as Readonly<Record<string, unknown>>) ?? fallback(value);
}

function kindOf(field: DescField): FieldPlan["kind"] | undefined {
  if (field.fieldKind === "scalar") {
    if (field.presence !== FeatureSet_FieldPresence.IMPLICIT) return undefined;
    if (field.scalar === ScalarType.STRING) return "string";
    if (field.scalar === ScalarType.BOOL) return "bool";
    if (field.scalar === ScalarType.UINT32) return "uint32";
    return undefined;
  }
  if (field.fieldKind === "list" && field.listKind === "scalar" && field.scalar === ScalarType.UINT32 && field.packed) return "packed-uint32";
  return undefined;
}

/** The encoding, or undefined when the value is not what the plan expects. */
function encodeFlat(plan: readonly FieldPlan[], value: Readonly<Record<string, unknown>>): Buffer | undefined {
  const unknown = value["$unknown"];
  if (Array.isArray(unknown) && unknown.length > 0) return undefined;
  let size = 0;
  for (const field of plan) {
    const item = value[field.localName];
    switch (field.kind) {
      case "string": {
        if (item === undefined || item === "") break;
        if (typeof item !== "string") return undefined;
        const length = Buffer.byteLength(item, "utf8");
        size += 1 + varintSize(length) + length;
        break;
      }
      case "bool":
        if (item === undefined || item === false) break;
        if (item !== true) return undefined;
        size += 2;
        break;
      case "uint32":
        if (item === undefined || item === 0) break;
        if (!isUint32(item)) return undefined;
        size += 1 + varintSize(item);
        break;
      case "packed-uint32": {
        if (item === undefined) break;
        if (!Array.isArray(item)) return undefined;
        if (item.length === 0) break;
        const packed = packedSize(item);
        if (packed < 0) return undefined;
        size += 1 + varintSize(packed) + packed;
        break;
      }
    }
  }
  const out = Buffer.allocUnsafe(size);
  let offset = 0;
  const varint = (input: number): void => {
    let rest = input;
    while (rest > 0x7f) {
      out[offset++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    out[offset++] = rest;
  };
  for (const field of plan) {
    const item = value[field.localName];
    switch (field.kind) {
      case "string":
        if (typeof item === "string" && item !== "") {
          out[offset++] = field.tag;
          varint(Buffer.byteLength(item, "utf8"));
          offset += out.write(item, offset, "utf8");
        }
        break;
      case "bool":
        if (item === true) {
          out[offset++] = field.tag;
          out[offset++] = 1;
        }
        break;
      case "uint32":
        if (typeof item === "number" && item !== 0) {
          out[offset++] = field.tag;
          varint(item);
        }
        break;
      case "packed-uint32":
        if (Array.isArray(item) && item.length > 0) {
          out[offset++] = field.tag;
          varint(packedSize(item));
          for (const number of item as number[]) varint(number);
        }
        break;
    }
  }
  return out;
}

function isUint32(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 0xffffffff;
}

/** The bytes of a packed uint32 list, or -1 when an item is no uint32. */
function packedSize(items: readonly unknown[]): number {
  let size = 0;
  for (const item of items) {
    if (!isUint32(item)) return -1;
    size += varintSize(item);
  }
  return size;
}

function varintSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}
