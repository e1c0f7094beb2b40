import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SeatMap, type WatchChange, type WatchUpdate } from "../client/index.js";
import { parseCliArguments } from "../cli/cli-arguments.js";
import { changeText, watchUpdateText } from "../cli/watch-text.js";
import { CLI_PATH, startServerProcess, type ServerProcess } from "./support/server-process.js";
import { writeTestPki } from "./support/test-pki.js";
import { cliEnvironment, runBooking, type Run } from "./support/cli-run.js";
import { usageErrorOf } from "./support/cli-usage-error.js";

const usageError = usageErrorOf;

describe("parseCliArguments for watch", () => {
  it("reads watch with --show-id and --json", () => {
    expect(parseCliArguments(["watch"], {})).toMatchObject({ kind: "client", operations: [{ kind: "watch" }], showId: "", json: false });
    expect(parseCliArguments(["watch", "--show-id", "gala", "--json"], {})).toMatchObject({ operations: [{ kind: "watch" }], showId: "gala", json: true });
    expect(parseCliArguments(["-show-id", "gala", "watch", "--as", "bob"], {})).toMatchObject({ operations: [{ kind: "watch" }], showId: "gala" });
  });

  it("refuses arguments and options that watch would ignore", () => {
    expect(usageError(["watch", "main"])).toContain("watch takes no arguments");
    expect(usageError(["watch", "--deadline", "100"])).toContain("--deadline does not apply to watch");
    expect(usageError(["watch", "--request-id", "r-1"])).toContain("--request-id does not apply to watch");
    expect(usageError(["watch", "--ttl", "5m"])).toContain("--ttl applies to hold, extend");
    expect(usageError(["watch", "--book", "1"])).toContain("runs alone");
  });
});

describe("watch output", () => {
  const map = SeatMap.fromSnapshot({
    showId: "main",
    version: 11n,
    totalSeats: 100,
    state: "open",
    bookedCount: 2,
    heldCount: 1,
    freeRanges: [{ first: 4, last: 100 }],
    heldSeats: [3],
  });
  const snapshot: WatchUpdate = { ...map, kind: "snapshot", showId: "main", version: 11n, totalSeats: 100, state: "open", bookedCount: 2, heldCount: 1, freeRanges: [{ first: 4, last: 100 }], heldSeats: [3], resumeTooOld: false, seatMap: map };
  const change = (version: bigint, kind: WatchChange["kind"], seats: number[] = [], totalSeats?: number): WatchChange => ({
    version,
    kind,
    seats,
    ...(totalSeats === undefined ? {} : { totalSeats }),
    commitTime: new Date("2026-05-01T12:00:00Z"),
  });

  it("describes the snapshot in one line, and each change in one line with its version", () => {
    expect(watchUpdateText(snapshot, false)).toBe('show "main" v11: 97 of 100 free, 1 held\n');
    expect([
      change(12n, "booked", [4, 5]),
      change(13n, "hold-ended", [7, 8, 9]),
      change(14n, "held", [20]),
      change(15n, "released", [4]),
      change(16n, "resized", [], 120),
      change(17n, "closed"),
    ].map(changeText)).toEqual(["v12 booked 4, 5", "v13 hold ended 7-9", "v14 held 20", "v15 released 4", "v16 resized to 120 seats", "v17 closed"]);
  });

  it("writes one JSON object per line, versions as strings", () => {
    expect(JSON.parse(watchUpdateText(snapshot, true))).toEqual({
      operation: "watch",
      event: "snapshot",
      showId: "main",
      version: "11",
      totalSeats: 100,
      freeCount: 97,
      heldCount: 1,
      bookedCount: 2,
      state: "open",
      freeRanges: [{ first: 4, last: 100 }],
      heldSeats: [3],
      resumeTooOld: false,
    });
    const changes: WatchUpdate = { kind: "changes", showId: "main", version: 13n, changes: [change(12n, "booked", [4, 5]), change(13n, "resized", [], 120)], resumed: false, seatMap: map };
    expect(watchUpdateText(changes, true).trimEnd().split("\n").map((line) => JSON.parse(line) as unknown)).toEqual([
      { operation: "watch", event: "change", showId: "main", version: "12", kind: "booked", seats: [4, 5], commitTime: "2026-05-01T12:00:00.000Z" },
      { operation: "watch", event: "change", showId: "main", version: "13", kind: "resized", seats: [], totalSeats: 120, commitTime: "2026-05-01T12:00:00.000Z" },
    ]);
  });
});


