/**
 * The stable codes of the errors of the board's devices (src/devices): one union, so the compiler checks every
 * code this module throws and a caller can switch on them (src/errors.ts).
 */
import { CorralError } from "../errors.js";

export type DeviceErrorCode = "MMIO_BAD_RANGE" | "MMIO_OVERLAP";

/** An error of the board's devices (src/devices): a CorralError whose code is a DeviceErrorCode. */
export class DeviceError extends CorralError<DeviceErrorCode> {}
