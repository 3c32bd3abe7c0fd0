/**
 * Errors Corral reports to its users. Every failure a user can cause or meet has a stable `code`
 * (for scripts and the API) and a message that says what happened and what to do about it.
 * The CLI prints `corral: <message>` and exits non-zero; it never prints a stack trace for these.
 */
export class CorralError<C extends string = string> extends Error {
  override readonly name: string = "CorralError";
  constructor(
    /**
     * Stable, machine-readable identifier, e.g. "KERNEL_NOT_FOUND". Never reworded. A module
     * declares its codes as a union (SpecErrorCode, ComposeErrorCode, ...) and throws
     * CorralError<ItsCode>, so a code is spelt once and a caller can switch on them.
     */
    readonly code: C,
    message: string,
    options?: { cause?: unknown; exitCode?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = options?.exitCode ?? 1;
  }
  /** Process exit status the CLI uses for this error. */
  readonly exitCode: number;
}

export function isCorralError(e: unknown): e is CorralError {
  return e instanceof CorralError;
}

/**
 * An error about one field of a VM spec (src/vm/spec.ts): the message names the field by its path
 * in the spec ("memory", "boot.kernel"), and a front end can name it its own way: the CLI by the
 * flag that set it ("--memory"), so the machine builder never writes CLI text.
 */
export class FieldError<C extends string = string> extends CorralError<C> {
  constructor(
    code: C,
    /** The field's path in the spec, e.g. "harts" or "devices[2].path". */
    readonly field: string,
    private readonly say: (name: string) => string,
    options?: { cause?: unknown; exitCode?: number },
  ) {
    super(code, say(field), options);
  }

  /** The same error with the field called `name`. */
  renamed(name: string): CorralError<C> {
    return new CorralError(this.code, this.say(name), { cause: this, exitCode: this.exitCode });
  }
}

/** Set (to anything) to see the stack of an unexpected exception. */
export const DEBUG_ENV = "CORRAL_DEBUG";

/**
 * What the CLI prints for a failure, and its exit status: a CorralError is its message; anything
 * else is a bug, reported as one "internal error" line (70, EX_SOFTWARE in sysexits.h), with its
 * stack only when $CORRAL_DEBUG is set.
 */
export function describeFailure(e: unknown, env: NodeJS.ProcessEnv = process.env): { text: string; code: number } {
  if (isCorralError(e)) return { text: `corral: ${e.message}\n`, code: e.exitCode };
  const debug = env[DEBUG_ENV] !== undefined && env[DEBUG_ENV] !== "";
  const what =
    e instanceof Error
      ? debug
        ? (e.stack ?? e.message)
        : `${e.name}: ${e.message.split("\n")[0]}`
      : String(e).split("\n")[0];
  return {
    text: `corral: internal error: ${what}${debug ? "" : ` (please report it; set ${DEBUG_ENV}=1 for the stack)`}\n`,
    code: 70,
  };
}
