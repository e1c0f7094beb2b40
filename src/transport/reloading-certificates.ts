import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import type { experimental } from "@grpc/grpc-js";

type CertificateProvider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/** The three files a mutual-TLS server reads. */
export interface CertificatePaths {
  readonly caCertPath: string;
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
}

interface CertificateMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Serves the server certificate, key and client CA from files, and picks up
 * replacements without a restart: the files are polled, and a new set is
 * published only when all three parse and the key matches the certificate,
 * so a half-written rotation never breaks the listener. Published material
 * applies to new connections; established ones keep theirs, so calls in
 * flight are not disturbed.
 *
 * One object provides both the identity and the CA, which is also what makes
 * it immune to the argument order of grpc-js's
 * `createCertificateProviderServerCredentials`.
 */
export class ReloadingCertificates implements CertificateProvider {
  readonly #paths: CertificatePaths;
  readonly #onReload: (event: { ok: boolean; error?: string }) => void;
  #material: CertificateMaterial;
  #fingerprint: string;
  #timer: NodeJS.Timeout | undefined;
  readonly #caListeners = new Set<CaListener>();
  readonly #identityListeners = new Set<IdentityListener>();

  private constructor(
    paths: CertificatePaths,
    material: CertificateMaterial,
    fingerprint: string,
    onReload: (event: { ok: boolean; error?: string }) => void,
  ) {
    this.#paths = paths;
    this.#material = material;
    this.#fingerprint = fingerprint;
    this.#onReload = onReload;
  }

  /**
   * Reads and checks the files once (throwing with the file's name when one
   * is missing or wrong), then polls them every `intervalMs`.
   */
  static async load(
    paths: CertificatePaths,
    options: { intervalMs?: number; onReload?: (event: { ok: boolean; error?: string }) => void } = {},
  ): Promise<ReloadingCertificates> {
    const fingerprint = await fileFingerprint(paths);
    const provider = new ReloadingCertificates(paths, await readMaterial(paths), fingerprint, options.onReload ?? (() => {}));
    provider.#timer = setInterval(() => void provider.#poll(), options.intervalMs ?? 1000);
    provider.#timer.unref();
    return provider;
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#caListeners.add(listener);
    // grpc-js registers its own watcher only after adding this listener, so
    // an update delivered synchronously would reach nobody.
    process.nextTick(() => listener({ caCertificate: this.#material.ca }));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.add(listener);
    process.nextTick(() => listener({ certificate: this.#material.cert, privateKey: this.#material.key }));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.delete(listener);
  }

  /** Stops polling. */
  close(): void {
    clearInterval(this.#timer);
  }

  async #poll(): Promise<void> {
    let fingerprint: string;
    try {
      fingerprint = await fileFingerprint(this.#paths);
    } catch {
      return; // a file is being replaced; look again next time
    }
    if (fingerprint === this.#fingerprint) return;
    try {
      const material = await readMaterial(this.#paths);
      this.#fingerprint = fingerprint;
      this.#material = material;
      for (const listener of this.#caListeners) listener({ caCertificate: material.ca });
      for (const listener of this.#identityListeners) listener({ certificate: material.cert, privateKey: material.key });
      this.#onReload({ ok: true });
    } catch (error) {
      // Keep serving the previous material; the next change is tried again.
      this.#fingerprint = fingerprint;
      this.#onReload({ ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }
}

/** The three files, each with what it is, for messages. */
function certificateFiles(paths: CertificatePaths): { readonly path: string; readonly what: string }[] {
  return [
    { path: paths.caCertPath, what: "client CA certificate" },
    { path: paths.serverCertPath, what: "server certificate" },
    { path: paths.serverKeyPath, what: "server key" },
  ];
}

/**
 * Runs `step` on every file, then reports every file it failed on in one
 * message ("cannot read the server key certs/server.key: ..."), not only
 * whichever failed first.
 */
async function eachFile<T>(paths: CertificatePaths, step: (path: string) => Promise<T>): Promise<T[]> {
  const files = certificateFiles(paths);
  const outcomes = await Promise.allSettled(files.map((file) => step(file.path)));
  const failures = outcomes.flatMap((outcome, index) =>
    outcome.status === "rejected" ? [`cannot read the ${files[index]?.what} ${files[index]?.path}: ${(outcome.reason as Error).message}`] : [],
  );
  if (failures.length > 0) throw new Error(failures.join("; "));
  return outcomes.map((outcome) => (outcome as PromiseFulfilledResult<T>).value);
}

async function fileFingerprint(paths: CertificatePaths): Promise<string> {
  const stats = await eachFile(paths, (path) => stat(path));
  return stats.map((entry) => `${entry.ino}:${entry.size}:${entry.mtimeMs}`).join("|");
}

async function readMaterial(paths: CertificatePaths): Promise<CertificateMaterial> {
  const [ca, cert, key] = (await eachFile(paths, (path) => readFile(path))) as [Buffer, Buffer, Buffer];
  try {
    new X509Certificate(ca);
  } catch (error) {
    throw new Error(`${paths.caCertPath} (the client CA) is not a PEM certificate: ${(error as Error).message}`);
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`${paths.serverCertPath} (the server certificate) is not a PEM certificate: ${(error as Error).message}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new Error(`${paths.serverKeyPath} is not a PEM private key: ${(error as Error).message}`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new Error(`${paths.serverKeyPath} does not match the certificate ${paths.serverCertPath}`);
  }
  return { ca, cert, key };
}
