/**
 * Named root disks in the image cache: `corral image build ... --output NAME` puts one in
 * $CORRAL_HOME/images/NAME/ (root.img, Corral's raw record of it, and image.json saying what it
 * is), `corral run --image NAME` boots it, `corral image ls` and `rm` list and remove them. The
 * directory "default" is the default guest (kernel, initramfs: pull.ts), listed but never removed.
 */
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { ImageError } from "./errors.js";
import { join } from "node:path";
import { CorralError } from "../errors.js";
import { RawDisk } from "../disk/raw.js";
import { recordRaw } from "../disk/record.js";
import { MANIFEST, readManifest } from "./cache.js";
import { IMAGE_NAME } from "./name.js";

export { IMAGE_NAME } from "./name.js";

export const DISK_FILE = "root.img";
export const IMAGE_RECORD = "image.json";
export const DEFAULT_IMAGE = "default";

export type ImageKind = "debian" | "busybox";

export interface ImageRecordFile {
  format: 1;
  kind: ImageKind;
  /** ISO time the build finished. */
  created: string;
  /** Debian suite, and the packages asked for (the disk holds their dependencies and the base too). */
  suite?: string;
  packages?: string[];
  /** Every installed package and its version. */
  installed?: Record<string, string>;
}

export type OutputTarget = { kind: "name"; name: string } | { kind: "path"; path: string };

/** `--output`: a NAME in the image cache, or a file PATH. */
export function outputTarget(text: string): OutputTarget {
  return IMAGE_NAME.test(text) ? { kind: "name", name: text } : { kind: "path", path: text };
}

export function imagesDir(home: string): string {
  return join(home, "images");
}

/** Refuse an output that exists (unless `force`) or the default image's name; before any work. */
export function checkOutput(home: string, t: OutputTarget, force: boolean): void {
  if (t.kind === "name" && t.name === DEFAULT_IMAGE)
    throw new ImageError("IMAGE_NAME_TAKEN", `'${DEFAULT_IMAGE}' is the default guest's image: choose another name`, {
      exitCode: 2,
    });
  const where = t.kind === "name" ? join(imagesDir(home), t.name) : t.path;
  if (existsSync(where) && !force)
    throw new ImageError(
      "DISK_EXISTS",
      `${t.kind === "name" ? `image '${t.name}'` : where} already exists: pass --force to replace it, or choose another --output`,
      { exitCode: 2 },
    );
}

/**
 * Put the finished `disk` (in a scratch directory `work` on the same file system as the target)
 * in place: a file is renamed over the target; a named image's directory is swapped in whole.
 */
export function installDisk(
  home: string,
  t: OutputTarget,
  disk: string,
  work: string,
  record: ImageRecordFile,
): string {
  if (t.kind === "path") {
    renameSync(disk, t.path);
    recordRaw(t.path);
    return t.path;
  }
  const dir = join(work, "image");
  renameSync(disk, join(dir, DISK_FILE));
  recordRaw(join(dir, DISK_FILE));
  writeFileSync(join(dir, IMAGE_RECORD), JSON.stringify(record, null, 1) + "\n");
  const final = join(imagesDir(home), t.name);
  if (existsSync(final)) renameSync(final, join(work, "old"));
  renameSync(dir, final);
  return join(final, DISK_FILE);
}

/** The root disk of image `name`, or IMAGE_NOT_FOUND. */
export function imageDisk(home: string, name: string): string {
  const disk = join(imagesDir(home), name, DISK_FILE);
  if (!IMAGE_NAME.test(name) || name === DEFAULT_IMAGE || !existsSync(disk))
    throw new ImageError(
      "IMAGE_NOT_FOUND",
      `there is no image '${name}': 'corral image ls' lists them, 'corral image build --output ${IMAGE_NAME.test(name) ? name : "NAME"}' makes one`,
      { exitCode: 2 },
    );
  return disk;
}

export interface ImageEntry {
  name: string;
  kind: ImageKind | "default";
  /** Bytes the image takes on the host (its files' allocated blocks). */
  bytes: number;
  /** The disk's size as the guest sees it (a disk image only). */
  diskBytes?: number;
  created: string;
}

/** Every image in the cache, the default guest first, then by name. */
export function listImages(home: string): ImageEntry[] {
  const root = imagesDir(home);
  if (!existsSync(root)) return [];
  const out: ImageEntry[] = [];
  for (const name of readdirSync(root).sort()) {
    const dir = join(root, name);
    if (!IMAGE_NAME.test(name) || !statSync(dir).isDirectory()) continue;
    try {
      if (name === DEFAULT_IMAGE) {
        if (!existsSync(join(dir, MANIFEST))) continue;
        const m = readManifest(dir);
        out.unshift({ name, kind: "default", bytes: allocated(dir), created: m.created });
        continue;
      }
      const rec = JSON.parse(readFileSync(join(dir, IMAGE_RECORD), "utf8")) as ImageRecordFile;
      out.push({
        name,
        kind: rec.kind,
        bytes: allocated(dir),
        diskBytes: statSync(join(dir, DISK_FILE)).size,
        created: rec.created,
      });
    } catch {
      // half-written or foreign directory: not an image
    }
  }
  return out;
}

function allocated(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.blocks * 512;
  return readdirSync(path).reduce((n, f) => n + allocated(join(path, f)), 0);
}

/** Remove image `name`; refused while a VM has its disk open (the disk's lock). */
export function removeImage(home: string, name: string): void {
  if (name === DEFAULT_IMAGE)
    throw new ImageError(
      "IMAGE_NAME_TAKEN",
      `'${DEFAULT_IMAGE}' is the default guest's image, fetched again whenever it is missing: it is not removed`,
      { exitCode: 2 },
    );
  const disk = imageDisk(home, name);
  try {
    RawDisk.open(disk).close();
  } catch (e) {
    if (e instanceof CorralError && e.code === "DISK_IN_USE")
      throw new ImageError("IMAGE_IN_USE", `image '${name}' is in use by a running VM: stop it first`, {
        exitCode: 2,
      });
    throw e;
  }
  rmSync(join(imagesDir(home), name), { recursive: true, force: true });
}
