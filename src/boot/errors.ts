/**
 * The stable codes of the errors of kernel and firmware loading (src/boot): one union, so the compiler checks every
 * code this module throws and a caller can switch on them (src/errors.ts).
 */
import { CorralError } from "../errors.js";

export type BootErrorCode =
  | "ELF_NO_SEGMENTS"
  | "FIRMWARE_EMPTY"
  | "IMAGE_CHANGED"
  | "IMAGE_OUTSIDE_RAM"
  | "IMAGE_TOO_LARGE"
  | "KERNEL_EMPTY"
  | "KERNEL_FORMAT";

/** An error of kernel and firmware loading (src/boot): a CorralError whose code is a BootErrorCode. */
export class BootError extends CorralError<BootErrorCode> {}
