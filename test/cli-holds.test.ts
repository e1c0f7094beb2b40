import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBookingClient, type BookingClient } from "../client/index.js";
import { parseCliArguments } from "../cli/cli-arguments.js";
import { formatDuration, parseDuration } from "../cli/cli-duration.js";
import { CLI_PATH } from "./support/server-process.js";
import { DEV_PRINCIPALS, writeTestPki } from "./support/test-pki.js";
import { startTestServer, type TestServer } from "./support/test-server.js";
import { lines, runBooking, type Run } from "./support/cli-run.js";
import { usageErrorOf } from "./support/cli-usage-error.js";

const alice = DEV_PRINCIPALS.alice;

function client(argv: readonly string[]) {
  const command = parseCliArguments(argv, {});
  if (command.kind !== "client") throw new Error(`expected a client command, got ${command.kind}`);
  return command;
}

const usageError = usageErrorOf;

describe("durations on the command line", () => {
  it("reads Go-style durations into whole milliseconds", () => {
    expect(parseDuration("90s")).toBe(90_000);
    expect(parseDuration("10m")).toBe(600_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("1500ms")).toBe(1500);
    expect(parseDuration("1.5m")).toBe(90_000);
    expect(parseDuration("1.1s")).toBe(1100);
    expect(parseDuration("2m30s500ms")).toBe(150_500);
  });

  it("refuses bare numbers, unknown units and fractions of a millisecond", () => {
    for (const text of ["10", "", "10x", "m", "1h-5m", "1 m", "0.5ms", "-5s"]) {
      expect(() => parseDuration(text), text).toThrow(/is not a (duration|whole number of milliseconds)/);
    }
  });

  it("writes durations back to the second, the way it reads them", () => {
    expect([600_000, 598_400, 5_400_000, 45_000, 400, -3000].map(formatDuration)).toEqual(["10m", "9m58s", "1h30m", "45s", "0s", "0s"]);
  });
});

