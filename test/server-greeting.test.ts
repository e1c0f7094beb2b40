import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runBooking } from "./support/cli-run.js";
import { startServerProcess, type ServerProcess } from "./support/server-process.js";

const folders: string[] = [];
const servers: ServerProcess[] = [];

afterAll(async () => {
  for (const server of servers) await server.stop();
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

/** The greeting's lines, once the server has printed all of them. */
async function greetingOf(server: ServerProcess): Promise<string[]> {
  const stream = server.child.stderr;
  if (stream === null) throw new Error("the server's stderr is not piped");
  if (!server.stderr.includes("BookSeats")) {
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!server.stderr.includes("BookSeats")) return;
        stream.off("data", check);
        resolve();
      };
      stream.on("data", check);
      void server.exited.then((code) => reject(new Error(`the server exited (${code}) before its greeting:\n${server.stderr}`)));
      check();
    });
  }
  return server.stderr.split("\n").map((line) => line.trim());
}

describe("the greeting `booking serve` prints", () => {
  it("gives CLI lines that reach this server from anywhere: its address and certificates named when not the CLI's defaults", async () => {
    const folder = await mkdtemp(join(tmpdir(), "greeting-"));
    folders.push(folder);
    const certsDir = join(folder, "pki");
    const server = await startServerProcess(["--listen", "127.0.0.1:0", "--store", "memory", "--certs-dir", certsDir]);
    servers.push(server);
    const lines = await greetingOf(server);
    const bookLine = lines.find((line) => line.startsWith("npx booking") && line.endsWith(" book 1 2 3"));
    expect(bookLine).toBe(`npx booking --address ${server.address} --certs-dir ${certsDir} book 1 2 3`);
    expect(lines).toContain(`npx booking --address ${server.address} --certs-dir ${certsDir} show`);
    expect(lines).toContain(`grpcurl -cacert ${certsDir}/ca.crt -cert ${certsDir}/alice.crt -key ${certsDir}/alice.key ${server.address} list`);

    // Run as printed, from a folder with no ./certs and with no BOOKING_* variables.
    const elsewhere = await mkdtemp(join(tmpdir(), "greeting-cwd-"));
    folders.push(elsewhere);
    const args = (bookLine ?? "").split(" ").slice(2);
    const run = await runBooking(args, { cwd: elsewhere, address: "", env: {} });
    expect(run.stderr).toBe("");
    expect([run.code, run.stdout]).toEqual([0, expect.stringContaining("booked seats 1, 2, 3")]);
  });
});
