/**
 * Open a `--disk FILE[,ro][,format=raw|overlay]` image. The one place that decides a disk's
 * format, and never from the image's bytes, which the guest writes: the format is the one given,
 * else the one in Corral's record of the image (record.ts), else raw. An image that starts
 * with the overlay magic but has neither is refused: it may be an overlay an older Corral made,
 * or a raw disk on which a guest wrote an overlay header naming a host file to read
 * (docs/security.md, "Disk formats").
 */
import { closeSync, fstatSync } from "node:fs";
import type { DiskBackend } from "./backend.js";
import { openImage, preadFull } from "./backend.js";
import { OVERLAY_MAGIC } from "./overlay-format.js";
import { OverlayDisk } from "./overlay.js";
import { RawDisk } from "./raw.js";
import {
  isRecordFile,
  readRecord,
  recordPath,
  recordRaw,
  writeRecord,
  type DiskFormat,
  type ImageRecord,
} from "./record.js";
import { WriteBehindDisk } from "./write-behind.js";
import { DiskError } from "./errors.js";

export interface DiskSpec {
  path: string;
  readOnly?: boolean;
  /** Given by the operator; otherwise Corral's record of the image decides. */
  format?: DiskFormat;
}

export interface OpenDiskOptions {
  /** Where one-line warnings go (default: stderr, "corral: warning: ..."). */
  warn?: (message: string) => void;
}

/**
 * Parse "FILE", "FILE,ro", "FILE,format=overlay", "FILE,ro,format=raw" (the CLI's and the API's
 * --disk syntax). Options are taken from the end, so a FILE may itself contain commas.
 */
export function parseDiskSpec(arg: string): DiskSpec {
  const spec: DiskSpec = { path: arg };
  for (;;) {
    const m = /^(.+),(ro|format=([^,]*))$/.exec(spec.path);
    if (!m) return spec;
    if (m[2] === "ro") spec.readOnly = true;
    else if (m[3] === "raw" || m[3] === "overlay") spec.format ??= m[3];
    else
      throw new DiskError("BAD_DISK_FORMAT", `--disk ${arg}: format must be raw or overlay, not '${m[3]}'`, {
        exitCode: 2,
      });
    spec.path = m[1]!;
  }
}

/** The first bytes of `path` are the overlay magic: reading them decides nothing, it only warns. */
function startsWithOverlayMagic(path: string): boolean {
  const fd = openImage(path, true);
  try {
    const b = new Uint8Array(OVERLAY_MAGIC.length);
    preadFull(fd, b, 0);
    return new TextDecoder().decode(b) === OVERLAY_MAGIC;
  } finally {
    closeSync(fd);
  }
}

/** The image's record, when it has one about this very file (record.ts). */
function recordOf(path: string): ImageRecord | undefined {
  const fd = openImage(path, true); // the one-line errors for a missing file, a directory, ...
  try {
    return readRecord(path, fstatSync(fd, { bigint: true }));
  } finally {
    closeSync(fd);
  }
}

/**
 * Record an image Corral had no record of as raw, on first use: if its guest later writes the
 * overlay magic at its start, the disk still opens (as raw, with a warning) instead of being
 * refused. An image that cannot be recorded (a read-only directory) is as safe without it.
 */
function adoptRaw(path: string): void {
  try {
    recordRaw(path);
  } catch {
    // see above
  }
}

/** Open an image as the format its spec or record says, checked as the file comment says. */
function openAs(spec: DiskSpec, o: OpenDiskOptions): RawDisk | OverlayDisk {
  const warn = o.warn ?? ((m: string) => void process.stderr.write(`corral: warning: ${m}\n`));
  const opts = { readOnly: spec.readOnly ?? false };
  if (isRecordFile(spec.path)) {
    throw new DiskError(
      "DISK_IS_RECORD",
      `${spec.path} is Corral's record of a disk image, not a disk image; a guest given it could rewrite it: attach the image beside it`,
    );
  }
  const rec = recordOf(spec.path);
  const format = spec.format ?? rec?.format;
  if (format === "overlay") {
    if (rec?.format === "raw") {
      throw new DiskError(
        "DISK_RECORDED_RAW",
        `Corral recorded disk image ${spec.path} as raw (${recordPath(spec.path)}), so an overlay header in it was written by its guest; attach it without ',format=overlay' (if Corral did make it as an overlay, remove that record first)`,
      );
    }
    const disk = OverlayDisk.open(spec.path, { ...opts, expect: rec?.overlay });
    // The operator named the format of an image Corral has no record of: record it, so the next
    // run needs no flag; failing that, it is worth saying.
    if (!rec) {
      try {
        writeRecord(spec.path, { version: 1, format: "overlay", overlay: disk.identity });
      } catch (e) {
        warn(`${e instanceof Error ? e.message : String(e)}; give ',format=overlay' each time`);
      }
    }
    return disk;
  }
  if (startsWithOverlayMagic(spec.path)) {
    if (format === undefined) {
      throw new DiskError(
        "DISK_FORMAT_UNKNOWN",
        `disk image ${spec.path} starts with the overlay magic but Corral has no record of making it (an older Corral made it, or a guest wrote it); attach it with '${spec.path},format=overlay' if 'corral image overlay' made it, else with '${spec.path},format=raw'`,
      );
    }
    if (spec.format === undefined)
      warn(
        `disk image ${spec.path} is a raw image that starts with the overlay magic (written by its guest); attached as raw`,
      );
  }
  const raw = RawDisk.open(spec.path, opts);
  if (!rec) adoptRaw(spec.path);
  return raw;
}

/** Open an image; a raw one opened for writing gets write-behind (write-behind.ts). */
export function openDisk(spec: DiskSpec, o: OpenDiskOptions = {}): DiskBackend {
  const raw = openAs(spec, o);
  if (raw instanceof OverlayDisk || raw.readOnly) return raw;
  try {
    return new WriteBehindDisk(raw);
  } catch (e) {
    raw.close();
    throw e;
  }
}

/**
 * Open and close every disk of `specs`: the checks a VM's start makes, done before anything of
 * the VM exists (no VM directory, no lock left), so a bad disk is one line and nothing else.
 */
export function checkDisks(specs: readonly DiskSpec[], o: OpenDiskOptions = {}): void {
  for (const s of specs) openAs(s, o).close();
}
