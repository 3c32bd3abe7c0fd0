/**
 * Open a `--disk FILE[,ro]` image: a Corral overlay (recognised by its magic) or a raw image.
 */
import { closeSync, readSync } from "node:fs";
import type { DiskBackend } from "./disk.js";
import { openImage } from "./disk.js";
import { OVERLAY_MAGIC } from "./disk-overlay-format.js";
import { OverlayDisk } from "./disk-overlay.js";
import { RawDisk } from "./disk-raw.js";
import { WriteBehindDisk } from "./disk-write-behind.js";

export interface DiskSpec {
  path: string;
  readOnly?: boolean;
}

/** Parse "FILE" or "FILE,ro" (the CLI's --disk syntax). */
export function parseDiskSpec(arg: string): DiskSpec {
  const m = /^(.*),ro$/.exec(arg);
  return m ? { path: m[1]!, readOnly: true } : { path: arg };
}

export function isOverlay(path: string): boolean {
  const fd = openImage(path, true);
  try {
    const magic = new Uint8Array(OVERLAY_MAGIC.length);
    const n = readSync(fd, magic, 0, magic.length, 0);
    return n === magic.length && new TextDecoder().decode(magic) === OVERLAY_MAGIC;
  } finally {
    closeSync(fd);
  }
}

/** Open an image; a raw one opened for writing gets write-behind (disk-write-behind.ts). */
export function openDisk(spec: DiskSpec): DiskBackend {
  const opts = { readOnly: spec.readOnly ?? false };
  if (isOverlay(spec.path)) return OverlayDisk.open(spec.path, opts);
  const raw = RawDisk.open(spec.path, opts);
  if (opts.readOnly) return raw;
  try {
    return new WriteBehindDisk(raw);
  } catch (e) {
    raw.close();
    throw e;
  }
}
