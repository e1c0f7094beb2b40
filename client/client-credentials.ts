import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { PeerCertificate } from "node:tls";
import { credentials, type ChannelCredentials } from "@grpc/grpc-js";

/**
 * A certificate or key: PEM text, PEM bytes, or the path of a PEM file. A
 * string is PEM when it starts with "-----BEGIN" (leading whitespace
 * allowed); any other string is a path, read relative to the working directory.
 */
export type PemSource = string | Uint8Array;

/** The material of a mutual-TLS client. */
export interface ClientTlsMaterial {
  /** The CA that signed the server's certificate; omitted = the system's public roots. */
  readonly ca?: PemSource | undefined;
  /** The client certificate (chain); its URI SAN or CN is the caller's principal. */
  readonly cert: PemSource;
  /** The private key of `cert`. */
  readonly key: PemSource;
}

/** A certificate or key that could not be read or used; the message names it. */
export class ClientCredentialsError extends Error {
  override readonly name = "ClientCredentialsError";
}

/**
 * Builds grpc-js mutual-TLS channel credentials, reading files as needed.
 * Throws {@link ClientCredentialsError} when a file cannot be read or the
 * PEM does not parse (or the key does not match the certificate), so that
 * mistakes show at construction rather than as a failed handshake later.
 */
export function loadClientCredentials(
  material: ClientTlsMaterial,
  checkServerIdentity?: (hostname: string, certificate: PeerCertificate) => Error | undefined,
): ChannelCredentials {
  const ca = material.ca === undefined ? null : readPem(material.ca, "CA certificate");
  if (ca !== null) checkCertificates(ca, material.ca);
  const cert = readPem(material.cert, "client certificate");
  const key = readPem(material.key, "client key");
  try {
    return credentials.createSsl(ca, key, cert, checkServerIdentity === undefined ? {} : { checkServerIdentity });
  } catch (error) {
    throw new ClientCredentialsError(
      `the TLS material is not usable (${error instanceof Error ? error.message : String(error)}); ` +
        "check that the certificate and key are PEM and belong together",
      { cause: error },
    );
  }
}

/**
 * Checks that `pem` holds at least one certificate and that each parses.
 * grpc-js accepts any bytes as the CA and only the handshake fails, as an
 * UNAVAILABLE "self-signed certificate in certificate chain" after every
 * retry: the mistake belongs here, at construction.
 */
function checkCertificates(pem: Buffer, source: PemSource | undefined): void {
  const named = typeof source === "string" && !source.includes("-----BEGIN") ? ` (${source})` : "";
  const blocks = pem.toString("utf8").match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    throw new ClientCredentialsError(`the CA certificate${named} holds no PEM certificate (no "-----BEGIN CERTIFICATE-----" block)`);
  }
  blocks.forEach((block, index) => {
    try {
      new X509Certificate(block);
    } catch (error) {
      throw new ClientCredentialsError(
        `certificate ${index + 1} of the CA certificate${named} does not parse: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  });
}

/** Resolves a {@link PemSource} to bytes; `what` names it in errors. */
export function readPem(source: PemSource, what: string): Buffer {
  if (typeof source !== "string") return Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  if (source.trimStart().startsWith("-----BEGIN")) return Buffer.from(source, "utf8");
  if (source === "") throw new ClientCredentialsError(`the ${what} path is empty`);
  try {
    return readFileSync(source);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
    throw new ClientCredentialsError(`cannot read the ${what} file ${source} (${code})`, { cause: error });
  }
}
