import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { StatusSchema, type Status } from "../gen/google/rpc/status_pb.js";
import { BookingFailure, type FailureReason } from "../src/core/booking-failure.js";
import {
  CODE_OF_REASON,
  ERROR_DOMAIN,
  errorInfo,
  retryInfo,
  richStatus,
  toWireStatus,
  type WireStatus,
} from "../src/transport/error-status.js";
import { STATUS_DETAILS_TRAILER } from "../wire/wire-constants.js";

function richStatusOf(wire: WireStatus): Status {
  const bytes = wire.metadata.get(STATUS_DETAILS_TRAILER)[0];
  if (!(bytes instanceof Buffer)) throw new Error("no status details trailer");
  return fromBinary(StatusSchema, bytes);
}

function detailsOf(wire: WireStatus) {
  const details = richStatusOf(wire).details;
  return {
    errorInfo: details.map((detail) => anyUnpack(detail, ErrorInfoSchema)).find((message) => message !== undefined),
    badRequest: details.map((detail) => anyUnpack(detail, BadRequestSchema)).find((message) => message !== undefined),
    retryInfo: details.map((detail) => anyUnpack(detail, RetryInfoSchema)).find((message) => message !== undefined),
    count: details.length,
  };
}

// The status code of every reason, as the proto's file comment documents it.
const documented: ReadonlyArray<[FailureReason, status]> = [
  ["INVALID_SEATS", status.INVALID_ARGUMENT],
  ["TOO_MANY_SEATS", status.INVALID_ARGUMENT],
  ["SEATS_OUT_OF_RANGE", status.INVALID_ARGUMENT],
  ["INVALID_REQUEST_ID", status.INVALID_ARGUMENT],
  ["REQUEST_ID_REUSED", status.INVALID_ARGUMENT],
  ["INVALID_ARGUMENT", status.INVALID_ARGUMENT],
  ["SHOW_NOT_FOUND", status.NOT_FOUND],
  ["HOLD_NOT_FOUND", status.NOT_FOUND],
  ["SEAT_ALREADY_BOOKED", status.ALREADY_EXISTS],
  ["SEAT_HELD", status.ALREADY_EXISTS],
  ["SHOW_EXISTS", status.ALREADY_EXISTS],
  ["SEAT_NOT_BOOKED", status.FAILED_PRECONDITION],
  ["SHOW_CLOSED", status.FAILED_PRECONDITION],
  ["SHOW_SHRINK_BLOCKED", status.FAILED_PRECONDITION],
  ["HOLD_EXPIRED", status.FAILED_PRECONDITION],
  ["HOLD_CONFIRMED", status.FAILED_PRECONDITION],
  ["HOLD_RELEASED", status.FAILED_PRECONDITION],
  ["SEAT_NOT_OWNED", status.PERMISSION_DENIED],
  ["ADMIN_ONLY", status.PERMISSION_DENIED],
  ["OVERLOADED", status.RESOURCE_EXHAUSTED],
  ["TOO_MANY_HOLDS", status.RESOURCE_EXHAUSTED],
  ["SLOW_CONSUMER", status.RESOURCE_EXHAUSTED],
  ["DEADLINE_EXCEEDED", status.DEADLINE_EXCEEDED],
  ["STORE_UNAVAILABLE", status.UNAVAILABLE],
];

