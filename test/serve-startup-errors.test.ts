import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runBooking } from "./support/cli-run.js";

let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "serve-errors-"));
  await writeFile(join(folder, "not-a-cert.pem"), "hello\n");
  const certs = await runBooking(["certs", "--dir", join(folder, "pki")], { cwd: folder, address: "" });
  if (certs.code !== 0) throw new Error(`booking certs failed: ${certs.stderr}`);
});

afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** `booking serve` with `args` and `env` in an empty folder. */
function serve(args: readonly string[], env: Record<string, string> = {}) {
  return runBooking(["serve", "--listen", "127.0.0.1:0", ...args], { cwd: folder, address: "", env });
}

describe("booking serve with a setting that cannot work", () => {
  it.each([
    ["an unknown --store", ["--store", "mysql://db/booking"], {}, '--store (BOOKING_STORE) must be "memory", "sqlite"'],
    ["an unknown BOOKING_STORE", [], { BOOKING_STORE: "bogus" }, 'got "bogus"'],
    ["a CA file that does not exist", ["--store", "memory", "--ca", "/nonexistent/ca.crt"], {}, "cannot read the client CA certificate /nonexistent/ca.crt: ENOENT"],
    [
      "a CA file that is no certificate",
      ["--store", "memory", "--ca", "not-a-cert.pem", "--cert", "pki/server.crt", "--key", "pki/server.key"],
      {},
      "not-a-cert.pem (the client CA) is not a PEM certificate",
    ],
    [
      "a server key that belongs to another certificate",
      ["--store", "memory", "--ca", "pki/ca.crt", "--cert", "pki/server.crt", "--key", "pki/alice.key"],
      {},
      "pki/alice.key does not match the certificate pki/server.crt",
    ],
    ["a switch variable that says neither yes nor no", ["--store", "memory"], { BOOKING_INSECURE: "maybe" }, 'BOOKING_INSECURE must be 1, true, yes or on'],
  ] as const)("exits 2 with one line naming the problem for %s, and no crash report", async (_case, args, env, named) => {
    const run = await serve(args, env);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    const lines = run.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^booking serve: /);
    expect(lines[0]).toContain(named);
  });
});
