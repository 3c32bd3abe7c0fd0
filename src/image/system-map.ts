/**
 * The default kernel's System.map, which `corral run --profile` resolves guest pcs with. Debian's
 * package ships only a placeholder (the real one is in the 1 GB -dbg package), so Corral makes it
 * from the kernel's own kallsyms tables (kallsyms.ts) when it fetches the image (pull.ts). An
 * image fetched before that has none: the first profile makes it from the cached kernel and adds
 * it to the image's manifest, under the image's lock.
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { MANIFEST, corralHome, readManifest, sha256File, writeAtomic, type Manifest } from "./cache.js";
import { readKallsyms, systemMapText } from "./kallsyms.js";
import { IMAGE_FILES, imageDir, type ImagePaths } from "./pull.js";
import { acquireLock } from "./staging.js";

/** Write `dir`/System.map from the kernel at `kernel`; false when the kernel has no kallsyms tables. */
export function writeSystemMap(kernel: string, dir: string): boolean {
  const syms = readKallsyms(new Uint8Array(readFileSync(kernel)));
  if (syms === null) return false;
  writeAtomic(join(dir, IMAGE_FILES.systemMap), systemMapText(syms));
  return true;
}

/**
 * The path of the default image's System.map, made first when the image has none; undefined when
 * its kernel carries no symbol tables.
 */
export async function ensureSystemMap(img: ImagePaths, o: { home?: string } = {}): Promise<string | undefined> {
  if (img.systemMap !== undefined) return img.systemMap;
  const home = o.home ?? corralHome();
  const dir = imageDir(home);
  const release = await acquireLock(join(home, "images", ".default.lock"), "the default image");
  try {
    const manifest = readManifest(dir);
    const path = join(dir, IMAGE_FILES.systemMap);
    if (manifest.files[IMAGE_FILES.systemMap] !== undefined) return path;
    if (!writeSystemMap(join(dir, IMAGE_FILES.kernel), dir)) return undefined;
    const { size } = statSync(path);
    const next: Manifest = {
      ...manifest,
      files: { ...manifest.files, [IMAGE_FILES.systemMap]: { size, sha256: sha256File(path) } },
    };
    writeAtomic(join(dir, MANIFEST), JSON.stringify(next, null, 1) + "\n");
    return path;
  } finally {
    release();
  }
}
