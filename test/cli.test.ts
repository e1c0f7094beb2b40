import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import { parseCliArguments, UsageError, type CliCommand } from "../cli/cli-arguments.js";
import { formatFailure } from "../cli/cli-output.js";
import { BookingError } from "../client/index.js";
import { CLI_PATH, startServerProcess, type ServerProcess } from "./support/server-process.js";
import { lines, runBooking, type Run } from "./support/cli-run.js";

const alice = "spiffe://seat-booking.dev/alice";

describe("parseCliArguments", () => {
  const client = (argv: readonly string[], env: Record<string, string> = {}) => {
    const command = parseCliArguments(argv, env);
    if (command.kind !== "client") throw new Error(`expected a client command, got ${command.kind}`);
    return command;
  };
  const usageError = (argv: readonly string[]): string => {
    expect(() => parseCliArguments(argv, {})).toThrow(UsageError);
    try {
      parseCliArguments(argv, {});
    } catch (error) {
      return (error as UsageError).message;
    }
    return "";
  };

  it("reads book and cancel subcommands with seats as arguments, lists and ranges", () => {
    expect(client(["book", "1", "2", "3"]).operations).toEqual([{ kind: "book", seats: [1, 2, 3] }]);
    expect(client(["book", "1,2,3"]).operations).toEqual([{ kind: "book", seats: [1, 2, 3] }]);
    expect(client(["cancel", "1,3-5", "8"]).operations).toEqual([{ kind: "cancel", seats: [1, 3, 4, 5, 8] }]);
    expect(client(["show"]).operations).toEqual([{ kind: "show" }]);
  });

  it("runs combined flags in the order book, cancel, show whatever order they are given in", () => {
    const expected = [
      { kind: "book", seats: [1, 2, 3] },
      { kind: "cancel", seats: [1, 2] },
      { kind: "show" },
    ];
    expect(client(["--book", "1,2,3", "--cancel", "1,2", "--show"]).operations).toEqual(expected);
    expect(client(["--show", "--cancel", "1,2", "--book", "1,2,3"]).operations).toEqual(expected);
    expect(client(["--book", "1", "2", "3", "--cancel", "1", "2", "--show"]).operations).toEqual(expected);
  });

  it("uses the development certificates in ./certs, or the certs directory, unless told otherwise", () => {
    expect(client(["show"]).connection).toEqual({
      address: "127.0.0.1:50051",
      caPath: join("certs", "ca.crt"),
      certPath: join("certs", "alice.crt"),
      keyPath: join("certs", "alice.key"),
    });
    expect(client(["show", "--as", "bob"], { BOOKING_CERTS_DIR: "/pki" }).connection).toMatchObject({
      caPath: "/pki/ca.crt",
      certPath: "/pki/bob.crt",
      keyPath: "/pki/bob.key",
    });
  });

  it("prefers flags to environment variables", () => {
    const env = { BOOKING_ADDRESS: "env:1", BOOKING_CA: "env-ca", BOOKING_CERT: "env-cert", BOOKING_KEY: "env-key" };
    expect(client(["show"], env).connection).toEqual({
      address: "env:1",
      caPath: "env-ca",
      certPath: "env-cert",
      keyPath: "env-key",
    });
    expect(client(["show", "--address", "flag:2", "--as", "admin"], env).connection).toEqual({
      address: "flag:2",
      caPath: "env-ca",
      certPath: join("certs", "admin.crt"),
      keyPath: join("certs", "admin.key"),
    });
  });

  it("reads show id, request id, deadline and json", () => {
    expect(client(["book", "1", "--show-id", "small", "--request-id", "r-1", "--deadline", "250", "--json"])).toMatchObject({
      showId: "small",
      requestId: "r-1",
      deadlineMs: 250,
      json: true,
    });
  });

  it("hands serve and certs their own arguments untouched", () => {
    expect(parseCliArguments(["serve", "--store", "memory", "--weird"], {})).toEqual({
      kind: "serve",
      argv: ["--store", "memory", "--weird"],
    } satisfies CliCommand);
    expect(parseCliArguments(["certs", "--dir", "x"], {})).toEqual({ kind: "certs", argv: ["--dir", "x"] });
    expect(parseCliArguments(["--help"], {})).toEqual({ kind: "help" });
    expect(parseCliArguments(["help"], {})).toEqual({ kind: "help" });
  });

  it("refuses broken seat lists, unknown flags and commands, and empty command lines", () => {
    expect(usageError(["book", "1-x"])).toContain('"1-x"');
    expect(usageError(["cancel", "5-1"])).toContain("reversed");
    expect(usageError(["book"])).toContain("no seats given");
    expect(usageError(["book", "1", "--frobnicate"])).toContain("--frobnicate");
    expect(usageError(["frobnicate"])).toBe('unknown command "frobnicate"');
    expect(usageError(["show", "7"])).toBe('unexpected argument "7"');
    expect(usageError([])).toContain("nothing to do");
    expect(usageError(["book", "1", "--deadline", "soon"])).toContain("--deadline");
  });

  it("refuses an address that is not HOST:PORT, from the flag or the environment, and empty --address, --show-id and --request-id", () => {
    const shape = '"host:port" (a name or IPv4 address, or [IPv6], and a port 1-65535) or a grpc target such as "dns:///host:port"';
    expect(usageError(["show", "--address", "127.0.0.1:abc"])).toBe(`--address must be ${shape}, got "127.0.0.1:abc"`);
    expect(usageError(["show", "--address", ":50051"])).toBe(`--address must be ${shape}, got ":50051"`);
    expect(() => parseCliArguments(["show"], { BOOKING_ADDRESS: "nohost" })).toThrow(new UsageError(`BOOKING_ADDRESS must be ${shape}, got "nohost"`));
    expect(usageError(["show", "--address", ""])).toBe("--address is empty; give HOST:PORT, or leave it out for the default");
    expect(usageError(["book", "1", "--show-id", ""])).toBe("--show-id is empty; give a value, or leave it out");
    expect(usageError(["book", "1", "--request-id", ""])).toBe("--request-id is empty; give a value, or leave it out");
    expect(parseCliArguments(["show", "--address", "[::1]:50051"], {})).toMatchObject({ connection: { address: "[::1]:50051" } });
  });

  it("refuses --as together with --cert, and one request id for two requests", () => {
    expect(usageError(["show", "--as", "bob", "--cert", "x.crt"])).toContain("--as");
    expect(usageError(["--book", "1", "--cancel", "2", "--request-id", "r"])).toContain("--request-id");
  });
});


