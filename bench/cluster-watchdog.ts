import { spawn } from "node:child_process";

/** A detached process that cleans up after a process that died without doing it. */
export interface ClusterWatchdog {
  /** The watchdog's process id. */
  readonly pid: number;
  /** Ends the watchdog without running its cleanup (the owner cleaned up itself). */
  end(): void;
}

// $1 the owner's pid, $2 the directory to delete, the rest the stop command.
// kill -0 only asks whether the pid exists; a zombie counts as alive until
// its parent reaps it, which node (or init, for an orphan) does at once.
const SCRIPT = [
  'owner=$1; dir=$2; shift 2',
  'while kill -0 "$owner" 2>/dev/null; do sleep 0.5; done',
  '"$@" >/dev/null 2>&1',
  'rm -rf "$dir"',
].join("\n");

/**
 * Starts a watchdog for something `ownerPid` started outside its own process
 * tree (a postmaster detaches from pg_ctl's session, so nothing kills it with
 * its starter). The watchdog, a `sh` loop in its own session, polls every
 * 0.5 s whether the owner is alive; once it is gone (even by SIGKILL), it
 * runs `stopCommand`, deletes `dir` and exits. Linux and other POSIX systems
 * with a `sleep` that takes fractions. Call end() after a normal cleanup.
 */
export function startClusterWatchdog(ownerPid: number, dir: string, stopCommand: readonly string[]): ClusterWatchdog {
  const child = spawn("sh", ["-c", SCRIPT, "cluster-watchdog", String(ownerPid), dir, ...stopCommand], {
    detached: true,
    stdio: "ignore",
  });
  // Keeps a failed spawn from becoming an unhandled 'error' event; pid tells.
  child.on("error", () => undefined);
  if (child.pid === undefined) throw new Error("could not start the cluster watchdog (sh)");
  // The owner's event loop must not wait for its watchdog.
  child.unref();
  const pid = child.pid;
  return {
    pid,
    end() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    },
  };
}
