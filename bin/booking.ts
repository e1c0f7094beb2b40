#!/usr/bin/env -S node --min-semi-space-size=16
/**
 * The `booking` command, the one entry point of both stacks: the client
 * commands (cli/, built on the SDK in client/) and `serve` and `certs` (the
 * server in src/). It runs the command line, exits with its code, and nothing
 * imports it. The server is loaded only for `serve` and `certs`, so a client
 * command never pays for it.
 */
import { runCli } from "../cli/cli-commands.js";

// `booking show | head -1`: the reader went away, which is not our error.
// Stop quietly, as Unix tools do, instead of dying on an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
}

const code = await runCli(
  process.argv.slice(2),
  {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    // Only `watch` asks: every other command keeps Node's default Ctrl-C.
    interrupt: () => {
      const controller = new AbortController();
      process.once("SIGINT", () => controller.abort());
      return controller.signal;
    },
  },
  {
    serve: async (argv) => (await import("../src/main.js")).runServeCommand([...argv]),
    certs: async (argv) => (await import("../src/pki/dev-pki.js")).runCertsCommand([...argv]),
  },
).catch((error: unknown) => {
  process.stderr.write(`booking: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 70; // EX_SOFTWARE: a bug, not a refusal or a usage error
});
// Exit once both streams have flushed, so piped output is never cut short;
// a lingering handle (a closing channel) must not keep the process alive.
process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
