/**
 * The stable codes of the errors of guest images (src/image): one union, so the compiler checks every
 * code this module throws and a caller can switch on them (src/errors.ts).
 */
import { CorralError } from "../errors.js";

export type ImageErrorCode =
  | "AGENT_NOT_BUILT"
  | "APT_BAD_RECORD"
  | "APT_NOT_FOUND"
  | "BAD_PACKAGE_NAME"
  | "BAD_SUITE"
  | "DEBIAN_STAGE_FAILED"
  | "DISK_EXISTS"
  | "DISK_FULL"
  | "DOWNLOAD_FAILED"
  | "IMAGE_BAD_BUSYBOX"
  | "IMAGE_BUSY"
  | "IMAGE_CORRUPT"
  | "IMAGE_IN_USE"
  | "IMAGE_MISSING"
  | "IMAGE_NAME_TAKEN"
  | "IMAGE_NOT_FOUND"
  | "IMAGE_UNPACK_FAILED"
  | "MIRROR_NOT_CONFIGURED"
  | "MIRROR_UNREACHABLE"
  | "MKE2FS_FAILED"
  | "MODULE_CYCLE"
  | "MODULE_NOT_FOUND"
  | "MODULE_UNREADABLE"
  | "NO_MKE2FS"
  | "PACKAGE_NOT_FOUND";

/** An error of guest images (src/image): a CorralError whose code is a ImageErrorCode. */
export class ImageError extends CorralError<ImageErrorCode> {}
