/**
 * The stable codes of the errors of the CPU (src/cpu): one union, so the compiler checks every
 * code this module throws and a caller can switch on them (src/errors.ts).
 */
import { CorralError } from "../errors.js";

export type CpuErrorCode = "FPU_REGS_MISALIGNED" | "HOST_BIG_ENDIAN";

/** An error of the CPU (src/cpu): a CorralError whose code is a CpuErrorCode. */
export class CpuError extends CorralError<CpuErrorCode> {}
