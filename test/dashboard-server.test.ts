import { request, type IncomingMessage } from "node:http";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, parseServerConfig } from "../src/config.js";
import { BookingCore } from "../src/core/booking-core.js";
import { serveDashboard, type DashboardServer } from "../src/dashboard/dashboard-server.js";
import { isLoopbackHost, isLoopbackHostHeader } from "../src/dashboard/loopback-host.js";
import { MemoryStore } from "../src/stores/memory-store.js";

const alice = { principal: "spiffe://test/alice" };
const admin = { principal: "spiffe://test/admin" };
/** `npm test` builds the page first. */
const assetsDir = fileURLToPath(new URL("../dist/dashboard/", import.meta.url));
/** What the dashboards of this file logged, parsed: errors must come from the server's faults only. */
const logged: { level: number; msg: string }[] = [];
const logger = pino({ level: "warn" }, { write: (line: string) => void logged.push(JSON.parse(line) as { level: number; msg: string }) });

const opened: { core: BookingCore; dashboard: DashboardServer }[] = [];

async function start(options: { maxEventClients?: number; maxVersions?: number; maxListedShows?: number; host?: string } = {}) {
  const store = new MemoryStore({ changeLog: { maxVersions: options.maxVersions ?? 10_000, maxAgeMs: 3_600_000 } });
  const core = await BookingCore.open({ store, shows: [{ id: "main", totalSeats: 20 }], admins: [admin.principal] });
  const dashboard = await serveDashboard(core, {
    host: options.host ?? "127.0.0.1",
    port: 0,
    logger,
    assetsDir,
    ...(options.maxEventClients === undefined ? {} : { maxEventClients: options.maxEventClients }),
    ...(options.maxListedShows === undefined ? {} : { maxListedShows: options.maxListedShows }),
  });
  opened.push({ core, dashboard });
  return { core, dashboard };
}

afterEach(async () => {
  for (const { core, dashboard } of opened.splice(0)) {
    await dashboard.close();
    await core.close();
  }
});

interface Answer {
  readonly status: number;
  readonly headers: IncomingMessage["headers"];
  readonly body: string;
}

function get(port: number, path: string, headers: Record<string, string> = {}, method = "GET"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const call = request({ host: "127.0.0.1", port, path, method, headers }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    call.on("error", reject);
    call.end();
  });
}

interface SseEvent {
  readonly event: string;
  readonly id: string | undefined;
  readonly data: Record<string, unknown>;
  readonly raw: string;
}

/** An open /events stream: its events in order, read as they come. */
interface SseStream {
  readonly status: number;
  /** The next event (a test that waits for one that never comes fails by its timeout). */
  next(): Promise<SseEvent>;
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>;
  close(): void;
}

function openStream(port: number, path: string, headers: Record<string, string> = {}): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const call = request({ host: "127.0.0.1", port, path, headers: { accept: "text/event-stream", ...headers } }, (response) => {
      const events: SseEvent[] = [];
      const waiting: ((event: SseEvent) => void)[] = [];
      let buffer = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const raw = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = new Map<string, string>();
          for (const line of raw.split("\n")) {
            const colon = line.indexOf(":");
            if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
          }
          const data = fields.get("data");
          if (data === undefined) continue;
          const event = { event: fields.get("event") ?? "message", id: fields.get("id"), data: JSON.parse(data) as Record<string, unknown>, raw };
          const waiter = waiting.shift();
          if (waiter !== undefined) waiter(event);
          else events.push(event);
        }
      });
      const ended = new Promise<void>((done) => response.on("close", () => done()));
      resolve({
        status: response.statusCode ?? 0,
        next: () => {
          const queued = events.shift();
          return queued !== undefined ? Promise.resolve(queued) : new Promise((done) => waiting.push(done));
        },
        ended,
        close: () => call.destroy(),
      });
    });
    call.on("error", reject);
    call.end();
  });
}

describe("isLoopbackHost", () => {
  it("accepts localhost, ::1 and 127.0.0.0/8 only", () => {
    for (const host of ["localhost", "LOCALHOST", "::1", "[::1]", "127.0.0.1", "127.1.2.3"]) expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "192.168.1.1", "127.0.0.256", "127.0.0.1.example", "example.com", "localhost.example", ""]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });

  it("reads Host headers with or without a port", () => {
    expect(["localhost:8080", "127.0.0.1:1", "[::1]:9000", "localhost"].map(isLoopbackHostHeader)).toEqual([true, true, true, true]);
    expect(["evil.example:8080", "127.0.0.1.evil.example", "", undefined].map(isLoopbackHostHeader)).toEqual([false, false, false, false]);
  });
});

