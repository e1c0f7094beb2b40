import { createBookingClient, type BookingClient, type BookingClientOptions } from "../../client/index.js";
import type { TestCertificate } from "./test-pki.js";

/** Where the SDK clients of a test connect: a test server's address and CA. */
export interface SdkTarget {
  readonly address: string;
  readonly pki: { readonly caCert: Buffer };
}

/**
 * The SDK clients a test file opens against one server, closed together in
 * its afterAll. They do not retry unless told: a test sees each answer.
 */
export class SdkClients {
  readonly #target: () => SdkTarget;
  readonly #clients: BookingClient[] = [];

  /** `target` is read when a client is made, so a file may create this before its server starts. */
  constructor(target: () => SdkTarget) {
    this.#target = target;
  }

  /** A client with `identity`'s certificate. */
  as(identity: TestCertificate, options: Partial<BookingClientOptions> = {}): BookingClient {
    const target = this.#target();
    const client = createBookingClient({
      address: target.address,
      ca: target.pki.caCert,
      cert: identity.cert,
      key: identity.key,
      retry: { maxAttempts: 1 },
      ...options,
    });
    this.#clients.push(client);
    return client;
  }

  closeAll(): void {
    for (const client of this.#clients.splice(0)) client.close();
  }
}
