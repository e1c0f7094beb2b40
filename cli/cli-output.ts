import { basename } from "node:path";
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import {
  BookSeatsResponseSchema,
  CancelSeatsResponseSchema,
  CloseShowResponseSchema,
  ConfirmHoldResponseSchema,
  CreateShowResponseSchema,
  ExtendHoldResponseSchema,
  GetHoldResponseSchema,
  HoldSeatsResponseSchema,
  ReleaseHoldResponseSchema,
  ResizeShowResponseSchema,
  ShowAvailableResponseSchema,
  ShowSchema,
  type BookSeatsResponse,
  type CancelSeatsResponse,
  type CloseShowResponse,
  type ConfirmHoldResponse,
  type CreateShowResponse,
  type ExtendHoldResponse,
  type GetHoldResponse,
  type HoldSeatsResponse,
  type ReleaseHoldResponse,
  type ResizeShowResponse,
  type Show,
  type ShowAvailableResponse,
} from "../gen/booking/v1/booking_pb.js";
import type { BookingError } from "../client/index.js";
import { formatSeatRanges } from "../client/index.js";
import {
  closedShowText,
  createdShowText,
  describeSeats,
  extendedText,
  heldText,
  holdInfoText,
  releasedText,
  resizedShowText,
  showsTable,
} from "./hold-show-text.js";

/** "seat 4", "seats 1, 2, 3", or ranges once the list grows long ("seats 1-40"). */
export { describeSeats };

/** What one CLI operation answered; `operation` is the command as typed ("hold", "shows create"). */
export type OperationResult =
  | { readonly operation: "book"; readonly response: BookSeatsResponse }
  | { readonly operation: "cancel"; readonly response: CancelSeatsResponse }
  | { readonly operation: "show"; readonly response: ShowAvailableResponse }
  | { readonly operation: "hold"; readonly response: HoldSeatsResponse }
  | { readonly operation: "extend"; readonly response: ExtendHoldResponse }
  | { readonly operation: "confirm"; readonly response: ConfirmHoldResponse }
  | { readonly operation: "release"; readonly response: ReleaseHoldResponse }
  | { readonly operation: "hold-info"; readonly response: GetHoldResponse }
  | { readonly operation: "shows"; readonly shows: readonly Show[] }
  | { readonly operation: "shows create"; readonly response: CreateShowResponse }
  | { readonly operation: "shows close"; readonly response: CloseShowResponse }
  | { readonly operation: "shows resize"; readonly response: ResizeShowResponse };

/** Exit code: done. */
export const EXIT_OK = 0;
/** Exit code: the service answered, and refused or failed the request. */
export const EXIT_REFUSED = 1;
/** Exit code: the command line or the certificates are wrong, or the server could not be reached. */
export const EXIT_USAGE_OR_CONNECTION = 2;

/**
 * Formats a result for stdout: a sentence (two lines for `show` and `hold`,
 * a table for `shows`), or with `json` one JSON object on one line, the
 * response's canonical JSON (zero values included) plus an "operation"
 * field (`shows` gives `{"operation":"shows","shows":[...]}`). Ends with a
 * newline. `now` (epoch ms) only says how far off a hold's expiry is.
 */
export function formatResult(result: OperationResult, json: boolean, now: number = Date.now()): string {
  if (json) {
    return `${JSON.stringify({ operation: result.operation, ...responseJson(result) })}\n`;
  }
  switch (result.operation) {
    case "book": {
      const { seats, showId, owner, replayed } = result.response;
      return `booked ${describeSeats(seats)} in show "${showId}" for ${owner}${replayedNote(replayed)}\n`;
    }
    case "cancel": {
      const { seats, showId, replayed } = result.response;
      return `cancelled ${describeSeats(seats)} in show "${showId}"${replayedNote(replayed)}\n`;
    }
    case "show": {
      const { showId, totalSeats, availableSeats } = result.response;
      return (
        `show "${showId}": ${availableSeats.length} of ${totalSeats} seats available\n` +
        `available: ${formatSeatRanges(availableSeats)}\n`
      );
    }
    case "hold":
      return heldText(result.response.hold ?? missing("hold"), replayedNote(result.response.replayed), now);
    case "extend":
      return extendedText(result.response.hold ?? missing("hold"), now);
    case "confirm": {
      const { seats, showId, owner, replayed, holdId } = result.response;
      return `booked ${describeSeats(seats)} in show "${showId}" for ${owner} (hold ${holdId} confirmed)${replayedNote(replayed)}\n`;
    }
    case "release":
      return releasedText(result.response.hold ?? missing("hold"));
    case "hold-info":
      return holdInfoText(result.response.hold ?? missing("hold"), now);
    case "shows":
      return showsTable(result.shows);
    case "shows create":
      return createdShowText(result.response.show ?? missing("show"), replayedNote(result.response.replayed));
    case "shows close":
      return closedShowText(result.response.show ?? missing("show"));
    case "shows resize":
      return resizedShowText(result.response.show ?? missing("show"));
  }
}

/** The server always sends the hold or show; an answer without one is a broken server. */
function missing(field: string): never {
  throw new Error(`the server's answer has no ${field}`);
}

/**
 * Formats a failed operation for stderr as exactly one line, e.g.
 * `booking: book refused (ALREADY_EXISTS): seats 1, 2 of show "main" are already booked`,
 * or with `json` a single-line `{"error":{...}}`.
 */
