import type { PeerCertificate } from "node:tls";
import { status } from "@grpc/grpc-js";
import { errorInfo, richStatus } from "../error-status.js";
import { readPrincipal, type PrincipalReading } from "../peer-principal.js";
import type { Refusal } from "./admission-step.js";

/** The principal of a plaintext caller. */
export const ANONYMOUS_PRINCIPAL = "anonymous";

/** What identity reads from a grpc-js call; unary calls and server streams both have it. */
export interface PeerCall {
  getAuthContext(): { readonly sslPeerCertificate?: PeerCertificate | undefined };
}

/**
 * The first admission step: who is calling. The principal is the client
 * certificate's first URI SAN, else its CN (see readPrincipal); a
 * certificate naming neither, or only a CN that looks like a URI, or an
 * identity with a control character, is refused UNAUTHENTICATED
 * (NO_PRINCIPAL) with a message that says which. In plaintext mode everyone is
 * {@link ANONYMOUS_PRINCIPAL}.
 *
 * The principal is remembered per HTTP/2 session, so the peer certificate is
 * parsed once per connection: getPeerCertificate() was 14% of the server's
 * CPU per call. The identity is the one the client proved in the handshake.
 * grpc-js does not expose the session, so this reads an internal path and
 * falls back to a parse per call when that path is missing.
 */
export class IdentityStep {
  readonly name = "identity";
  readonly #insecure: boolean;
  readonly #principals = new WeakMap<object, PrincipalReading>();

  constructor(options: { readonly insecure: boolean }) {
    this.#insecure = options.insecure;
  }

  /** The caller's principal, or the refusal of a caller without one. */
  identify(call: PeerCall): string | Refusal {
    if (this.#insecure) return ANONYMOUS_PRINCIPAL;
    const reading = this.#readingOf(call);
    if ("principal" in reading) return reading.principal;
    return {
      limit: "unauthenticated",
      status: richStatus(status.UNAUTHENTICATED, reading.problem, [errorInfo("NO_PRINCIPAL")]),
    };
  }

  #readingOf(call: PeerCall): PrincipalReading {
    const session = (call as { call?: { stream?: { session?: object } } }).call?.stream?.session;
    const known = session === undefined ? undefined : this.#principals.get(session);
    if (known !== undefined) return known;
    const reading = readPrincipal(call.getAuthContext().sslPeerCertificate);
    if (session !== undefined) this.#principals.set(session, reading);
    return reading;
  }
}
