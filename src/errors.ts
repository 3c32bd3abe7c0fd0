/**
 * Errors Corral reports to its users. Every failure a user can cause or meet has a stable `code`
 * (for scripts and the API) and a message that says what happened and what to do about it.
 * The CLI prints `corral: <message>` and exits non-zero; it never prints a stack trace for these.
 */
export class CorralError extends Error {
  override readonly name: string = "CorralError";
  constructor(
    /** Stable, machine-readable identifier, e.g. "KERNEL_NOT_FOUND". Never reworded. */
    readonly code: string,
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
  const what = e instanceof Error ? (debug ? (e.stack ?? e.message) : `${e.name}: ${e.message.split("\n")[0]}`) : String(e).split("\n")[0];
  return { text: `corral: internal error: ${what}${debug ? "" : ` (please report it; set ${DEBUG_ENV}=1 for the stack)`}\n`, code: 70 };
}