let dir: string;
let server: ServerProcess;

/** Runs the built `booking` binary in `dir`, against the test server unless args say otherwise. */
function booking(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return runBooking(args, { cwd: dir, address: server.address, env });
}


/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

beforeAll(async () => {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run "npm run build" first`);
  dir = await mkdtemp(join(tmpdir(), "booking-cli-"));
  const certs = await new Promise<Run>((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, "certs", "--dir", join(dir, "certs")], { stdio: "pipe" });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout: "", stderr }));
  });
  if (certs.code !== 0) throw new Error(`booking certs failed: ${certs.stderr}`);
  server = await startServerProcess(
    ["--store", "memory", "--listen", "127.0.0.1:0", "--certs-dir", join(dir, "certs"), "--shows", "main:100,small:10"],
    { cwd: dir },
  );
});

afterAll(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("formatFailure's advice on ADMIN_ONLY", () => {
  const refusal = new BookingError(status.PERMISSION_DENIED, "only an admin may create a show; spiffe://x/admin is not one", {
    reason: "ADMIN_ONLY",
  });
  const context = { address: "127.0.0.1:50051", deadlineMs: 5000 };

  it("tells a caller with another certificate to use an admin one", () => {
    expect(formatFailure("shows create", refusal, { ...context, certPath: "certs/alice.crt" }, false)).toBe(
      "booking: shows create refused (PERMISSION_DENIED): only an admin may create a show; spiffe://x/admin is not one (run it with an admin certificate, e.g. --as admin)\n",
    );
  });

  it("says the database, not the server, is out of reach on STORE_UNAVAILABLE, and names the request id that settles the change", () => {
    const outage = new BookingError(status.UNAVAILABLE, "the booking store is unreachable; retry with the same request_id", {
      reason: "STORE_UNAVAILABLE",
      requestId: "0193a5c4-0000-7000-8000-000000000001",
      attempts: 4,
    });
    expect(formatFailure("book", outage, context, false)).toBe(
      "booking: book: the server at 127.0.0.1:50051 cannot reach its database (UNAVAILABLE after 4 attempts): " +
        "the booking store is unreachable; retry with the same request_id; to settle it, run the same command with --request-id 0193a5c4-0000-7000-8000-000000000001\n",
    );
  });

  it("does not tell a caller already using admin.crt to pass --as admin: the server's --admins is what lacks it", () => {
    expect(formatFailure("shows create", refusal, { ...context, certPath: "pki/admin.crt" }, false)).toBe(
      "booking: shows create refused (PERMISSION_DENIED): only an admin may create a show; spiffe://x/admin is not one (pki/admin.crt is not an admin on this server: its serve --admins must name that certificate's identity)\n",
    );
  });
});

describe("booking CLI", () => {
  it("books seats given as arguments with the certificates in ./certs and says what it booked", async () => {
    const run = await booking(["book", "1", "2", "3"]);
    expect(run).toEqual({ code: 0, stdout: `booked seats 1, 2, 3 in show "main" for ${alice}\n`, stderr: "" });
  });

  it("books seats given as comma lists and ranges", async () => {
    const run = await booking(["book", "4,5", "7-9"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`booked seats 4, 5, 7, 8, 9 in show "main" for ${alice}\n`);
  });

  it("cancels seats and shows the free seats of a show compressed into ranges", async () => {
    expect((await booking(["book", "1-4", "--show-id", "small"])).code).toBe(0);
    const cancelled = await booking(["cancel", "2,3", "--show-id", "small"]);
    expect(cancelled).toEqual({ code: 0, stdout: 'cancelled seats 2, 3 in show "small"\n', stderr: "" });

    const shown = await booking(["show", "--show-id", "small"]);
    expect(shown).toEqual({ code: 0, stdout: 'show "small": 8 of 10 seats available\navailable: 2, 3, 5-10\n', stderr: "" });
  });

  it("runs --book, --cancel and --show together in that order, whatever order they are written in", async () => {
    const run = await booking(["--show", "--cancel", "20,21", "--book", "20-22"]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe("");
    const [booked, cancelled, shown, available, ...rest] = lines(run.stdout);
    expect(booked).toBe(`booked seats 20, 21, 22 in show "main" for ${alice}`);
    expect(cancelled).toBe('cancelled seats 20, 21 in show "main"');
    expect(shown).toMatch(/^show "main": \d+ of 100 seats available$/);
    expect(available).toMatch(/^available: .*-21, 23-100$/); // 20 and 21 free again, 22 booked
    expect(rest).toEqual([]);
  });

  it("runs as an executable through its #! line, as `npx booking` in the repository starts it", async () => {
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("BOOKING_")));
    // npm runs the package's own bin file itself: without the executable bit
    // (tsc writes none; the build adds it) that is "Permission denied".
    // The #! line finds node on PATH: this test's node first.
    const child = spawn(CLI_PATH, ["show", "--show-id", "small"], {
      cwd: dir,
      env: { ...inherited, BOOKING_ADDRESS: server.address, PATH: `${dirname(process.execPath)}:${process.env["PATH"] ?? ""}` },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", resolve);
    });
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toMatch(/^show "small": \d+ of 10 seats available\n/);
  });

  it("exits quietly with 0 when its output pipe closes, as `booking ... | head -1` does", async () => {
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("BOOKING_")));
    // Three operations, three writes with a round trip between them: the
    // reader goes away after the first, so the next write meets a closed pipe.
    const child = spawn(process.execPath, [CLI_PATH, "--book", "95", "--cancel", "95", "--show"], {
      cwd: dir,
      env: { ...inherited, BOOKING_ADDRESS: server.address },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let first = "";
    let stderr = "";
    child.stdout.once("data", (chunk: Buffer) => {
      first = chunk.toString();
      child.stdout.destroy();
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", resolve);
    });
    expect(first).toMatch(/^booked seat 95 in show "main"/);
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
  });

  it("stops combined operations at the first failure", async () => {
    const run = await booking(["--book", "22", "--show"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(lines(run.stderr)).toHaveLength(1);
  });

  it("prints one JSON object per operation with --json", async () => {
    const run = await booking(["--book", "30,31", "--show", "--json"]);
    expect(run.code).toBe(0);
    const [booked, shown, ...rest] = lines(run.stdout).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(booked).toEqual({ operation: "book", showId: "main", seats: [30, 31], owner: alice, replayed: false });
    expect(shown).toMatchObject({ operation: "show", showId: "main", totalSeats: 100 });
    const available = shown?.["availableSeats"] as number[];
    expect(available).toContain(29);
    expect(available).not.toContain(30);
    expect(shown?.["bookedCount"]).toBe(100 - available.length);
    expect(rest).toEqual([]);
  });

  it("fails with exit code 1 and one stderr line when a seat is already booked", async () => {
    const run = await booking(["book", "3", "50"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toMatch(/^booking: book refused \(ALREADY_EXISTS\): .*\b3\b.*\n$/);
    expect(run.stderr).not.toMatch(/\b50\b/);
  });

  it("reports a refusal as one JSON line on stderr with --json", async () => {
    const run = await booking(["book", "3", "--json"]);
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toHaveLength(1);
    const { error } = JSON.parse(run.stderr) as { error: Record<string, unknown> };
    expect(error).toMatchObject({ operation: "book", code: "ALREADY_EXISTS", reason: "SEAT_ALREADY_BOOKED", showId: "main", seats: [3] });
    expect(error["message"]).toEqual(expect.stringContaining("3"));
  });

  it("refuses to let bob cancel alice's seat (exit code 1), but lets the admin", async () => {
    expect((await booking(["book", "60"])).code).toBe(0);

    const bob = await booking(["cancel", "60", "--as", "bob"]);
    expect(bob.code).toBe(1);
    expect(lines(bob.stderr)).toHaveLength(1);
    expect(bob.stderr).toMatch(/^booking: cancel refused \(PERMISSION_DENIED\): .*\b60\b/);

    const admin = await booking(["cancel", "60", "--as", "admin"]);
    expect(admin).toEqual({ code: 0, stdout: 'cancelled seat 60 in show "main"\n', stderr: "" });
  });

  it("replays a request sent again with the same --request-id", async () => {
    const first = await booking(["book", "70", "--request-id", "cli-test-70"]);
    const again = await booking(["book", "70", "--request-id", "cli-test-70"]);
    expect(first.stdout).toBe(`booked seat 70 in show "main" for ${alice}\n`);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`booked seat 70 in show "main" for ${alice} (replayed: the server had already done this request)\n`);
  });

  it("leaves seat 0 for the server to refuse (exit code 1, not a usage error)", async () => {
    const run = await booking(["book", "0"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^booking: book refused \(INVALID_ARGUMENT\): /);
  });

  it("exits with code 2 and one stderr line for broken seat syntax, before connecting", async () => {
    const unreachable = `127.0.0.1:${await closedPort()}`;
    for (const args of [["book", "1-x"], ["cancel", "5-1"], ["book", "--frobnicate", "1"], ["book"]]) {
      const run = await booking([...args, "--address", unreachable]);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe("");
      expect(lines(run.stderr)).toHaveLength(1);
      expect(run.stderr).toMatch(/^booking: .*\(see booking --help\)\n$/);
    }
  });

  it("exits with code 2 and one stderr line when nothing listens at the address", async () => {
    const address = `127.0.0.1:${await closedPort()}`;
    const run = await booking(["book", "1", "--address", address, "--deadline", "1000"]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toContain(`cannot reach the server at ${address} (UNAVAILABLE`);
    // The booking may or may not have happened: the line names the id that settles it.
    expect(run.stderr).toMatch(/; to settle it, run the same command with --request-id [0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}\n$/);
  });

  it("exits with code 2 and names the missing file when the certificates are not there", async () => {
    const run = await booking(["show", "--certs-dir", "nowhere"]);
    expect(run.code).toBe(2);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toContain(join("nowhere", "ca.crt"));
    expect(run.stderr).toContain("booking certs");
  });

  it("prints its usage with --help", async () => {
    const run = await booking(["--help"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("usage: booking <command>");
    expect(run.stdout).toContain("--book");
  });
});