describe("toWireStatus", () => {
  it("has a documented code for every core failure reason", () => {
    expect(Object.keys(CODE_OF_REASON).sort()).toEqual(documented.map(([reason]) => reason).sort());
  });

  it.each(documented)("answers %s with %s and an ErrorInfo of that reason", (reason, code) => {
    const wire = toWireStatus(new BookingFailure(`refused: ${reason}`, { reason, showId: "main", seats: [3, 7] }));
    expect(wire.code).toBe(code);
    expect(wire.details).toBe(`refused: ${reason}`);
    const rich = richStatusOf(wire);
    expect(rich.code).toBe(code);
    expect(rich.message).toBe(`refused: ${reason}`);
    expect(detailsOf(wire).errorInfo).toMatchObject({
      reason,
      domain: ERROR_DOMAIN,
      metadata: { show_id: "main", seats: "3,7" },
    });
  });

  it("leaves seats out of the ErrorInfo when no seat is at fault, and names the hold when one is", () => {
    const noSeats = toWireStatus(new BookingFailure("no show", { reason: "SHOW_NOT_FOUND", showId: "" }));
    expect(detailsOf(noSeats).errorInfo?.metadata).toEqual({ show_id: "" });
    const hold = toWireStatus(new BookingFailure("expired", { reason: "HOLD_EXPIRED", showId: "main", holdId: "h-1" }));
    expect(detailsOf(hold).errorInfo?.metadata).toEqual({ show_id: "main", hold_id: "h-1" });
  });

  it("adds a BadRequest with the field violations when fields are at fault", () => {
    const wire = toWireStatus(
      new BookingFailure("bad seats", {
        reason: "INVALID_SEATS",
        showId: "main",
        seats: [0],
        violations: [{ field: "seats[0]", description: "seat 0 is not in 1-100" }],
      }),
    );
    const details = detailsOf(wire);
    expect(details.badRequest?.fieldViolations).toEqual([
      expect.objectContaining({ field: "seats[0]", description: "seat 0 is not in 1-100" }),
    ]);
    expect(details.retryInfo).toBeUndefined();
  });

  it("adds a RetryInfo when the failure says how long to wait", () => {
    const wire = toWireStatus(
      new BookingFailure("busy", { reason: "OVERLOADED", showId: "main", retryDelayMs: 1250 }),
    );
    const delay = detailsOf(wire).retryInfo?.retryDelay;
    expect(delay?.seconds).toBe(1n);
    expect(delay?.nanos).toBe(250_000_000);
    expect(detailsOf(wire).badRequest).toBeUndefined();
  });

  it("answers anything else with a generic INTERNAL that carries neither message nor stack", () => {
    const wire = toWireStatus(new Error("secret connection string postgres://u:p@db"));
    expect(wire.code).toBe(status.INTERNAL);
    expect(wire.details).toBe("internal error; the server logged the cause");
    expect(JSON.stringify(richStatusOf(wire))).not.toContain("postgres://");
    expect(detailsOf(wire).count).toBe(0);
  });

  it("treats thrown non-errors as INTERNAL too", () => {
    expect(toWireStatus("a string").code).toBe(status.INTERNAL);
    expect(toWireStatus(undefined).code).toBe(status.INTERNAL);
  });
});

describe("richStatus", () => {
  it("puts code, message and details into the status details trailer", () => {
    const wire = richStatus(status.PERMISSION_DENIED, "not you", [errorInfo("PRINCIPAL_NOT_ALLOWED", { principal: "p" })]);
    expect(wire).toMatchObject({ code: status.PERMISSION_DENIED, details: "not you" });
    expect(richStatusOf(wire)).toMatchObject({ code: status.PERMISSION_DENIED, message: "not you" });
    expect(detailsOf(wire).errorInfo).toMatchObject({
      reason: "PRINCIPAL_NOT_ALLOWED",
      domain: ERROR_DOMAIN,
      metadata: { principal: "p" },
    });
  });
});

describe("retryInfo", () => {
  it.each([
    [0, 0n, 0],
    [50, 0n, 50_000_000],
    [1000, 1n, 0],
    [61_500, 61n, 500_000_000],
  ])("encodes %i ms as %i s and %i ns", (delayMs, seconds, nanos) => {
    const unpacked = anyUnpack(retryInfo(delayMs), RetryInfoSchema);
    expect(unpacked?.retryDelay?.seconds).toBe(seconds);
    expect(unpacked?.retryDelay?.nanos).toBe(nanos);
  });
});
