/**
 * Entry point of the process that postgres-cluster.test.ts starts and then
 * kills: starts a throwaway cluster, prints one JSON line
 * {"pid", "watchdogPid", "dir", "port"} (or {"missing"}), and then waits
 * for stdin to end, never calling stop(); only the watchdog cleans up.
 */
import { startPostgresCluster } from "../../bench/postgres-cluster.js";

const cluster = await startPostgresCluster({ prefix: "booking-pg-watchdog-", settings: ["-c fsync=off"] });
process.stdout.write(
  `${JSON.stringify("missing" in cluster ? cluster : { pid: cluster.pid, watchdogPid: cluster.watchdogPid, dir: cluster.dir, port: cluster.port })}\n`,
);
process.stdin.resume();
process.stdin.once("end", () => process.exit(0));
