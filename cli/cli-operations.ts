import type { BookingCallOptions, BookingClient, Show } from "../client/index.js";
import type { CliCommand, CliOperation } from "./cli-arguments.js";
import type { OperationResult } from "./cli-output.js";

type ClientCommand = Extract<CliCommand, { kind: "client" }>;

/**
 * Makes the SDK call of one CLI operation and returns its answer; a failure
 * rejects with the SDK's BookingError (or a TypeError for SDK misuse, a bug).
 * Writes carry the command line's --request-id when given.
 */
export async function runOperation(client: BookingClient, operation: CliOperation, command: ClientCommand): Promise<OperationResult> {
  const { showId } = command;
  const write: BookingCallOptions = command.requestId === undefined ? {} : { requestId: command.requestId };
  switch (operation.kind) {
    case "book":
      return { operation: "book", response: await client.bookSeats({ showId, seats: [...operation.seats] }, write) };
    case "cancel":
      return { operation: "cancel", response: await client.cancelSeats({ showId, seats: [...operation.seats] }, write) };
    case "show":
      return { operation: "show", response: await client.showAvailable({ showId }) };
    case "hold":
      return {
        operation: "hold",
        response: await client.holdSeats({ showId, seats: operation.seats, ttlMs: operation.ttlMs }, write),
      };
    case "extend":
      return { operation: "extend", response: await client.extendHold({ holdId: operation.holdId, ttlMs: operation.ttlMs }, write) };
    case "confirm":
      return { operation: "confirm", response: await client.confirmHold({ holdId: operation.holdId }, write) };
    case "release":
      return { operation: "release", response: await client.releaseHold({ holdId: operation.holdId }, write) };
    case "hold-info":
      return { operation: "hold-info", response: await client.getHold({ holdId: operation.holdId }) };
    case "shows": {
      const shows: Show[] = [];
      for await (const show of client.listAllShows()) shows.push(show);
      return { operation: "shows", shows };
    }
    case "shows create": {
      const { showId: id, totalSeats, displayName } = operation;
      return { operation: "shows create", response: await client.createShow({ showId: id, totalSeats, displayName }, write) };
    }
    case "shows close":
      return { operation: "shows close", response: await client.closeShow({ showId: operation.showId }, write) };
    case "shows resize": {
      const { showId: id, totalSeats } = operation;
      return { operation: "shows resize", response: await client.resizeShow({ showId: id, totalSeats }, write) };
    }
    case "watch":
      throw new TypeError("watch streams until interrupted; runWatch runs it, not runOperation");
  }
}
