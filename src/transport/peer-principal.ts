import type { PeerCertificate } from "node:tls";
import { firstUnprintable } from "../core/printable-text.js";

/** Who a certificate names, or why it names nobody this server accepts. */
export type PrincipalReading = { readonly principal: string } | { readonly problem: string };

/** A scheme, as a URI starts with one ("spiffe:", "urn:", "https:"). */
const URI_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/**
 * The principal a client certificate names: its first non-empty URI SAN
 * (SPIFFE style, e.g. spiffe://seat-booking.dev/alice), else its subject
 * Common Name.
 *
 * A CN that looks like a URI is refused: URI identities come from a URI SAN
 * only. Without this rule a CA that lets a user choose the CN of a
 * certificate without URI SANs (many do; the SAN is the part they vet)
 * would issue "spiffe://seat-booking.dev/admin", the admin. An identity
 * with a control character is refused too (core/printable-text.ts): it is
 * written into answers, logs and terminals (`booking hold-info`).
 */
export function readPrincipal(certificate: PeerCertificate | undefined): PrincipalReading {
  if (certificate === undefined || Object.keys(certificate).length === 0) {
    return { problem: "the client sent no certificate" };
  }
  const uri = subjectAltNames(certificate.subjectaltname ?? "").find((name) => name.type === "URI" && name.value !== "");
  if (uri !== undefined) return printable(uri.value, "URI SAN");
  const commonName: unknown = certificate.subject?.CN;
  // A subject with several CNs arrives as an array; take the first.
  const first = Array.isArray(commonName) ? (commonName[0] as unknown) : commonName;
  if (typeof first !== "string" || first === "") {
    return { problem: "the client certificate names no principal (no URI SAN and no CN)" };
  }
  if (URI_SCHEME.test(first)) {
    return {
      problem: `the client certificate's CN "${shown(first)}" looks like a URI, and it has no URI SAN: an identity that is a URI must come from a URI SAN`,
    };
  }
  return printable(first, "CN");
}

function printable(identity: string, where: string): PrincipalReading {
  const bad = firstUnprintable(identity);
  if (bad === undefined) return { principal: identity };
  return { problem: `the client certificate's ${where} contains the control character ${bad.code}; an identity must be printable` };
}

/** At most 64 characters of an identity, with every unprintable character escaped, for a message. */
function shown(identity: string): string {
  const cut = identity.length > 64 ? `${identity.slice(0, 64)}…` : identity;
  return JSON.stringify(cut).slice(1, -1);
}

interface AltName {
  readonly type: string;
  readonly value: string;
}

/**
 * Parses Node's `subjectaltname` string ("DNS:a, URI:b"). Node quotes values
 * that contain a comma or quote as JSON strings (since the CVE-2021-44532
 * fix), so a hostile SAN cannot smuggle in a second entry.
 */
function subjectAltNames(text: string): AltName[] {
  const names: AltName[] = [];
  let rest = text;
  while (rest.length > 0) {
    const colon = rest.indexOf(":");
    if (colon < 0) break;
    const type = rest.slice(0, colon).trim();
    rest = rest.slice(colon + 1);
    let value: string;
    if (rest.startsWith('"')) {
      const end = closingQuote(rest);
      value = JSON.parse(rest.slice(0, end + 1)) as string;
      rest = rest.slice(end + 1);
    } else {
      const comma = rest.indexOf(", ");
      value = comma < 0 ? rest : rest.slice(0, comma);
      rest = comma < 0 ? "" : rest.slice(comma);
    }
    names.push({ type, value });
    rest = rest.replace(/^, /, "");
  }
  return names;
}

function closingQuote(text: string): number {
  for (let index = 1; index < text.length; index++) {
    if (text[index] === "\\") index++;
    else if (text[index] === '"') return index;
  }
  return text.length - 1;
}
