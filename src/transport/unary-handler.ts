import { status, type handleUnaryCall, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import type { MethodKind } from "./admission/admission-step.js";
import type { AdmissionPipeline } from "./admission/admission-pipeline.js";
import type { CallRecorder } from "./call-recorder.js";
import { correlationIdOf, echoCorrelationId } from "./correlation-id.js";
import { deadlineOf, type RpcContext } from "./rpc-context.js";
import { serveFailure } from "./serve-failure.js";

export type { MethodKind } from "./admission/admission-step.js";
export type { RejectionCause, RpcObserver } from "./call-recorder.js";
export type { RpcContext } from "./rpc-context.js";
export { ANONYMOUS_PRINCIPAL } from "./admission/identity-step.js";
export { MalformedRequest } from "./admission/malformed-request-step.js";

/** What {@link UnaryHandlers} is built from. */
export interface UnaryHandlerParts {
  /** Admission: identity, allow-list, lag, in-flight, rate limit, malformed request. */
  readonly admission: AdmissionPipeline;
  /** Logging and metrics around each call. */
  readonly recorder: CallRecorder;
}

/**
 * Builds grpc-js unary handlers that share one path: echo the correlation
 * id, run the admission pipeline, serve, map errors to statuses; the
 * recorder logs one line per call and feeds metrics.
 *
 * Admission refusals are answered at once and cost no store work; they carry
 * RetryInfo when waiting helps. A method is added with one `handler(...)`
 * call: nothing here changes.
 */
export class UnaryHandlers {
  readonly #admission: AdmissionPipeline;
  readonly #recorder: CallRecorder;

  constructor(parts: UnaryHandlerParts) {
    this.#admission = parts.admission;
    this.#recorder = parts.recorder;
  }

  /** Wraps `serve` as the grpc-js handler of `method`. */
  handler<Request, Response>(
    method: string,
    kind: MethodKind,
    serve: (request: Request, context: RpcContext) => Promise<Response>,
  ): handleUnaryCall<Request, Response> {
    return (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => {
      const correlationId = correlationIdOf(call.metadata);
      echoCorrelationId(call, correlationId);
      const record = this.#recorder.begin(method, correlationId);
      const admission = this.#admission.admit(call, { method, kind, request: call.request });
      if (!admission.admitted) {
        record.refused(admission.principal, admission.refusal);
        callback(admission.refusal.status);
        return;
      }
      const { principal } = admission.call;
      record.serving();
      const answered = releaseWhenSent(call, admission.release);
      serve(call.request, { principal, deadline: deadlineOf(call), correlationId }).then(
        (response) => {
          answered();
          record.finished(status.OK, { principal });
          callback(null, response);
        },
        (error: unknown) => {
          answered();
          const failure = serveFailure(error);
          record.finished(failure.status.code, { principal, refusedBy: failure.refusedBy, error: failure.unexpected });
          callback(failure.status);
        },
      );
    };
  }
}

/**
 * Gives an admitted call's slot back once its answer has left: when its
 * HTTP/2 stream closes, not when the handler answers. A large answer (a
 * 250,000-seat listing) is still being written long after the callback; had
 * the slot been freed then, the in-flight bound would admit more calls than
 * the connection can carry, and they would wait behind each other for seconds
 * instead of being refused at once. grpc-js does not expose the stream, so
 * this reads an internal path (as the identity step does) and falls back to
 * freeing the slot at the answer when the path is missing.
 *
 * Returns what to call once the handler has answered. `release` must ignore
 * repeats (the admission's does): a stream emits "close" once, and `on`
 * spares the wrapper `once` builds per call.
 */
function releaseWhenSent(call: ServerUnaryCall<unknown, unknown>, release: () => void): () => void {
  const stream = (call as unknown as { call?: { stream?: { on?: unknown; closed?: unknown } } }).call?.stream;
  if (stream === undefined || typeof stream.on !== "function" || stream.closed === true) return release;
  (stream as { on(event: "close", listener: () => void): unknown }).on("close", release);
  return nothingToDo;
}

function nothingToDo(): void {}
