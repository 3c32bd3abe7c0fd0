/**
 * The stable codes of the errors of the system-call layer (src/sys): one union, so the compiler checks every
 * code this module throws and a caller can switch on them (src/errors.ts).
 */
import { CorralError } from "../errors.js";

export type SysErrorCode = "NET_NO_PROCESS";

/** An error of the system-call layer (src/sys): a CorralError whose code is a SysErrorCode. */
export class SysCallError extends CorralError<SysErrorCode> {}
