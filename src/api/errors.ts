/**
 * The stable codes of the errors of the library API (src/api): one union, so the compiler checks every
 * code this module throws and a caller can switch on them (src/errors.ts).
 */
import { CorralError } from "../errors.js";

export type ApiErrorCode =
  | "BAD_OPTION"
  | "EMULATOR_FAULT"
  | "EXEC_OUTPUT_LIMIT"
  | "FIRST_EXEC_LOST"
  | "GUEST_FILE_READ"
  | "GUEST_FILE_WRITE"
  | "GUEST_NO_STATUS"
  | "GUEST_PANIC"
  | "GUEST_RESET";

/** An error of the library API (src/api): a CorralError whose code is a ApiErrorCode. */
export class ApiError extends CorralError<ApiErrorCode> {}

/**
 * EXEC_OUTPUT_LIMIT: a command wrote more than `limit` bytes to one stream (ExecOptions.maxOutputBytes).
 * It was killed; what was kept of each stream (at most `limit` bytes) comes with the error.
 */
export class ExecOutputLimitError extends ApiError {
  constructor(
    readonly stream: "stdout" | "stderr",
    readonly limit: number,
    /** The output kept before the limit was reached. */
    readonly partial: { stdout: Buffer; stderr: Buffer },
    message: string,
  ) {
    super("EXEC_OUTPUT_LIMIT", message);
  }
}
