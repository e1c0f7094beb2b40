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

/**
 * A request's TTL in ms: undefined when unset (the core applies its default).
 * A negative or out-of-range duration stays a number so the core refuses it
 * by name rather than this layer guessing.
 */
export function durationMs(duration: Duration | undefined): number | undefined {
  if (duration === undefined) return undefined;
  return Number(duration.seconds) * 1000 + Math.trunc(duration.nanos / 1e6);
}

/** For tests and clients: epoch ms of a Timestamp. */
export function timestampToMs(timestamp: Timestamp | undefined): number {
  return timestamp === undefined ? 0 : timestampMs(timestamp);
}
