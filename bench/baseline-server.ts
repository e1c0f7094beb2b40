/**
 * Entry point of the baseline server (forked by the benchmark): a grpc-js
 * server with the same mutual TLS, the same BookingService definition (so
 * the same protobuf decoding and encoding) and answers of the same size as
 * the real service, that does nothing else. Whatever the real server does
 * beyond this costs throughput; this is the limit it is measured against.
 *
 * Answers: BookSeats and CancelSeats echo the request's show and seats (with
 * an owner as long as a development principal); ShowAvailable returns every
 * seat of a show of `showSeats` as free. HoldSeats answers a hold of the
 * requested seats with an id as long as the real one (22 characters) and
 * both timestamps; ConfirmHold answers that hold's show and seats, which
 * is all the baseline remembers of a hold, so the answers have the real
 * sizes. Every call succeeds, hot-seat calls included: the baseline decides
 * nothing.
 *
 * argv[2] is a JSON {@link BaselineServerConfig}. Over IPC it sends
 * `{type:"listening", port}`, and answers `{type:"loop"}` with its largest
 * event-loop delay since the last such answer. SIGTERM stops it.
 */
import { readFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { grpcServiceDefinition } from "../wire/grpc-service-definition.js";
import {
  BookingService,
  ShowAvailableResponseSchema,
  HoldState,
  type BookSeatsRequest,
  type CancelSeatsRequest,
  type ConfirmHoldRequest,
  type HoldSeatsRequest,
} from "../gen/booking/v1/booking_pb.js";
import type { BaselineServerConfig, FromBaseline, ToBaseline } from "./baseline-protocol.js";

const config = JSON.parse(process.argv[2] ?? "{}") as BaselineServerConfig;
// As long as "spiffe://seat-booking.dev/alice", the owner the real server returns to alice.
const owner = "spiffe://seat-booking.dev/alice";
const showAll = create(ShowAvailableResponseSchema, {
  showId: config.showId,
  totalSeats: config.showSeats,
  bookedCount: 0,
  availableSeats: Array.from({ length: config.showSeats }, (_, index) => index + 1),
});

// The real server's hold ids are 128 random bits in URL-safe base64 (22 characters); a counter of that length costs less.
let holdCount = 0;
const holds = new Map<string, { readonly showId: string; readonly seats: readonly number[] }>();
const HOLD_TTL_MS = 10 * 60 * 1000;

const handlers: UntypedServiceImplementation = {
  bookSeats: (call: ServerUnaryCall<BookSeatsRequest, unknown>, callback: sendUnaryData<unknown>) => {
    callback(null, { showId: call.request.showId || config.showId, seats: call.request.seats, owner, replayed: false });
  },
  cancelSeats: (call: ServerUnaryCall<CancelSeatsRequest, unknown>, callback: sendUnaryData<unknown>) => {
    callback(null, { showId: call.request.showId || config.showId, seats: call.request.seats, replayed: false });
  },
  holdSeats: (call: ServerUnaryCall<HoldSeatsRequest, unknown>, callback: sendUnaryData<unknown>) => {
    const holdId = String(++holdCount).padStart(22, "h");
    const showId = call.request.showId || config.showId;
    holds.set(holdId, { showId, seats: call.request.seats });
    const now = Date.now();
    callback(null, {
      hold: {
        holdId,
        showId,
        seats: call.request.seats,
        owner,
        createTime: timestampFromMs(now),
        expireTime: timestampFromMs(now + HOLD_TTL_MS),
        state: HoldState.ACTIVE,
      },
      replayed: false,
    });
  },
  confirmHold: (call: ServerUnaryCall<ConfirmHoldRequest, unknown>, callback: sendUnaryData<unknown>) => {
    const hold = holds.get(call.request.holdId);
    holds.delete(call.request.holdId);
    callback(null, { showId: hold?.showId ?? config.showId, seats: hold?.seats ?? [], owner, replayed: false, holdId: call.request.holdId });
  },
  showAvailable: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    callback(null, showAll);
  },
};

const server = new Server({
  "grpc.max_receive_message_length": 65536,
  "grpc.max_concurrent_streams": config.maxConcurrentStreams,
});
// The service keeps its encoded ShowAvailable answers (transport-defaults' listingCacheEntries), so the baseline
// encodes its one answer once too; encoding 290 kB per call would make the baseline slower than the service.
const showAllBytes = Buffer.from(toBinary(ShowAvailableResponseSchema, showAll));
server.addService(grpcServiceDefinition(BookingService, { responseSerializers: { showAvailable: () => showAllBytes } }), handlers);
const credentials = ServerCredentials.createSsl(
  readFileSync(config.caCertPath),
  [{ cert_chain: readFileSync(config.serverCertPath), private_key: readFileSync(config.serverKeyPath) }],
  true,
);
const loop = monitorEventLoopDelay({ resolution: 10 });
const send = (message: FromBaseline): void => {
  process.send?.(message);
};

server.bindAsync("127.0.0.1:0", credentials, (error, port) => {
  if (error !== null) {
    process.stderr.write(`baseline server: ${error.message}\n`);
    process.exit(1);
  }
  loop.enable();
  send({ type: "listening", port });
});

process.on("message", (message: ToBaseline) => {
  if (message.type !== "loop") return;
  send({ type: "loop", loopMaxMs: loop.max / 1e6 });
  loop.reset();
});
process.once("SIGTERM", () => {
  server.tryShutdown(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
process.on("disconnect", () => {
  server.forceShutdown();
  process.exit(0);
});
