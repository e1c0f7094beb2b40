import { join } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_ADDRESS } from "../client/index.js";
import { isSeatListError, parseSeatList } from "../client/index.js";

/** A command line that cannot be run: bad flag, bad seat list, nothing to do. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** True for errors raised by {@link parseCliArguments}. */
export function isUsageError(error: unknown): error is UsageError {
  return error instanceof UsageError;
}

/** One thing the client does; several run in the order book, cancel, show. */
export type CliOperation =
  | { readonly kind: "book"; readonly seats: readonly number[] }
  | { readonly kind: "cancel"; readonly seats: readonly number[] }
  | { readonly kind: "show" };

/** Where and as whom the client connects. Paths are as given (relative to the working directory). */
export interface CliConnection {
  readonly address: string;
  readonly caPath: string;
  readonly certPath: string;
  readonly keyPath: string;
}

/** A parsed command line: what {@link parseCliArguments} returns. */
export type CliCommand =
  | { readonly kind: "help" }
  | { readonly kind: "serve"; readonly argv: readonly string[] }
  | { readonly kind: "certs"; readonly argv: readonly string[] }
  | {
      readonly kind: "client";
      readonly operations: readonly CliOperation[];
      readonly connection: CliConnection;
      /** "" = the server's default show. */
      readonly showId: string;
      readonly requestId: string | undefined;
      readonly deadlineMs: number | undefined;
      readonly json: boolean;
    };

/** The text `booking --help` prints. */
export const CLI_USAGE = `usage: booking <command> [options]

commands:
  book SEATS...         book seats for you, all or none
  cancel SEATS...       release seats you hold (an admin may release any)
  show                  list the free seats
  serve [options]       run the server (see booking serve --help)
  certs [options]       write a development PKI (see booking certs --help)
  help                  print this help

  SEATS: numbers and ranges, separated by spaces or commas: 1 2 3, 1,2,3, 1-5, 1,3-5 8
  Combined: booking --book 1,2,3 --cancel 1,2 --show runs book, then cancel,
  then show, stopping at the first failure.

options (each also read from the environment variable shown):
  --address HOST:PORT   BOOKING_ADDRESS    default ${DEFAULT_ADDRESS}
  --certs-dir DIR       BOOKING_CERTS_DIR  default certs
  --ca FILE             BOOKING_CA         default DIR/ca.crt
  --cert FILE           BOOKING_CERT       default DIR/alice.crt
  --key FILE            BOOKING_KEY        default DIR/alice.key
  --as NAME             use DIR/NAME.crt and DIR/NAME.key (e.g. --as bob, --as admin)
  --show-id ID          the show (default: the server's default show)
  --request-id ID       idempotency key of a single book or cancel (default: a fresh UUID)
  --deadline MS         give up after MS milliseconds, retries included (default 5000)
  --json                print one JSON object per operation (errors: one JSON line on stderr)
  -h, --help            print this help

exit codes: 0 done; 1 the service refused or failed the request;
            2 usage error, unreadable certificates, or no answer from the server
`;

