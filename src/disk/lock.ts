/**
 * Exclusive use of disk images across VMs. A writer takes flock(LOCK_EX), a reader (a read-only
 * disk, or the base of an overlay) flock(LOCK_SH), both non-blocking, on the image's own file
 * descriptor. flock locks belong to the open file description, so they conflict between two VMs of
 * one process as well as between processes, and the kernel drops them when the descriptor is
 * closed or the process dies: nothing is left behind on close or crash (no lock files to go stale).
 */
import { EWOULDBLOCK } from "../sys/errno.js";
import { flock } from "../sys/io.js";
import { LOCK_EX, LOCK_NB, LOCK_SH } from "../sys/layout.js";
import { DiskError } from "./errors.js";

export type LockMode = "shared" | "exclusive";

/** Lock `fd` (image `path`) or throw DISK_IN_USE. */
export function lockImage(fd: number, path: string, mode: LockMode): void {
  let err: number;
  try {
    err = flock(fd, (mode === "exclusive" ? LOCK_EX : LOCK_SH) | LOCK_NB);
  } catch (e) {
    throw new DiskError(
      "DISK_LOCK_FAILED",
      `cannot lock disk image ${path}: flock is unavailable (${e instanceof Error ? e.message : String(e)}); reinstall Corral's dependencies (koffi)`,
      { cause: e },
    );
  }
  if (err === 0) return;
  if (err === EWOULDBLOCK) {
    throw new DiskError(
      "DISK_IN_USE",
      mode === "shared"
        ? `disk image ${path} is open read-write by another Corral VM; stop that VM first`
        : `disk image ${path} is in use by another Corral VM; stop that VM, or attach the image read-only with ",ro" in both`,
    );
  }
  throw new DiskError(
    "DISK_LOCK_FAILED",
    `cannot lock disk image ${path} (errno ${err}); is it on a file system without flock support?`,
  );
}
