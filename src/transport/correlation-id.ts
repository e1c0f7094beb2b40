import { randomUUID } from "node:crypto";
import { Metadata } from "@grpc/grpc-js";
import { CORRELATION_ID_HEADER, PRINTABLE_ID_PATTERN } from "../../wire/wire-constants.js";

/**
 * The log-correlation id of a call: the client's `x-request-id` header if it
 * is short and printable, else a fresh UUID. It is not the idempotency key
 * (the `request_id` field of a write request).
 */
export function correlationIdOf(metadata: Metadata): string {
  const value = metadata.get(CORRELATION_ID_HEADER)[0];
  return typeof value === "string" && PRINTABLE_ID_PATTERN.test(value) ? value : randomUUID();
}

/** Sends the correlation id back in the response headers, so the client can quote it. */
export function echoCorrelationId(call: { sendMetadata(metadata: Metadata): void }, correlationId: string): void {
  const echo = new Metadata();
  echo.set(CORRELATION_ID_HEADER, correlationId);
  call.sendMetadata(echo);
}
