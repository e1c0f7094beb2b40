import type { EventEmitter } from "node:events";
import { constants as http2Constants, type ServerHttp2Session } from "node:http2";
import type { TLSSocket } from "node:tls";
import type { Server } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { followNewServers } from "./grpc-http2-servers.js";
import { readPrincipal } from "./peer-principal.js";

/** How often one principal's refusals are logged at most: one line, with a count, per interval. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * Caps the connections one principal holds open at once.
 *
 * Why: every HTTP/2 stream whose request has not fully arrived holds memory
 * in Node and grpc-js before any handler (or the in-flight limit) sees it.
 * One authenticated client that opened 1,000 connections, each with 100
 * streams that sent half a request and then nothing, took a server from 270
 * MB to over 1 GB. Streams per connection are capped already
 * (`--max-concurrent-streams`); capping connections per principal bounds
 * what one identity can hold to about cap x streams x 8 kB (80 MB at the
 * defaults).
 *
 * A connection over the cap is closed right after its handshake, with a
 * GOAWAY of ENHANCE_YOUR_CALM: its client sees UNAVAILABLE and its calls
 * were never started. A certificate that names no principal is not counted:
 * the identity step refuses each of its calls anyway.
 */
export class PrincipalConnectionLimit {
  readonly #grpcServer: Server;
  readonly #max: number;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #servers = new Set<EventEmitter>();
  readonly #open = new Map<string, number>();
  readonly #refusalsToLog = new Map<string, { count: number; loggedAt: number }>();
  #refused = 0;

  constructor(grpcServer: Server, options: { readonly maxPerPrincipal: number; readonly logger: Logger; readonly now?: () => number }) {
    this.#grpcServer = grpcServer;
    this.#max = options.maxPerPrincipal;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  /** Counts the sessions of the HTTP/2 servers bound so far that it does not follow yet; the server calls it after each bind. */
  followServers(): void {
    if (this.#max <= 0) return;
    followNewServers(this.#grpcServer, this.#servers, (session) => this.#admit(session as ServerHttp2Session));
  }

  /** Connections open now, by principal. */
  openConnections(principal: string): number {
    return this.#open.get(principal) ?? 0;
  }

  /** Connections closed so far for being over the cap. */
  get refused(): number {
    return this.#refused;
  }

  #admit(session: ServerHttp2Session): void {
    const socket = session.socket as TLSSocket | undefined;
    const reading = readPrincipal(typeof socket?.getPeerCertificate === "function" ? socket.getPeerCertificate() : undefined);
    if (!("principal" in reading)) return;
    const principal = reading.principal;
    const open = this.#open.get(principal) ?? 0;
    if (open >= this.#max) {
      this.#refused++;
      this.#logRefusal(principal);
      session.destroy(undefined, http2Constants.NGHTTP2_ENHANCE_YOUR_CALM);
      return;
    }
    this.#open.set(principal, open + 1);
    session.once("close", () => {
      const left = (this.#open.get(principal) ?? 1) - 1;
      if (left > 0) this.#open.set(principal, left);
      else this.#open.delete(principal);
    });
  }

  /** One line per principal per interval, however many connections it tries. */
  #logRefusal(principal: string): void {
    const now = this.#now();
    const pending = this.#refusalsToLog.get(principal) ?? { count: 0, loggedAt: 0 };
    pending.count++;
    this.#refusalsToLog.set(principal, pending);
    if (now - pending.loggedAt < REFUSAL_LOG_INTERVAL_MS) return;
    this.#logger.warn(
      { principal, max_connections: this.#max, refused: pending.count, refused_by: "connections_per_principal" },
      "closed a connection: the principal already has the most connections allowed (--max-connections-per-principal)",
    );
    pending.count = 0;
    pending.loggedAt = now;
  }
}
