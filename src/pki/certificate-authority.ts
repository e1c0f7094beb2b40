// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs the
// Reflect metadata API installed before the library is evaluated.
import "reflect-metadata";
import { KeyObject, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

/**
 * Which TLS role a leaf certificate may play, written into its extended key
 * usage: "server" = serverAuth, "client" = clientAuth, "none" = no EKU
 * extension at all (only useful to build bad certificates in tests).
 */
export type CertificateUsage = "server" | "client" | "none";

/** Parameters of {@link createCertificateAuthority}. */
export interface CertificateAuthorityOptions {
  readonly commonName: string;
  /** Defaults to five minutes ago, so clocks a little behind still accept it. */
  readonly notBefore?: Date;
  /** Defaults to ten years after notBefore. */
  readonly notAfter?: Date;
}

/** Parameters of {@link CertificateAuthority.issue}. */
export interface LeafCertificateOptions {
  readonly commonName: string;
  /** URI subject alternative names, e.g. SPIFFE IDs of clients. */
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  /** IPv4 or IPv6 literals ("127.0.0.1", "::1"). */
  readonly ipAddresses?: readonly string[];
  readonly usage: CertificateUsage;
  /** Defaults to five minutes ago. */
  readonly notBefore?: Date;
  /** Defaults to one year after notBefore. */
  readonly notAfter?: Date;
}

/** A certificate and its private key, both PEM (the key is PKCS#8). */
export interface IssuedCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

/**
 * A certificate authority that can sign leaf certificates. ECDSA P-256 keys,
 * ECDSA-with-SHA-256 signatures. It keeps no record of what it issued and
 * cannot revoke: it is meant for development and tests, not production.
 */
export interface CertificateAuthority extends IssuedCertificate {
  /** Creates a fresh key pair and a certificate for it signed by this CA. */
  issue(options: LeafCertificateOptions): Promise<IssuedCertificate>;
}

const crypto = webcrypto;
type CryptoKey = webcrypto.CryptoKey;
const keyAlgorithm = { name: "ECDSA", namedCurve: "P-256" } as const;
const signingAlgorithm = { name: "ECDSA", hash: "SHA-256" } as const;
const clockSkewMs = 5 * 60 * 1000;
const dayMs = 24 * 60 * 60 * 1000;

/** Creates a new self-signed root CA with a fresh key. */
export async function createCertificateAuthority(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
  const keys = await generateKeyPair();
  const notBefore = options.notBefore ?? new Date(Date.now() - clockSkewMs);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + 10 * 365 * dayMs);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: distinguishedName(options.commonName),
      keys,
      notBefore,
      notAfter,
      signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return authority(cert, keys.privateKey, await exportPrivateKey(keys.privateKey));
}

/**
 * Loads an existing CA from its PEM certificate and PKCS#8 PEM key, so it can
 * issue more certificates later. Throws a TypeError if the certificate is not
 * a CA certificate or the key is not an ECDSA P-256 key.
 */
export async function loadCertificateAuthority(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const constraints = cert.getExtension(x509.BasicConstraintsExtension);
  if (!constraints?.ca) {
    throw new TypeError(`certificate "${cert.subject}" is not a CA certificate (basicConstraints CA is not true)`);
  }
  let privateKey: CryptoKey;
  try {
    privateKey = await crypto.subtle.importKey("pkcs8", x509.PemConverter.decodeFirst(keyPem), keyAlgorithm, true, ["sign"]);
  } catch (cause) {
    throw new TypeError("CA key is not a PKCS#8 ECDSA P-256 private key", { cause });
  }
  return authority(cert, privateKey, keyPem);
}

function authority(cert: x509.X509Certificate, privateKey: CryptoKey, keyPem: string): CertificateAuthority {
  return {
    certPem: cert.toString("pem") + "\n",
    keyPem,
    issue: (options) => issueLeaf(cert, privateKey, options),
  };
}

async function issueLeaf(
  caCert: x509.X509Certificate,
  caKey: CryptoKey,
  options: LeafCertificateOptions,
): Promise<IssuedCertificate> {
  const keys = await generateKeyPair();
  const notBefore = options.notBefore ?? new Date(Date.now() - clockSkewMs);
  const notAfter = options.notAfter ?? new Date(notBefore.getTime() + 365 * dayMs);
  const names: x509.JsonGeneralName[] = [
    ...(options.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
    ...(options.uris ?? []).map((value) => ({ type: "url" as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    // ECDHE key exchange only needs the leaf key to sign the handshake.
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
    authorityKeyIdentifier(caCert) ?? (await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey, false, crypto)),
  ];
  if (options.usage !== "none") {
    const purpose = options.usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth;
    extensions.push(new x509.ExtendedKeyUsageExtension([purpose], false));
  }
  if (names.length > 0) {
    // RFC 5280: the SAN must be critical when the subject is empty; ours never is.
    extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  }
  const cert = await x509.X509CertificateGenerator.create(
    {
      subject: distinguishedName(options.commonName),
      issuer: caCert.subjectName,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKey,
      signingAlgorithm,
      extensions,
    },
    crypto,
  );
  return { certPem: cert.toString("pem") + "\n", keyPem: await exportPrivateKey(keys.privateKey) };
}

/** The AKI of a leaf must equal the SKI of its issuer, so reuse it when present. */
function authorityKeyIdentifier(caCert: x509.X509Certificate): x509.AuthorityKeyIdentifierExtension | undefined {
  const ski = caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  return ski === null ? undefined : new x509.AuthorityKeyIdentifierExtension(ski.keyId, false);
}

function distinguishedName(commonName: string): x509.JsonName {
  if (commonName.length === 0) {
    throw new TypeError("commonName must not be empty");
  }
  // A JSON name keeps commas and other special characters literal.
  return [{ CN: [commonName] }];
}

async function generateKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return crypto.subtle.generateKey(keyAlgorithm, true, ["sign", "verify"]);
}

async function exportPrivateKey(key: CryptoKey): Promise<string> {
  return KeyObject.from(key).export({ type: "pkcs8", format: "pem" }).toString();
}
