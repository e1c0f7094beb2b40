/** How the CLI declares an option, as node:util parseArgs takes it. */
interface OptionShape {
  readonly type: "string" | "boolean";
  readonly short?: string;
}

/** A single-dash word that names no option, e.g. `-bok`: the message quotes it. */
export class SingleDashFlagError extends Error {
  override readonly name = "SingleDashFlagError";
}

/** What {@link doubleDashLongFlags} makes of a command line. */
export interface ScannedCommandLine {
  /** The words for parseArgs, long options with two dashes. */
  readonly args: string[];
  /** The word after an id command (see `idCommands`), taken out of `args`; undefined when there is none. */
  readonly id: string | undefined;
}

/**
 * Rewrites the seed program's spelling of long options, `-book 1 2 3`,
 * `-show-id=small`, into `--book 1 2 3`, `--show-id=small`. The seed was a Go
 * program, and Go's flag package reads `-flag` and `--flag` alike, so scripts
 * written for it keep working.
 *
 * Only words in option position change: the value after a string option
 * (`--name -x`) and everything after `--` are left alone, as are single
 * letters (`-h`). A single-dash word of two or more letters that names no
 * option throws {@link SingleDashFlagError} rather than being read as a
 * bundle of short options.
 *
 * When the first positional word is one of `idCommands` (`confirm`), the word
 * after it is its id whatever it looks like, unless it names an option: hold
 * ids are URL-safe base64 and may start with a dash (`confirm -x3F…`). It is
 * returned as `id` and left out of `args`.
 */
export function doubleDashLongFlags(
  argv: readonly string[],
  options: Readonly<Record<string, OptionShape>>,
  idCommands: ReadonlySet<string> = new Set(),
): ScannedCommandLine {
  const args: string[] = [];
  let id: string | undefined;
  let takesValue = false;
  let sawPositional = false;
  for (let index = 0; index < argv.length; index++) {
    const word = argv[index] ?? "";
    if (takesValue) {
      takesValue = false;
      args.push(word);
      continue;
    }
    if (word === "--") {
      args.push(...argv.slice(index));
      break;
    }
    const long = /^--?([A-Za-z][A-Za-z0-9-]*)(=.*)?$/s.exec(word);
    const name = long?.[1];
    const option = name === undefined ? undefined : options[name];
    if (!word.startsWith("-") || word === "-") {
      args.push(word);
      const next = argv[index + 1];
      if (!sawPositional && idCommands.has(word) && next !== undefined && next !== "--" && !namesOption(next, options)) {
        id = next;
        index++;
      }
      sawPositional = true;
      continue;
    }
    if (long === null || name === undefined || (!word.startsWith("--") && name.length === 1)) {
      args.push(word);
      continue;
    }
    if (option === undefined) {
      if (!word.startsWith("--")) throw new SingleDashFlagError(`unknown option "${word.split("=")[0]}"`);
      args.push(word); // parseArgs names the unknown --option itself
      continue;
    }
    args.push(`--${name}${long[2] ?? ""}`);
    takesValue = option.type === "string" && long[2] === undefined;
  }
  return { args, id };
}

/** True for `-h`, `--json`, `-json`, `--ttl=5m`: a word that names one of `options`. */
function namesOption(word: string, options: Readonly<Record<string, OptionShape>>): boolean {
  const name = /^--?([A-Za-z][A-Za-z0-9-]*)(=.*)?$/s.exec(word)?.[1];
  if (name === undefined) return false;
  if (name.length === 1 && !word.startsWith("--")) return Object.values(options).some((option) => option.short === name);
  return options[name] !== undefined;
}
