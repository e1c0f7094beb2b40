import { X509Certificate } from "node:crypto";
import type { PeerCertificate } from "node:tls";
import { beforeAll, describe, expect, it } from "vitest";
import { principalOfCertificate } from "../src/transport/peer-principal.js";
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

describe("principalOfCertificate", () => {
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
