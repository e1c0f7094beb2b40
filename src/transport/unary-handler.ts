import { CORRELATION_ID_HEADER, PRINTABLE_ID_PATTERN } from "../../wire/wire-constants.js";
import { randomUUID } from "node:crypto";
import {
  Metadata,
  status,
  type handleUnaryCall,
  type sendUnaryData,
  type ServerUnaryCall,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import { errorInfo, retryInfo, richStatus, toWireStatus, type WireStatus } from "./error-status.js";
import { principalOfCertificate } from "./peer-principal.js";
import type { TokenBuckets } from "./token-buckets.js";

/** The metadata key a call's request id travels under, both ways. */
export const REQUEST_ID_HEADER = CORRELATION_ID_HEADER;

/** Who is calling, and until when they wait. */
export interface RpcContext {
  readonly principal: string;
  /** Epoch ms; undefined when the client set no deadline. */
  readonly deadline: number | undefined;
  readonly requestId: string;
}

/** Whether a method reads or changes seats: they draw on separate budgets. */
export type MethodKind = "read" | "write";

/** Why the server turned a call away before serving it. */
export type RejectionCause = "in_flight" | "event_loop_lag" | "rate_limit" | "not_allowed" | "unauthenticated";

/** What the metrics layer wants to hear about calls. */
export interface RpcObserver {
  callStarted(method: string): void;
  callFinished(method: string, code: status, seconds: number): void;
  callRejected(method: string, cause: RejectionCause): void;
}

/** Settings shared by every unary handler of a server. */
export interface UnaryHandlerSettings {
  readonly logger: Logger;
  /** Plaintext mode: there is no certificate, everyone is "anonymous". */
  readonly insecure: boolean;
  readonly allowedPrincipals: ReadonlySet<string> | undefined;
  readonly maxInFlight: number;
  /** The event loop's lag now; calls are refused while it exceeds maxEventLoopLagMs. */
  readonly eventLoopLag: { readonly lagMs: number } | undefined;
  readonly maxEventLoopLagMs: number;
  readonly writeBuckets: TokenBuckets | undefined;
  readonly readBuckets: TokenBuckets | undefined;
  readonly observer: RpcObserver | undefined;
}

/**
 * Stands in for a request whose bytes are not a valid message. grpc-js
 * answers a throwing deserializer with INTERNAL, which blames the server; the
 * server's deserializers return this instead, and the handler answers
 * INVALID_ARGUMENT.
 */
export class MalformedRequest {
  constructor(
    readonly typeName: string,
    readonly problem: string,
  ) {}
}

/** The principal of a plaintext caller. */
export const ANONYMOUS_PRINCIPAL = "anonymous";

/**
 * Builds grpc-js unary handlers that share one admission path: identify the
 * caller, apply the allow-list, the in-flight bound and the per-principal
 * rate limits, then run the method, map its errors, and log one line.
 *
 * Admission failures are answered at once and cost no store work; they carry
 * RetryInfo when waiting helps.
 */
export class UnaryHandlers {
  readonly #settings: UnaryHandlerSettings;
  #inFlight = 0;

  constructor(settings: UnaryHandlerSettings) {
    this.#settings = settings;
  }

  /** Calls being served right now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Wraps `serve` as the grpc-js handler of `method`. */
  handler<Request, Response>(
    method: string,
    kind: MethodKind,
    serve: (request: Request, context: RpcContext) => Promise<Response>,
  ): handleUnaryCall<Request, Response> {
    return (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => {
      const started = performance.now();
      const requestId = clientRequestId(call.metadata) ?? randomUUID();
      const echo = new Metadata();
      echo.set(REQUEST_ID_HEADER, requestId);
      call.sendMetadata(echo);
      const principal = this.#principal(call);
      const finish = (code: status, error?: unknown): void => {
        const seconds = (performance.now() - started) / 1000;
        this.#settings.observer?.callFinished(method, code, seconds);
        const line = {
          method,
          principal: principal ?? null,
          code: status[code],
          duration_ms: Math.round(seconds * 1e6) / 1e3,
          request_id: requestId,
        };
        if (error !== undefined) this.#settings.logger.error({ ...line, err: error }, "rpc failed unexpectedly");
        else this.#settings.logger.info(line, "rpc");
      };
      const refuse = (cause: RejectionCause, wire: WireStatus): void => {
        this.#settings.observer?.callRejected(method, cause);
        finish(wire.code);
        callback(wire);
      };

      if (principal === undefined) {
        refuse(
          "unauthenticated",
          richStatus(status.UNAUTHENTICATED, "the client certificate names no principal (no URI SAN and no CN)", [
            errorInfo("NO_PRINCIPAL"),
          ]),
        );
        return;
      }
      const allowed = this.#settings.allowedPrincipals;
      if (allowed !== undefined && !allowed.has(principal)) {
        refuse(
          "not_allowed",
          richStatus(status.PERMISSION_DENIED, `principal ${principal} is not allowed to call this service`, [
            errorInfo("PRINCIPAL_NOT_ALLOWED", { principal }),
          ]),
        );
        return;
      }
      // A backlog the loop is still working through: serving this call now
      // would make it, and every call behind it, wait longer than anyone can.
      const lagMs = this.#settings.eventLoopLag?.lagMs ?? 0;
      if (lagMs > this.#settings.maxEventLoopLagMs) {
        refuse(
          "event_loop_lag",
          richStatus(status.RESOURCE_EXHAUSTED, `the server is ${Math.round(lagMs)} ms behind its work; retry shortly`, [
            errorInfo("OVERLOADED"),
            retryInfo(Math.max(50, Math.round(lagMs))),
          ]),
        );
        return;
      }
      if (this.#inFlight >= this.#settings.maxInFlight) {
        refuse(
          "in_flight",
          richStatus(
            status.RESOURCE_EXHAUSTED,
            `the server is serving its maximum of ${this.#settings.maxInFlight} calls; retry shortly`,
            [errorInfo("OVERLOADED"), retryInfo(50)],
          ),
        );
        return;
      }
      const buckets = kind === "write" ? this.#settings.writeBuckets : this.#settings.readBuckets;
      const waitMs = buckets?.take(principal) ?? 0;
      if (waitMs > 0) {
        refuse(
          "rate_limit",
          richStatus(
            status.RESOURCE_EXHAUSTED,
            `principal ${principal} exceeded its ${kind} rate limit; retry in ${waitMs} ms`,
            [errorInfo("RATE_LIMITED", { principal, kind }), retryInfo(waitMs)],
          ),
        );
        return;
      }

      const request: unknown = call.request;
      if (request instanceof MalformedRequest) {
        const wire = richStatus(
          status.INVALID_ARGUMENT,
          `the request is not a valid ${request.typeName}: ${request.problem}`,
          [errorInfo("MALFORMED_REQUEST")],
        );
        finish(wire.code);
        callback(wire);
        return;
      }
      const deadline = deadlineOf(call);
      this.#inFlight++;
      this.#settings.observer?.callStarted(method);
      serve(call.request, { principal, deadline, requestId }).then(
        (response) => {
          this.#inFlight--;
          finish(status.OK);
          callback(null, response);
        },
        (error: unknown) => {
          this.#inFlight--;
          const wire = toWireStatus(error);
          finish(wire.code, wire.code === status.INTERNAL ? error : undefined);
          callback(wire);
        },
      );
    };
  }

  /**
   * The principal of each HTTP/2 session, so the peer certificate is parsed
   * once per connection: getPeerCertificate() was 14% of the server's CPU per
   * call. The identity is the one the client proved in the handshake. grpc-js
   * does not expose the session, so this reads an internal path and falls
   * back to a parse per call when that path is missing.
   */
  readonly #principals = new WeakMap<object, string | undefined>();

  #principal(call: ServerUnaryCall<unknown, unknown>): string | undefined {
    if (this.#settings.insecure) return ANONYMOUS_PRINCIPAL;
    const session = (call as unknown as { call?: { stream?: { session?: object } } }).call?.stream?.session;
    if (session !== undefined && this.#principals.has(session)) return this.#principals.get(session);
    const principal = principalOfCertificate(call.getAuthContext().sslPeerCertificate);
    if (session !== undefined) this.#principals.set(session, principal);
    return principal;
  }
}

/** A client-chosen request id, if it is short and printable. */
function clientRequestId(metadata: Metadata): string | undefined {
  const value = metadata.get(REQUEST_ID_HEADER)[0];
  return typeof value === "string" && PRINTABLE_ID_PATTERN.test(value) ? value : undefined;
}

function deadlineOf(call: ServerUnaryCall<unknown, unknown>): number | undefined {
  const deadline = call.getDeadline();
  if (deadline instanceof Date) return deadline.getTime();
  return Number.isFinite(deadline) ? deadline : undefined;
}
