import { join } from "node:path";
import { parseArgs } from "node:util";
import { checkServerAddress, DEFAULT_ADDRESS } from "../client/index.js";
import { DEFAULT_CERTS_DIR } from "../wire/wire-constants.js";
import { isSeatListError, parseSeatList } from "../client/index.js";
import { DurationSyntaxError, parseDuration } from "./cli-duration.js";
import { doubleDashLongFlags, SingleDashFlagError } from "./single-dash-flags.js";

/** The text `booking --help` prints. */
export { CLI_USAGE } from "./cli-usage.js";

/** A command line that cannot be run: bad flag, bad seat list, nothing to do. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** True for errors raised by {@link parseCliArguments}. */
export function isUsageError(error: unknown): error is UsageError {
  return error instanceof UsageError;
}

/**
 * One thing the client does. book, cancel and show combine (and run in that
 * order); every other operation is a command line of its own.
 */
export type CliOperation =
  | { readonly kind: "book"; readonly seats: readonly number[] }
  | { readonly kind: "cancel"; readonly seats: readonly number[] }
  | { readonly kind: "show" }
  | { readonly kind: "hold"; readonly seats: readonly number[]; readonly ttlMs: number | undefined }
  | { readonly kind: "extend"; readonly holdId: string; readonly ttlMs: number | undefined }
  | { readonly kind: "confirm" | "release" | "hold-info"; readonly holdId: string }
  | { readonly kind: "shows" }
  | { readonly kind: "shows create"; readonly showId: string; readonly totalSeats: number; readonly displayName: string }
  | { readonly kind: "shows close"; readonly showId: string }
  | { readonly kind: "shows resize"; readonly showId: string; readonly totalSeats: number }
  /** Streams the show's changes until interrupted. */
  | { readonly kind: "watch" };

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
  ttl: { type: "string" },
  name: { type: "string" },
  "request-id": { type: "string" },
  deadline: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Commands that run alone, with their own arguments. */
const SOLO_COMMANDS = new Set(["hold", "extend", "confirm", "release", "hold-info", "shows", "watch"]);
type SoloCommand = "hold" | "extend" | "confirm" | "release" | "hold-info" | "shows" | "watch";
/** Commands whose first argument is a hold id, which may start with a dash. */
const HOLD_ID_COMMANDS: ReadonlySet<string> = new Set(["extend", "confirm", "release", "hold-info"]);

/** Subcommands handled by other modules: everything after them is theirs. */
const delegated = new Set(["serve", "certs"]);

