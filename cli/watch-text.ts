import { formatSeatRanges, type BookingError, type WatchChange, type WatchUpdate } from "../client/index.js";

/**
 * The lines `booking watch` prints: one for the snapshot, one per change,
 * and the reconnect notices for stderr. With `json`, each is one JSON object
 * on one line; versions are strings there, as uint64 values are in
 * protobuf's JSON (and in the other commands' --json output).
 */

/** Every stdout line of one update, each ending in a newline. */
export function watchUpdateText(update: WatchUpdate, json: boolean): string {
  if (update.kind === "snapshot") {
    const map = update.seatMap;
    if (json) {
      return jsonLine({
        operation: "watch",
        event: "snapshot",
        showId: update.showId,
        version: String(update.version),
        totalSeats: update.totalSeats,
        freeCount: update.totalSeats - update.bookedCount - update.heldCount,
        heldCount: update.heldCount,
        bookedCount: update.bookedCount,
        state: update.state,
        freeRanges: update.freeRanges,
        heldSeats: update.heldSeats,
        resumeTooOld: update.resumeTooOld,
      });
    }
    const closed = map.state === "closed" ? ", closed" : "";
    const fresh = update.resumeTooOld ? " (fresh snapshot: the server no longer had the versions since the last one shown)" : "";
    return `show "${map.showId}" v${map.version}: ${map.freeCount} of ${map.totalSeats} free, ${map.heldCount} held${closed}${fresh}\n`;
  }
  return update.changes.map((change) => (json ? changeJson(update.showId, change) : `${changeText(change)}\n`)).join("");
}

/** `v12 booked 4, 5`, `v13 hold ended 7-9`, `v14 resized to 120 seats`, `v15 closed`. */
export function changeText(change: WatchChange): string {
  const seats = formatSeatRanges(change.seats);
  switch (change.kind) {
    case "booked":
      return `v${change.version} booked ${seats}`;
    case "released":
      return `v${change.version} released ${seats}`;
    case "held":
      return `v${change.version} held ${seats}`;
    case "hold-ended":
      return `v${change.version} hold ended ${seats}`;
    case "resized":
      return `v${change.version} resized to ${change.totalSeats ?? "?"} seats`;
    case "closed":
      return `v${change.version} closed`;
  }
}

/** The stderr line when the stream ended and the watch is about to subscribe again. */
export function reconnectingText(error: BookingError, fromVersion: bigint | undefined, address: string, json: boolean): string {
  const message = oneLine(error.message);
  if (json) {
    return jsonLine({
      notice: {
        operation: "watch",
        event: "reconnecting",
        code: error.codeName,
        reason: error.reason,
        message,
        address,
        ...(fromVersion === undefined ? {} : { fromVersion: String(fromVersion) }),
      },
    });
  }
  const from = fromVersion === undefined ? "for a snapshot" : `to resume after v${fromVersion}`;
  return `booking: watch: the stream ended (${error.codeName}: ${message}); reconnecting to ${address} ${from}\n`;
}

/** The stderr line when a new subscription answered. */
export function reconnectedText(address: string, fromVersion: bigint | undefined, json: boolean): string {
  if (json) {
    return jsonLine({
      notice: { operation: "watch", event: "reconnected", address, ...(fromVersion === undefined ? {} : { fromVersion: String(fromVersion) }) },
    });
  }
  const from = fromVersion === undefined ? "starting from a snapshot" : `resuming after v${fromVersion}`;
  return `booking: watch: reconnected to ${address}, ${from}\n`;
}

function changeJson(showId: string, change: WatchChange): string {
  return jsonLine({
    operation: "watch",
    event: "change",
    showId,
    version: String(change.version),
    kind: change.kind,
    seats: change.seats,
    ...(change.totalSeats === undefined ? {} : { totalSeats: change.totalSeats }),
    ...(change.commitTime === undefined ? {} : { commitTime: change.commitTime.toISOString() }),
  });
}

function jsonLine(value: object): string {
  return `${JSON.stringify(value)}\n`;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").replace(/\s*Resolution note:\s*$/, "").trim();
}
