import type { EventEmitter } from "node:events";
import { constants as http2Constants } from "node:http2";
import type { Server } from "@grpc/grpc-js";
import { followNewServers, http2SessionsOf, http2SessionState, isEmitter } from "./grpc-http2-servers.js";

/** What the reaper reads of an open HTTP/2 stream. */
interface OpenStream {
  readonly id?: unknown;
  readonly readableEnded?: unknown;
  readonly destroyed?: unknown;
  close(code: number): void;
}

/**
 * Cancels streams whose request has not fully arrived some time after they
 * opened.
 *
 * Why: every method of this service takes one request message, and a client
 * ends its half of the stream right after it. A stream still waiting for
 * that end holds memory in Node and grpc-js, and no handler, limit or
 * deadline of ours sees it: one client that opened 100 such streams on each
 * of 1,000 connections took a server from 270 MB to over 1 GB (a
 * hostile-client review on 2026-11-30). Such a stream is closed with
 * RST_STREAM CANCEL.
 *
 * How, at no cost per call: stream ids rise within a session, so each
 * check remembers the highest id each session has opened; a stream whose
 * id was already open one timeout ago and whose request has not ended is
 * cancelled. A check reads the open streams of each session once a
 * `checkEveryMs`; nothing is allocated per stream. When Node's session state
 * is not where it is expected, nothing is reaped.
 */
export class StalledRequestReaper {
  readonly #grpcServer: Server;
  readonly #timeoutMs: number;
  readonly #checkEveryMs: number;
  readonly #servers = new Set<EventEmitter>();
  /** Per session: the highest stream id seen at each of the last checks, oldest first. */
  readonly #seen = new Map<EventEmitter, number[]>();
  #timer: NodeJS.Timeout | undefined;
  #cancelled = 0;

  constructor(grpcServer: Server, options: { readonly timeoutMs: number; readonly checkEveryMs?: number }) {
    this.#grpcServer = grpcServer;
    this.#timeoutMs = options.timeoutMs;
    this.#checkEveryMs = options.checkEveryMs ?? Math.max(50, Math.floor(options.timeoutMs / 4));
  }

  /** Follows the sessions of the HTTP/2 servers bound so far, and starts checking; the server calls it after each bind. */
  followServers(): void {
    if (this.#timeoutMs <= 0) return;
    followNewServers(this.#grpcServer, this.#servers, (session) => this.#track(session));
    for (const session of http2SessionsOf(this.#grpcServer)) this.#track(session);
    if (this.#timer === undefined && this.#servers.size > 0) {
      this.#timer = setInterval(() => this.checkNow(), this.#checkEveryMs);
      this.#timer.unref();
    }
  }

  /** Streams cancelled so far. */
  get cancelled(): number {
    return this.#cancelled;
  }

  /** One check of every session; returns how many streams it cancelled. */
  checkNow(): number {
    // A stream opened before the check this many checks ago has waited at least a timeout.
    const checksPerTimeout = Math.ceil(this.#timeoutMs / this.#checkEveryMs);
    let cancelled = 0;
    for (const [session, history] of this.#seen) {
      const streams = http2SessionState(session)?.streams;
      if (streams === undefined) continue;
      // The highest id open `checksPerTimeout` checks ago: every stream up to it has been open a timeout at least.
      const oldEnough = history.length >= checksPerTimeout ? (history[history.length - checksPerTimeout] ?? 0) : 0;
      let highest = history[history.length - 1] ?? 0;
      for (const [, value] of streams) {
        const stream = value as OpenStream;
        const id = typeof stream.id === "number" ? stream.id : 0;
        if (id > highest) highest = id;
        if (id === 0 || id > oldEnough || stream.readableEnded === true || stream.destroyed === true) continue;
        stream.close(http2Constants.NGHTTP2_CANCEL);
        cancelled++;
      }
      history.push(highest);
      if (history.length > checksPerTimeout) history.shift();
    }
    this.#cancelled += cancelled;
    return cancelled;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #track(session: unknown): void {
    if (!isEmitter(session) || this.#seen.has(session) || http2SessionState(session) === undefined) return;
    this.#seen.set(session, []);
    session.once("close", () => this.#seen.delete(session));
  }
}
