import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { mount, umount } from "../../sys/fs.js";

/**
 * A container's root filesystem: overlayfs with the shared image as the read-only lower layer
 * and a private upper layer (Documentation/filesystems/overlayfs.rst).
 */
export function mountOverlay(lower: string, dir: string): string {
  const upper = join(dir, "upper"),
    work = join(dir, "work"),
    merged = join(dir, "merged");
  for (const d of [upper, work, merged]) mkdirSync(d, { recursive: true, mode: 0o755 });
  mount("overlay", merged, "overlay", 0, `lowerdir=${lower},upperdir=${upper},workdir=${work}`);
  return merged;
}

/** Unmount the merged view; the upper layer (what the container wrote) stays until removeOverlay. */
export function unmountOverlay(dir: string): void {
  try {
    umount(join(dir, "merged"));
  } catch {
    // not mounted (a failed run, or released when the container exited) or already gone
  }
}

export function removeOverlay(dir: string): void {
  unmountOverlay(dir);
  rmSync(dir, { recursive: true, force: true });
}
