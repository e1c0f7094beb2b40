import type { EventEmitter } from "node:events";

/**
 * Shortens the time a connection may take to finish its TLS handshake on
 * the HTTP/2 servers grpc-js made (Node's default: 120 s).
 *
 * Why: a connection that never sends a ClientHello costs the server a socket
 * and about 34 kB until then, before any certificate is asked for. 14,000
 * of them, from a client with no certificate at all, took a server from 100
 * to 578 MB (a hostile-client review on 2026-11-30). grpc-js does not pass
 * `handshakeTimeout` through, and Node reads it for each new connection from
 * the server's private field, which this sets.
 *
 * Returns how many servers it set: 0 when the field is not where Node 20
 * and 24 keep it, and the default stays.
 */
export function limitHandshakeTime(servers: readonly EventEmitter[], timeoutMs: number): number {
  let set = 0;
  for (const server of servers) {
    const key = Object.getOwnPropertySymbols(server).find((symbol) => symbol.description === "handshake-timeout");
    if (key === undefined || typeof (server as unknown as Record<symbol, unknown>)[key] !== "number") continue;
    (server as unknown as Record<symbol, unknown>)[key] = timeoutMs;
    set++;
  }
  return set;
}
