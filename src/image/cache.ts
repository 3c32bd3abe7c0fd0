/**
 * Corral's image cache: where images live, and the manifest that proves a cached image whole.
 * Every file of an image is listed in manifest.json with its size and SHA-256; the manifest is
 * written last, so a directory without one is never taken for a complete image.
 * Re-hashing ~140 MB at every boot would cost seconds, so a successful check is remembered per
 * file as (size, inode, ctime): any write, truncation, rename or utimes() changes the ctime, which
 * user space cannot set back, so a remembered check is only reused for an untouched file.
 */
import { nodeCrypto } from "../builtins.js";
import {
  closeSync,
  existsSync,
  lstatSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { join, relative } from "node:path";
import { CorralError } from "../errors.js";
import { ImageError } from "./errors.js";

export { HOME_ENV, corralHome } from "../home.js";
export const MANIFEST = "manifest.json";
/** Remembered checks; not part of the image, never listed in the manifest. */
export const VERIFIED = ".verified.json";

export interface ManifestFile {
  size: number;
  sha256: string;
}

export interface Manifest {
  format: 1;
  /** ISO time the image was built. */
  created: string;
  /** Debian packages the image was made from, by name. */
  packages: Record<string, { version: string; architecture: string }>;
  /** The kernel release, e.g. "6.12.117+deb13-riscv64" (names the modules directory). */
  kernelRelease: string;
  /** Hash of the inputs of initramfs.cpio that come from Corral's code (see initramfs recipe). */
  initramfsRecipe: string;
  /** Every file of the image by path relative to the image directory ('/' separated). */
  files: Record<string, ManifestFile>;
}

export function sha256File(path: string): string {
  const hash = nodeCrypto().createHash("sha256");
  const buf = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(path, "r");
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest("hex");
}

/** Regular files under `dir` (relative, '/' separated), skipping the manifest and check cache. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(relative(dir, p).split("\\").join("/"));
    }
  };
  walk(dir);
  return out.filter((f) => f !== MANIFEST && f !== VERIFIED).sort();
}

/** Hash every file of `dir` and write manifest.json (atomically, last). */
export function writeManifest(dir: string, meta: Omit<Manifest, "files" | "format" | "created">): Manifest {
  const files: Record<string, ManifestFile> = {};
  for (const f of listFiles(dir)) files[f] = { size: lstatSync(join(dir, f)).size, sha256: sha256File(join(dir, f)) };
  const manifest: Manifest = { format: 1, created: new Date().toISOString(), ...meta, files };
  writeAtomic(join(dir, MANIFEST), JSON.stringify(manifest, null, 1) + "\n");
  return manifest;
}

export function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export function readManifest(dir: string): Manifest {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) throw new ImageError("IMAGE_MISSING", `no image at ${dir}; run 'corral image pull'`);
  try {
    const m = JSON.parse(readFileSync(path, "utf8")) as Partial<Manifest>;
    if (m.format !== 1 || typeof m.files !== "object" || m.files === null || typeof m.kernelRelease !== "string") {
      throw new Error("unexpected structure");
    }
    return m as Manifest;
  } catch (e) {
    throw new ImageError("IMAGE_CORRUPT", `the image manifest ${path} is unreadable (${(e as Error).message})`, {
      cause: e,
    });
  }
}

const statKey = (path: string): string => {
  const s = lstatSync(path, { bigint: true });
  return `${s.size}:${s.ino}:${s.ctimeNs}`;
};

export interface VerifyOptions {
  /** Hash every file even if a previous check of it is remembered. */
  full?: boolean;
}

/**
 * Check every file of the image in `dir` against its manifest. Throws IMAGE_MISSING when there is
 * no image, IMAGE_CORRUPT naming the first bad file otherwise.
 */
export function verifyImage(dir: string, opts: VerifyOptions = {}): Manifest {
  const manifest = readManifest(dir);
  let remembered: Record<string, string> = {};
  if (!opts.full) {
    try {
      remembered = JSON.parse(readFileSync(join(dir, VERIFIED), "utf8")) as Record<string, string>;
    } catch {
      remembered = {};
    }
  }
  const checked: Record<string, string> = {};
  const corrupt = (file: string, why: string): CorralError =>
    new ImageError("IMAGE_CORRUPT", `cached image file ${join(dir, file)} ${why}`);
  for (const [file, want] of Object.entries(manifest.files)) {
    const path = join(dir, file);
    if (!existsSync(path)) throw corrupt(file, "is missing");
    const key = statKey(path);
    const size = lstatSync(path).size;
    if (size !== want.size) throw corrupt(file, `has ${size} bytes, expected ${want.size} (truncated?)`);
    if (remembered[file] !== key && sha256File(path) !== want.sha256) throw corrupt(file, "does not match its SHA-256");
    checked[file] = key;
  }
  try {
    writeAtomic(join(dir, VERIFIED), JSON.stringify(checked));
  } catch {
    // A read-only cache still verifies; it just re-hashes next time.
  }
  return manifest;
}