/**
 * Reads a `booking` command line. Pure: the environment comes in as a
 * parameter, nothing is read from disk and nothing connects. Seat lists,
 * durations and the arguments of each command are fully checked here, so
 * mistakes fail before any connection is made. Long options may start with
 * one dash (`-book 1 2 3`), as the seed's Go client allowed.
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
  let holdIdWord: string | undefined;
  try {
    const scanned = doubleDashLongFlags(argv, optionSpec, HOLD_ID_COMMANDS);
    holdIdWord = scanned.id;
    parsed = parseArgs({ args: scanned.args, options: optionSpec, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    if (error instanceof SingleDashFlagError) throw new UsageError(error.message);
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
  let solo: { readonly command: SoloCommand; readonly args: string[] } | undefined;
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
    if (solo !== undefined) {
      solo.args.push(word);
    } else if (!sawCommand && current === undefined && (word === "book" || word === "cancel" || word === "show")) {
      sawCommand = true;
      if (word === "show") show = true;
      else {
        current = word;
        seatTokens[word] ??= [];
      }
    } else if (!sawCommand && current === undefined && SOLO_COMMANDS.has(word)) {
      sawCommand = true;
      solo = { command: word as SoloCommand, args: holdIdWord === undefined ? [] : [holdIdWord] };
    } else if (current !== undefined) {
      seatTokens[current]?.push(word);
    } else if (delegated.has(word) || word === "help") {
      throw new UsageError(`"${word}" must be the first argument: booking ${word} ...`);
    } else {
      throw new UsageError(sawCommand ? `unexpected argument "${word}"` : `unknown command "${word}"`);
    }
  }

  const operations: CliOperation[] = [];
  if (solo !== undefined) {
    if (show || seatTokens.book !== undefined || seatTokens.cancel !== undefined) {
      throw new UsageError(`${solo.command} runs alone; it cannot be combined with --book, --cancel or --show`);
    }
    operations.push(soloOperation(solo.command, solo.args, values));
  } else {
    for (const kind of ["book", "cancel"] as const) {
      const list = seatTokens[kind];
      if (list !== undefined) operations.push({ kind, seats: seats(kind, list) });
    }
    if (show) operations.push({ kind: "show" });
  }
  if (operations.length === 0) throw new UsageError("nothing to do: give a command such as book 1 2 3, cancel 1, show or hold 5-8");
  checkFlagsApply(operations, values);

  for (const flag of ["show-id", "request-id"] as const) {
    if (values[flag] === "") throw new UsageError(`--${flag} is empty; give a value, or leave it out`);
  }
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

type OptionValues = Partial<Record<"ttl" | "name" | "show-id" | "deadline" | "request-id", string>>;

function soloOperation(command: SoloCommand, args: readonly string[], values: OptionValues): CliOperation {
  switch (command) {
    case "hold":
      return { kind: "hold", seats: seats("hold", args), ttlMs: ttl(values.ttl) };
    case "extend":
      return { kind: "extend", holdId: holdId(command, args), ttlMs: ttl(values.ttl) };
    case "confirm":
    case "release":
    case "hold-info":
      return { kind: command, holdId: holdId(command, args) };
    case "shows":
      return showsOperation(args, values);
    case "watch":
      if (args.length > 0) throw new UsageError(`watch takes no arguments (got "${args.join(" ")}"); choose the show with --show-id`);
      return { kind: "watch" };
  }
}

function showsOperation(args: readonly string[], values: OptionValues): CliOperation {
  const [action, showId = "", count = ""] = args;
  const arity = (wanted: number, form: string) => {
    if (args.length !== wanted) throw new UsageError(`shows ${action} takes ${form}, e.g. booking shows ${action} ${form === "ID" ? "gala" : "gala 120"}`);
  };
  switch (action) {
    case undefined:
      return { kind: "shows" };
    case "create":
      arity(3, "ID SEATS");
      return { kind: "shows create", showId, totalSeats: seatCount(count), displayName: values.name ?? "" };
    case "close":
      arity(2, "ID");
      return { kind: "shows close", showId };
    case "resize":
      arity(3, "ID SEATS");
      return { kind: "shows resize", showId, totalSeats: seatCount(count) };
    default:
      throw new UsageError(`unknown command "shows ${action}": use shows, shows create ID SEATS, shows close ID or shows resize ID SEATS`);
  }
}

/** Refuses options that the chosen command would silently ignore. */
function checkFlagsApply(operations: readonly CliOperation[], values: OptionValues): void {
  const kinds = new Set(operations.map((operation) => operation.kind));
  const only = (flag: keyof OptionValues, allowed: readonly CliOperation["kind"][]) => {
    if (values[flag] === undefined || allowed.some((kind) => kinds.has(kind))) return;
    throw new UsageError(`--${flag} applies to ${allowed.join(", ")}, not to ${[...kinds].join(", ")}`);
  };
  only("ttl", ["hold", "extend"]);
  only("name", ["shows create"]);
  only("show-id", ["book", "cancel", "show", "hold", "watch"]);
  // A watch runs until interrupted and writes nothing.
  if (kinds.has("watch")) {
    if (values.deadline !== undefined) throw new UsageError("--deadline does not apply to watch, which runs until interrupted (Ctrl-C)");
    if (values["request-id"] !== undefined) throw new UsageError("--request-id does not apply to watch, which writes nothing");
  }
}

function seats(command: string, tokens: readonly string[]): number[] {
  try {
    return parseSeatList(tokens);
  } catch (error) {
    if (isSeatListError(error)) throw new UsageError(`${command}: ${error.message}`);
    throw error;
  }
}

function holdId(command: string, args: readonly string[]): string {
  const [id, ...extra] = args;
  if (id === undefined || id === "" || extra.length > 0) {
    throw new UsageError(`${command} takes one hold id, as printed by booking hold: booking ${command} HOLD_ID`);
  }
  return id;
}

function ttl(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  try {
    return parseDuration(raw);
  } catch (error) {
    if (error instanceof DurationSyntaxError) throw new UsageError(`--ttl: ${error.message}`);
    throw error;
  }
}

/** The largest seat count the protocol can carry (a uint32); the server's own maximum is lower. */
const MAX_WIRE_SEAT_COUNT = 4_294_967_295;

/** A show's seat count: digits, 1 to what the protocol carries; the server rules on its own maximum. */
function seatCount(raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1 || value > MAX_WIRE_SEAT_COUNT) {
    throw new UsageError(`SEATS is the number of seats, a whole number from 1 (e.g. 120), got "${raw}"`);
  }
  return value;
}

function connection(
  values: Partial<Record<"address" | "certs-dir" | "ca" | "cert" | "key" | "as", string>>,
  env: Readonly<Record<string, string | undefined>>,
): CliConnection {
  const certsDir = nonEmpty(values["certs-dir"]) ?? nonEmpty(env["BOOKING_CERTS_DIR"]) ?? DEFAULT_CERTS_DIR;
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
  if (values.address === "") throw new UsageError("--address is empty; give HOST:PORT, or leave it out for the default");
  const address = nonEmpty(values.address) ?? nonEmpty(env["BOOKING_ADDRESS"]) ?? DEFAULT_ADDRESS;
  try {
    checkServerAddress(values.address === undefined && nonEmpty(env["BOOKING_ADDRESS"]) !== undefined ? "BOOKING_ADDRESS" : "--address", address);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return {
    address,
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
