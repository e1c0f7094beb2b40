import { existsSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openStore } from "../src/stores/open-store.js";
import { startPostgres } from "./support/postgres-cluster.js";

const postgres = await startPostgres();
const dir = await mkdtemp(join(tmpdir(), "booking-open-store-"));

afterAll(async () => {
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("openStore", () => {
  it("opens a memory store for \"memory\"", async () => {
    const store = await openStore("memory");
    expect(store.kind).toBe("memory");
    await store.close();
  });

  it("opens SQLite at ./data/booking.sqlite for \"sqlite\", creating the directory", async () => {
    const previous = process.cwd();
    process.chdir(dir);
    try {
      const store = await openStore("sqlite");
      expect(store.kind).toBe("sqlite");
      await store.close();
      expect(existsSync(join(dir, "data", "booking.sqlite"))).toBe(true);
    } finally {
      process.chdir(previous);
    }
  });

  it("opens SQLite at the path of \"sqlite:PATH\" and of a path ending in .sqlite or .db", async () => {
    for (const [spec, file] of [
      [`sqlite:${join(dir, "nested", "one.file")}`, join(dir, "nested", "one.file")],
      [join(dir, "two.sqlite"), join(dir, "two.sqlite")],
      [join(dir, "deeper", "three.db"), join(dir, "deeper", "three.db")],
    ] as const) {
      const store = await openStore(spec, { requestIdRetentionMs: 1000 });
      expect(store.kind).toBe("sqlite");
      await store.close();
      expect(existsSync(file)).toBe(true);
    }
  });

  it.skipIf(postgres === undefined)("opens PostgreSQL for a postgres:// or postgresql:// URL, with the pool size given", async () => {
    const url = postgres!.url;
    for (const spec of [url.replace(/^postgresql:/, "postgres:"), url.replace(/^postgres:/, "postgresql:")]) {
      const store = await openStore(spec, { postgresPoolSize: 2 });
      expect(store.kind).toBe("postgres");
      await store.ensureShows([{ id: "main", totalSeats: 3 }]);
      expect((await store.snapshot("main"))?.available).toEqual([1, 2, 3]);
      await store.close();
    }
  });

  it("refuses an unknown spec with a TypeError naming it and the accepted forms", async () => {
    for (const spec of ["mysql://db", "sqlite:", "", "seats.txt"]) {
      const error = await openStore(spec).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TypeError);
      expect((error as TypeError).message).toContain(`"${spec}"`);
      expect((error as TypeError).message).toContain("postgres://");
    }
  });

  it("says that the PostgreSQL store could not be opened, and where the URL points (no password), when nothing answers there", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const error = await openStore(`postgres://booking:secret@127.0.0.1:${port}/tickets`).then(
      () => undefined,
      (caught: unknown) => caught as Error,
    );
    expect(error?.message).toMatch(new RegExp(`^cannot open the PostgreSQL store at 127\\.0\\.0\\.1:${port}, database tickets: .*ECONNREFUSED`));
    expect(error?.message).not.toContain("secret");
  });
});
