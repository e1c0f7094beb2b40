import { DEV_ADMIN_PRINCIPAL } from "../../wire/wire-constants.js";
import { randomBytes } from "node:crypto";
import { access, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { CertificateAuthority, IssuedCertificate } from "./certificate-authority.js";

/** The client identities of the development PKI: short name -> URI SAN (SPIFFE ID). */
export const DEV_PRINCIPALS = {
  alice: "spiffe://seat-booking.dev/alice",
  bob: "spiffe://seat-booking.dev/bob",
  admin: DEV_ADMIN_PRINCIPAL,
} as const;

/** Short name of a development client ("alice", "bob", "admin"). */
export type DevClientName = keyof typeof DEV_PRINCIPALS;

/** A certificate file and its key file. */
export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/** Where the development PKI lives inside its directory. */
export interface DevPkiPaths {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clients: Readonly<Record<DevClientName, CertificateFiles>>;
}

/** What {@link ensureDevPki} did. */
export interface EnsureDevPkiResult {
  readonly paths: DevPkiPaths;
  /** False when every file already existed and nothing was written. */
  readonly created: boolean;
  /** The files written, in the order written (empty when created is false). */
  readonly written: readonly string[];
}

/** Options of {@link ensureDevPki}. */
export interface EnsureDevPkiOptions {
  /** Replace every file, CA included, even if they all exist. */
  readonly force?: boolean;
}

/** Environment, directory and streams of {@link runCertsCommand}; each defaults to the process's own. */
export interface CertsCommandIo {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly stdout?: NodeJS.WritableStream;
  readonly stderr?: NodeJS.WritableStream;
}

const devClientNames = Object.keys(DEV_PRINCIPALS) as DevClientName[];
// Ten years so a checkout keeps working without renewal; development only.
const devValidityMs = 10 * 365 * 24 * 60 * 60 * 1000;

/** The file layout of a development PKI in `dir` (resolved to an absolute path). */
export function devPkiPaths(dir: string): DevPkiPaths {
  const root = resolve(dir);
  const pair = (name: string): CertificateFiles => ({ cert: join(root, `${name}.crt`), key: join(root, `${name}.key`) });
  const ca = pair("ca");
  const server = pair("server");
  return {
    dir: root,
    caCert: ca.cert,
    caKey: ca.key,
    serverCert: server.cert,
    serverKey: server.key,
    clients: { alice: pair("alice"), bob: pair("bob"), admin: pair("admin") },
  };
}

/**
 * Makes sure `dir` holds a complete development PKI: a CA, a server
 * certificate for localhost, 127.0.0.1 and ::1, and client certificates for
 * alice, bob and admin. Existing files are kept: a missing leaf is issued by
 * the existing CA; a missing CA file (or `force`) replaces everything, since
 * leaves of the old CA would no longer verify. Keys are written with mode 0600.
 */
export async function ensureDevPki(dir: string, options: EnsureDevPkiOptions = {}): Promise<EnsureDevPkiResult> {
  const paths = devPkiPaths(dir);
  const force = options.force === true;
  const leaves: Array<{ files: CertificateFiles; issue: (ca: CertificateAuthority) => Promise<IssuedCertificate> }> = [
    { files: { cert: paths.serverCert, key: paths.serverKey }, issue: (ca) => issueDevServer(ca) },
    ...devClientNames.map((name) => ({ files: paths.clients[name], issue: (ca: CertificateAuthority) => issueDevClient(ca, name) })),
  ];
  const caFiles = { cert: paths.caCert, key: paths.caKey };
  const caComplete = !force && (await pairExists(caFiles));
  const missing = [];
  for (const leaf of leaves) {
    if (!caComplete || !(await pairExists(leaf.files))) missing.push(leaf);
  }
  if (caComplete && missing.length === 0) return { paths, created: false, written: [] };

  await mkdir(paths.dir, { recursive: true });
  // Loaded only to write files: the X.509 library and its ASN.1 schemas hold
  // about 3.5 MB of live heap, which a server started on existing files
  // would otherwise keep (and mark in every full collection) for nothing.
  const { createCertificateAuthority, loadCertificateAuthority } = await import("./certificate-authority.js");
  const written: string[] = [];
  let ca: CertificateAuthority;
  if (caComplete) {
    ca = await loadCertificateAuthority(await readFile(paths.caCert, "utf8"), await readFile(paths.caKey, "utf8"));
  } else {
    const notBefore = new Date(Date.now() - 5 * 60 * 1000);
    ca = await createCertificateAuthority({
      commonName: "seat-booking development CA",
      notBefore,
      notAfter: new Date(notBefore.getTime() + devValidityMs),
    });
    written.push(...(await writePair(caFiles, ca)));
  }
  for (const leaf of missing) written.push(...(await writePair(leaf.files, await leaf.issue(ca))));
  return { paths, created: true, written };
}

/** The server certificate of the development PKI (also used by test PKIs). */
export function issueDevServer(ca: CertificateAuthority): Promise<IssuedCertificate> {
  const notBefore = new Date(Date.now() - 5 * 60 * 1000);
  return ca.issue({
    commonName: "localhost",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1", "::1"],
    usage: "server",
    notBefore,
    notAfter: new Date(notBefore.getTime() + devValidityMs),
  });
}

/** A client certificate of the development PKI: CN = short name, URI SAN = principal. */
export function issueDevClient(ca: CertificateAuthority, name: DevClientName): Promise<IssuedCertificate> {
  const notBefore = new Date(Date.now() - 5 * 60 * 1000);
  return ca.issue({
    commonName: name,
    uris: [DEV_PRINCIPALS[name]],
    usage: "client",
    notBefore,
    notAfter: new Date(notBefore.getTime() + devValidityMs),
  });
}

const usage = `Usage: booking certs [--dir DIR] [--force]

Writes a development PKI (CA, server certificate for localhost, client
certificates for ${devClientNames.join(", ")}) into DIR, unless it is already there.

Options:
  --dir DIR   target directory (default: $BOOKING_CERTS_DIR, else ./certs)
  --force     replace all files, CA included
  --help      print this help
`;

/**
 * The `booking certs` subcommand. Returns the exit code (0 done, 2 usage
 * error) and never calls process.exit; the caller does.
 */
export async function runCertsCommand(argv: readonly string[], io: CertsCommandIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  let values: { dir?: string | undefined; force?: boolean | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { dir: { type: "string" }, force: { type: "boolean" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error: unknown) {
    stderr.write(`booking certs: ${error instanceof Error ? error.message : String(error)} (see --help)\n`);
    return 2;
  }
  if (values.help === true) {
    stdout.write(usage);
    return 0;
  }
  if (values.dir === "") {
    stderr.write("booking certs: --dir must not be empty (see --help)\n");
    return 2;
  }
  const env = io.env ?? process.env;
  const dir = resolve(io.cwd ?? process.cwd(), values.dir ?? (env["BOOKING_CERTS_DIR"] || "certs"));
  let result: Awaited<ReturnType<typeof ensureDevPki>>;
  try {
    result = await ensureDevPki(dir, { force: values.force === true });
  } catch (error) {
    // A folder that cannot be made or written (a file in the way, no
    // permission, a read-only or virtual file system) is the user's to fix.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined) throw error;
    stderr.write(`booking certs: cannot write the development PKI to ${dir}: ${(error as Error).message}\n`);
    return 2;
  }
  if (!result.created) {
    stdout.write(`Development certificates already exist in ${result.paths.dir} (use --force to replace them).\n`);
    return 0;
  }
  stdout.write(`Wrote development certificates to ${result.paths.dir}:\n`);
  for (const file of result.written) stdout.write(`  ${file}\n`);
  return 0;
}

async function pairExists(files: CertificateFiles): Promise<boolean> {
  return (await exists(files.cert)) && (await exists(files.key));
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes key then certificate; each through a temporary file, so a crash never leaves half a PEM. */
async function writePair(files: CertificateFiles, issued: IssuedCertificate): Promise<string[]> {
  await writeAtomically(files.key, issued.keyPem, 0o600);
  await writeAtomically(files.cert, issued.certPem, 0o644);
  return [files.cert, files.key];
}

async function writeAtomically(path: string, content: string, mode: number): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    // A fresh file gets `mode` (less the umask); renaming keeps it, even over an old wider-mode file.
    await writeFile(temporary, content, { mode, flag: "wx" });
    await rename(temporary, path);
  } catch (error: unknown) {
    await rm(temporary, { force: true });
    throw error;
  }
}
