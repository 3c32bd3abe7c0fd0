/**
 * The one argument layer of Corral's command lines: node:util's parseArgs with Corral's rules on
 * top, so every verb reads its flags the same way and fails the same way. Two dialects share it:
 *  - "corral" (every `corral` verb): GNU style, as parseArgs reads it. A flag's value may start
 *    with '-' when it is a number (`--cpus -1`, `-t -5`): it is taken as the value and the verb
 *    refuses it with its own message, instead of parseArgs' "ambiguous". Usage failures exit 2.
 *  - "runc" (`corral oci`, bin/corral-oci): runc's command line (urfave/cli on Go's flag package),
 *    as podman and containerd call it: `--name value`, `--name=value`, `-name value`, one-letter
 *    aliases, `--bool=false`, a value taken whatever it starts with, flags only before the first
 *    positional (`exec ID cmd -x`), and global flags before the command (parseGlobalArgs).
 *    runc exits 1 on a usage failure, so this dialect does too.
 * Both are rewritten into parseArgs' own form and parsed by it: one parser, one set of messages.
 * Every usage failure is one code, USAGE, with a message that ends by naming the verb's --help.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { CorralError } from "./errors.js";

/** The code of every "the command line is wrong" failure, for every verb and dialect. */
export const USAGE = "USAGE";
export type UsageErrorCode = typeof USAGE;

/** A usage failure: one line that says what to do. */
export function usageError(message: string, exitCode = 2): CorralError<UsageErrorCode> {
  return new CorralError(USAGE, message, { exitCode });
}

export type Options = NonNullable<ParseArgsConfig["options"]>;

export type Dialect = "corral" | "runc";

export interface ArgsHow {
  /** "corral" unless given; see the top of this file. */
  dialect?: Dialect;
  /**
   * Flags end at the first positional, which with all after it is positional (always so in the
   * runc dialect): `corral container run IMAGE sh -c ...` passes -c to the command.
   */
  flagsFirst?: boolean;
}

/** What a verb's command line parsed into: parseArgs' own result, typed by the verb's options. */
export type Args<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

/** The exit status of a usage failure in `dialect`. */
const usageExit = (dialect: Dialect): number => (dialect === "runc" ? 1 : 2);

/**
 * Parse `argv` for `verb` ("run", "container run", "oci create", ...). Options and results are
 * parseArgs' own (strict, positionals allowed).
 */
export function parseVerbArgs<O extends Options>(
  verb: string,
  argv: readonly string[],
  options: O,
  how: ArgsHow = {},
): Args<O> {
  const dialect = how.dialect ?? "corral";
  const fail = (e: unknown): never => {
    if (e instanceof CorralError) throw e;
    const msg = e instanceof Error ? (e.message.split("\n")[0] ?? "") : String(e);
    throw usageError(`${msg}; see 'corral ${verb} --help'`, usageExit(dialect));
  };
  try {
    if (dialect === "runc") {
      const { flags, rest } = runcTokens(argv, options, verb);
      const { values } = parseArgs({ args: flags, options, allowPositionals: false, strict: true });
      return { values, positionals: rest } as Args<O>;
    }
    let args = hideNegativePositionals(joinNegativeValues(argv, options));
    if (how.flagsFirst === true) {
      const at = firstPositional(args, options);
      if (at >= 0 && args[at] !== "--") args = [...args.slice(0, at), "--", ...args.slice(at)];
    }
    const r = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { ...r, positionals: r.positionals.map((a) => (a.startsWith(HIDDEN) ? a.slice(1) : a)) };
  } catch (e) {
    return fail(e);
  }
}

/**
 * Global flags before a command, runc's way (`corral oci --root DIR --log F create ...`): the
 * flags up to the first positional, parsed with `options`; `command` is that positional and
 * `rest` what follows it (undefined and [] when there is none).
 */