/** A running `booking watch`, read line by line. */
interface WatchProcess {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  /** The exit code, or the signal's name. */
  readonly exited: Promise<number | string>;
  /** The first line (already read or still to come) of `stream` that matches; rejects if the process exits first. */
  line(stream: "stdout" | "stderr", pattern: RegExp): Promise<RegExpExecArray>;
}

let dir: string;
let server: ServerProcess;
/** Every watch started, so that one left running by a failed test is ended with the file. */
const watchers: ChildProcess[] = [];

function environment(): Record<string, string> {
  return cliEnvironment({ BOOKING_ADDRESS: server.address });
}

/** Runs the built `booking` binary in `dir` against the test server, to its end. */
function booking(args: readonly string[]): Promise<Run> {
  return runBooking(args, { cwd: dir, address: server.address });
}

async function bookingOk(args: readonly string[]): Promise<string> {
  const run = await booking(args);
  if (run.code !== 0) throw new Error(`booking ${args.join(" ")} exited ${run.code}: ${run.stderr}`);
  return run.stdout;
}

/** Starts `booking watch ARGS` in `dir` against the test server. */
function watch(args: readonly string[]): WatchProcess {
  const child = spawn(process.execPath, [CLI_PATH, "watch", ...args], { cwd: dir, env: environment(), stdio: ["ignore", "pipe", "pipe"] });
  watchers.push(child);
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const waiters: { stream: "stdout" | "stderr"; pattern: RegExp; resolve: (match: RegExpExecArray) => void; reject: (error: Error) => void }[] = [];
  let ended = false;
  const check = () => {
    for (const waiter of [...waiters]) {
      const match = lines[waiter.stream].map((text) => waiter.pattern.exec(text)).find((found) => found !== null);
      if (match !== undefined && match !== null) waiter.resolve(match);
      else if (ended) waiter.reject(new Error(`booking watch ended without a ${waiter.stream} line matching ${waiter.pattern}; stdout: ${lines.stdout.join(" | ")}; stderr: ${lines.stderr.join(" | ")}`));
      else continue;
      waiters.splice(waiters.indexOf(waiter), 1);
    }
  };
  for (const stream of ["stdout", "stderr"] as const) {
    createInterface({ input: child[stream] }).on("line", (text) => {
      lines[stream].push(text);
      check();
    });
  }
  const exited = new Promise<number | string>((resolve) =>
    child.once("close", (code, signal) => {
      ended = true;
      check();
      resolve(code ?? signal ?? "unknown");
    }),
  );
  return {
    child,
    stdout: lines.stdout,
    stderr: lines.stderr,
    exited,
    line: (stream, pattern) =>
      new Promise((resolve, reject) => {
        waiters.push({ stream, pattern, resolve, reject });
        check();
      }),
  };
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

const serve = (listen: string) =>
  startServerProcess(
    ["--store", `sqlite:${join(dir, "booking.sqlite")}`, "--listen", listen, "--certs-dir", join(dir, "certs"), "--shows", "main:100,small:10"],
    { cwd: dir },
  );

beforeAll(async () => {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run "npm run build" first`);
  dir = await mkdtemp(join(tmpdir(), "booking-cli-watch-"));
  await writeTestPki(join(dir, "certs"));
  server = await serve("127.0.0.1:0");
});

afterAll(async () => {
  for (const child of watchers) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("booking watch", () => {
  it("prints the snapshot, then a line per booking, hold, release and cancel as it happens; Ctrl-C exits 0", async () => {
    await bookingOk(["book", "1", "2"]);
    const watching = watch([]);
    const [, version] = await watching.line("stdout", /^show "main" v(\d+): 98 of 100 free, 0 held$/);
    const v = Number(version);
    await bookingOk(["book", "4", "5"]);
    await watching.line("stdout", new RegExp(`^v${v + 1} booked 4, 5$`));
    const held = await bookingOk(["hold", "7-9"]);
    await watching.line("stdout", new RegExp(`^v${v + 2} held 7-9$`));
    await bookingOk(["release", /hold id: (\S+)/.exec(held)?.[1] ?? "missing"]);
    await watching.line("stdout", new RegExp(`^v${v + 3} hold ended 7-9$`));
    await bookingOk(["cancel", "4"]);
    await watching.line("stdout", new RegExp(`^v${v + 4} released 4$`));

    watching.child.kill("SIGINT");
    expect(await watching.exited).toBe(0);
    expect(watching.stdout).toHaveLength(5);
    expect(watching.stderr).toEqual([]);
  });

  it("prints JSON lines with --json", async () => {
    const watching = watch(["--json", "--show-id", "small"]);
    const [first] = await watching.line("stdout", /^\{.*"event":"snapshot".*\}$/);
    const snapshot = JSON.parse(first) as { version: string; totalSeats: number };
    expect(snapshot).toMatchObject({ operation: "watch", showId: "small", totalSeats: 10, state: "open", resumeTooOld: false });
    await bookingOk(["book", "3", "--show-id", "small"]);
    const [line] = await watching.line("stdout", /^\{.*"event":"change".*\}$/);
    expect(JSON.parse(line)).toMatchObject({ operation: "watch", event: "change", showId: "small", version: String(BigInt(snapshot.version) + 1n), kind: "booked", seats: [3] });
    watching.child.kill("SIGINT");
    expect(await watching.exited).toBe(0);
  });

  it("exits 1 naming the refusal for an unknown show, as a JSON error with --json", async () => {
    const plain = watch(["--show-id", "no-such-show"]);
    expect(await plain.exited).toBe(1);
    expect(plain.stderr.join("\n")).toMatch(/^booking: watch refused \(NOT_FOUND\): show "no-such-show"/);
    const json = watch(["--show-id", "no-such-show", "--json"]);
    expect(await json.exited).toBe(1);
    expect(JSON.parse(json.stderr[0] ?? "")).toMatchObject({ error: { operation: "watch", code: "NOT_FOUND", reason: "SHOW_NOT_FOUND" } });
  });

  it("exits 2 when no server ever answers, after as many attempts as a single call", async () => {
    const watching = watch(["--address", `127.0.0.1:${await closedPort()}`]);
    expect(await watching.exited).toBe(2);
    expect(watching.stderr.join("\n")).toMatch(/^booking: watch: cannot reach the server at 127\.0\.0\.1:\d+ \(UNAVAILABLE after 4 attempts\)/);
  });

  it("resumes after the server restarts, says so on stderr, and misses nothing", async () => {
    const watching = watch([]);
    const [, version] = await watching.line("stdout", /^show "main" v(\d+): /);
    const v = Number(version);
    await bookingOk(["book", "30"]);
    await watching.line("stdout", new RegExp(`^v${v + 1} booked 30$`));

    const address = server.address;
    await server.stop("SIGTERM");
    await watching.line("stderr", new RegExp(`^booking: watch: the stream ended \\(UNAVAILABLE: .*\\); reconnecting to ${address} to resume after v${v + 1}$`));
    server = await serve(address);
    await watching.line("stderr", new RegExp(`^booking: watch: reconnected to ${address}, resuming after v${v + 1}$`));
    await bookingOk(["book", "31", "32"]);
    await watching.line("stdout", new RegExp(`^v${v + 2} booked 31, 32$`));

    watching.child.kill("SIGINT");
    expect(await watching.exited).toBe(0);
    expect(watching.stdout.slice(1)).toEqual([`v${v + 1} booked 30`, `v${v + 2} booked 31, 32`]);
  });
});
