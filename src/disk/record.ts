/**
 * Corral's record of a disk image it made: the only thing that says a file is an overlay. A guest
 * can write every byte of its disk, so no byte of an image may decide how the host opens it: an
 * overlay header names a host file (the base) that Corral then reads for the guest. The record is
 * a small JSON file beside the image, `IMAGE.corral.json` (beside the real file when IMAGE is a
 * symlink), that no guest can reach: only the image itself is ever attached. It is written by
 * `corral image overlay` and `corral image build`, and when an operator names the format of an
 * image Corral has no record of (`--disk FILE,format=...`). docs/security.md, "Disk formats".
 *
 * A record holds the image's identity (device and inode, and for an overlay the SHA-256 of its
 * header, which Corral writes once and never changes), so a record left beside a file that was
 * since replaced does not apply to the new file; and for an overlay, the identity of its base
 * (path, device, inode, size, modification time), checked on every open.
 */
import { nodeCrypto } from "../builtins.js";
import { readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, type BigIntStats } from "node:fs";
import { DiskError, type DiskErrorCode } from "./errors.js";

export type DiskFormat = "raw" | "overlay";

/** An overlay's base as it was when the overlay was made. Numbers as decimal strings (64-bit). */
export interface BaseIdentity {
  path: string;
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
}

/** What identifies an overlay: its file, its (never changing) header, and its base. */
export interface OverlayIdentity {
  dev: string;
  ino: string;
  headerSha256: string;
  base: BaseIdentity;
}

export type ImageRecord =
  { version: 1; format: "raw"; dev: string; ino: string } | { version: 1; format: "overlay"; overlay: OverlayIdentity };

const SUFFIX = ".corral.json";

/** `path` is (or links to) a record: attached as a disk, its guest could rewrite it. */
export function isRecordFile(path: string): boolean {
  try {
    return realpathSync(path).endsWith(SUFFIX);
  } catch {
    return false;
  }
}

/** Where the record of `image` lives: beside the real file. */
export function recordPath(image: string): string {
  return realpathSync(image) + SUFFIX;
}

export function baseIdentity(path: string, st: BigIntStats): BaseIdentity {
  return { path, dev: String(st.dev), ino: String(st.ino), size: String(st.size), mtimeNs: String(st.mtimeNs) };
}

export function overlayIdentity(st: BigIntStats, header: Uint8Array, base: BaseIdentity): OverlayIdentity {
  return { dev: String(st.dev), ino: String(st.ino), headerSha256: headerSha256(header), base };
}

/** The string fields `keys` of `o`, or undefined if any is missing or not a string. */
function strings<K extends string>(o: unknown, keys: readonly K[]): Record<K, string> | undefined {
  if (typeof o !== "object" || o === null) return undefined;
  const out = {} as Record<K, string>;
  for (const k of keys) {
    const v = (o as Record<string, unknown>)[k];
    if (typeof v !== "string") return undefined;
    out[k] = v;
  }
  return out;
}

function parseRecord(text: string): ImageRecord | undefined {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof r !== "object" || r === null || (r as { version?: unknown }).version !== 1) return undefined;
  const { format, overlay } = r as { format?: unknown; overlay?: { base?: unknown } };
  if (format === "raw") {
    const id = strings(r, ["dev", "ino"]);
    return id && { version: 1, format, ...id };
  }
  if (format === "overlay") {
    const id = strings(overlay, ["dev", "ino", "headerSha256"]);
    const base = strings(overlay?.base, ["path", "dev", "ino", "size", "mtimeNs"]);
    return id && base && { version: 1, format, overlay: { ...id, base } };
  }
  return undefined;
}

/**
 * The record of the image whose stat is `st`, if there is one and it is about this very file (same
 * device and inode). A missing, unreadable or malformed record, or one about a file that was since
 * replaced, is no record: the caller treats the image as one Corral did not make.
 */
export function readRecord(image: string, st: BigIntStats): ImageRecord | undefined {
  let text: string;
  try {
    text = readFileSync(recordPath(image), "utf8");
  } catch {
    return undefined;
  }
  const r = parseRecord(text);
  const id = r?.format === "overlay" ? r.overlay : r;
  return id && id.dev === String(st.dev) && id.ino === String(st.ino) ? r : undefined;
}

/** Write the record of `image` atomically (temporary file, then rename). */
export function writeRecord(image: string, r: ImageRecord): void {
  let path = `${image}${SUFFIX}`;
  let tmp: string | undefined;
  try {
    path = recordPath(image);
    tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(r, null, 2) + "\n", { mode: 0o644 });
    renameSync(tmp, path);
  } catch (e) {
    if (tmp !== undefined) rmSync(tmp, { force: true });
    throw new DiskError(
      "DISK_RECORD_FAILED",
      `cannot write ${path}, Corral's record of disk image ${image}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
}

/** Record `image` as a raw image (`corral image build`, or a raw image's first use). */
export function recordRaw(image: string): void {
  let st: BigIntStats;
  try {
    st = statSync(image, { bigint: true });
  } catch (e) {
    throw new DiskError(
      "DISK_RECORD_FAILED",
      `cannot record disk image ${image}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
  writeRecord(image, { version: 1, format: "raw", dev: String(st.dev), ino: String(st.ino) });
}

export function headerSha256(header: Uint8Array): string {
  return nodeCrypto().createHash("sha256").update(header).digest("hex");
}

/** Refuse an overlay that is not what Corral recorded: its header, its base's path and identity. */
export function checkIdentity(path: string, want: OverlayIdentity, got: OverlayIdentity): void {
  const fail = (code: DiskErrorCode, why: string): DiskError =>
    new DiskError(
      code,
      `overlay ${path} does not match Corral's record of it: ${why}; recreate the overlay with 'corral image overlay'`,
    );
  if (got.headerSha256 !== want.headerSha256)
    throw fail("OVERLAY_RECORD_MISMATCH", "its header is not the one Corral wrote");
  const [w, g] = [want.base, got.base];
  if (g.path !== w.path)
    throw fail("OVERLAY_RECORD_MISMATCH", `its header names base ${g.path}, Corral recorded ${w.path}`);
  if (g.dev !== w.dev || g.ino !== w.ino)
    throw fail("OVERLAY_BASE_CHANGED", `base ${w.path} was replaced by another file`);
  if (g.size !== w.size || g.mtimeNs !== w.mtimeNs)
    throw fail("OVERLAY_BASE_CHANGED", `base ${w.path} was modified (size or modification time differ)`);
}
