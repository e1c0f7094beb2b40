import { randomUUID } from "node:crypto";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { SeatCommand } from "../src/core/seat-store.js";
import { DEFAULT_WAL_AUTOCHECKPOINT_PAGES, SqliteStore, type SqliteStoreOptions } from "../src/stores/sqlite-store.js";

const dir = await mkdtemp(join(tmpdir(), "booking-sqlite-wal-"));

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** SQLite's own default, which the store's default replaces. */
const SQLITE_DEFAULT_PAGES = 1000;
/** A WAL frame: a 24-byte header and one page (the store keeps SQLite's 4096-byte pages). */
const FRAME_BYTES = 24 + 4096;
/** More frames than one of {@link bookBatch}'s commits writes. */
const FRAMES_OF_ONE_COMMIT = 100;

const fileBytes = async (path: string): Promise<number> => (await stat(path)).size;

/**
 * A store on a file that already has its schema and a show (closing the
 * store that made them checkpointed everything into the main file), with the
 * main file's size before the test writes.
 */
async function storeOnFile(name: string, options: Omit<SqliteStoreOptions, "path"> = {}) {
  const path = join(dir, name);
  const creator = SqliteStore.open(path);
  await creator.ensureShows([{ id: "main", totalSeats: 1_000_000 }]);
  await creator.close();
  return { store: SqliteStore.open({ path, ...options }), path, mainBytes: await fileBytes(path) };
}

/** Commits one batch of 20 bookings of new seats, each with a fresh request id (about 20-40 WAL frames). */
async function bookBatch(store: SqliteStore, firstSeat: number): Promise<void> {
  const batch: SeatCommand[] = Array.from({ length: 20 }, (_, index) => ({
    kind: "book",
    showId: "main",
    seats: [firstSeat + index],
    principal: "spiffe://seat-booking.dev/alice",
    isAdmin: false,
    requestId: randomUUID(),
  }));
  const outcomes = await store.applyBatch(batch);
  expect(outcomes.every((outcome) => outcome.ok)).toBe(true);
}

describe("SqliteStore WAL checkpoints", () => {
  it("checkpoints into the main file whenever the WAL reaches walAutocheckpointPages, so the WAL never grows past it and a commit", async () => {
    const pages = 50;
    const { store, path, mainBytes } = await storeOnFile("small-wal.sqlite", { walAutocheckpointPages: pages });
    try {
      // Far more frames than the limit: at least one per commit.
      for (let batch = 0; batch < 200; batch++) await bookBatch(store, 1 + batch * 20);
      expect(await fileBytes(`${path}-wal`)).toBeLessThanOrEqual(32 + (pages + FRAMES_OF_ONE_COMMIT) * FRAME_BYTES);
      expect(await fileBytes(path)).toBeGreaterThan(mainBytes);
    } finally {
      await store.close();
    }
  });

  it("by default lets the WAL grow past SQLite's 1,000 pages before it checkpoints, and its commits are all read back", async () => {
    expect(DEFAULT_WAL_AUTOCHECKPOINT_PAGES).toBeGreaterThan(SQLITE_DEFAULT_PAGES + FRAMES_OF_ONE_COMMIT);
    const { store, path, mainBytes } = await storeOnFile("default-wal.sqlite");
    let batches = 0;
    try {
      // Under SQLite's default the WAL would restart at about 1,000 frames and never get here (the cap ends the loop).
      while ((await fileBytes(`${path}-wal`)) < (SQLITE_DEFAULT_PAGES + FRAMES_OF_ONE_COMMIT) * FRAME_BYTES && batches < 1000) {
        await bookBatch(store, 1 + batches * 20);
        batches++;
      }
      expect(await fileBytes(`${path}-wal`)).toBeGreaterThanOrEqual((SQLITE_DEFAULT_PAGES + FRAMES_OF_ONE_COMMIT) * FRAME_BYTES);
      // No checkpoint yet: every page written since the store opened is in the WAL only.
      expect(await fileBytes(path)).toBe(mainBytes);
      expect((await store.snapshot("main"))?.bookedCount).toBe(batches * 20);
    } finally {
      await store.close();
    }
    // Closing checkpoints the WAL: another store reads every booking from the file.
    const reopened = SqliteStore.open(path);
    try {
      expect(await fileBytes(path)).toBeGreaterThan(mainBytes);
      expect((await reopened.bookings("main")).length).toBe(batches * 20);
    } finally {
      await reopened.close();
    }
  });

  it("rejects a walAutocheckpointPages that is not a whole number of at least 1, since 0 would turn checkpoints off", () => {
    for (const pages of [0, -1, 1.5, Number.NaN]) {
      expect(() => SqliteStore.open({ path: join(dir, "invalid.sqlite"), walAutocheckpointPages: pages })).toThrow(TypeError);
    }
  });
});
