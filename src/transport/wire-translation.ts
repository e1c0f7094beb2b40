import { create } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  HoldSchema,
  HoldState,
  ShowSchema,
  ShowState,
  type Hold,
  type Show,
} from "../../gen/booking/v1/booking_pb.js";
import { BookingFailure } from "../core/booking-failure.js";
import type { HoldRecord, ShowRecord } from "../core/seat-store.js";

/** A core show as the wire's Show. */
export function showMessage(show: ShowRecord): Show {
  return create(ShowSchema, {
    showId: show.id,
    displayName: show.displayName,
    totalSeats: show.totalSeats,
    bookedCount: show.bookedCount,
    heldCount: show.heldCount,
    state: show.state === "open" ? ShowState.OPEN : ShowState.CLOSED,
    createTime: timestampFromMs(show.createdAt),
  });
}

const holdStates = {
  active: HoldState.ACTIVE,
  confirmed: HoldState.CONFIRMED,
  released: HoldState.RELEASED,
  expired: HoldState.EXPIRED,
} as const;

/** A core hold as the wire's Hold. */
export function holdMessage(hold: HoldRecord): Hold {
  return create(HoldSchema, {
    holdId: hold.holdId,
    showId: hold.showId,
    seats: [...hold.seats],
    owner: hold.owner,
    createTime: timestampFromMs(hold.createdAt),
    expireTime: timestampFromMs(hold.expiresAt),
    state: holdStates[hold.state],
  });
}

/** The most a google.protobuf.Duration's nanos may hold, either sign. */
const MAX_DURATION_NANOS = 999_999_999;

/**
 * A request's TTL in ms: undefined when unset (the core applies its default).
 * A negative or out-of-range duration stays a number so the core refuses it
 * by name rather than this layer guessing. A Duration the protobuf spec
 * calls invalid (nanos beyond ±999,999,999, or of the other sign than
 * seconds) is refused here: read as seconds plus nanos it would quietly
 * mean another TTL than the client's clock computed.
 */
export function durationMs(duration: Duration | undefined, showId = ""): number | undefined {
  if (duration === undefined) return undefined;
  const { seconds, nanos } = duration;
  if (Math.abs(nanos) > MAX_DURATION_NANOS || (seconds > 0n && nanos < 0) || (seconds < 0n && nanos > 0)) {
    throw new BookingFailure(
      `ttl is not a valid google.protobuf.Duration: nanos must be within ±999,999,999 and not of the other sign than seconds, got seconds ${seconds} and nanos ${nanos}`,
      { reason: "INVALID_ARGUMENT", showId, violations: [{ field: "ttl.nanos", description: "outside ±999,999,999 or of the other sign than seconds" }] },
    );
  }
  return Number(seconds) * 1000 + Math.trunc(nanos / 1e6);
}

/** For tests and clients: epoch ms of a Timestamp. */
export function timestampToMs(timestamp: Timestamp | undefined): number {
  return timestamp === undefined ? 0 : timestampMs(timestamp);
}
