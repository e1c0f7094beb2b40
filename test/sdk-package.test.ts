import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeTestPki, type WrittenTestPki } from "./support/test-pki.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

/**
 * The SDK as an outsider gets it: `npm pack` the workspace, install the
 * tarball into an empty app from the registry, typecheck a program against
 * its declarations (strict, skipLibCheck off) and run it against a real
 * server. Needs the npm registry; installing takes a while.
 */

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const INSTALL_TIMEOUT_MS = 240_000;

/** Packages of the server that must never reach an SDK user. */
const SERVER_ONLY_PACKAGES = ["better-sqlite3", "pg", "pino", "prom-client", "@peculiar/x509", "async-mutex", "grpc-health-check"];

/**
 * The environment for child npm runs: ours, minus what `npm test` put there
 * about this repository (npm_package_*, npm_lifecycle_*, workspace and prefix
 * settings), which would make the child act on the repository instead of the app.
 */
function npmEnv(): NodeJS.ProcessEnv {
  const keep = /^npm_config_(registry|.*proxy|cafile|ca|strict_ssl|cache|userconfig)$/i;
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) || keep.test(key)));
}

async function npmRun(args: readonly string[], cwd: string): Promise<string> {
  const { stdout } = await run(npm, [...args], { cwd, env: npmEnv(), maxBuffer: 64 * 1024 * 1024, timeout: INSTALL_TIMEOUT_MS });
  return stdout;
}

/** The packages npm installed, from its hidden lockfile: "node_modules/x" paths. */
async function installedPackages(app: string): Promise<string[]> {
  const lock = JSON.parse(await readFile(join(app, "node_modules/.package-lock.json"), "utf8")) as {
    packages: Record<string, unknown>;
  };
  return Object.keys(lock.packages).filter((path) => path.includes("node_modules/"));
}

/** Disk usage of a directory in KiB, as `du -sk` reports it. */
async function diskKib(path: string): Promise<number> {
  const { stdout } = await run("du", ["-sk", path]);
  return Number(stdout.split(/\s/)[0]);
}

const APP_TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    strict: true,
    skipLibCheck: false,
    types: ["node"],
    rootDir: ".",
    outDir: "out",
  },
  files: ["app.ts"],
};

/** The outsider's program: book, be refused, list, through the package's public entry points only. */
const APP_SOURCE = `
import { BookSeatsRequestSchema, type BookSeatsResponse } from "@seat-booking/client/messages";
import {
  BOOKING_ERROR_REASONS,
  BookingError,
  createBookingClient,
  isBookingError,
  type BookingErrorReason,
} from "@seat-booking/client";

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(\`\${name} is not set\`);
  return value;
};

const client = createBookingClient({
  address: env("APP_ADDRESS"),
  ca: env("APP_CA"),
  cert: env("APP_CERT"),
  key: env("APP_KEY"),
});
try {
  const booked: BookSeatsResponse = await client.bookSeats({ seats: [7, 8] }, { deadlineMs: 5000 });
  let refusal: { code: string; reason: BookingErrorReason | string; seats: readonly number[]; instance: boolean } | undefined;
  try {
    await client.bookSeats({ seats: [8, 9] });
  } catch (error) {
    if (!isBookingError(error)) throw error;
    refusal = { code: error.codeName, reason: error.reason, seats: error.seats, instance: error instanceof BookingError };
  }
  const show = await client.showAvailable({});
  console.log(
    JSON.stringify({
      schema: BookSeatsRequestSchema.typeName,
      booked: { seats: booked.seats, owner: booked.owner, replayed: booked.replayed },
      refusal,
      available: show.availableSeats.length,
      total: show.totalSeats,
      knowsHolds: BOOKING_ERROR_REASONS.includes("SEAT_HELD"),
    }),
  );
} finally {
  client.close();
}
`;

let work: string;
let app: string;
let tarball: string;
let pki: WrittenTestPki;
let server: TestServer;
/** Filled by the install step: what the SDK alone brings. */
let sdkOnly: { packages: string[]; kib: number } | undefined;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "sdk-package-"));
  app = join(work, "app");
  pki = await writeTestPki(join(work, "certs"));
  server = await startTestServer({ pki: pki.pki });
});

