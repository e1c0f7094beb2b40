import { parseCliArguments, UsageError } from "../../cli/cli-arguments.js";

/** The message of the UsageError a command line is refused with; throws when it is accepted. */
export function usageErrorOf(argv: readonly string[]): string {
  try {
    parseCliArguments(argv, {});
  } catch (error) {
    if (error instanceof UsageError) return error.message;
    throw error;
  }
  throw new Error(`expected a usage error for ${argv.join(" ")}`);
}