export function parseGlobalArgs<O extends Options>(
  what: string,
  argv: readonly string[],
  options: O,
): { values: Args<O>["values"]; command: string | undefined; rest: string[] } {
  const { values, positionals } = parseVerbArgs(what, argv, options, { dialect: "runc" });
  return { values, command: positionals[0], rest: positionals.slice(1) };
}

/** `--flag -5` and `-f -5` as `--flag=-5` for string options, so a negative number is a value. */
export function joinNegativeValues(argv: readonly string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const name = valueFlag(a, options);
    const next = argv[i + 1];
    if (name !== undefined && next !== undefined && /^-\d/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/**
 * A bare negative number that is no flag's value is a positional (`corral vm memory x -5`), for
 * the verb to refuse as negative: parseArgs would read it as the flag -5, so it is carried past
 * parseArgs behind a NUL, which no argument of a real command line contains.
 */
const HIDDEN = "\0";
function hideNegativePositionals(args: readonly string[]): string[] {
  const end = args.indexOf("--");
  return args.map((a, i) => ((end < 0 || i < end) && /^-\d/.test(a) ? HIDDEN + a : a));
}

/** The option `a` ("--name" or "-n", no "=") names when it takes a value. */
function valueFlag(a: string, options: Options): string | undefined {
  if (a.startsWith("--")) return options[a.slice(2)]?.type === "string" ? a.slice(2) : undefined;
  if (/^-[A-Za-z]$/.test(a))
    return Object.entries(options).find(([, o]) => o.short === a[1] && o.type === "string")?.[0];
  return undefined;
}

/** Where the first positional (or "--") of `args` is, or -1. */
function firstPositional(args: readonly string[], options: Options): number {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--" || a === "-" || !a.startsWith("-")) return i;
    if (valueFlag(a, options) !== undefined) i++;
  }
  return -1;
}

/** Go's strconv.ParseBool, which runc's boolean flags take after '='. */
const GO_BOOL: Record<string, boolean> = {
  ...Object.fromEntries(["1", "t", "T", "TRUE", "true", "True"].map((s) => [s, true])),
  ...Object.fromEntries(["0", "f", "F", "FALSE", "false", "False"].map((s) => [s, false])),
};

/**
 * runc's flags rewritten as parseArgs reads them (`--name=value`, `--name`), up to the first
 * positional; `rest` is that positional and everything after it (after a "--", what follows it).
 * An unknown flag is left for parseArgs to name in its "Unknown option" message.
 */
function runcTokens(argv: readonly string[], options: Options, verb: string): { flags: string[]; rest: string[] } {
  const named = (n: string): string | undefined =>
    options[n] !== undefined ? n : Object.entries(options).find(([, o]) => o.short === n)?.[0];
  const flags: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") return { flags, rest: argv.slice(i + 1) };
    if (a === "-" || !a.startsWith("-")) return { flags, rest: argv.slice(i) };
    const body = a.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const given = eq < 0 ? body : body.slice(0, eq);
    const name = named(given);
    if (name === undefined) {
      flags.push(`--${body}`);
      continue;
    }
    if (options[name]!.type === "boolean") {
      const v = eq < 0 ? true : GO_BOOL[body.slice(eq + 1)];
      if (v === undefined)
        throw usageError(
          `invalid boolean value '${body.slice(eq + 1)}' for ${a.slice(0, a.indexOf("="))}; see 'corral ${verb} --help'`,
          usageExit("runc"),
        );
      // Go's flags: the last one given wins.
      for (let j = flags.indexOf(`--${name}`); j >= 0; j = flags.indexOf(`--${name}`)) flags.splice(j, 1);
      if (v) flags.push(`--${name}`);
      continue;
    }
    const value = eq >= 0 ? body.slice(eq + 1) : argv[++i];
    // No value: parseArgs says the option needs one.
    flags.push(value === undefined ? `--${name}` : `--${name}=${value}`);
  }
  return { flags, rest: [] };
}
