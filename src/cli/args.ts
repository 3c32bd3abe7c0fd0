/**
 * The one argument layer of the `corral` verbs: node:util's parseArgs with Corral's rules on
 * top, so every verb reads its flags the same way and fails the same way.
 *  - A flag's value may start with '-' when it is a number (`--cpus -1`, `-t -5`): it is taken as
 *    the value and the verb refuses it with its own message, instead of parseArgs' "ambiguous".
 *  - Every usage failure is one code, USAGE (exit status 2 unless a dialect says otherwise,
 *    as runc's does), with a message that ends by naming the verb's --help.
 * The runc-compatible dialect (src/containers/oci/flags.ts) reads flags runc's way and fails
 * with the same USAGE code.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { CorralError } from "../errors.js";

/** The code of every "the command line is wrong" failure, for every verb and dialect. */
export const USAGE = "USAGE";
export type UsageErrorCode = typeof USAGE;

/** A usage failure: one line that says what to do. */
export function usageError(message: string, exitCode = 2): CorralError<UsageErrorCode> {
  return new CorralError(USAGE, message, { exitCode });
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parse `argv` for `verb` ("run", "vm", ...). Options and results are parseArgs' own
 * (strict, positionals allowed).
 */
export function parseVerbArgs<O extends Options>(
  verb: string,
  argv: readonly string[],
  options: O,
): ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args: joinNegativeValues(argv, options), options, allowPositionals: true, strict: true });
  } catch (e) {
    const msg = e instanceof Error ? (e.message.split("\n")[0] ?? "") : String(e);
    throw usageError(`${msg}; see 'corral ${verb} --help'`);
  }
}

/** `--flag -5` and `-f -5` as `--flag=-5` for string options, so a negative number is a value. */
export function joinNegativeValues(argv: readonly string[], options: Options): string[] {
  const takesValue = (a: string): string | undefined => {
    if (a.startsWith("--")) return options[a.slice(2)]?.type === "string" ? a.slice(2) : undefined;
    if (/^-[A-Za-z]$/.test(a))
      return Object.entries(options).find(([, o]) => o.short === a[1] && o.type === "string")?.[0];
    return undefined;
  };
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const name = takesValue(a);
    const next = argv[i + 1];
    if (name !== undefined && next !== undefined && /^-\d/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}
