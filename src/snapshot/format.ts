/**
 * The snapshot directory (docs/snapshots.md): a manifest, the guest's RAM as one raw file, the
 * harts' and devices' state as one JSON file, and a copy of each overlay disk. The manifest is
 * written last, so a directory without one is not a snapshot; it names the format's version and
 * the SHA-256 of every other file, checked before a restore starts anything.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import * as z from "zod/mini";
import { SnapshotError } from "./state.js";

export const SNAPSHOT_FORMAT = "corral-snapshot";
/**
 * Bumped whenever what a snapshot holds, or how, changes: another version is refused. 2: a hart's
 * satp.ASID (a guest booted since ASIDs exist relies on them: without them it would run on
 * another address space's translations).
 */
export const SNAPSHOT_VERSION = 2;

export const SNAPSHOT_FILES = {
  manifest: "manifest.json",
  ram: "ram.bin",
  state: "state.json",
  ramOverlay: "ram-overlay.bin",
} as const;

const Sha = z.string().check(z.regex(/^[0-9a-f]{64}$/));
const Digits = z.string().check(z.regex(/^\d+$/));

const FilePart = z.strictObject({
  name: z.string().check(z.regex(/^[a-z0-9.-]+$/)),
  size: z.int().check(z.minimum(0)),
  sha256: Sha,
});
export type FilePart = z.infer<typeof FilePart>;

/** A disk as the snapshot saw it: its frozen base (Corral's record of it, src/disk/record.ts). */
const DiskPart = z.strictObject({
  /** Index of the blk entry in the spec's devices. */
  device: z.int().check(z.minimum(0)),
  base: z.strictObject({
    path: z.string().check(z.minLength(1)),
    dev: Digits,
    ino: Digits,
    size: Digits,
    mtimeNs: Digits,
  }),
  /** The overlay's copy in the snapshot, or null: the base itself is the disk's state. */
  overlay: z.nullable(FilePart),
  readOnly: z.boolean(),
});
export type DiskPart = z.infer<typeof DiskPart>;

export const ManifestSchema = z.strictObject({
  format: z.literal(SNAPSHOT_FORMAT),
  version: z.int(),
  createdAt: z.int(),
  /** The VM it was taken of. */
  source: z.string(),
  /** The VM's spec (VmSpec as JSON); restores rebuild the same machine from it. */
  spec: z.record(z.string(), z.unknown()),
  /** Corral was the SBI (direct boot), not firmware in M-mode. */
  sbi: z.boolean(),
  ram: FilePart,
  /**
   * A later fork's own snapshot only (write.ts): a file of RAM's size whose data runs (SEEK_DATA)
   * are the pages the VM wrote since its first fork froze `ram`, to lay over those bytes of it.
   */
  ramOverlay: z.optional(FilePart),
  /** The RAM file's identity when it was written and hashed: a restore re-hashes it only when it differs. */
  ramStamp: z.nullable(z.strictObject({ dev: Digits, ino: Digits, mtimeNs: Digits })),
  state: FilePart,
  disks: z.array(DiskPart),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** SHA-256 of a file, read in large chunks. */
export function sha256File(path: string): string {
  const h = createHash("sha256");
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.allocUnsafe(1 << 22);
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest("hex");
}

/** The manifest of the snapshot in `dir`, its version checked: one line for a directory that holds none. */
export function readManifest(dir: string): Manifest {
  let text: string;
  try {
    text = readFileSync(join(dir, SNAPSHOT_FILES.manifest), "utf8");
  } catch {
    throw new SnapshotError(
      "SNAPSHOT_NOT_FOUND",
      `${dir} holds no snapshot (no ${SNAPSHOT_FILES.manifest}): give a directory 'corral snapshot' wrote`,
      { exitCode: 2 },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw damaged(dir, `${SNAPSHOT_FILES.manifest} is not JSON`);
  }
  const head = raw as { format?: unknown; version?: unknown } | null;
  if (head?.format !== SNAPSHOT_FORMAT) throw damaged(dir, `${SNAPSHOT_FILES.manifest} is not a Corral snapshot's`);
  if (head.version !== SNAPSHOT_VERSION)
    throw new SnapshotError(
      "SNAPSHOT_VERSION",
      `snapshot ${dir} is format version ${String(head.version)}, this Corral restores version ${SNAPSHOT_VERSION} only: take the snapshot again with this Corral`,
    );
  const r = ManifestSchema.safeParse(raw);
  if (!r.success) throw damaged(dir, `${SNAPSHOT_FILES.manifest} is malformed at ${r.error.issues[0]!.path.join(".")}`);
  return r.data;
}

export function damaged(dir: string, why: string): SnapshotError {
  return new SnapshotError("SNAPSHOT_CORRUPT", `snapshot ${dir} is damaged: ${why}; take the snapshot again`);
}

/**
 * Check a part against the manifest: size always, SHA-256 unless `skipHash`. Truncated or
 * corrupt: one line naming the file.
 */
export function checkPart(dir: string, part: FilePart, skipHash = false): void {
  const path = join(dir, part.name);
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw damaged(dir, `${part.name} is missing`);
  }
  if (size !== part.size) throw damaged(dir, `${part.name} has ${size} bytes, not ${part.size} (truncated?)`);
  if (!skipHash && sha256File(path) !== part.sha256) throw damaged(dir, `${part.name} does not match its checksum`);
}

/** The RAM file is the very one its writer hashed (same inode, never modified since): no need to hash it again. */
export function ramUnchanged(dir: string, m: Manifest): boolean {
  if (!m.ramStamp) return false;
  try {
    const st = statSync(join(dir, m.ram.name), { bigint: true });
    return (
      String(st.dev) === m.ramStamp.dev &&
      String(st.ino) === m.ramStamp.ino &&
      String(st.mtimeNs) === m.ramStamp.mtimeNs
    );
  } catch {
    return false;
  }
}
