import { readFileSync } from "node:fs";
import { create, fromBinary } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, type ClientReadableStream, type ServiceError } from "@grpc/grpc-js";
import {
  BookingService,
  WatchAvailabilityRequestSchema,
  WatchAvailabilityResponseSchema,
  type WatchAvailabilityResponse,
} from "../gen/booking/v1/booking_pb.js";
import { grpcServiceDefinition } from "../wire/grpc-service-definition.js";
import { LatencyHistogram } from "./latency-histogram.js";
import type { IdentityFiles } from "./raw-client.js";

const watchMethod = grpcServiceDefinition(BookingService)["watchAvailability"];

/** What one watcher saw, checked version by version. */
export interface WatcherTally {
  /** The snapshot's version; undefined until the snapshot arrived. */
  snapshotVersion: number | undefined;
  /** The last version applied (each change must be this + 1). */
  lastVersion: number;
  /** Changes applied in order: version = last + 1. */
  received: number;
  /** Versions skipped over by a gap (a change that was not last + 1 and not old). */
  skipped: number;
  /** Changes at or before the last version applied. */
  duplicates: number;
  /** Messages of changes (each carries one or more changes). */
  messages: number;
  /** How the stream ended when it ended by itself, e.g. "RESOURCE_EXHAUSTED: ..."; undefined while open or cancelled by us. */
  ended: string | undefined;
}

/**
 * N WatchAvailability streams of one show, `perConnection` to a connection,
 * for the fan-out benchmark. Each stream's changes are checked (every
 * version once, in order) and each change's delay from its commit_time to
 * its arrival here is recorded in one histogram (µs).
 *
 * Low overhead on purpose, since this process shares the machine with the
 * server: plain grpc-js channels, no SDK, no resume (a stream that ends is
 * counted, not reopened). Every watcher of a show is sent the same bytes
 * for the same changes, so each distinct message is decoded once and the
 * decoded message is shared (read only) by the watchers that receive it.
 *
 * Arrival is this process's wall clock with sub-millisecond precision
 * (performance.now(), anchored to Date.now() once); commit_time is the
 * server's Date.now() (whole milliseconds). Both are the same clock only
 * when the server runs on this machine.
 */
export class WatcherFleet {
  readonly tallies: WatcherTally[] = [];
  /** Delay of every change applied in order, commit to arrival, µs. */
  readonly delays = new LatencyHistogram();
  readonly #clients: Client[] = [];
  readonly #calls: ClientReadableStream<WatchAvailabilityResponse>[] = [];
  readonly #clockOffsetMs = wallClockOffsetMs();
  #cancelling = false;

  constructor(address: string, caCertPath: string, identity: IdentityFiles, watchers: number, perConnection: number, tag: string) {
    if (watchMethod === undefined) throw new TypeError("BookingService has no watchAvailability");
    const channelCredentials = credentials.createSsl(readFileSync(caCertPath), readFileSync(identity.keyPath), readFileSync(identity.certPath));
    const decode = sharedDecoder();
    for (let index = 0; index < watchers; index++) {
      const connection = Math.floor(index / perConnection);
      let client = this.#clients[connection];
      if (client === undefined) {
        client = new Client(address, channelCredentials, {
          "grpc.use_local_subchannel_pool": 1,
          "grpc.enable_retries": 0,
          "bench.connection": `${tag}-${connection}`,
          "grpc.max_receive_message_length": 64 * 1024 * 1024,
        });
        this.#clients.push(client);
      }
      const tally: WatcherTally = { snapshotVersion: undefined, lastVersion: 0, received: 0, skipped: 0, duplicates: 0, messages: 0, ended: undefined };
      this.tallies.push(tally);
      const call = client.makeServerStreamRequest(
        watchMethod.path,
        watchMethod.requestSerialize,
        decode,
        create(WatchAvailabilityRequestSchema, { showId: "" }),
        new Metadata(),
        {},
      ) as ClientReadableStream<WatchAvailabilityResponse>;
      call.on("data", (message: WatchAvailabilityResponse) => this.#apply(tally, message));
      call.on("error", (error: ServiceError) => {
        if (!this.#cancelling) tally.ended ??= `${error.code}: ${error.details}`;
      });
      call.on("end", () => {
        if (!this.#cancelling) tally.ended ??= "ended without a status";
      });
      this.#calls.push(call);
    }
  }

  /** Connections the watchers use. */
  get connections(): number {
    return this.#clients.length;
  }

  /** Watchers with a snapshot so far. */
  get subscribed(): number {
    return this.tallies.filter((tally) => tally.snapshotVersion !== undefined).length;
  }

  /** Watchers whose stream ended by itself. */
  get ended(): number {
    return this.tallies.filter((tally) => tally.ended !== undefined).length;
  }

  /** The lowest version every open watcher has applied. */
  lowestVersion(): number {
    let lowest = Number.POSITIVE_INFINITY;
    for (const tally of this.tallies) if (tally.ended === undefined) lowest = Math.min(lowest, tally.lastVersion);
    return lowest;
  }

  /** Cancels every stream and closes the connections. */
  close(): void {
    this.#cancelling = true;
    for (const call of this.#calls) call.cancel();
    for (const client of this.#clients) client.close();
  }

  #apply(tally: WatcherTally, message: WatchAvailabilityResponse): void {
    const arrivedMs = performance.now() + this.#clockOffsetMs;
    const { event } = message;
    if (event.case === "snapshot") {
      // Only the first message may be a snapshot (no resume was asked for); a later one would replace the state.
      if (tally.snapshotVersion !== undefined) tally.ended ??= "a second snapshot";
      tally.snapshotVersion = Number(event.value.version);
      tally.lastVersion = tally.snapshotVersion;
      return;
    }
    if (event.case !== "changes") return;
    tally.messages += 1;
    for (const change of event.value.changes) {
      const version = Number(change.version);
      if (version <= tally.lastVersion) {
        tally.duplicates += 1;
        continue;
      }
      if (version > tally.lastVersion + 1) tally.skipped += version - tally.lastVersion - 1;
      tally.lastVersion = version;
      tally.received += 1;
      const commit = change.commitTime;
      if (commit !== undefined) this.delays.record((arrivedMs - (Number(commit.seconds) * 1000 + commit.nanos / 1e6)) * 1000);
    }
  }
}

/**
 * Decodes WatchAvailabilityResponse bytes, once per distinct message: the
 * watchers of one show are sent identical bytes for identical changes.
 * Keeps at most 4096 decoded messages.
 */
function sharedDecoder(): (bytes: Buffer) => WatchAvailabilityResponse {
  const decoded = new Map<string, WatchAvailabilityResponse>();
  return (bytes) => {
    const key = bytes.toString("latin1");
    let message = decoded.get(key);
    if (message === undefined) {
      if (decoded.size >= 4096) decoded.clear();
      message = fromBinary(WatchAvailabilityResponseSchema, bytes);
      decoded.set(key, message);
    }
    return message;
  };
}

/**
 * Date.now() − performance.now(), taken just as Date.now() ticks over to a
 * new millisecond, so performance.now() + offset reads the wall clock to a
 * fraction of a millisecond (spins for at most 1 ms).
 */
function wallClockOffsetMs(): number {
  const start = Date.now();
  let now = Date.now();
  while (now === start) now = Date.now();
  return now - performance.now();
}
