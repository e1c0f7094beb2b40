import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  AvailabilityForm,
  SeatChangeKind,
  ShowState,
  WatchAvailabilityResponseSchema,
  type WatchAvailabilityResponse,
} from "../../gen/booking/v1/booking_pb.js";
import type { WatchEvent } from "../core/availability-feed.js";
import type { ShowState as CoreShowState } from "../core/seat-store.js";
import { seatRuns, type ChangeKind } from "../core/show-changes.js";

/** The free seats of a listing or snapshot in the form a request asked for. */
export interface FreeSeatForms {
  readonly seats: number[];
  readonly ranges: { first: number; last: number }[];
}

/**
 * Which forms `form` asks for. `unset` is what AVAILABILITY_FORM_UNSPECIFIED
 * means for the message at hand: the seat list for ShowAvailable (as before
 * ranges existed), both for a watch snapshot. An unknown future value is
 * read as both: sending more than asked is safe, sending less is not.
 */
export function freeSeatForms(free: readonly number[], form: AvailabilityForm, unset: "seats" | "both"): FreeSeatForms {
  const chosen = chosenForm(form, unset);
  const seats = chosen === AvailabilityForm.RANGES ? [] : [...free];
  const ranges = chosen === AvailabilityForm.SEATS ? [] : seatRuns(free).map((run) => ({ first: run.first, last: run.last }));
  return { seats, ranges };
}

/** The form {@link freeSeatForms} sends for `form`: SEATS, RANGES or BOTH. */
export function chosenForm(form: AvailabilityForm, unset: "seats" | "both"): AvailabilityForm {
  if (form === AvailabilityForm.UNSPECIFIED) return unset === "seats" ? AvailabilityForm.SEATS : AvailabilityForm.BOTH;
  return form === AvailabilityForm.SEATS || form === AvailabilityForm.RANGES ? form : AvailabilityForm.BOTH;
}

/** A core show state on the wire. */
export function showStateMessage(state: CoreShowState): ShowState {
  return state === "open" ? ShowState.OPEN : ShowState.CLOSED;
}

const changeKinds: Readonly<Record<ChangeKind, SeatChangeKind>> = {
  booked: SeatChangeKind.BOOKED,
  released: SeatChangeKind.RELEASED,
  held: SeatChangeKind.HELD,
  "hold-ended": SeatChangeKind.HOLD_ENDED,
  resized: SeatChangeKind.RESIZED,
  closed: SeatChangeKind.CLOSED,
};

/**
 * One watch event as a WatchAvailabilityResponse: a snapshot with its free
 * seats in the requested form (unset = both), or a batch of changes with
 * their commit times.
 */
export function watchEventMessage(event: WatchEvent, form: AvailabilityForm): WatchAvailabilityResponse {
  if (event.kind === "snapshot") {
    const { snapshot } = event;
    const free = freeSeatForms(snapshot.available, form, "both");
    return create(WatchAvailabilityResponseSchema, {
      event: {
        case: "snapshot",
        value: {
          showId: snapshot.showId,
          version: BigInt(snapshot.version),
          totalSeats: snapshot.totalSeats,
          bookedCount: snapshot.bookedCount,
          heldCount: snapshot.heldCount,
          freeSeats: free.seats,
          freeRanges: free.ranges,
          heldSeats: [...snapshot.held],
          state: showStateMessage(snapshot.state),
          resumeTooOld: event.resumeTooOld,
        },
      },
    });
  }
  return create(WatchAvailabilityResponseSchema, {
    event: {
      case: "changes",
      value: {
        showId: event.showId,
        changes: event.changes.map((change) => ({
          version: BigInt(change.version),
          kind: changeKinds[change.kind],
          seats: [...change.seats],
          totalSeats: change.totalSeats ?? 0,
          commitTime: timestampFromMs(change.at),
        })),
      },
    },
  });
}
