import { ServerCredentials } from "@grpc/grpc-js";
import { pino, type Logger } from "pino";
import { BookingCore, type BookingCoreOptions } from "../../src/core/booking-core.js";
import { MemoryStore } from "../../src/stores/memory-store.js";
import type { SeatStore, ShowDefinition } from "../../src/core/seat-store.js";
import { createBookingServer, type BookingServer, type BookingServerOptions } from "../../src/transport/booking-server.js";
import { createTestPki, DEV_PRINCIPALS, type TestPki } from "./test-pki.js";

/** A booking server on 127.0.0.1 with a free port, real mTLS and a real store. */
export interface TestServer {
  readonly address: string;
  readonly port: number;
  readonly pki: TestPki;
  readonly core: BookingCore;
  readonly server: BookingServer;
  /** Log lines the server wrote, parsed. */
  readonly logLines: Record<string, unknown>[];
  stop(): Promise<void>;
}

/** Options of {@link startTestServer}; everything has a test default. */
export interface TestServerOptions {
  readonly pki?: TestPki;
  readonly store?: SeatStore;
  readonly shows?: readonly ShowDefinition[];
  readonly core?: Partial<BookingCoreOptions>;
  readonly server?: Partial<Omit<BookingServerOptions, "core" | "logger" | "credentials">>;
}

/**
 * Starts a real server for one test file: a memory store unless given one,
 * shows main (100 seats) and small (5 seats), admin = the dev admin.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const pki = options.pki ?? (await createTestPki());
  const logLines: Record<string, unknown>[] = [];
  const logger: Logger = pino(
    { level: "info" },
    { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const core = await BookingCore.open({
    store: options.store ?? new MemoryStore(),
    shows: options.shows ?? [
      { id: "main", totalSeats: 100 },
      { id: "small", totalSeats: 5 },
    ],
    admins: [DEV_PRINCIPALS.admin],
    ...options.core,
  });
  const server = createBookingServer({
    core,
    logger,
    credentials: ServerCredentials.createSsl(
      pki.caCert,
      [{ cert_chain: pki.server.cert, private_key: pki.server.key }],
      true,
    ),
    ...options.server,
  });
  const port = await server.listen("127.0.0.1:0");
  return {
    address: `127.0.0.1:${port}`,
    port,
    pki,
    core,
    server,
    logLines,
    stop: async () => {
      await server.shutdown(1000);
      await core.close();
    },
  };
}
