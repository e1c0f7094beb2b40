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

/**
 * Calls `onSession` for every session that connects from now on to the
 * HTTP/2 servers of `grpcServer` not in `followed` yet, and adds them to it.
 * grpc-js adds a server for each bind, so followers call this after each.
 */
export function followNewServers(grpcServer: Server, followed: Set<EventEmitter>, onSession: (session: unknown) => void): void {
  for (const server of http2ServersOf(grpcServer)) {
    if (followed.has(server)) continue;
    followed.add(server);
    server.on("session", onSession);
  }
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

/** The part of a Map that Node's HTTP/2 session uses for its open streams. */
export interface StreamMap {
  readonly size: number;
  readonly constructor: new (entries: Iterable<[unknown, unknown]>) => StreamMap;
  [Symbol.iterator](): Iterator<[unknown, unknown]>;
}

/** The state object Node keeps on every HTTP/2 session (a private symbol "state"). */
export interface SessionState {
  streams: StreamMap;
}

/**
 * Node's private state of an HTTP/2 session (a symbol "state"), whose
 * `streams` map holds its open streams; undefined when it does not have the
 * expected shape (another Node version).
 */
export function http2SessionState(session: object): SessionState | undefined {
  const key = Object.getOwnPropertySymbols(session).find((symbol) => symbol.description === "state");
  if (key === undefined) return undefined;
  const state = (session as Record<symbol, unknown>)[key] as Partial<SessionState> | undefined;
  const streams = state?.streams as Partial<StreamMap> | undefined;
  if (streams === undefined || typeof streams.size !== "number" || typeof streams.constructor !== "function") return undefined;
  if (typeof streams[Symbol.iterator] !== "function") return undefined;
  return state as SessionState;
}
