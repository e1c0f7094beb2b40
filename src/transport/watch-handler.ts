import { status, type handleServerStreamingCall, type ServerWritableStream } from "@grpc/grpc-js";
import { toBinary } from "@bufbuild/protobuf";
import {
  AvailabilityForm,
  WatchAvailabilityResponseSchema,
  type WatchAvailabilityRequest,
  type WatchAvailabilityResponse,
} from "../../gen/booking/v1/booking_pb.js";
import type { WatchEvent, Watcher } from "../core/availability-feed.js";
import { BookingFailure } from "../core/booking-failure.js";
import type { BookingCore } from "../core/booking-core.js";
import type { AdmissionPipeline } from "./admission/admission-pipeline.js";
import type { CallRecorder } from "./call-recorder.js";
import { correlationIdOf, echoCorrelationId } from "./correlation-id.js";
import { errorInfo, richStatus, StatusError, type WireStatus } from "./error-status.js";
import { serveFailure } from "./serve-failure.js";
import { watchEventMessage } from "./watch-messages.js";

/**
 * The encoded WatchAvailabilityResponse of each changes event, kept while the
 * event lives. The feed hands every watcher that keeps up the same event
 * object, so a batch of changes is encoded once, not once per watcher: with
 * 1,000 watchers, encoding per watcher took about half the server's CPU and
 * delivery fell seconds behind. A changes message does not depend on the
 * request's form.
 */
const encodedEvents = new WeakMap<WatchEvent, Buffer>();

function encodedChanges(event: WatchEvent): Buffer {
  let bytes = encodedEvents.get(event);
  if (bytes === undefined) {
    const binary = toBinary(WatchAvailabilityResponseSchema, watchEventMessage(event, AvailabilityForm.UNSPECIFIED));
    bytes = Buffer.from(binary.buffer, binary.byteOffset, binary.byteLength);
    encodedEvents.set(event, bytes);
  }
  return bytes;
}

/** The RPC's name in logs and metrics. */
const METHOD = "WatchAvailability";

/** A watch stream: messages, or bytes already encoded (see booking-server.ts's serializer). */
type WatchCall = ServerWritableStream<WatchAvailabilityRequest, WatchAvailabilityResponse | Buffer>;

/** What {@link WatchStreams} is built from. */
export interface WatchStreamParts {
  readonly core: BookingCore;
  /** The watch pipeline: identity, allow-list, lag, stream caps, rate limit (as a read), malformed request. */
  readonly admission: AdmissionPipeline;
  readonly recorder: CallRecorder;
}

/**
 * The WatchAvailability handler: admits a stream, starts a watch of the
 * show in the core, and writes each event as a WatchAvailabilityResponse
 * until the client cancels or the watch fails.
 *
 * Backpressure: when `call.write` says the stream's buffer is full, no
 * further event is taken from the watcher until the stream drains. Changes
 * meanwhile wait in the watcher, which the feed ends once its backlog passes
 * the bound (SLOW_CONSUMER, sent as RESOURCE_EXHAUSTED), so a client that
 * stops reading costs the server a bounded amount of memory: the watcher's
 * backlog, plus grpc-js's buffer of at most 16 messages and HTTP/2's window.
 *
 * A stream holds no in-flight slot (see watch-stream-step.ts); it counts
 * against the stream caps until it ends. One log line per stream, when it
 * ends, with its changes_sent.
 */
export class WatchStreams {
  readonly #core: BookingCore;
  readonly #admission: AdmissionPipeline;
  readonly #recorder: CallRecorder;
  #closing: StatusError | undefined;

  constructor(parts: WatchStreamParts) {
    this.#core = parts.core;
    this.#admission = parts.admission;
    this.#recorder = parts.recorder;
  }

  /**
   * Ends every open stream with `error`'s status and refuses new streams
   * with it from now on (the server is shutting down): a drain then waits
   * for calls that end, not for watchers that never do.
   */
  endAll(error: StatusError): void {
    this.#closing = error;
    this.#core.endWatches(error);
  }