describe("parseCliArguments for holds and shows", () => {
  it("reads hold with seats, --ttl and --show-id, and the hold-id commands", () => {
    expect(client(["hold", "5-8", "--ttl", "10m", "--show-id", "small"])).toMatchObject({
      operations: [{ kind: "hold", seats: [5, 6, 7, 8], ttlMs: 600_000 }],
      showId: "small",
    });
    expect(client(["hold", "1", "2"]).operations).toEqual([{ kind: "hold", seats: [1, 2], ttlMs: undefined }]);
    expect(client(["extend", "abc", "--ttl", "5m"]).operations).toEqual([{ kind: "extend", holdId: "abc", ttlMs: 300_000 }]);
    expect(client(["confirm", "abc"]).operations).toEqual([{ kind: "confirm", holdId: "abc" }]);
    expect(client(["release", "abc", "--request-id", "r-1"])).toMatchObject({ operations: [{ kind: "release", holdId: "abc" }], requestId: "r-1" });
    expect(client(["hold-info", "abc", "--json"])).toMatchObject({ operations: [{ kind: "hold-info", holdId: "abc" }], json: true });
  });

  it("takes a hold id that starts with a dash as the id, not as an option", () => {
    expect(client(["confirm", "-x3FvZ_q9AbCdEfGh1JkLm"]).operations).toEqual([{ kind: "confirm", holdId: "-x3FvZ_q9AbCdEfGh1JkLm" }]);
    expect(client(["--as", "bob", "release", "--json-ish_id00000000", "--json"])).toMatchObject({
      operations: [{ kind: "release", holdId: "--json-ish_id00000000" }],
      json: true,
    });
    expect(client(["-json", "extend", "-Q", "-ttl", "5m"]).operations).toEqual([{ kind: "extend", holdId: "-Q", ttlMs: 300_000 }]);
    // A word that names an option is never taken for the id.
    expect(usageError(["confirm", "--json"])).toContain("confirm takes one hold id");
    expect(parseCliArguments(["hold-info", "-h"], {})).toEqual({ kind: "help" });
  });

  it("reads shows and its create, close and resize forms", () => {
    expect(client(["shows"]).operations).toEqual([{ kind: "shows" }]);
    expect(client(["shows", "create", "gala", "120", "--name", "Gala night", "--as", "admin"]).operations).toEqual([
      { kind: "shows create", showId: "gala", totalSeats: 120, displayName: "Gala night" },
    ]);
    expect(client(["shows", "create", "gala", "120"]).operations).toEqual([
      { kind: "shows create", showId: "gala", totalSeats: 120, displayName: "" },
    ]);
    expect(client(["shows", "close", "gala"]).operations).toEqual([{ kind: "shows close", showId: "gala" }]);
    expect(client(["shows", "resize", "gala", "80"]).operations).toEqual([{ kind: "shows resize", showId: "gala", totalSeats: 80 }]);
  });

  it("refuses missing or extra arguments, bad seat counts and durations, and unknown shows subcommands", () => {
    expect(usageError(["confirm"])).toBe("confirm takes one hold id, as printed by booking hold: booking confirm HOLD_ID");
    expect(usageError(["release", "a", "b"])).toContain("release takes one hold id");
    expect(usageError(["hold"])).toContain("hold: no seats given");
    expect(usageError(["hold", "1", "--ttl", "10"])).toBe('--ttl: "10" is not a duration (expected e.g. 90s, 10m, 1h30m or 1500ms)');
    expect(usageError(["shows", "create", "gala"])).toBe("shows create takes ID SEATS, e.g. booking shows create gala 120");
    expect(usageError(["shows", "close"])).toBe("shows close takes ID, e.g. booking shows close gala");
    expect(usageError(["shows", "resize", "gala", "many"])).toBe('SEATS is the number of seats, a whole number from 1 (e.g. 120), got "many"');
    // Beyond what the protocol carries, and zero, are refused here, not by a serialization failure or the server.
    expect(usageError(["shows", "create", "gala", "99999999999"])).toBe('SEATS is the number of seats, a whole number from 1 (e.g. 120), got "99999999999"');
    expect(usageError(["shows", "resize", "gala", "0"])).toBe('SEATS is the number of seats, a whole number from 1 (e.g. 120), got "0"');
    expect(usageError(["shows", "delete", "gala"])).toContain('unknown command "shows delete"');
  });

  it("refuses options the command would ignore, and holds combined with other operations", () => {
    expect(usageError(["book", "1", "--ttl", "5m"])).toBe("--ttl applies to hold, extend, not to book");
    expect(usageError(["hold", "1", "--name", "x"])).toBe("--name applies to shows create, not to hold");
    expect(usageError(["confirm", "abc", "--show-id", "small"])).toBe("--show-id applies to book, cancel, show, hold, watch, not to confirm");
    expect(usageError(["hold", "1", "--book", "2"])).toBe("hold runs alone; it cannot be combined with --book, --cancel or --show");
    expect(usageError(["--show", "hold", "1"])).toBe("hold runs alone; it cannot be combined with --book, --cancel or --show");
  });

  it("reads the seed's single-dash spelling like the double-dash one, seats space-separated until the next flag", () => {
    const expected = client(["--book", "1,2,3", "--cancel", "1,2", "--show"]).operations;
    expect(client(["-book", "1", "2", "3", "-cancel", "1,2", "-show"]).operations).toEqual(expected);
    expect(client(["-book=1,2,3", "-cancel", "1", "2", "-show"]).operations).toEqual(expected);
    expect(client(["-show", "-show-id=small", "-json", "-as", "bob", "-deadline", "250"])).toMatchObject({
      operations: [{ kind: "show" }],
      showId: "small",
      json: true,
      deadlineMs: 250,
      connection: { certPath: join("certs", "bob.crt") },
    });
    expect(client(["hold", "4", "-ttl", "90s"]).operations).toEqual([{ kind: "hold", seats: [4], ttlMs: 90_000 }]);
    expect(parseCliArguments(["-h"], {})).toEqual({ kind: "help" });
    expect(parseCliArguments(["-help"], {})).toEqual({ kind: "help" });
    expect(usageError(["-bok", "1"])).toBe('unknown option "-bok"');
    // The value of a string option is never rewritten, even when it looks like a flag.
    expect(client(["shows", "create", "gala", "5", "-name=-show"]).operations).toEqual([
      { kind: "shows create", showId: "gala", totalSeats: 5, displayName: "-show" },
    ]);
  });
});


const MANY_SHOWS = 105; // more than the server's default page of 100

let dir: string;
let server: TestServer;
let admin: BookingClient;

