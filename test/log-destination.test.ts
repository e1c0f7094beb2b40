import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LogDestination } from "../src/log-destination.js";

const dir = mkdtempSync(join(tmpdir(), "log-destination-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const builtDestination = resolve("dist/src/log-destination.js");

/** Runs a Node child that imports the built destination and runs `body` with it. */
function runChild(body: string, file: string) {
  const script = `import { openSync } from "node:fs"; import { LogDestination } from ${JSON.stringify(builtDestination)};\nconst fd = openSync(${JSON.stringify(file)}, "a");\n${body}`;
  return spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
}

describe("LogDestination", () => {
  it("holds lines until minBytes are pending, then writes them in order, and flush(done) waits for the write", async () => {
    const file = join(dir, "order.log");
    const fd = openSync(file, "w");
    const destination = new LogDestination(fd, 64, 60_000);
    destination.write("first line\n");
    destination.write("second line\n");
    await new Promise((settle) => setImmediate(settle));
    expect(readFileSync(file, "utf8")).toBe("");
    const lines = Array.from({ length: 200 }, (_, index) => `line ${index} ${"é".repeat(index % 7)}\n`);
    for (const line of lines) destination.write(line);
    await new Promise<void>((done) => destination.flush(() => done()));
    expect(readFileSync(file, "utf8")).toBe(["first line\n", "second line\n", ...lines].join(""));
    destination.close();
    closeSync(fd);
  });

  it("keeps lines whole and in order across its buffers: a line longer than a buffer, multi-byte and 4-byte characters", async () => {
    const file = join(dir, "buffers.log");
    const fd = openSync(file, "w");
    const destination = new LogDestination(fd, 1024, 60_000);
    const lines = [
      ...Array.from({ length: 300 }, (_, index) => `short ${index} ${"雪".repeat(index % 11)}${"🎟".repeat(index % 5)}\n`),
      `long ${"x".repeat(100_000)}\n`,
      "after the long one\n",
      ...Array.from({ length: 50 }, (_, index) => `tail ${index} ${"é".repeat(index)}\n`),
    ];
    for (const line of lines) destination.write(line);
    await new Promise<void>((done) => destination.flush(() => done()));
    expect(readFileSync(file, "utf8")).toBe(lines.join(""));
    destination.close();
    closeSync(fd);
  });

  it("writes the lines still pending when the process exits", () => {
    const file = join(dir, "exit.log");
    const child = runChild(`const destination = new LogDestination(fd, 1 << 20, 60_000);\ndestination.write("last words\\n");\nprocess.exit(3);`, file);
    expect(child.status).toBe(3);
    expect(readFileSync(file, "utf8")).toBe("last words\n");
  });

  it("drops lines after a failed write and says so once on stderr", () => {
    const file = join(dir, "failed.log");
    const child = runChild(
      `const destination = new LogDestination(987, 1, 60_000);\nfor (let i = 0; i < 5; i++) destination.write("lost\\n");\ndestination.flush(() => { process.stdout.write("flushed"); });`,
      file,
    );
    expect(child.status).toBe(0);
    expect(child.stdout).toBe("flushed");
    const reports = child.stderr.split("\n").filter((line) => line.includes("the log could not be written"));
    expect(reports).toHaveLength(1);
    expect(reports[0]).toContain("EBADF");
  });

  it("writes a line that no batch fills up once maxDelayMs has passed", async () => {
    const file = join(dir, "late.log");
    const fd = openSync(file, "w");
    const destination = new LogDestination(fd, 1 << 20, 20);
    destination.write("reloaded the server certificate\n");
    expect(readFileSync(file, "utf8")).toBe("");
    await expect.poll(() => readFileSync(file, "utf8"), { timeout: 2_000 }).toBe("reloaded the server certificate\n");
    destination.write("second\n");
    await expect.poll(() => readFileSync(file, "utf8"), { timeout: 2_000 }).toBe("reloaded the server certificate\nsecond\n");
    destination.close();
    closeSync(fd);
  });
});