export function formatFailure(
  operation: OperationResult["operation"] | "watch",
  error: BookingError,
  context: { readonly address: string; readonly deadlineMs: number; readonly certPath?: string },
  json: boolean,
): string {
  const message = oneLine(error.message);
  if (json) {
    return `${JSON.stringify({
      error: {
        operation,
        code: error.codeName,
        grpcCode: error.code,
        reason: error.reason,
        message,
        showId: error.showId,
        seats: error.seats,
        ...(error.violations.length > 0 ? { violations: error.violations } : {}),
        ...(error.retryDelayMs === undefined ? {} : { retryDelayMs: error.retryDelayMs }),
        ...(error.requestId === undefined ? {} : { requestId: error.requestId }),
        attempts: error.attempts,
      },
    })}\n`;
  }
  // Without an answer a change may or may not have happened: the request id
  // settles it, and text output is the only place a person can read it.
  const settle = error.requestId === undefined ? "" : `; to settle it, run the same command with --request-id ${error.requestId}`;
  switch (error.code) {
    case status.UNAVAILABLE:
      if (error.reason === "STORE_UNAVAILABLE") {
        return `booking: ${operation}: the server at ${context.address} cannot reach its database (UNAVAILABLE after ${attempts(error)}): ${message}${settle}\n`;
      }
      return `booking: ${operation}: cannot reach the server at ${context.address} (UNAVAILABLE after ${attempts(error)}): ${message}${settle}\n`;
    case status.DEADLINE_EXCEEDED:
      return `booking: ${operation}: no answer from ${context.address} within ${context.deadlineMs} ms (DEADLINE_EXCEEDED): ${message}${settle}\n`;
    default: {
      const verb = isRefusal(error.code) ? "refused" : "failed";
      const hint = error.reason === "ADMIN_ONLY" ? adminHint(context.certPath) : "";
      return `booking: ${operation} ${verb} (${error.codeName}): ${message}${hint}\n`;
    }
  }
}

/**
 * What to do about ADMIN_ONLY. Already calling with an admin.crt (--as
 * admin), the certificate is not the problem: the server's --admins does not
 * name its identity (a server on its own PKI names no admin by default).
 */
function adminHint(certPath: string | undefined): string {
  if (certPath !== undefined && basename(certPath) === "admin.crt") {
    return ` (${certPath} is not an admin on this server: its serve --admins must name that certificate's identity)`;
  }
  return " (run it with an admin certificate, e.g. --as admin)";
}

/** A usage or setup error for stderr: one line, JSON with `json`. */
export function formatUsageError(code: "USAGE" | "CREDENTIALS", message: string, json: boolean): string {
  if (json) return `${JSON.stringify({ error: { code, message: oneLine(message) } })}\n`;
  const hint = code === "USAGE" ? " (see booking --help)" : "";
  return `booking: ${oneLine(message)}${hint}\n`;
}

/**
 * The exit code of a failed call: 2 when no answer came (UNAVAILABLE,
 * DEADLINE_EXCEEDED), 1 for every answer that refused or failed the request.
 */
export function exitCodeOf(error: BookingError): number {
  return error.code === status.UNAVAILABLE || error.code === status.DEADLINE_EXCEEDED
    ? EXIT_USAGE_OR_CONNECTION
    : EXIT_REFUSED;
}

function responseJson(result: OperationResult): object {
  const options = { alwaysEmitImplicit: true } as const;
  switch (result.operation) {
    case "book":
      return jsonObject(BookSeatsResponseSchema, result.response, options);
    case "cancel":
      return jsonObject(CancelSeatsResponseSchema, result.response, options);
    case "show":
      return jsonObject(ShowAvailableResponseSchema, result.response, options);
    case "hold":
      return jsonObject(HoldSeatsResponseSchema, result.response, options);
    case "extend":
      return jsonObject(ExtendHoldResponseSchema, result.response, options);
    case "confirm":
      return jsonObject(ConfirmHoldResponseSchema, result.response, options);
    case "release":
      return jsonObject(ReleaseHoldResponseSchema, result.response, options);
    case "hold-info":
      return jsonObject(GetHoldResponseSchema, result.response, options);
    case "shows":
      return { shows: result.shows.map((show) => jsonObject(ShowSchema, show, options)) };
    case "shows create":
      return jsonObject(CreateShowResponseSchema, result.response, options);
    case "shows close":
      return jsonObject(CloseShowResponseSchema, result.response, options);
    case "shows resize":
      return jsonObject(ResizeShowResponseSchema, result.response, options);
  }
}

function jsonObject<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  options: { alwaysEmitImplicit: true },
): object {
  const value = toJson(schema, message, options);
  return typeof value === "object" && value !== null && !Array.isArray(value) ? value : {};
}

const refusals = new Set<number>([
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.ALREADY_EXISTS,
  status.FAILED_PRECONDITION,
  status.PERMISSION_DENIED,
  status.RESOURCE_EXHAUSTED,
  status.UNAUTHENTICATED,
]);

function isRefusal(code: number): boolean {
  return refusals.has(code);
}

function replayedNote(replayed: boolean): string {
  return replayed ? " (replayed: the server had already done this request)" : "";
}

function attempts(error: BookingError): string {
  return error.attempts === 1 ? "1 attempt" : `${error.attempts} attempts`;
}

function oneLine(text: string): string {
  // grpc-js ends connection errors with an empty "Resolution note:".
  return text.replace(/\s*\n\s*/g, " ").replace(/\s*Resolution note:\s*$/, "").trim();
}
