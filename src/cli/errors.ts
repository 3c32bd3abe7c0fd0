/**
 * The stable codes of the errors of the corral verbs (src/cli): one union, so the compiler checks every
 * code this module throws and a caller can switch on them (src/errors.ts).
 */
import { CorralError } from "../errors.js";
import type { UsageErrorCode } from "../args.js";

export type CliErrorCode = UsageErrorCode | "BAD_CPUS";

/** An error of the corral verbs (src/cli): a CorralError whose code is a CliErrorCode. */
export class CliError extends CorralError<CliErrorCode> {}
