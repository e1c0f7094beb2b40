import type { PeerCertificate } from "node:tls";

/**
 * The principal a client certificate names: its first URI SAN (SPIFFE style,
 * e.g. spiffe://seat-booking.dev/alice), else its subject Common Name.
 * Returns undefined when the certificate names neither.
 */
export function principalOfCertificate(certificate: PeerCertificate | undefined): string | undefined {
  if (certificate === undefined || Object.keys(certificate).length === 0) return undefined;
  const uri = subjectAltNames(certificate.subjectaltname ?? "").find((name) => name.type === "URI");
  if (uri !== undefined && uri.value !== "") return uri.value;
  const commonName: unknown = certificate.subject?.CN;
  // A subject with several CNs arrives as an array; take the first.
  const first = Array.isArray(commonName) ? (commonName[0] as unknown) : commonName;
  return typeof first === "string" && first !== "" ? first : undefined;
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
