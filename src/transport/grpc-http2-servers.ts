import type { EventEmitter } from "node:events";
import type { Server } from "@grpc/grpc-js";

/**
 * The HTTP/2 servers a grpc-js server has bound (one per bind), and the
 * sessions it has open. grpc-js keeps both in private maps; this reads them
 * where grpc-js 1.14 keeps them and finds none when they are elsewhere (then
 * whoever follows them does nothing, and the server works as before).
 */
export function http2ServersOf(grpcServer: Server): EventEmitter[] {
  const internals = grpcServer as unknown as { http2Servers?: unknown };
  return internals.http2Servers instanceof Map ? [...(internals.http2Servers as Map<unknown, unknown>).keys()].filter(isEmitter) : [];
}

/** The HTTP/2 sessions a grpc-js server has open now (see {@link http2ServersOf}). */
export function http2SessionsOf(grpcServer: Server): EventEmitter[] {
  const internals = grpcServer as unknown as { sessions?: unknown };
  return internals.sessions instanceof Map ? [...(internals.sessions as Map<unknown, unknown>).keys()].filter(isEmitter) : [];
}

/** True for an object with `on`: an HTTP/2 server or session. */
export function isEmitter(value: unknown): value is EventEmitter {
  return typeof value === "object" && value !== null && typeof (value as EventEmitter).on === "function";
}
