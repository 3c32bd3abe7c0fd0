/**
 * The stable codes of the errors of the disk backends (src/disk): one union, so the compiler checks every
 * code this module throws and a caller can switch on them (src/errors.ts).
 */
import { CorralError } from "../errors.js";

export type DiskErrorCode =
  | "BAD_DISK_FORMAT"
  | "DISK_CLOSED"
  | "DISK_FORMAT_UNKNOWN"
  | "DISK_IN_USE"
  | "DISK_IO"
  | "DISK_IS_RECORD"
  | "DISK_LOCK_FAILED"
  | "DISK_NOT_A_FILE"
  | "DISK_NOT_FOUND"
  | "DISK_RECORDED_RAW"
  | "DISK_RECORD_FAILED"
  | "DISK_UNREADABLE"
  | "OVERLAY_BAD_SIZE"
  | "OVERLAY_BASE_CHANGED"
  | "OVERLAY_BASE_PATH_TOO_LONG"
  | "OVERLAY_RECORD_MISMATCH"
  | "OVERLAY_CORRUPT"
  | "OVERLAY_EXISTS"
  | "OVERLAY_VERSION";

/** An error of the disk backends (src/disk): a CorralError whose code is a DiskErrorCode. */
export class DiskError extends CorralError<DiskErrorCode> {}
