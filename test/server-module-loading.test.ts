import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

/**
 * A server carries in its heap only the libraries its configuration uses:
 * every full collection marks the live heap again, and these packages
 * were a third of it (node-postgres about 3 MB, the X.509 library 3.5 MB,
 * grpc-health-check's protobufjs 2.3 MB).
 *
 * A fresh node process (this one has loaded everything) imports the
 * server's entry module as `booking serve` does, opens a store, makes sure
 * of a development PKI, and prints the npm packages Node loaded.
 */
const DIST = fileURLToPath(new URL("../dist/src/", import.meta.url));
const HEAVY = ["pg", "better-sqlite3", "better-sqlite3-13", "@peculiar/x509", "reflect-metadata", "protobufjs", "grpc-health-check"];
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "module-loading-"));
  dirs.push(dir);
  return dir;
}

/** Writes a development PKI into `dir` from another process, so that the measured one finds its files. */
function writePki(dir: string): void {
  const script = `const { ensureDevPki } = await import(${JSON.stringify(join(DIST, "pki/dev-pki.js"))});
    await ensureDevPki(${JSON.stringify(dir)});`;
  execFileSync(process.execPath, ["--input-type=module", "-e", script], { timeout: 60_000 });
}

/** The heavy packages a fresh process loads to open `store` and ensure the PKI in `certsDir`, as `booking serve` does. */
function heavyPackagesLoaded(store: string, certsDir: string): string[] {
  const script = `
    import { createRequire } from "node:module";
    await import(${JSON.stringify(join(DIST, "main.js"))});
    const { openStore } = await import(${JSON.stringify(join(DIST, "stores/open-store.js"))});
    const { ensureDevPki } = await import(${JSON.stringify(join(DIST, "pki/dev-pki.js"))});
    await ensureDevPki(${JSON.stringify(certsDir)});
    const store = await openStore(${JSON.stringify(store)});
    await store.close();
    const names = new Set();
    for (const path of Object.keys(createRequire(import.meta.url).cache)) {
      const match = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(path.split("\\\\").join("/"));
      if (match) names.add(match[1]);
    }
    process.stdout.write(JSON.stringify([...names]));
  `;
  const output = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  const loaded = JSON.parse(output) as string[];
  return HEAVY.filter((name) => loaded.includes(name));
}

describe("what a server loads", () => {
  it("on the memory store with its PKI in place: none of the store, certificate or health-check libraries", () => {
    const dir = tempDir();
    writePki(dir);
    expect(heavyPackagesLoaded("memory", dir)).toEqual([]);
  });

  it("on SQLite: the SQLite binding only", () => {
    const dir = tempDir();
    writePki(dir);
    const loaded = heavyPackagesLoaded(`sqlite:${join(dir, "booking.sqlite")}`, dir);
    expect(loaded.filter((name) => name !== "better-sqlite3" && name !== "better-sqlite3-13")).toEqual([]);
    expect(loaded.some((name) => name.startsWith("better-sqlite3"))).toBe(true);
  });

  it("loads the X.509 library when the development PKI has files to write", () => {
    expect(heavyPackagesLoaded("memory", tempDir())).toEqual(["@peculiar/x509", "reflect-metadata"]);
  });
});
