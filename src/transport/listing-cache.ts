import { create, toBinary } from "@bufbuild/protobuf";
import { ShowAvailableResponseSchema, type AvailabilityForm, type ShowAvailableResponse } from "../../gen/booking/v1/booking_pb.js";
import type { BookingCore } from "../core/booking-core.js";
import { fastSerializer } from "./show-available-encoding.js";
import { TRANSPORT_DEFAULTS } from "./transport-defaults.js";
import { chosenForm, freeSeatForms } from "./watch-messages.js";

/** Options of {@link ListingCache}. */
export interface ListingCacheOptions {
  /** Listings kept, one per (show, form); the least recently used goes first. */
  readonly maxEntries?: number;
  /** The encoder; default the fast ShowAvailableResponse encoder. Tests count calls through it. */
  readonly encode?: (message: ShowAvailableResponse) => Buffer;
}

interface Entry {
  readonly version: number;
  readonly bytes: Buffer;
}

/**
 * ShowAvailable answers, encoded once per show version and form. A listing
 * of a 100,000-seat show is a large message; while the show does not change,
 * every caller gets the same bytes. Before reusing them it asks the core
 * whether the show changed after their version (`unchangedSince`, a one-row
 * read of the store, so changes through other instances count), and reads
 * and encodes afresh when it did. A caller never gets a listing older than
 * the show's state when its request arrived: the check is made after it.
 *
 * The bytes are sent as they are: the server's ShowAvailable serializer
 * passes a Buffer through (see {@link preEncodedSerializer}).
 */
export class ListingCache {
  readonly #core: BookingCore;
  readonly #maxEntries: number;
  readonly #encode: (message: ShowAvailableResponse) => Buffer;
  readonly #entries = new Map<string, Entry>();
  #encodes = 0;

  constructor(core: BookingCore, options: ListingCacheOptions = {}) {
    this.#core = core;
    this.#maxEntries = options.maxEntries ?? TRANSPORT_DEFAULTS.listingCacheEntries;
    this.#encode = options.encode ?? showAvailableEncoder();
  }

  /** Listings encoded so far (a reuse encodes nothing). */
  get encodes(): number {
    return this.#encodes;
  }

  /** The encoded ShowAvailableResponse of a show ("" = the default) in a form. */
  async listing(showId: string, form: AvailabilityForm): Promise<Buffer> {
    const id = showId === "" ? this.#core.defaultShowId : showId;
    const chosen = chosenForm(form, "seats");
    const key = `${chosen}:${id}`;
    const cached = this.#entries.get(key);
    if (cached !== undefined && (await this.#core.unchangedSince(id, cached.version))) {
      this.#remember(key, cached);
      return cached.bytes;
    }
    const snapshot = await this.#core.available(id);
    const free = freeSeatForms(snapshot.available, chosen, "seats");
    const bytes = this.#encode(
      create(ShowAvailableResponseSchema, {
        showId: snapshot.showId,
        totalSeats: snapshot.totalSeats,
        bookedCount: snapshot.bookedCount,
        heldCount: snapshot.heldCount,
        availableSeats: free.seats,
        freeRanges: free.ranges,
        version: BigInt(snapshot.version),
      }),
    );
    this.#encodes++;
    // Concurrent misses may finish out of order: keep the newest version.
    const current = this.#entries.get(key);
    if (current === undefined || current.version <= snapshot.version) this.#remember(key, { version: snapshot.version, bytes });
    return bytes;
  }

  #remember(key: string, entry: Entry): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }
}

/** The fast encoder when it knows the schema, else protobuf-es. */
function showAvailableEncoder(): (message: ShowAvailableResponse) => Buffer {
  const fast = fastSerializer(ShowAvailableResponseSchema);
  if (fast !== undefined) return fast;
  return (message) => {
    const bytes = toBinary(ShowAvailableResponseSchema, message);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/**
 * A response serializer that sends a Buffer as the already encoded message
 * and encodes anything else with `encode`: how pre-encoded listings reach
 * the wire, since grpc-js serializes responses itself.
 */
export function preEncodedSerializer(encode: (value: unknown) => Buffer): (value: unknown) => Buffer {
  return (value) => (Buffer.isBuffer(value) ? value : encode(value));
}
