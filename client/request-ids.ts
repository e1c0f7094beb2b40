import { randomFillSync } from "node:crypto";

const random = new Uint8Array(10);
const hex = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/**
 * A fresh idempotency key: a version 7 UUID (RFC 9562), whose first 48 bits
 * are the time in milliseconds and the other 74 random.
 *
 * Time first, so that keys made close together sort close together: the
 * service keeps every key (with its principal) in a B-tree for a day, and a
 * random key lands on a random page of it, which each commit must then
 * write (SQLite wrote about 40 pages per commit of 19 bookings with random
 * keys, against 6 without keys). Keys made in time order are appended to
 * the same few pages. Any unique key still works; this one is cheaper for
 * the server to remember.
 */
export function newRequestId(now: number = Date.now()): string {
  randomFillSync(random);
  const time = Math.max(0, Math.floor(now));
  const high = Math.floor(time / 0x1_0000_0000) & 0xffff;
  const low = time >>> 0;
  return (
    hex[high >>> 8]! + hex[high & 0xff]! + hex[low >>> 24]! + hex[(low >>> 16) & 0xff]! + "-" +
    hex[(low >>> 8) & 0xff]! + hex[low & 0xff]! + "-" +
    hex[0x70 | (random[0]! & 0x0f)]! + hex[random[1]!]! + "-" +
    hex[0x80 | (random[2]! & 0x3f)]! + hex[random[3]!]! + "-" +
    hex[random[4]!]! + hex[random[5]!]! + hex[random[6]!]! + hex[random[7]!]! + hex[random[8]!]! + hex[random[9]!]!
  );
}
