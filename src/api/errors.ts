/**
 * The stable codes of the errors of the library API (src/api): one union, so the compiler checks every
 * code this module throws and a caller can switch on them (src/errors.ts).
 */
import { CorralError } from "../errors.js";

export type ApiErrorCode =
  "EMULATOR_FAULT" | "GUEST_FILE_READ" | "GUEST_FILE_WRITE" | "GUEST_NO_STATUS" | "GUEST_PANIC" | "GUEST_RESET";

/** An error of the library API (src/api): a CorralError whose code is a ApiErrorCode. */
export class ApiError extends CorralError<ApiErrorCode> {}
