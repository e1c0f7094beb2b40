import type { EventEmitter } from "node:events";
import type { Server } from "@grpc/grpc-js";
import { followNewServers, http2SessionsOf, http2SessionState as sessionState, isEmitter } from "./grpc-http2-servers.js";

/**
 * Gives every HTTP/2 session of a grpc-js server a fresh copy of its
 * open-streams map at a fixed interval, so that the objects of finished
 * calls die young.
 *
 * Why: Node keeps a session's open streams in a `Map`, set when a stream
 * opens and deleted when it closes. V8 rehashes a `Map` whose deleted
 * entries fill its table, and leaves the old table pointing to the new one
 * and to the entries it held. Once a full collection has moved the table
 * to the old generation, each obsolete old table keeps the next, young one
 * and the streams in it alive through young collections: every call's
 * objects (the stream, grpc-js's call state, the decoded request) are
 * promoted, and the old generation fills with dead calls that only a full
 * collection clears. (The header values, external strings, start in the
 * old generation anyway: bench/PROFILE.md, round seven.) Under book-1 that was about 1.5 MB
 * promoted per young collection against about 0.12 MB with the maps
 * renewed (bench/PROFILE.md, round six).
 *
 * A map renewed faster than it can be promoted (two young collections,
 * 70-150 ms apart under load) never reaches the old generation, so no old
 * table is left to point at young streams. The copy holds only the streams
 * open now: a few dozen entries per session, tens of microseconds.
 *
 * The map is reached through Node's private session state and grpc-js's
 * list of HTTP/2 servers. When either is not where it is expected (another
 * Node or grpc-js version), nothing is renewed and `active` is false: the
 * server works as before, only with more garbage.
 */
export class StreamMapRenewal {
  readonly #grpcServer: Server;
  readonly #servers = new Set<EventEmitter>();
  readonly #sessions = new Set<EventEmitter>();
  #timer: NodeJS.Timeout | undefined;
  #renewed = 0;

  /** Tracks nothing until {@link followServers}, which the server calls after each bind. */
  constructor(grpcServer: Server) {
    this.#grpcServer = grpcServer;
  }

  /** Whether any of the server's HTTP/2 servers was found (sessions are tracked). */
  get active(): boolean {
    return this.#servers.size > 0;
  }

  /** Follows the sessions of the HTTP/2 servers bound so far that it does not follow yet. */
  followServers(): void {
    followNewServers(this.#grpcServer, this.#servers, (session) => this.#track(session));
    // Sessions that connected before this ran (grpc-js keeps them too).
    for (const session of http2SessionsOf(this.#grpcServer)) this.#track(session);
  }

  /** Sessions open now. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /** Streams open now, as the tracked sessions' maps (the ones Node reads) hold them. */
  get openStreams(): number {
    let open = 0;
    for (const session of this.#sessions) open += sessionState(session)?.streams.size ?? 0;
    return open;
  }

  /** Maps renewed so far. */
  get renewed(): number {
    return this.#renewed;
  }

  /** Renews every open session's map now; returns how many it renewed. */
  renewNow(): number {
    let renewed = 0;
    for (const session of this.#sessions) {
      const state = sessionState(session);
      if (state === undefined) continue;
      const fresh = new state.streams.constructor(state.streams);
      // A copy that lost entries would let a session close with streams open.
      if (fresh.size !== state.streams.size) continue;
      state.streams = fresh;
      renewed++;
    }
    this.#renewed += renewed;
    return renewed;
  }

  /** Renews every `everyMs` until stopped; the timer does not keep the process alive. */
  start(everyMs: number): void {
    if (!this.active || everyMs <= 0 || this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.renewNow(), everyMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #track(session: unknown): void {
    if (!isEmitter(session) || this.#sessions.has(session) || sessionState(session) === undefined) return;
    this.#sessions.add(session);
    session.once("close", () => this.#sessions.delete(session));
  }
}