const optionSpec = {
  book: { type: "string", multiple: true },
  cancel: { type: "string", multiple: true },
  show: { type: "boolean" },
  address: { type: "string" },
  "certs-dir": { type: "string" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  as: { type: "string" },
  "show-id": { type: "string" },
  "request-id": { type: "string" },
  deadline: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Subcommands handled by other modules: everything after them is theirs. */
const delegated = new Set(["serve", "certs"]);

/**
 * Reads a `booking` command line. Pure: the environment comes in as a
 * parameter, nothing is read from disk and nothing connects. Seat lists are
 * fully checked here, so mistakes fail before any connection is made.
 *
 * Throws {@link UsageError} with a one-line message.
 */
export function parseCliArguments(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): CliCommand {
  const first = argv[0];
  if (first === "serve" || first === "certs") return { kind: first, argv: argv.slice(1) };
  if (first === "help") return { kind: "help" };

  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: optionSpec, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    throw new UsageError(oneLine(error instanceof Error ? error.message : String(error)));
  }
  const { values, tokens } = parsed;
  if (values.help === true) return { kind: "help" };

  // Seat tokens per write, in command-line order. A positional extends the
  // latest `book`/`cancel` (subcommand or flag), so `--book 1 2 3` works too.
  const seatTokens: Record<"book" | "cancel", string[] | undefined> = { book: undefined, cancel: undefined };
  let show = false;
  let current: "book" | "cancel" | undefined;
  let sawCommand = false;
  for (const token of tokens) {
    if (token.kind === "option") {
      if (token.name === "book" || token.name === "cancel") {
        current = token.name;
        (seatTokens[current] ??= []).push(token.value ?? "");
      } else if (token.name === "show") {
        show = true;
        current = undefined;
      }
      continue;
    }
    if (token.kind !== "positional") continue;
    const word = token.value;
    if (!sawCommand && current === undefined && (word === "book" || word === "cancel" || word === "show")) {
      sawCommand = true;
      if (word === "show") show = true;
      else {
        current = word;
        seatTokens[word] ??= [];
      }
    } else if (current !== undefined) {
      seatTokens[current]?.push(word);
    } else if (delegated.has(word) || word === "help") {
      throw new UsageError(`"${word}" must be the first argument: booking ${word} ...`);
    } else {
      throw new UsageError(sawCommand ? `unexpected argument "${word}"` : `unknown command "${word}"`);
    }
  }

  const operations: CliOperation[] = [];
  for (const kind of ["book", "cancel"] as const) {
    const list = seatTokens[kind];
    if (list === undefined) continue;
    try {
      operations.push({ kind, seats: parseSeatList(list) });
    } catch (error) {
      if (isSeatListError(error)) throw new UsageError(`${kind}: ${error.message}`);
      throw error;
    }
  }
  if (show) operations.push({ kind: "show" });
  if (operations.length === 0) throw new UsageError("nothing to do: give a command such as book 1 2 3, cancel 1 or show");

  const requestId = nonEmpty(values["request-id"]);
  if (requestId !== undefined && operations.filter((operation) => operation.kind !== "show").length > 1) {
    throw new UsageError("--request-id names one request; it cannot serve both book and cancel");
  }
  return {
    kind: "client",
    operations,
    connection: connection(values, env),
    showId: values["show-id"] ?? "",
    requestId,
    deadlineMs: deadline(values.deadline),
    json: values.json === true,
  };
}

function connection(
  values: Partial<Record<"address" | "certs-dir" | "ca" | "cert" | "key" | "as", string>>,
  env: Readonly<Record<string, string | undefined>>,
): CliConnection {
  const certsDir = nonEmpty(values["certs-dir"]) ?? nonEmpty(env["BOOKING_CERTS_DIR"]) ?? "certs";
  const as = values.as;
  if (as !== undefined) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(as)) {
      throw new UsageError(`--as takes a certificate name such as alice, bob or admin, got "${as}"`);
    }
    if (values.cert !== undefined || values.key !== undefined) {
      throw new UsageError("--as chooses the certificate and key; do not combine it with --cert or --key");
    }
  }
  const fromAs = (extension: string) => (as === undefined ? undefined : join(certsDir, `${as}.${extension}`));
  return {
    address: nonEmpty(values.address) ?? nonEmpty(env["BOOKING_ADDRESS"]) ?? DEFAULT_ADDRESS,
    caPath: nonEmpty(values.ca) ?? nonEmpty(env["BOOKING_CA"]) ?? join(certsDir, "ca.crt"),
    certPath: nonEmpty(values.cert) ?? fromAs("crt") ?? nonEmpty(env["BOOKING_CERT"]) ?? join(certsDir, "alice.crt"),
    keyPath: nonEmpty(values.key) ?? fromAs("key") ?? nonEmpty(env["BOOKING_KEY"]) ?? join(certsDir, "alice.key"),
  };
}

function deadline(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`--deadline takes a whole number of milliseconds >= 1, got "${raw}"`);
  }
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}
