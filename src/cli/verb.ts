/**
 * What the simple verbs (fork, restore, snapshot, stop) share: their flags and -h/--help read by
 * the one argument layer (src/args.ts), the help printed, and the count of positionals checked,
 * with one USAGE line that says what to give.
 */
import { parseVerbArgs, usageError, type Args, type Options } from "../args.js";

const HELP = { help: { type: "boolean", short: "h" } } as const;

export interface VerbShape {
  /** Printed for -h/--help. */
  usage: string;
  /** How many positionals it takes: [at least, at most]. */
  positionals: readonly [number, number];
  /** The USAGE message when their count is wrong ("name the VM to fork: corral fork NAME --count N"). */
  missing: string;
}

/** The parsed command line, or undefined once the help is printed (the verb then exits 0). */
export function verbArgs<O extends Options>(
  verb: string,
  argv: readonly string[],
  options: O,
  shape: VerbShape,
): Args<O & typeof HELP> | undefined {
  const parsed = parseVerbArgs(verb, argv, { ...options, ...HELP });
  if ((parsed.values as { help?: boolean }).help === true) {
    process.stdout.write(shape.usage);
    return undefined;
  }
  const [min, max] = shape.positionals;
  if (parsed.positionals.length < min || parsed.positionals.length > max) throw usageError(shape.missing);
  return parsed;
}
