import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { findPostgresBinaries, startPostgresCluster } from "../bench/postgres-cluster.js";

const ENTRY = fileURLToPath(new URL("./support/postgres-cluster-main.ts", import.meta.url));
const REPOSITORY = fileURLToPath(new URL("../", import.meta.url));
// CI must not skip: there a missing PostgreSQL fails the test instead.
const installed = (await findPostgresBinaries()) !== undefined || process.env["CI"] === "true";

/** Whether `pid` is a live process; a zombie (exited, not yet reaped) counts as gone. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The state follows the command name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Polls every 50 ms until `done()` or the deadline; returns done()'s last answer. */
async function eventually(done: () => boolean, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  return done();
}

describe.skipIf(!installed)("a throwaway PostgreSQL cluster", () => {
  it("is stopped and deleted by its watchdog when the process that started it is killed with SIGKILL", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", ENTRY], { cwd: REPOSITORY, stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const started = await new Promise<{ pid: number; watchdogPid: number; dir: string }>((resolve, reject) => {
      createInterface({ input: child.stdout }).once("line", (line) => {
        const parsed = JSON.parse(line) as { pid: number; watchdogPid: number; dir: string } | { missing: string };
        if ("missing" in parsed) reject(new Error(parsed.missing));
        else resolve(parsed);
      });
      void exited.then(() => reject(new Error(`the cluster process exited before starting a cluster: ${stderr.trim()}`)));
    });
    expect({ postmaster: running(started.pid), watchdog: running(started.watchdogPid), dir: existsSync(started.dir) }).toEqual({
      postmaster: true,
      watchdog: true,
      dir: true,
    });

    child.kill("SIGKILL");
    await exited;
    // The watchdog polls every 0.5 s; pg_ctl's immediate stop takes well under a second more.
    const cleaned = () => !running(started.pid) && !running(started.watchdogPid) && !existsSync(started.dir);
    expect(await eventually(cleaned, 15_000)).toBe(true);
  }, 60_000);

  it("ends its watchdog when stopped normally", async () => {
    const cluster = await startPostgresCluster({ prefix: "booking-pg-watchdog-", settings: ["-c fsync=off"] });
    if ("missing" in cluster) throw new Error(cluster.missing);
    await cluster.stop();
    expect(running(cluster.pid)).toBe(false);
    expect(existsSync(cluster.dir)).toBe(false);
    expect(await eventually(() => !running(cluster.watchdogPid), 5_000)).toBe(true);
  }, 60_000);
});
