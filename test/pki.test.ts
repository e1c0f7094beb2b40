import "reflect-metadata";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtemp, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import * as tls from "node:tls";
import type { AddressInfo } from "node:net";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCertificateAuthority } from "../src/pki/certificate-authority.js";
import { DEV_PRINCIPALS, devPkiPaths, ensureDevPki, runCertsCommand } from "../src/pki/dev-pki.js";
import type { DevPkiPaths } from "../src/pki/dev-pki.js";
import {
  createExpiredClient,
  createForeignClient,
  createNotYetValidClient,
  createServerOnlyClient,
  createTestPki,
  writeTestPki,
} from "./support/test-pki.js";
import type { TestCertificate, TestPki } from "./support/test-pki.js";

const clientAuth = "1.3.6.1.5.5.7.3.2";
const serverAuth = "1.3.6.1.5.5.7.3.1";
const yearMs = 365 * 24 * 60 * 60 * 1000;

let pki: TestPki;
let scratch: string;

beforeAll(async () => {
  pki = await createTestPki();
  scratch = await mkdtemp(join(tmpdir(), "pki-test-"));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("certificate-authority", () => {
  it("creates a self-signed P-256 CA certificate signed with ECDSA-SHA256", () => {
    const ca = new X509Certificate(pki.caCert);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe("CN=seat-booking test CA");
    expect(ca.checkIssued(ca)).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    const parsed = new x509.X509Certificate(pki.caCert.toString());
    expect(parsed.signatureAlgorithm).toMatchObject({ name: "ECDSA", hash: { name: "SHA-256" } });
    const usage = parsed.getExtension(x509.KeyUsagesExtension);
    expect(usage?.critical).toBe(true);
    expect(usage?.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    expect(parsed.getExtension(x509.BasicConstraintsExtension)?.critical).toBe(true);
  });

  it("issues a server certificate for localhost, 127.0.0.1 and ::1 with serverAuth only", () => {
    const server = new X509Certificate(pki.server.cert);
    expect(server.ca).toBe(false);
    expect(server.checkIssued(new X509Certificate(pki.caCert))).toBe(true);
    expect(server.verify(new X509Certificate(pki.caCert).publicKey)).toBe(true);
    expect(server.checkHost("localhost")).toBe("localhost");
    expect(server.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(server.checkIP("::1")).toBe("::1");
    // Node names the extended key usage OIDs "keyUsage".
    expect(server.keyUsage).toEqual([serverAuth]);
  });

  it("issues client certificates whose URI SAN is the principal and whose CN is the short name", () => {
    for (const name of ["alice", "bob", "admin"] as const) {
      const client = new X509Certificate(pki.clients[name].cert);
      expect(client.subject).toBe(`CN=${name}`);
      expect(client.subjectAltName).toBe(`URI:${DEV_PRINCIPALS[name]}`);
      expect(client.keyUsage).toEqual([clientAuth]);
      expect(client.ca).toBe(false);
    }
    const carol = new X509Certificate(pki.clients.carol.cert);
    expect(carol.subject).toBe("CN=carol");
    expect(carol.subjectAltName).toBeUndefined();
  });

  it("links leaves to the CA by key identifiers", () => {
    const ca = new x509.X509Certificate(pki.caCert.toString());
    const alice = new x509.X509Certificate(pki.clients.alice.cert.toString());
    const caKeyId = ca.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    expect(caKeyId).toMatch(/^[0-9a-f]{40}$/);
    expect(alice.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId).toBe(caKeyId);
    expect(alice.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).not.toBe(caKeyId);
  });

  it("exports private keys as PKCS#8 PEM that match their certificates", () => {
    for (const issued of [pki.server, pki.clients.alice]) {
      expect(issued.key.toString()).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(new X509Certificate(issued.cert).checkPrivateKey(createPrivateKey(issued.key))).toBe(true);
    }
    expect(pki.ca.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
  });

  it("makes development certificates valid for about ten years, starting slightly in the past", () => {
    const alice = new X509Certificate(pki.clients.alice.cert);
    const from = Date.parse(alice.validFrom);
    const to = Date.parse(alice.validTo);
    expect(from).toBeLessThan(Date.now());
    expect(to - from).toBeGreaterThan(9.9 * yearMs);
  });

  it("builds expired and not-yet-valid certificates with the validity their names promise", async () => {
    const expired = new X509Certificate((await createExpiredClient(pki)).cert);
    expect(Date.parse(expired.validTo)).toBeLessThan(Date.now());
    const early = new X509Certificate((await createNotYetValidClient(pki)).cert);
    expect(Date.parse(early.validFrom)).toBeGreaterThan(Date.now());
  });

  it("loads an existing CA from PEM and issues leaves that verify against the original", async () => {
    const loaded = await loadCertificateAuthority(pki.ca.certPem, pki.ca.keyPem);
    const leaf = await loaded.issue({ commonName: "dave", uris: ["spiffe://seat-booking.dev/dave"], usage: "client" });
    const ca = new X509Certificate(pki.caCert);
    expect(new X509Certificate(leaf.certPem).verify(ca.publicKey)).toBe(true);
    expect(new X509Certificate(leaf.certPem).checkIssued(ca)).toBe(true);
  });

  it("refuses to load a leaf certificate as a CA", async () => {
    await expect(loadCertificateAuthority(pki.clients.alice.cert.toString(), pki.clients.alice.key.toString())).rejects.toThrow(
      TypeError,
    );
  });
});

describe("certificate-authority over node:tls", () => {
  it("lets a client verify the server certificate by name and by IP", async () => {
    const byName = await handshake(pki.clients.alice, { servername: "localhost" });
    const byIp = await handshake(pki.clients.alice, {});
    expect(byName).toMatchObject({ accepted: true, authorized: true });
    expect(byIp).toMatchObject({ accepted: true, authorized: true });
  });

  it("accepts alice's certificate and sees her principal", async () => {
    const outcome = await handshake(pki.clients.alice, { servername: "localhost" });
    expect(outcome).toEqual({ accepted: true, authorized: true, authorizationError: undefined, subjectAltName: `URI:${DEV_PRINCIPALS.alice}` });
  });

  it.each([
    // The foreign CA has the same name as ours, so only its signature gives it away.
    ["a certificate from another CA", () => createForeignClient(), "UNABLE_TO_VERIFY_LEAF_SIGNATURE"],
    ["an expired certificate", () => createExpiredClient(pki), "CERT_HAS_EXPIRED"],
    ["a not-yet-valid certificate", () => createNotYetValidClient(pki), "CERT_NOT_YET_VALID"],
    // OpenSSL checks the "SSL client" purpose when a server verifies a client,
    // so a serverAuth-only certificate fails without any check of our own.
    ["a certificate without the clientAuth EKU", () => createServerOnlyClient(pki), "INVALID_PURPOSE"],
  ])("rejects %s", async (_label, make, reason) => {
    const client = await make();
    expect(await handshake(client, { servername: "localhost" })).toEqual({ accepted: false });
    const lenient = await handshake(client, { servername: "localhost" }, false);
    expect(lenient).toMatchObject({ accepted: true, authorized: false, authorizationError: reason });
  });
});

describe("dev-pki", () => {
  let dir: string;
  let paths: DevPkiPaths;
  let first: Awaited<ReturnType<typeof ensureDevPki>>;

  beforeAll(async () => {
    dir = join(scratch, "dev");
    paths = devPkiPaths(dir);
    first = await ensureDevPki(dir);
  });

  it("writes a CA, a server certificate and three client certificates, keys with mode 0600", async () => {
    expect(first.created).toBe(true);
    expect(first.paths).toEqual(paths);
    const keys = [paths.caKey, paths.serverKey, paths.clients.alice.key, paths.clients.bob.key, paths.clients.admin.key];
    const certs = [paths.caCert, paths.serverCert, paths.clients.alice.cert, paths.clients.bob.cert, paths.clients.admin.cert];
    expect([...first.written].sort()).toEqual([...keys, ...certs].sort());
    for (const key of keys) expect((await stat(key)).mode & 0o777).toBe(0o600);
    const ca = new X509Certificate(await readFile(paths.caCert));
    for (const cert of certs.slice(1)) expect(new X509Certificate(await readFile(cert)).verify(ca.publicKey)).toBe(true);
    expect(new X509Certificate(await readFile(paths.clients.bob.cert)).subjectAltName).toBe(`URI:${DEV_PRINCIPALS.bob}`);
  });

  it("does nothing when every file exists", async () => {
    const before = await readFile(paths.caCert, "utf8");
    const again = await ensureDevPki(dir);
    expect(again).toEqual({ paths, created: false, written: [] });
    expect(await readFile(paths.caCert, "utf8")).toBe(before);
  });

  it("reissues only a missing leaf, from the existing CA", async () => {
    const caBefore = await readFile(paths.caCert, "utf8");
    await unlink(paths.clients.bob.key);
    const repaired = await ensureDevPki(dir);
    expect(repaired.written).toEqual([paths.clients.bob.cert, paths.clients.bob.key]);
    expect(await readFile(paths.caCert, "utf8")).toBe(caBefore);
    const bob = new X509Certificate(await readFile(paths.clients.bob.cert));
    expect(bob.verify(new X509Certificate(caBefore).publicKey)).toBe(true);
  });

  it("replaces everything, CA included, when forced", async () => {
    const caBefore = await readFile(paths.caCert, "utf8");
    const forced = await ensureDevPki(dir, { force: true });
    expect(forced.written).toHaveLength(10);
    expect(await readFile(paths.caCert, "utf8")).not.toBe(caBefore);
    expect((await stat(paths.caKey)).mode & 0o777).toBe(0o600);
  });
});

describe("runCertsCommand", () => {
  it("writes the PKI into --dir and lists the files", async () => {
    const io = capture();
    const code = await runCertsCommand(["--dir", "cli-certs"], { ...io, cwd: scratch, env: {} });
    expect(code).toBe(0);
    expect(io.out()).toContain(join(scratch, "cli-certs", "alice.key"));
    const again = capture();
    expect(await runCertsCommand(["--dir", join(scratch, "cli-certs")], { ...again, env: {} })).toBe(0);
    expect(again.out()).toMatch(/already exist/);
  });

  it("uses BOOKING_CERTS_DIR when --dir is absent", async () => {
    const io = capture();
    expect(await runCertsCommand([], { ...io, cwd: scratch, env: { BOOKING_CERTS_DIR: "env-certs" } })).toBe(0);
    expect(await readFile(join(scratch, "env-certs", "ca.crt"), "utf8")).toMatch(/BEGIN CERTIFICATE/);
  });

  it("prints usage for --help", async () => {
    const io = capture();
    expect(await runCertsCommand(["--help"], io)).toBe(0);
    expect(io.out()).toMatch(/^Usage: booking certs/);
  });

  it("returns 2 with a one-line message naming the folder when it cannot be made (a file in the way), not a crash report", async () => {
    await writeFile(join(scratch, "a-file"), "in the way\n");
    const io = capture();
    expect(await runCertsCommand(["--dir", "a-file/certs"], { ...io, cwd: scratch, env: {} })).toBe(2);
    expect(io.err()).toMatch(new RegExp(`^booking certs: cannot write the development PKI to ${join(scratch, "a-file", "certs").replace(/[.]/g, "\\.")}: ENOTDIR: [^\n]*\n$`));
    expect(io.out()).toBe("");
  });

  it("returns 2 with a one-line message for an unknown option", async () => {
    const io = capture();
    expect(await runCertsCommand(["--frce"], { ...io, cwd: scratch })).toBe(2);
    expect(io.err()).toMatch(/^booking certs: .*--frce.*\n$/);
    expect(io.out()).toBe("");
  });
});

describe("writeTestPki", () => {
  it("writes a test PKI in the development layout that ensureDevPki considers complete", async () => {
    const dir = join(scratch, "written");
    const written = await writeTestPki(dir, pki);
    expect(await readFile(written.paths.clients.alice.cert)).toEqual(pki.clients.alice.cert);
    expect(await readFile(written.carol.cert)).toEqual(pki.clients.carol.cert);
    expect((await stat(written.paths.serverKey)).mode & 0o777).toBe(0o600);
    expect((await ensureDevPki(dir)).created).toBe(false);
  });
});

type Outcome =
  | { accepted: true; authorized: boolean; authorizationError: string | undefined; subjectAltName: string | undefined }
  | { accepted: false };

/**
 * One TLS handshake between a fresh node:tls server (the test PKI's server
 * certificate, requestCert) and a client presenting `client`. The server
 * decides before it closes the TCP socket, so "closed without a
 * secureConnection" is a rejection, no timers needed.
 */
async function handshake(
  client: TestCertificate,
  target: { servername?: string },
  rejectUnauthorized = true,
): Promise<Outcome> {
  const server = tls.createServer({ key: pki.server.key, cert: pki.server.cert, ca: pki.caCert, requestCert: true, rejectUnauthorized });
  server.on("tlsClientError", () => {
    // A rejected client shows up here as a reset; the outcome is read below.
  });
  try {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const serverOutcome = new Promise<Outcome>((resolve) => {
      server.once("connection", (raw) => raw.once("close", () => resolve({ accepted: false })));
      server.once("secureConnection", (socket: tls.TLSSocket) => {
        const peer = socket.getPeerX509Certificate();
        resolve({
          accepted: true,
          authorized: socket.authorized,
          authorizationError: socket.authorizationError?.toString(),
          subjectAltName: peer?.subjectAltName,
        });
        socket.end();
      });
    });
    const socket = tls.connect({ host: "127.0.0.1", port, ca: pki.caCert, cert: client.cert, key: client.key, ...target });
    const clientClosed = new Promise<void>((resolve) => {
      socket.on("error", () => {
        // Expected when the server refuses the certificate.
      });
      socket.once("close", () => resolve());
    });
    const [outcome] = await Promise.all([serverOutcome, clientClosed]);
    return outcome;
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function capture(): { stdout: PassThrough; stderr: PassThrough; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  return { stdout, stderr, out: () => out, err: () => err };
}
