import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createCertificateAuthority } from "../../src/pki/certificate-authority.js";
import type { CertificateAuthority, IssuedCertificate } from "../../src/pki/certificate-authority.js";
import { DEV_PRINCIPALS, devPkiPaths, issueDevClient, issueDevServer } from "../../src/pki/dev-pki.js";
import type { DevClientName, DevPkiPaths } from "../../src/pki/dev-pki.js";

/** A certificate and key as PEM buffers, ready for grpc.credentials / tls options. */
export interface TestCertificate {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * An in-memory PKI shaped like the development one: a CA, a server
 * certificate for localhost / 127.0.0.1 / ::1, and clients alice, bob and
 * admin (URI SAN = DEV_PRINCIPALS), plus carol, who has only a CN.
 */
export interface TestPki {
  readonly ca: CertificateAuthority;
  /** The CA certificate (PEM), for `rootCerts` on both sides. */
  readonly caCert: Buffer;
  readonly server: TestCertificate;
  readonly clients: Readonly<Record<DevClientName | "carol", TestCertificate>>;
}

/** The development principals, re-exported so tests read them from one place. */
export { DEV_PRINCIPALS };

const dayMs = 24 * 60 * 60 * 1000;

/** Creates a fresh test PKI (a few ms of ECDSA key generation). */
export async function createTestPki(): Promise<TestPki> {
  const ca = await createCertificateAuthority({ commonName: "seat-booking test CA" });
  const [server, alice, bob, admin, carol] = await Promise.all([
    issueDevServer(ca),
    issueDevClient(ca, "alice"),
    issueDevClient(ca, "bob"),
    issueDevClient(ca, "admin"),
    ca.issue({ commonName: "carol", usage: "client" }),
  ]);
  return {
    ca,
    caCert: Buffer.from(ca.certPem),
    server: buffers(server),
    clients: { alice: buffers(alice), bob: buffers(bob), admin: buffers(admin), carol: buffers(carol) },
  };
}

/** A client certificate for alice's principal from an unrelated CA that has the same name as the test CA. */
export async function createForeignClient(): Promise<TestCertificate> {
  const other = await createCertificateAuthority({ commonName: "seat-booking test CA" });
  return buffers(await other.issue({ commonName: "alice", uris: [DEV_PRINCIPALS.alice], usage: "client" }));
}

/** A client certificate for alice from the test CA that expired yesterday. */
export async function createExpiredClient(pki: TestPki): Promise<TestCertificate> {
  const now = Date.now();
  return aliceFrom(pki, { notBefore: new Date(now - 30 * dayMs), notAfter: new Date(now - dayMs) });
}

/** A client certificate for alice from the test CA that becomes valid tomorrow. */
export async function createNotYetValidClient(pki: TestPki): Promise<TestCertificate> {
  const now = Date.now();
  return aliceFrom(pki, { notBefore: new Date(now + dayMs), notAfter: new Date(now + 30 * dayMs) });
}

/** A certificate for alice from the test CA whose extended key usage is serverAuth only. */
export async function createServerOnlyClient(pki: TestPki): Promise<TestCertificate> {
  return buffers(await pki.ca.issue({ commonName: "alice", uris: [DEV_PRINCIPALS.alice], usage: "server" }));
}

/** A client certificate from the test CA with only a CN, no URI SAN: `commonName` as given. */
export async function createCommonNameClient(pki: TestPki, commonName: string): Promise<TestCertificate> {
  return buffers(await pki.ca.issue({ commonName, usage: "client" }));
}

/** A test PKI written to disk by {@link writeTestPki}. */
export interface WrittenTestPki {
  readonly pki: TestPki;
  /** The dev layout: ca.crt/.key, server.crt/.key, alice|bob|admin.crt/.key. */
  readonly paths: DevPkiPaths;
  /** carol (CN only) is not part of the dev layout: carol.crt/.key in the same directory. */
  readonly carol: { readonly cert: string; readonly key: string };
}

/**
 * Writes a test PKI (the given one, or a fresh one) into `dir` in the
 * {@link devPkiPaths} layout, for tests that start processes. Keys get 0600.
 */
export async function writeTestPki(dir: string, pki?: TestPki): Promise<WrittenTestPki> {
  const chosen = pki ?? (await createTestPki());
  const paths = devPkiPaths(dir);
  const carol = { cert: join(paths.dir, "carol.crt"), key: join(paths.dir, "carol.key") };
  await mkdir(paths.dir, { recursive: true });
  const files: Array<[string, Buffer | string, number]> = [
    [paths.caCert, chosen.caCert, 0o644],
    [paths.caKey, chosen.ca.keyPem, 0o600],
    [paths.serverCert, chosen.server.cert, 0o644],
    [paths.serverKey, chosen.server.key, 0o600],
  ];
  for (const name of ["alice", "bob", "admin", "carol"] as const) {
    const target = name === "carol" ? carol : paths.clients[name];
    files.push([target.cert, chosen.clients[name].cert, 0o644], [target.key, chosen.clients[name].key, 0o600]);
  }
  for (const [path, content, mode] of files) await writeFile(path, content, { mode });
  return { pki: chosen, paths, carol };
}

async function aliceFrom(pki: TestPki, validity: { notBefore: Date; notAfter: Date }): Promise<TestCertificate> {
  return buffers(await pki.ca.issue({ commonName: "alice", uris: [DEV_PRINCIPALS.alice], usage: "client", ...validity }));
}

function buffers(issued: IssuedCertificate): TestCertificate {
  return { cert: Buffer.from(issued.certPem), key: Buffer.from(issued.keyPem) };
}
