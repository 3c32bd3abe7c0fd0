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
