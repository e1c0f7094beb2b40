import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import type { Metadata } from "@grpc/grpc-js";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema, type Status } from "../../gen/google/rpc/status_pb.js";

/** The google.rpc.Status a failed call carried in grpc-status-details-bin, if any. */
export function richStatusOf(trailers: Metadata | undefined): Status | undefined {
  const value = trailers?.get("grpc-status-details-bin")[0];
  return value instanceof Buffer ? fromBinary(StatusSchema, value) : undefined;
}

/** The RetryInfo delay in ms, or undefined when the status carries no RetryInfo. */
export function retryDelayMs(trailers: Metadata | undefined): number | undefined {
  for (const detail of richStatusOf(trailers)?.details ?? []) {
    const retry = anyUnpack(detail, RetryInfoSchema);
    if (retry?.retryDelay !== undefined) {
      return Number(retry.retryDelay.seconds) * 1000 + retry.retryDelay.nanos / 1_000_000;
    }
  }
  return undefined;
}

/** The ErrorInfo reason, or undefined when the status carries no ErrorInfo. */
export function errorReason(trailers: Metadata | undefined): string | undefined {
  for (const detail of richStatusOf(trailers)?.details ?? []) {
    const info = anyUnpack(detail, ErrorInfoSchema);
    if (info !== undefined) return info.reason;
  }
  return undefined;
}