  /** The grpc-js handler. */
  readonly handler: handleServerStreamingCall<WatchAvailabilityRequest, WatchAvailabilityResponse> = (call) => {
    const correlationId = correlationIdOf(call.metadata);
    echoCorrelationId(call, correlationId);
    const record = this.#recorder.begin(METHOD, correlationId, "stream");
    const admission = this.#admission.admit(call, { method: METHOD, kind: "read", request: call.request });
    if (!admission.admitted) {
      record.refused(admission.principal, admission.refusal);
      endWith(call, admission.refusal.status);
      return;
    }
    const { principal } = admission.call;
    if (this.#closing !== undefined) {
      admission.release();
      record.finished(this.#closing.status.code, { principal });
      endWith(call, this.#closing.status);
      return;
    }
    record.serving();
    let changesSent = 0;
    this.#serve(call, (count) => {
      changesSent += count;
      this.#recorder.observer?.changesSent?.(count);
    }).then(
      (end) => {
        admission.release();
        const fields = { changes_sent: changesSent };
        if (end === "cancelled") {
          record.finished(status.CANCELLED, { principal, fields });
          return;
        }
        const failure = serveFailure(end.error);
        record.finished(failure.status.code, { principal, refusedBy: failure.refusedBy, error: failure.unexpected, fields });
        endWith(call, failure.status);
      },
      (error: unknown) => {
        // #serve catches everything; this is a bug's last resort.
        admission.release();
        record.finished(status.INTERNAL, { principal, error, fields: { changes_sent: changesSent } });
        endWith(call, serveFailure(error).status);
      },
    );
  };

  /**
   * Writes the watch's events until the client goes away ("cancelled") or
   * the watch ends ({ error }: a failure, or the server stopping).
   */
  async #serve(call: WatchCall, sent: (changes: number) => void): Promise<"cancelled" | { readonly error: unknown }> {
    let watcher: Watcher | undefined;
    let cancelled = false;
    // Wakes a wait for 'drain' when the call or the watch ends first.
    let wake: (() => void) | undefined;
    call.on("cancelled", () => {
      cancelled = true;
      watcher?.close();
      wake?.();
    });
    try {
      const request = call.request;
      watcher = await this.#core.watch(request.showId, resumeVersion(request));
      if (cancelled) {
        watcher.close();
        return "cancelled";
      }
      watcher.onEnd(() => wake?.());
      for (;;) {
        const next = await watcher.next();
        if (cancelled) return "cancelled";
        if (next.done === true) {
          // Ended quietly: the core is closing without a shutdown status.
          return { error: this.#closing ?? serverStopping() };
        }
        const event = next.value;
        const ready = call.write(event.kind === "changes" ? encodedChanges(event) : watchEventMessage(event, request.form));
        if (event.kind === "changes") sent(event.changes.length);
        if (!ready) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              call.off("drain", done);
              wake = undefined;
              resolve();
            };
            wake = done;
            call.on("drain", done);
          });
        }
      }
    } catch (error) {
      return cancelled ? "cancelled" : { error };
    } finally {
      watcher?.close();
    }
  }
}

/** Sends `wire` as the stream's final status (after what is already written). */
function endWith(call: WatchCall, wire: WireStatus): void {
  if (call.cancelled) return;
  call.emit("error", wire);
}

/**
 * The request's resume point, or undefined to start from a snapshot. A
 * version past 2^53 is no version this server ever gave.
 */
function resumeVersion(request: WatchAvailabilityRequest): number | undefined {
  const version = request.resumeFromVersion;
  if (version === undefined) return undefined;
  if (version > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new BookingFailure(`resume_from_version ${version} is no version this server gave`, {
      reason: "INVALID_ARGUMENT",
      showId: request.showId,
      violations: [{ field: "resume_from_version", description: "at most 2^53 - 1" }],
    });
  }
  return Number(version);
}

/** The status of a stream whose watch ended because the server stops. */
export function serverStopping(): StatusError {
  return new StatusError(
    richStatus(status.UNAVAILABLE, "the server is shutting down; resume elsewhere from the last version applied", [
      errorInfo("SHUTTING_DOWN"),
    ]),
  );
}