describe("--dashboard-listen", () => {
  const parse = (argv: readonly string[], env: Record<string, string> = {}) => {
    const config = parseServerConfig(argv, env);
    if (config === "help") throw new Error("unexpected help");
    return config;
  };

  it("is off by default, and takes a loopback address from the flag or BOOKING_DASHBOARD_LISTEN", () => {
    expect(parse([]).dashboardListen).toBeUndefined();
    expect(parse(["--dashboard-listen", "127.0.0.1:8080"]).dashboardListen).toBe("127.0.0.1:8080");
    expect(parse([], { BOOKING_DASHBOARD_LISTEN: "[::1]:0" }).dashboardListen).toBe("[::1]:0");
  });

  it("refuses a non-loopback address unless --dashboard-allow-remote (or its variable) says so", () => {
    expect(() => parse(["--dashboard-listen", "0.0.0.0:8080"])).toThrow(ConfigError);
    expect(() => parse(["--dashboard-listen", "0.0.0.0:8080"])).toThrow(/--dashboard-allow-remote/);
    expect(() => parse(["--dashboard-listen", "nohost"])).toThrow(/HOST:PORT/);
    expect(parse(["--dashboard-listen", "0.0.0.0:8080", "--dashboard-allow-remote"])).toMatchObject({
      dashboardListen: "0.0.0.0:8080",
      dashboardAllowRemote: true,
    });
    expect(parse([], { BOOKING_DASHBOARD_LISTEN: "0.0.0.0:1", BOOKING_DASHBOARD_ALLOW_REMOTE: "1" }).dashboardAllowRemote).toBe(true);
  });
});