/** Runs the built `booking` binary in `dir` (certificates in ./certs), against the test server unless args say otherwise. */
function booking(args: readonly string[]): Promise<Run> {
  return runBooking(args, { cwd: dir, address: server.address });
}


function jsonLine(text: string): Record<string, unknown> {
  expect(lines(text)).toHaveLength(1);
  return JSON.parse(text) as Record<string, unknown>;
}

/** The hold id of a successful `booking hold` (text output). */
function holdIdOf(run: Run): string {
  expect(run.code).toBe(0);
  const id = /^hold id: (\S+)$/m.exec(run.stdout)?.[1];
  if (id === undefined) throw new Error(`no hold id in ${JSON.stringify(run.stdout)}`);
  return id;
}

async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

const ISO = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ";

beforeAll(async () => {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run "npm run build" first`);
  dir = await mkdtemp(join(tmpdir(), "booking-cli-holds-"));
  const { pki } = await writeTestPki(join(dir, "certs"));
  server = await startTestServer({ pki });
  admin = createBookingClient({ address: server.address, ca: pki.caCert, cert: pki.clients.admin.cert, key: pki.clients.admin.key });
  for (let index = 0; index < MANY_SHOWS; index++) {
    await admin.createShow({ showId: `extra-${String(index).padStart(3, "0")}`, totalSeats: 2 });
  }
});

afterAll(async () => {
  admin?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("booking CLI holds", () => {
  it("holds seats and prints who holds them until when, and the hold id on a line of its own", async () => {
    const run = await booking(["hold", "5-8", "--ttl", "10m"]);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe("");
    const [held, id, ...rest] = lines(run.stdout);
    expect(held).toMatch(new RegExp(`^held seats 5, 6, 7, 8 in show "main" for ${alice} until ${ISO} \\(in (10m|9m59s)\\)$`));
    expect(id).toMatch(/^hold id: [A-Za-z0-9_-]{22}$/);
    expect(rest).toEqual([]);
    expect((await booking(["show"])).stdout).toContain("available: 1-4, 9-100");
  });

  it("reads, extends and confirms a hold by its id", async () => {
    const holdId = holdIdOf(await booking(["hold", "10", "11", "--ttl", "90s"]));
    const info = await booking(["hold-info", holdId]);
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(
      new RegExp(`^hold ${holdId}: seats 10, 11 in show "main" for ${alice}, active until ${ISO} \\(in (1m30s|1m29s)\\)\\n$`),
    );

    const extended = await booking(["extend", holdId, "--ttl", "5m"]);
    expect(extended.code).toBe(0);
    expect(extended.stdout).toMatch(new RegExp(`^extended hold ${holdId}: seats 10, 11 in show "main" held until ${ISO} \\(in (5m|4m59s)\\)\\n$`));

    const confirmed = await booking(["confirm", holdId]);
    expect(confirmed).toEqual({ code: 0, stdout: `booked seats 10, 11 in show "main" for ${alice} (hold ${holdId} confirmed)\n`, stderr: "" });
    expect((await booking(["hold-info", holdId])).stdout).toBe(
      `hold ${holdId}: seats 10, 11 in show "main" for ${alice}, confirmed (the seats are booked)\n`,
    );
  });

  it("releases a hold, and refuses to release it twice with exit code 1", async () => {
    const holdId = holdIdOf(await booking(["hold", "12"]));
    expect(await booking(["release", holdId])).toEqual({
      code: 0,
      stdout: `released hold ${holdId}: seat 12 in show "main" is free again\n`,
      stderr: "",
    });
    const again = await booking(["release", holdId]);
    expect(again).toEqual({
      code: 1,
      stdout: "",
      stderr: `booking: release refused (FAILED_PRECONDITION): hold ${holdId} was released\n`,
    });
  });

  it("prints the hold and the confirmation as JSON with --json", async () => {
    const held = await booking(["--json", "hold", "20", "--ttl", "2m", "--show-id", "main"]);
    expect(held.code).toBe(0);
    const answer = jsonLine(held.stdout);
    expect(answer).toMatchObject({
      operation: "hold",
      replayed: false,
      hold: { showId: "main", seats: [20], owner: alice, state: "HOLD_STATE_ACTIVE" },
    });
    const hold = answer["hold"] as Record<string, string>;
    expect(Date.parse(hold["expireTime"]!) - Date.parse(hold["createTime"]!)).toBe(120_000);

    const confirmed = await booking(["confirm", hold["holdId"]!, "--json"]);
    expect(jsonLine(confirmed.stdout)).toEqual({
      operation: "confirm",
      showId: "main",
      seats: [20],
      owner: alice,
      replayed: false,
      holdId: hold["holdId"],
    });
  });

  it("tells bob a held seat is held (exit code 1), with the time left in --json", async () => {
    holdIdOf(await booking(["hold", "30", "--ttl", "1m"]));
    const text = await booking(["book", "30", "--as", "bob"]);
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/^booking: book refused \(ALREADY_EXISTS\): seat 30 of show "main" is held; the hold lapses in (59|60) s unless confirmed\n$/);

    const json = await booking(["-as", "bob", "-json", "hold", "30"]);
    expect(json.code).toBe(1);
    const { error } = jsonLine(json.stderr) as { error: Record<string, unknown> };
    expect(error).toMatchObject({ operation: "hold", code: "ALREADY_EXISTS", reason: "SEAT_HELD", showId: "main", seats: [30] });
    expect(error["retryDelayMs"]).toBeGreaterThan(55_000);
  });

  it("answers NOT_FOUND to anyone but the hold's owner (exit code 1)", async () => {
    const holdId = holdIdOf(await booking(["hold", "40"]));
    for (const command of ["hold-info", "confirm", "release"]) {
      const run = await booking([command, holdId, "--as", "bob", "--json"]);
      expect(run.code).toBe(1);
      const { error } = jsonLine(run.stderr) as { error: Record<string, unknown> };
      expect(error).toMatchObject({ operation: command, code: "NOT_FOUND", reason: "HOLD_NOT_FOUND", message: `hold ${holdId} does not exist` });
    }
  });

  it("leaves a TTL out of range for the server to refuse (exit 1), and a TTL it cannot read to usage (exit 2, before connecting)", async () => {
    const tooLong = await booking(["hold", "50", "--ttl", "1h"]);
    expect(tooLong).toEqual({
      code: 1,
      stdout: "",
      stderr: "booking: hold refused (INVALID_ARGUMENT): ttl must be between 1 s and 900 s, got 3600 s\n",
    });
    const unreachable = `127.0.0.1:${await closedPort()}`;
    const unreadable = await booking(["hold", "50", "--ttl", "ten minutes", "--address", unreachable]);
    expect(unreadable.code).toBe(2);
    expect(unreadable.stderr).toBe('booking: --ttl: "ten minutes" is not a duration (expected e.g. 90s, 10m, 1h30m or 1500ms) (see booking --help)\n');
    const unanswered = await booking(["hold", "50", "--address", unreachable, "--deadline", "1000"]);
    expect(unanswered.code).toBe(2);
    expect(unanswered.stderr).toContain(`booking: hold: cannot reach the server at ${unreachable} (UNAVAILABLE`);
  });
});

describe("booking CLI shows", () => {
  it("lists every show over all pages, in id order, as a table", async () => {
    const run = await booking(["shows"]);
    expect(run.code).toBe(0);
    const [header, ...rows] = lines(run.stdout);
    expect(header).toMatch(/^SHOW +SEATS +BOOKED +HELD +FREE +STATE +NAME$/);
    const ids = rows.map((row) => row.split(/\s+/)[0]);
    expect(ids).toHaveLength(MANY_SHOWS + 2);
    expect(ids).toEqual([...ids].sort());
    expect(ids).toContain("extra-104");
    expect(rows.find((row) => row.startsWith("small "))).toMatch(/^small +5 +0 +0 +5 +open$/);
  });

  it("lists every show as one JSON object with --json", async () => {
    const run = await booking(["shows", "--json"]);
    expect(run.code).toBe(0);
    const answer = jsonLine(run.stdout) as { operation: string; shows: Record<string, unknown>[] };
    expect(answer.operation).toBe("shows");
    expect(answer.shows).toHaveLength(MANY_SHOWS + 2);
    expect(answer.shows.find((show) => show["showId"] === "small")).toMatchObject({
      totalSeats: 5,
      bookedCount: 0,
      heldCount: 0,
      state: "SHOW_STATE_OPEN",
      displayName: "",
    });
  });

  it("refuses alice's shows create with exit code 1 and says to use an admin certificate", async () => {
    const run = await booking(["shows", "create", "gala", "40"]);
    expect(run).toEqual({
      code: 1,
      stdout: "",
      stderr:
        `booking: shows create refused (PERMISSION_DENIED): only an admin may create a show; ${alice} is not one ` +
        "(run it with an admin certificate, e.g. --as admin)\n",
    });
  });

  it("creates, resizes and closes a show as the admin; a closed show takes no holds", async () => {
    const created = await booking(["--as", "admin", "shows", "create", "gala", "40", "--name", "Gala night"]);
    expect(created).toEqual({ code: 0, stdout: 'created show "gala" ("Gala night") with 40 seats\n', stderr: "" });
    holdIdOf(await booking(["hold", "35", "--show-id", "gala"]));
    expect((await booking(["book", "38", "--show-id", "gala"])).code).toBe(0);

    const blocked = await booking(["shows", "resize", "gala", "30", "--as", "admin", "--json"]);
    expect(blocked.code).toBe(1);
    const { error } = jsonLine(blocked.stderr) as { error: Record<string, unknown> };
    expect(error).toMatchObject({ operation: "shows resize", code: "FAILED_PRECONDITION", reason: "SHOW_SHRINK_BLOCKED", seats: [35, 38] });
    expect(error["message"]).toBe('show "gala" cannot shrink: seats 35, 38 above the new total are booked or held');

    expect(await booking(["shows", "resize", "gala", "60", "--as", "admin"])).toEqual({
      code: 0,
      stdout: 'show "gala" now has 60 seats (1 booked, 1 held)\n',
      stderr: "",
    });
    expect(await booking(["shows", "close", "gala", "--as", "admin"])).toEqual({
      code: 0,
      stdout: 'closed show "gala": no new bookings or holds; 1 of 60 seats booked\n',
      stderr: "",
    });
    const closed = await booking(["hold", "1", "--show-id", "gala"]);
    expect(closed).toEqual({
      code: 1,
      stdout: "",
      stderr: 'booking: hold refused (FAILED_PRECONDITION): show "gala" is closed: no new bookings, holds or confirmations\n',
    });
    // The hold on seat 35 is still live: it counts as held, not free.
    expect((await booking(["shows"])).stdout).toMatch(/^gala +60 +1 +1 +58 +closed +Gala night$/m);
  });

  it("prints the shows create answer as JSON with --json", async () => {
    const run = await booking(["shows", "create", "json-show", "7", "--as", "admin", "--json"]);
    expect(run.code).toBe(0);
    expect(jsonLine(run.stdout)).toMatchObject({
      operation: "shows create",
      replayed: false,
      show: { showId: "json-show", totalSeats: 7, bookedCount: 0, heldCount: 0, state: "SHOW_STATE_OPEN" },
    });
  });
});

describe("booking CLI in the seed's spelling", () => {
  it("runs -book 1 2 3 -cancel 1,2 -show like --book 1,2,3 --cancel 1,2 --show", async () => {
    const run = await booking(["-book", "1", "2", "3", "-cancel", "1,2", "-show", "-show-id", "small"]);
    expect(run).toEqual({
      code: 0,
      stdout:
        `booked seats 1, 2, 3 in show "small" for ${alice}\n` +
        'cancelled seats 1, 2 in show "small"\n' +
        'show "small": 4 of 5 seats available\n' +
        "available: 1, 2, 4, 5\n",
      stderr: "",
    });
  });

  it("exits with code 2 for a single-dash word that names no option", async () => {
    const run = await booking(["-bok", "1"]);
    expect(run).toEqual({ code: 2, stdout: "", stderr: 'booking: unknown option "-bok" (see booking --help)\n' });
  });

  it("lists the new commands and the single-dash spelling in --help", async () => {
    const run = await booking(["-help"]);
    expect(run.code).toBe(0);
    for (const text of ["hold SEATS", "confirm HOLD_ID", "release HOLD_ID", "extend HOLD_ID", "hold-info HOLD_ID", "shows create ID SEATS", "--ttl DURATION", "-book 1 2 3"]) {
      expect(run.stdout).toContain(text);
    }
  });
});
