/**
 * The stable codes of the errors of binary formats (src/formats): one union, so the compiler checks every
 * code this module throws and a caller can switch on them (src/errors.ts).
 */
import { CorralError } from "../errors.js";

export type FormatErrorCode =
  | "CPIO_BAD_ARCHIVE"
  | "CPIO_BAD_PATH"
  | "CPIO_TOO_LARGE"
  | "ELF_BAD_HEADER"
  | "ELF_BAD_MAGIC"
  | "ELF_NOT_64BIT"
  | "ELF_NOT_LITTLE_ENDIAN"
  | "ELF_TRUNCATED"
  | "ELF_WRONG_MACHINE"
  | "FDT_BAD_BLOB"
  | "FDT_BAD_VALUE";

/** An error of binary formats (src/formats): a CorralError whose code is a FormatErrorCode. */
export class FormatError extends CorralError<FormatErrorCode> {}
