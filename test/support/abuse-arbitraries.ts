import { create, toBinary, type DescMessage } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import fc from "fast-check";
import {
  BookSeatsRequestSchema,
  CancelSeatsRequestSchema,
  ShowAvailableRequestSchema,
} from "../../gen/booking/v1/booking_pb.js";
import type { BookingMethod } from "./abuse-channel.js";
import type { ModelRequest } from "./abuse-model.js";

/** The request schema of each method. */
export const REQUEST_SCHEMAS: Readonly<Record<BookingMethod, DescMessage>> = {
  bookSeats: BookSeatsRequestSchema,
  cancelSeats: CancelSeatsRequestSchema,
  showAvailable: ShowAvailableRequestSchema,
};

/** Request ids shared across runs, so that retries and reuse happen often. */
const REUSED_REQUEST_IDS = ["retry-1", "retry-2", "retry-3"];

const seatNumber = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 5 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 101 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff_ffff }) },
);

/** Seat lists: mostly short and plausible, sometimes empty, out of range, repeated or too long. */
export const seatListArbitrary = fc.oneof(
  { weight: 9, arbitrary: fc.array(seatNumber, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 60, maxLength: 70 }) },
);

/** Show ids: mostly the configured ones and the default, sometimes anything at all. */
export const showIdArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("", "main", "small") },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
);

/**
 * Request ids: none, a few reused ones, fresh UUIDs, and ids around the
 * 128-character limit. No lone surrogates: protobuf replaces them with
 * U+FFFD, so two different ids would reach the server as one.
 */
export const requestIdArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.constant("") },
  { weight: 3, arbitrary: fc.constantFrom(...REUSED_REQUEST_IDS) },
  { weight: 2, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 125, maxLength: 135 }) },
);

/** A random request of any method for one of `principals`. */
export function requestArbitrary(principals: readonly string[]): fc.Arbitrary<ModelRequest> {
  return fc.record({
    method: fc.constantFrom<BookingMethod>("bookSeats", "cancelSeats", "showAvailable"),
    principal: fc.constantFrom(...principals),
    showId: showIdArbitrary,
    seats: seatListArbitrary,
    requestId: requestIdArbitrary,
  });
}

/** The request message of `request`, as the generated schema encodes it. */
export function encodeRequest(request: ModelRequest): Uint8Array {
  const schema = REQUEST_SCHEMAS[request.method];
  return toBinary(schema, create(schema, messageInit(request)));
}

/** The init shape of the request message (showAvailable takes the show only). */
export function messageInit(request: ModelRequest): Record<string, unknown> {
  return request.method === "showAvailable"
    ? { showId: request.showId }
    : { showId: request.showId, seats: [...request.seats], requestId: request.requestId };
}

/**
 * Bytes near valid messages: an encoding with a few bytes overwritten and
 * perhaps cut short, or bytes that are random from the start.
 */
export function requestBytesArbitrary(principals: readonly string[]): fc.Arbitrary<Uint8Array> {
  const mutated = fc
    .tuple(
      requestArbitrary(principals).map(encodeRequest),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      fc.option(fc.nat(), { nil: undefined }),
    )
    .map(([valid, flips, cut]) => {
      const bytes = Uint8Array.from(valid);
      for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value;
      return cut === undefined || bytes.length === 0 ? bytes : bytes.subarray(0, cut % bytes.length);
    });
  return fc.oneof(mutated, fc.uint8Array({ maxLength: 48 }));
}

/** Metadata keys a client must not (or cannot) set as application metadata. */
const RESERVED_KEYS = new Set([
  "content-type",
  "te",
  "user-agent",
  "host",
  "connection",
  "upgrade",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "http2-settings",
  "accept-encoding",
  "content-length",
  "x-request-id",
]);

const textKey = fc
  .stringMatching(/^[a-z0-9_.-]{1,20}$/)
  .filter((key) => !key.startsWith("grpc-") && !key.endsWith("-bin") && !RESERVED_KEYS.has(key));
const printable = fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code));
/** Printable ASCII; HTTP/2 forbids leading and trailing whitespace in a field value. */
const textValue = fc.string({ unit: printable, maxLength: 120 }).map((value) => value.trim());

/** Random application metadata, with or without an x-request-id (usable or not). */
export interface RandomMetadata {
  readonly text: readonly (readonly [string, string])[];
  readonly binary: readonly (readonly [string, Uint8Array])[];
  readonly requestId: string | undefined;
}

/** Up to a dozen random text and binary entries, well inside the header limits. */
export const metadataArbitrary: fc.Arbitrary<RandomMetadata> = fc.record({
  text: fc.array(fc.tuple(textKey, textValue), { maxLength: 8 }),
  binary: fc.array(fc.tuple(textKey.map((key) => `${key}-bin`), fc.uint8Array({ maxLength: 64 })), { maxLength: 4 }),
  requestId: fc.option(
    fc.oneof(fc.uuid(), textValue, fc.string({ unit: printable, minLength: 120, maxLength: 140 }).map((v) => v.trim())),
    { nil: undefined },
  ),
});

/** The grpc-js Metadata of a {@link RandomMetadata}. */
export function toMetadata(random: RandomMetadata): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of random.text) metadata.add(key, value);
  for (const [key, value] of random.binary) metadata.add(key, Buffer.from(value));
  if (random.requestId !== undefined) metadata.set("x-request-id", random.requestId);
  return metadata;
}
