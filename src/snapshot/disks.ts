/**
 * A consistent point of a VM's disks for a snapshot, and the disks of a restore.
 *
 * At the snapshot (the machine paused, every request complete: virtio-blk answers each before
 * its notify returns), each disk is flushed, then:
 * - a raw image is frozen: it becomes the read-only base of a new overlay (src/disk/overlay.ts)
 *   in the VM's directory, on which the running VM continues; the snapshot records the base
 *   (path, device, inode, size, modification time: Corral's record, src/disk/record.ts);
 * - an overlay (already on a read-only base) is copied into the snapshot, and its base recorded;
 * - a read-only raw image is recorded as it is.
 * A restore gets, per disk, a new overlay on the recorded base (or a copy of the saved overlay):
 * its writes reach no other restore, nor the VM the snapshot was taken of. A base that changed
 * since (other inode, size or modification time) refuses the restore.
 */
import { chmodSync, copyFileSync, mkdirSync, statSync, type BigIntStats } from "node:fs";
import { join } from "node:path";
import type { DiskBackend } from "../disk/backend.js";
import { openDisk } from "../disk/open.js";
import { OverlayDisk } from "../disk/overlay.js";
import { baseIdentity, type BaseIdentity } from "../disk/record.js";
import type { VirtioBlk } from "../devices/virtio/blk.js";
import { sha256File, type DiskPart } from "./format.js";
import { SnapshotError } from "./state.js";

export interface FrozenDisk {
  part: DiskPart;
  /** Undo the freeze (the snapshot failed): the VM goes back to writing its image. */
  undo(): void;
}

function statOf(path: string): BigIntStats {
  return statSync(path, { bigint: true });
}

/**
 * Freeze the disk of `blk` (spec device `device`) for a snapshot into `dir`; `vmDisks` is where
 * the running VM's new overlays go (its VM directory). Runs with the machine paused.
 */
export function freezeDisk(blk: VirtioBlk, device: number, dir: string, vmDisks: string): FrozenDisk {
  const disk: DiskBackend = blk.backend;
  disk.flush();
  if (disk instanceof OverlayDisk) {
    const name = `disk${device}.ovl`;
    const to = join(dir, name);
    copyFileSync(disk.path, to);
    const part: DiskPart = {
      device,
      base: disk.identity.base,
      overlay: { name, size: statSync(to).size, sha256: sha256File(to) },
      readOnly: disk.readOnly,
    };
    return { part, undo: () => {} };
  }
  const base = baseIdentity(disk.path, statOf(disk.path));
  if (disk.readOnly) return { part: { device, base, overlay: null, readOnly: true }, undo: () => {} };
  // Raw and writable: the running VM moves onto an overlay over it.
  mkdirSync(vmDisks, { recursive: true });
  const ovl = join(vmDisks, `${blk.name}-${Date.now().toString(36)}.ovl`);
  disk.close();
  let next: DiskBackend;
  try {
    OverlayDisk.create(ovl, disk.path);
    next = openDisk({ path: ovl, format: "overlay" });
  } catch (e) {
    blk.replaceBackend(openDisk({ path: disk.path, format: "raw" }));
    throw e;
  }
  blk.replaceBackend(next);
  const mode = Number(statOf(disk.path).mode) & 0o7777;
  // The base is shared from now on: nobody may write it (overlay-format.md).
  chmodSync(disk.path, mode & ~0o222);
  const frozen = baseIdentity(disk.path, statOf(disk.path));
  return {
    part: { device, base: frozen, overlay: null, readOnly: false },
    // The overlay keeps what the VM wrote since; a failed snapshot leaves the VM on it.
    undo: () => {},
  };
}

/** Refuse a restore whose disk base is not the file the snapshot recorded, unchanged. */
export function checkBase(dir: string, part: DiskPart): void {
  const b = part.base;
  let st: BigIntStats;
  try {
    st = statOf(b.path);
  } catch {
    throw changed(dir, b, "it no longer exists");
  }
  if (String(st.dev) !== b.dev || String(st.ino) !== b.ino) throw changed(dir, b, "it was replaced by another file");
  if (String(st.size) !== b.size || String(st.mtimeNs) !== b.mtimeNs) throw changed(dir, b, "it was modified");
}

function changed(dir: string, b: BaseIdentity, why: string): SnapshotError {
  return new SnapshotError(
    "SNAPSHOT_DISK_CHANGED",
    `snapshot ${dir} cannot be restored: its disk ${b.path} changed since (${why}); a restore needs the disk as the snapshot froze it`,
  );
}

/**
 * The disk a restore attaches for `part`: a new overlay in `vmDisks` (a copy of the saved one, or
 * an empty one on the base), or the read-only base itself. Returns the blk spec fields.
 */
export function restoreDisk(
  dir: string,
  part: DiskPart,
  vmDisks: string,
): { path: string; format: "raw" | "overlay"; readOnly?: boolean } {
  checkBase(dir, part);
  if (part.readOnly && part.overlay === null) return { path: part.base.path, format: "raw", readOnly: true };
  mkdirSync(vmDisks, { recursive: true });
  const to = join(vmDisks, `disk${part.device}.ovl`);
  if (part.overlay) {
    copyFileSync(join(dir, part.overlay.name), to);
    // Corral records it as an overlay when it first opens it with format=overlay (src/disk/open.ts).
    return { path: to, format: "overlay", ...(part.readOnly ? { readOnly: true } : {}) };
  }
  OverlayDisk.create(to, part.base.path);
  return { path: to, format: "overlay" };
}
