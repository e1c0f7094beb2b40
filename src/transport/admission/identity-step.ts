import type { PeerCertificate } from "node:tls";
import { status } from "@grpc/grpc-js";
import { errorInfo, richStatus } from "../error-status.js";
import { principalOfCertificate } from "../peer-principal.js";
import type { Refusal } from "./admission-step.js";

/** The principal of a plaintext caller. */
export const ANONYMOUS_PRINCIPAL = "anonymous";

/** What identity reads from a grpc-js call; unary calls and server streams both have it. */
export interface PeerCall {
  getAuthContext(): { readonly sslPeerCertificate?: PeerCertificate | undefined };
}

/**
 * The first admission step: who is calling. The principal is the client
 * certificate's first URI SAN, else its CN; a certificate naming neither is
 * refused UNAUTHENTICATED (NO_PRINCIPAL). In plaintext mode everyone is
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
  readonly #principals = new WeakMap<object, string | undefined>();

  constructor(options: { readonly insecure: boolean }) {
    this.#insecure = options.insecure;
  }

  /** The caller's principal, or the refusal of a caller without one. */
  identify(call: PeerCall): string | Refusal {
    const principal = this.#principalOf(call);
    if (principal !== undefined) return principal;
    return {
      limit: "unauthenticated",
      status: richStatus(status.UNAUTHENTICATED, "the client certificate names no principal (no URI SAN and no CN)", [
        errorInfo("NO_PRINCIPAL"),
      ]),
    };
  }

  #principalOf(call: PeerCall): string | undefined {
    if (this.#insecure) return ANONYMOUS_PRINCIPAL;
    const session = (call as { call?: { stream?: { session?: object } } }).call?.stream?.session;
    if (session !== undefined && this.#principals.has(session)) return this.#principals.get(session);
    const principal = principalOfCertificate(call.getAuthContext().sslPeerCertificate);
    if (session !== undefined) this.#principals.set(session, principal);
    return principal;
  }
}
