import { X509Certificate } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { beforeAll, describe, expect, it } from "vitest";
import { readPrincipal } from "../src/transport/peer-principal.js";
import { createCertificateAuthority, type CertificateAuthority } from "../src/pki/certificate-authority.js";

/** The fields of a peer certificate the parser reads; the rest do not matter to it. */
function peer(fields: { subjectaltname?: string; subject?: Record<string, string | string[]> }): PeerCertificate {
  return fields as unknown as PeerCertificate;
}

/** What getPeerCertificate() returns for a certificate: Node's legacy object. */
async function issued(ca: CertificateAuthority, options: Parameters<CertificateAuthority["issue"]>[0]) {
  const { certPem } = await ca.issue(options);
  return new X509Certificate(certPem).toLegacyObject() as PeerCertificate;
}

/** The principal read, or undefined when the certificate is refused. */
function principalOfCertificate(certificate: Parameters<typeof readPrincipal>[0]): string | undefined {
  const reading = readPrincipal(certificate);
  return "principal" in reading ? reading.principal : undefined;
}

/** Why the certificate is refused, or undefined when it names a principal. */
function problemOf(certificate: Parameters<typeof readPrincipal>[0]): string | undefined {
  const reading = readPrincipal(certificate);
  return "problem" in reading ? reading.problem : undefined;
}

describe("readPrincipal", () => {
  let ca: CertificateAuthority;
  beforeAll(async () => {
    ca = await createCertificateAuthority({ commonName: "peer-principal test CA" });
  });

  it("takes the first URI SAN of a real certificate", async () => {
    const certificate = await issued(ca, {
      commonName: "alice",
      dnsNames: ["alice.example"],
      uris: ["spiffe://seat-booking.dev/alice", "spiffe://seat-booking.dev/other"],
      usage: "client",
    });
    expect(principalOfCertificate(certificate)).toBe("spiffe://seat-booking.dev/alice");
  });

  it("falls back to the subject CN of a real certificate without a URI SAN", async () => {
    const certificate = await issued(ca, { commonName: "carol", dnsNames: ["carol.example"], usage: "client" });
    expect(principalOfCertificate(certificate)).toBe("carol");
  });

  it("skips SANs of other types before the URI", () => {
    expect(
      principalOfCertificate(peer({ subjectaltname: "DNS:a.example, IP Address:127.0.0.1, URI:spiffe://t/a", subject: { CN: "x" } })),
    ).toBe("spiffe://t/a");
  });

  it("reads a quoted SAN as one value, so a comma inside it cannot smuggle in a second entry", () => {
    const smuggling = peer({ subjectaltname: 'DNS:"evil.example, URI:spiffe://t/admin"', subject: { CN: "mallory" } });
    expect(principalOfCertificate(smuggling)).toBe("mallory");
    const quotedUri = peer({ subjectaltname: 'URI:"spiffe://t/a, b", URI:spiffe://t/second' });
    expect(principalOfCertificate(quotedUri)).toBe("spiffe://t/a, b");
  });

  it("unescapes a quoted SAN with an escaped quote in it", () => {
    expect(principalOfCertificate(peer({ subjectaltname: 'URI:"spiffe://t/a\\"b"' }))).toBe('spiffe://t/a"b');
  });

  it("falls back to the CN when the URI SAN is empty", () => {
    expect(principalOfCertificate(peer({ subjectaltname: "URI:", subject: { CN: "bob" } }))).toBe("bob");
  });

  it("takes the first non-empty URI SAN", () => {
    expect(principalOfCertificate(peer({ subjectaltname: "URI:, URI:spiffe://t/second", subject: { CN: "f" } }))).toBe("spiffe://t/second");
  });

  it("refuses a CN that looks like a URI when no URI SAN names the identity: a chosen CN cannot pose as the admin's URI", async () => {
    const posing = await issued(ca, { commonName: "spiffe://seat-booking.dev/admin", usage: "client" });
    expect(problemOf(posing)).toBe(
      'the client certificate\'s CN "spiffe://seat-booking.dev/admin" looks like a URI, and it has no URI SAN: an identity that is a URI must come from a URI SAN',
    );
    const dnsOnly = await issued(ca, { commonName: "urn:admin", dnsNames: ["x.example"], usage: "client" });
    expect(principalOfCertificate(dnsOnly)).toBeUndefined();
    // With a URI SAN the CN is not read at all.
    expect(principalOfCertificate(peer({ subjectaltname: "URI:spiffe://t/carol", subject: { CN: "spiffe://t/admin" } }))).toBe("spiffe://t/carol");
  });

  it("refuses an identity with a control character, naming it", () => {
    expect(problemOf(peer({ subjectaltname: 'URI:"spiffe://t/a\\u001b[2J"' }))).toBe(
      "the client certificate's URI SAN contains the control character U+001B; an identity must be printable",
    );
    expect(problemOf(peer({ subject: { CN: "eve\n{\"level\":60}" } }))).toBe(
      "the client certificate's CN contains the control character U+000A; an identity must be printable",
    );
    expect(problemOf(peer({ subject: { CN: "eve\u202Enimda" } }))).toContain("U+202E");
    expect(principalOfCertificate(peer({ subject: { CN: "Zoë Ångström" } }))).toBe("Zoë Ångström");
  });

  it("takes the first of several CNs", () => {
    expect(principalOfCertificate(peer({ subject: { CN: ["first", "second"] } }))).toBe("first");
  });

  it("returns undefined when the certificate names neither a URI SAN nor a CN", () => {
    expect(principalOfCertificate(peer({ subjectaltname: "DNS:a.example", subject: { O: "org" } }))).toBeUndefined();
    expect(principalOfCertificate(peer({ subject: { CN: "" } }))).toBeUndefined();
  });

  it("returns undefined without a certificate (grpc-js gives an empty object or nothing)", () => {
    expect(principalOfCertificate(undefined)).toBeUndefined();
    expect(principalOfCertificate(peer({}))).toBeUndefined();
  });
});
