import { createBookingClient, DEFAULT_DEADLINE_MS, type BookingClient } from "../client/index.js";
import { BookingError } from "../client/index.js";
import { CLI_USAGE, isUsageError, parseCliArguments, type CliCommand } from "./cli-arguments.js";
import {
  EXIT_OK,
  EXIT_USAGE_OR_CONNECTION,
  exitCodeOf,
  formatFailure,
  formatResult,
  formatUsageError,
  type OperationResult,
} from "./cli-output.js";
import { ClientCredentialsError, readPem } from "../client/index.js";
import { runOperation } from "./cli-operations.js";
import { runWatch } from "./cli-watch.js";

/** Where the CLI reads its environment and writes its output. */
export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  /**
   * For commands that run until Ctrl-C (watch): returns a signal aborted on
   * SIGINT. The entry point installs its handler only when this is called,
   * so every other command keeps the default Ctrl-C behaviour.
   */
  readonly interrupt?: (() => AbortSignal) | undefined;
}

/**
 * The server-side commands, supplied by the entry point (bin/booking.ts) so
 * that the client CLI never imports the server: `serve` and `certs` resolve an
 * exit code like the client commands do.
 */
export interface ServerCommands {
  serve(argv: readonly string[]): Promise<number>;
  certs(argv: readonly string[]): Promise<number>;
}

/**
 * Runs one `booking` command line and resolves its exit code; never calls
 * process.exit (the entry point does). `serve` and `certs` go to
 * `server`, which the entry point loads only when asked for.
 */
export async function runCli(argv: readonly string[], io: CliIo, server?: ServerCommands): Promise<number> {
  let command: CliCommand;
  try {
    command = parseCliArguments(argv, io.env);
  } catch (error) {
    if (!isUsageError(error)) throw error;
    io.stderr.write(formatUsageError("USAGE", error.message, argv.includes("--json") || argv.includes("-json")));
    return EXIT_USAGE_OR_CONNECTION;
  }
  switch (command.kind) {
    case "help":
      io.stdout.write(CLI_USAGE);
      return EXIT_OK;
    case "serve":
    case "certs":
      if (server === undefined) {
        io.stderr.write(formatUsageError("USAGE", `"${command.kind}" is not available in this build of the CLI`, false));
        return EXIT_USAGE_OR_CONNECTION;
      }
      return command.kind === "serve" ? server.serve(command.argv) : server.certs(command.argv);
    case "client":
      return runOperations(command, io);
  }
}

async function runOperations(command: Extract<CliCommand, { kind: "client" }>, io: CliIo): Promise<number> {
  const { connection, json } = command;
  let client: BookingClient;
  try {
    // Read the files here, so a missing certificate names its flag, not a handshake.
    client = createBookingClient({
      address: connection.address,
      ca: readPem(connection.caPath, "CA certificate"),
      cert: readPem(connection.certPath, "client certificate"),
      key: readPem(connection.keyPath, "client key"),
      ...(command.deadlineMs === undefined ? {} : { defaultDeadlineMs: command.deadlineMs }),
    });
  } catch (error) {
    if (!(error instanceof ClientCredentialsError)) throw error;
    io.stderr.write(
      formatUsageError(
        "CREDENTIALS",
        `${error.message}; create development certificates with "booking certs" (or "npm start"), ` +
          "or point --certs-dir, --ca, --cert and --key at yours",
        json,
      ),
    );
    return EXIT_USAGE_OR_CONNECTION;
  }

  const context = { address: connection.address, deadlineMs: command.deadlineMs ?? DEFAULT_DEADLINE_MS, certPath: connection.certPath };
  try {
    if (command.operations[0]?.kind === "watch") {
      return await runWatch(
        client,
        { ...context, showId: command.showId, json },
        { stdout: io.stdout, stderr: io.stderr, interrupt: io.interrupt?.() },
      );
    }
    for (const operation of command.operations) {
      let result: OperationResult;
      try {
        result = await runOperation(client, operation, command);
      } catch (error) {
        const failure = BookingError.from(error);
        io.stderr.write(formatFailure(operation.kind, failure, context, json));
        return exitCodeOf(failure);
      }
      io.stdout.write(formatResult(result, json));
    }
    return EXIT_OK;
  } finally {
    client.close();
  }
}
