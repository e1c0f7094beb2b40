import { status as GrpcStatus, type Server, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from "@grpc/grpc-js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
  type HealthCheckRequest,
  type HealthCheckResponseSchema,
  type HealthListResponseSchema,
} from "../../gen/grpc/health/v1/health_pb.js";
import { grpcServiceDefinition } from "../../wire/grpc-service-definition.js";
import { errorInfo, richStatus, type WireStatus } from "./error-status.js";

/** A status the server sets for a service name ("" = the whole server). */
export type HealthStatus = "SERVING" | "NOT_SERVING";

/** At most this many services in a List answer; more is RESOURCE_EXHAUSTED, as the protocol asks. */
export const MAX_LISTED_SERVICES = 100;

type CheckAnswer = MessageInitShape<typeof HealthCheckResponseSchema>;
type ListAnswer = MessageInitShape<typeof HealthListResponseSchema>;

/** How a drain ends the Watch streams: UNAVAILABLE, ErrorInfo SHUTTING_DOWN, after NOT_SERVING was sent. */
export function healthServerStopping(): WireStatus {
  return richStatus(GrpcStatus.UNAVAILABLE, "the server is shutting down; watch another instance", [errorInfo("SHUTTING_DOWN")]);
}

/** One open Watch stream: how to send it a status, and how to end it. */
interface HealthWatch {
  send(status: ServingStatus): void;
  end(wire: WireStatus): void;
}

/**
 * grpc.health.v1.Health (Check, Watch, List) over the generated code of
 * proto/grpc/health/v1/health.proto, with the answers the grpc-health-check
 * package gives: Check of an unknown name is NOT_FOUND, Watch of one sends
 * SERVICE_UNKNOWN and then every status set for it, List answers every name.
 *
 * Not that package itself: it parses health.proto at startup with
 * protobufjs, which stays in the server's live heap (about 2.3 MB), and
 * every full collection marks the live heap again.
 */
export class HealthService {
  readonly #statuses = new Map<string, ServingStatus>();
  readonly #watchers = new Map<string, Set<HealthWatch>>();
  /** Set once the server drains: Watch streams end with it (endWatches). */
  #ending: WireStatus | undefined;

  constructor(initial: Readonly<Record<string, HealthStatus>>) {
    for (const [service, status] of Object.entries(initial)) this.#statuses.set(service, ServingStatus[status]);
  }

  /** Sets a name's status and tells its watchers. */
  setStatus(service: string, status: HealthStatus): void {
    const value = ServingStatus[status];
    this.#statuses.set(service, value);
    for (const watch of this.#watchers.get(service) ?? []) watch.send(value);
  }

  /**
   * Ends every open Watch stream with `wire`, after the statuses already
   * sent, and every one opened from now on right after its first status.
   * For a drain: a Watch never ends by itself, and grpc-js waits for every
   * open call, so one client doing health checking by Watch (as gRPC
   * clients with health checking on do) held each shutdown for the whole
   * grace period and was then cut off without a status.
   */
  endWatches(wire: WireStatus): void {
    this.#ending = wire;
    for (const set of [...this.#watchers.values()]) for (const watch of [...set]) watch.end(wire);
  }

  /** Watch streams open now (all names). */
  get watchers(): number {
    let open = 0;
    for (const set of this.#watchers.values()) open += set.size;
    return open;
  }

  addToServer(server: Server): void {
    server.addService(grpcServiceDefinition(Health), {
      check: (call: ServerUnaryCall<HealthCheckRequest, CheckAnswer>, callback: sendUnaryData<CheckAnswer>) => {
        const status = this.#statuses.get(call.request.service);
        if (status === undefined) {
          callback({ code: GrpcStatus.NOT_FOUND, details: `Health status unknown for service ${call.request.service}` });
          return;
        }
        callback(null, { status });
      },
      watch: (call: ServerWritableStream<HealthCheckRequest, CheckAnswer>) => {
        const service = call.request.service;
        const watch: HealthWatch = {
          send: (status) => call.write({ status }),
          end: (wire) => {
            this.#unwatch(service, watch);
            // emit("error") sends the status after what was written, as the booking watch streams end.
            if (!call.cancelled) call.emit("error", wire);
          },
        };
        this.#watch(service, watch);
        call.on("cancelled", () => this.#unwatch(service, watch));
        watch.send(this.#statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN);
        if (this.#ending !== undefined) watch.end(this.#ending);
      },
      list: (_call: ServerUnaryCall<unknown, ListAnswer>, callback: sendUnaryData<ListAnswer>) => {
        if (this.#statuses.size > MAX_LISTED_SERVICES) {
          callback({ code: GrpcStatus.RESOURCE_EXHAUSTED, details: "Too many services to list." });
          return;
        }
        const statuses: Record<string, { status: ServingStatus }> = {};
        for (const [service, status] of this.#statuses) statuses[service] = { status };
        callback(null, { statuses });
      },
    });
  }

  #watch(service: string, watch: HealthWatch): void {
    const set = this.#watchers.get(service);
    if (set === undefined) this.#watchers.set(service, new Set([watch]));
    else set.add(watch);
  }

  #unwatch(service: string, watch: HealthWatch): void {
    const set = this.#watchers.get(service);
    if (set === undefined) return;
    set.delete(watch);
    if (set.size === 0) this.#watchers.delete(service);
  }
}