afterAll(async () => {
  await server?.stop();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe("the @seat-booking/client package, installed by an outsider", () => {
  it("packs into a tarball with the SDK's files, two dependencies and no install scripts", { timeout: INSTALL_TIMEOUT_MS }, async () => {
    await npmRun(["pack", "--workspace", "@seat-booking/client", "--pack-destination", work, "--silent"], root);
    const packed = (await readdir(work)).filter((name) => name.endsWith(".tgz"));
    expect(packed).toHaveLength(1);
    tarball = join(work, packed[0] ?? "");

    const { stdout: listing } = await run("tar", ["-tzf", tarball]);
    const files = listing.split("\n").filter((line) => line !== "");
    expect(files).toContain("package/dist/client/index.js");
    expect(files).toContain("package/dist/client/index.d.ts");
    expect(files).toContain("package/README.md");
    // The server, the CLI and the tests stay home.
    expect(files.filter((file) => /^package\/dist\/(src|cli|bin|test|bench)\//.test(file) || file.endsWith(".ts") && !file.endsWith(".d.ts"))).toEqual([]);

    const { stdout: manifestText } = await run("tar", ["-xzOf", tarball, "package/package.json"]);
    const manifest = JSON.parse(manifestText) as { dependencies?: Record<string, string>; scripts?: Record<string, string> };
    expect(Object.keys(manifest.dependencies ?? {}).sort()).toEqual(["@bufbuild/protobuf", "@grpc/grpc-js"]);
    for (const hook of ["preinstall", "install", "postinstall", "prepare"]) {
      expect(manifest.scripts?.[hook], `install script "${hook}"`).toBeUndefined();
    }
  });

  it("installs without any of the server's packages", { timeout: INSTALL_TIMEOUT_MS }, async () => {
    expect(tarball, "the pack step ran").toBeDefined();
    await run("mkdir", ["-p", app]);
    await writeFile(join(app, "package.json"), JSON.stringify({ name: "outsider", private: true, type: "module" }));
    await npmRun(["install", tarball, "--no-audit", "--no-fund", "--loglevel=error"], app);

    const packages = await installedPackages(app);
    expect(packages).toContain("node_modules/@seat-booking/client");
    const leaked = packages.filter((path) => SERVER_ONLY_PACKAGES.some((name) => path === `node_modules/${name}` || path.endsWith(`/node_modules/${name}`)));
    expect(leaked).toEqual([]);
    sdkOnly = { packages, kib: await diskKib(join(app, "node_modules")) };
    // The figures README's "The SDK" section quotes; a jump here deserves a look.
    console.info(`SDK install: ${packages.length} packages (the SDK included), ${Math.round(sdkOnly.kib / 1024)} MB on disk`);
    expect(packages.length).toBeLessThan(60);
  });

  it("typechecks a strict program against its declarations (skipLibCheck off) and runs it against a real server", { timeout: INSTALL_TIMEOUT_MS }, async () => {
    expect(sdkOnly, "the install step ran").toBeDefined();
    await npmRun(["install", "--save-dev", "typescript@5.9.3", "@types/node@20.19.9", "--no-audit", "--no-fund", "--loglevel=error"], app);
    await writeFile(join(app, "tsconfig.json"), JSON.stringify(APP_TSCONFIG, null, 2));
    await writeFile(join(app, "app.ts"), APP_SOURCE);

    const tsc = await run(process.execPath, [join(app, "node_modules/typescript/bin/tsc"), "-p", app], { cwd: app }).catch(
      (error: { stdout?: string; stderr?: string }) => {
        throw new Error(`the outsider's program does not typecheck:\n${error.stdout ?? ""}${error.stderr ?? ""}`);
      },
    );
    expect(tsc.stdout).toBe("");

    const { stdout, stderr } = await run(process.execPath, [join(app, "out/app.js")], {
      cwd: app,
      env: {
        ...process.env,
        APP_ADDRESS: server.address,
        APP_CA: pki.paths.caCert,
        APP_CERT: pki.paths.clients.alice.cert,
        APP_KEY: pki.paths.clients.alice.key,
      },
    });
    expect(stderr).toBe("");
    expect(JSON.parse(stdout)).toEqual({
      schema: "booking.v1.BookSeatsRequest",
      booked: { seats: [7, 8], owner: "spiffe://seat-booking.dev/alice", replayed: false },
      refusal: { code: "ALREADY_EXISTS", reason: "SEAT_ALREADY_BOOKED", seats: [8], instance: true },
      available: 98,
      total: 100,
      knowsHolds: true,
    });
  });
});