describe("serveDashboard", () => {
  it("serves the page's files with a strict content security policy, and nothing else", async () => {
    const { dashboard } = await start();
    const page = await get(dashboard.port, "/");
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.body).toContain('<script type="module" src="app.js">');
    expect(page.headers["content-security-policy"]).toContain("default-src 'self'");
    expect((await get(dashboard.port, "/app.js")).headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect((await get(dashboard.port, "/styles.css")).status).toBe(200);
    expect((await get(dashboard.port, "/app.js", { "if-none-match": String(page.headers.etag) })).status).toBe(200);
    const etag = String((await get(dashboard.port, "/app.js")).headers.etag);
    expect((await get(dashboard.port, "/app.js", { "if-none-match": etag })).status).toBe(304);
    for (const path of ["/../package.json", "/tsconfig.json", "/app.ts", "/nope"]) expect((await get(dashboard.port, path)).status, path).toBe(404);
    expect((await get(dashboard.port, "/shows", {}, "POST")).status).toBe(405);
  });

  it("answers only loopback Host headers when bound to loopback (no DNS rebinding)", async () => {
    const { dashboard } = await start();
    expect((await get(dashboard.port, "/shows", { host: "attacker.example" })).status).toBe(403);
    expect((await get(dashboard.port, "/shows", { host: `localhost:${dashboard.port}` })).status).toBe(200);
  });

  it("lists every show with its counts through the core's pages, up to its limit, naming no principal", async () => {
    const { core, dashboard } = await start({ maxListedShows: 150 });
    for (let index = 0; index < 160; index++) {
      await core.createShow({ showId: `s${String(index).padStart(3, "0")}`, totalSeats: 5, displayName: `Show ${index}`, requestId: "" }, admin);
    }
    await core.book({ showId: "main", seats: [1, 2], requestId: "" }, alice);
    await core.hold({ showId: "main", seats: [3], requestId: "" }, alice);
    const answer = await get(dashboard.port, "/shows");
    expect(answer.status).toBe(200);
    const list = JSON.parse(answer.body) as { shows: Record<string, unknown>[]; truncated: boolean };
    expect(list.shows).toHaveLength(150);
    expect(list.truncated).toBe(true);
    expect(list.shows.find((show) => show["id"] === "main")).toEqual({
      id: "main",
      displayName: expect.any(String),
      totalSeats: 20,
      state: "open",
      bookedCount: 2,
      heldCount: 1,
    });
    expect(answer.body).not.toContain("alice");
  });

  it("streams a snapshot, then each change as it commits, with the version as the event id and no principal", async () => {
    const { core, dashboard } = await start();
    await core.book({ showId: "main", seats: [1, 2], requestId: "" }, alice);
    await core.hold({ showId: "main", seats: [5, 6], requestId: "" }, alice);
    const stream = await openStream(dashboard.port, "/events?show=main");
    expect(stream.status).toBe(200);
    const snapshot = await stream.next();
    expect(snapshot).toMatchObject({ event: "snapshot", id: "2" });
    expect(snapshot.data).toEqual({
      showId: "main",
      version: 2,
      totalSeats: 20,
      state: "open",
      bookedCount: 2,
      heldCount: 2,
      free: [
        [3, 4],
        [7, 20],
      ],
      held: [[5, 6]],
      resumeTooOld: false,
    });
    await core.book({ showId: "main", seats: [9], requestId: "" }, alice);
    const changes = await stream.next();
    expect(changes).toMatchObject({ event: "changes", id: "3", data: { showId: "main", changes: [{ version: 3, kind: "booked", seats: [9] }] } });
    expect(snapshot.raw + changes.raw).not.toContain("alice");
    stream.close();
  });

  it("resumes after Last-Event-ID (which wins over ?from=), and starts from a fresh snapshot when the log no longer reaches it", async () => {
    const { core, dashboard } = await start({ maxVersions: 3 });
    for (const seat of [1, 2, 3]) await core.book({ showId: "main", seats: [seat], requestId: "" }, alice);
    const resumed = await openStream(dashboard.port, "/events?show=main&from=0", { "last-event-id": "2" });
    expect(await resumed.next()).toMatchObject({ event: "changes", id: "3", data: { changes: [{ version: 3, seats: [3] }] } });
    resumed.close();
    const fromQuery = await openStream(dashboard.port, "/events?show=main&from=2");
    expect(await fromQuery.next()).toMatchObject({ event: "changes", id: "3" });
    fromQuery.close();
    for (const seat of [4, 5, 6]) await core.book({ showId: "main", seats: [seat], requestId: "" }, alice);
    const tooOld = await openStream(dashboard.port, "/events?show=main", { "last-event-id": "1" });
    expect(await tooOld.next()).toMatchObject({ event: "snapshot", id: "6", data: { version: 6, bookedCount: 6, resumeTooOld: true } });
    tooOld.close();
  });

  it("refuses an unknown show, a missing show and a bad version", async () => {
    const { dashboard } = await start();
    expect((await get(dashboard.port, "/events?show=nope")).status).toBe(404);
    // An id no show can have is the request's fault: 400, and nothing logged as an error.
    const errorsBefore = logged.filter((line) => line.level === 50).length;
    const impossible = await get(dashboard.port, `/events?show=${encodeURIComponent("\u001b[31mX\r\nSet-Cookie: a")}`);
    expect(impossible.status).toBe(400);
    expect(logged.filter((line) => line.level === 50)).toHaveLength(errorsBefore);
    expect((await get(dashboard.port, "/events")).status).toBe(400);
    expect((await get(dashboard.port, "/events?show=main&from=-1")).status).toBe(400);
    expect((await get(dashboard.port, "/events?show=main", { "last-event-id": "x" })).status).toBe(400);
  });

  it("caps live streams with 503 and closes a stream's watcher when its client goes away", async () => {
    const { core, dashboard } = await start({ maxEventClients: 2 });
    const first = await openStream(dashboard.port, "/events?show=main");
    const second = await openStream(dashboard.port, "/events?show=main");
    await Promise.all([first.next(), second.next()]);
    expect(core.watchers).toBe(2);
    const refused = await get(dashboard.port, "/events?show=main");
    expect(refused.status).toBe(503);
    expect(refused.headers["retry-after"]).toBeDefined();
    first.close();
    await expect.poll(() => core.watchers, { timeout: 2000 }).toBe(1);
    const third = await openStream(dashboard.port, "/events?show=main");
    expect(third.status).toBe(200);
    expect((await third.next()).event).toBe("snapshot");
    second.close();
    third.close();
  });

  it("ends every live stream when it closes, so browsers reconnect elsewhere or later", async () => {
    const { core, dashboard } = await start();
    const stream = await openStream(dashboard.port, "/events?show=main");
    await stream.next();
    opened.splice(0);
    await dashboard.close();
    await stream.ended;
    expect(core.watchers).toBe(0);
    await core.close();
  });
});
