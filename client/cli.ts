#!/usr/bin/env node
/**
 * The `booking` command: the client (book, cancel, show) and, delegated,
 * `serve` and `certs`. This file is the entry point: it runs {@link runCli}
 * on the process's argv and exits with its code, and nothing imports it.
 */
import { runCli } from "./cli-commands.js";

// grpc-js hands an IP address to TLS as the server name, which Node flags
// (DEP0123) on every run against 127.0.0.1: noise that would break the
// CLI's one-line errors. Every other warning still prints as usual.
const printWarning = process.listeners("warning");
process.removeAllListeners("warning");
process.on("warning", (warning: Error & { code?: string }) => {
  if (warning.code !== "DEP0123") for (const print of printWarning) print(warning);
});

const code = await runCli(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
}).catch((error: unknown) => {
  process.stderr.write(`booking: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 70; // EX_SOFTWARE: a bug, not a refusal or a usage error
});
// Exit once both streams have flushed, so piped output is never cut short;
// a lingering handle (a closing channel) must not keep the process alive.
process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
