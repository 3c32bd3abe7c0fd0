/**
 * The on-disk format of Corral's copy-on-write overlay (docs/overlay-format.md), declared once:
 * header layout, table entry encoding, and the pure functions that encode, decode and check them.
 * overlay.ts does the I/O.
 */
import { CorralError } from "../errors.js";
import { DiskError } from "./errors.js";

export const OVERLAY_MAGIC = "CRLOVRL1";
export const OVERLAY_VERSION = 1;
export const OVERLAY_HEADER_SIZE = 4096;
export const DEFAULT_CLUSTER_SIZE = 64 * 1024;
export const MIN_CLUSTER_SIZE = 4096;
export const MAX_CLUSTER_SIZE = 2 * 1024 * 1024;
/** Table entries: 0 = not allocated (read the base), 1 = reads as zeros, else the cluster's file offset. */
export const ENTRY_UNALLOCATED = 0;
export const ENTRY_ZERO = 1;
export const ENTRY_SIZE = 8;

/** Header fields (all little-endian); the rest of the 4 KiB header is zero. */
export const OVERLAY_HEADER = {
  size: OVERLAY_HEADER_SIZE,
  magic: { offset: 0, size: 8 },
  version: { offset: 8, size: 4 },
  headerSize: { offset: 12, size: 4 },
  virtualSize: { offset: 16, size: 8 },
  clusterSize: { offset: 24, size: 4 },
  flags: { offset: 28, size: 4 },
  tableOffset: { offset: 32, size: 8 },
  tableEntries: { offset: 40, size: 8 },
  dataOffset: { offset: 48, size: 8 },
  baseSize: { offset: 56, size: 8 },
  baseMtimeNs: { offset: 64, size: 8 },
  basePathLength: { offset: 72, size: 4 },
  basePath: { offset: 80, size: OVERLAY_HEADER_SIZE - 80 },
} as const;

export interface OverlayHeader {
  virtualSize: number;
  clusterSize: number;
  tableOffset: number;
  tableEntries: number;
  dataOffset: number;
  baseSize: number;
  baseMtimeNs: bigint;
  basePath: string;
}

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/** Where the table and the data area go for a disk of `virtualSize` bytes. */
export function planLayout(
  virtualSize: number,
  clusterSize: number,
): Pick<OverlayHeader, "tableOffset" | "tableEntries" | "dataOffset"> {
  const tableEntries = Math.ceil(virtualSize / clusterSize);
  const tableOffset = OVERLAY_HEADER_SIZE;
  // Data clusters are cluster-aligned in the file, so "offset % clusterSize === 0" marks a valid entry.
  const dataOffset = roundUp(tableOffset + tableEntries * ENTRY_SIZE, clusterSize);
  return { tableOffset, tableEntries, dataOffset };
}

export function encodeHeader(h: OverlayHeader): Uint8Array {
  const b = new Uint8Array(OVERLAY_HEADER_SIZE);
  const v = new DataView(b.buffer);
  const F = OVERLAY_HEADER;
  b.set(new TextEncoder().encode(OVERLAY_MAGIC), F.magic.offset);
  v.setUint32(F.version.offset, OVERLAY_VERSION, true);
  v.setUint32(F.headerSize.offset, OVERLAY_HEADER_SIZE, true);
  v.setBigUint64(F.virtualSize.offset, BigInt(h.virtualSize), true);
  v.setUint32(F.clusterSize.offset, h.clusterSize, true);
  v.setBigUint64(F.tableOffset.offset, BigInt(h.tableOffset), true);
  v.setBigUint64(F.tableEntries.offset, BigInt(h.tableEntries), true);
  v.setBigUint64(F.dataOffset.offset, BigInt(h.dataOffset), true);
  v.setBigUint64(F.baseSize.offset, BigInt(h.baseSize), true);
  v.setBigUint64(F.baseMtimeNs.offset, h.baseMtimeNs, true);
  const path = new TextEncoder().encode(h.basePath);
  if (path.length > F.basePath.size)
    throw new DiskError(
      "OVERLAY_BASE_PATH_TOO_LONG",
      `base image path ${h.basePath} is longer than ${F.basePath.size} bytes; move the base image to a shorter path`,
    );
  v.setUint32(F.basePathLength.offset, path.length, true);
  b.set(path, F.basePath.offset);
  return b;
}

function corrupt(path: string, what: string): CorralError {
  return new DiskError(
    "OVERLAY_CORRUPT",
    `overlay ${path} is not a valid Corral overlay (${what}); recreate it from its base image`,
  );
}

/** Decode and check a header read from `path`. */
export function decodeHeader(path: string, b: Uint8Array): OverlayHeader {
  if (b.length < OVERLAY_HEADER_SIZE)
    throw corrupt(path, `file is ${b.length} bytes, shorter than the ${OVERLAY_HEADER_SIZE}-byte header`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const F = OVERLAY_HEADER;
  if (new TextDecoder().decode(b.subarray(0, 8)) !== OVERLAY_MAGIC) throw corrupt(path, "bad magic");
  const version = v.getUint32(F.version.offset, true);
  if (version !== OVERLAY_VERSION)
    throw new DiskError(
      "OVERLAY_VERSION",
      `overlay ${path} has format version ${version}; this Corral reads version ${OVERLAY_VERSION}`,
    );
  const num = (off: number): number => {
    const x = v.getBigUint64(off, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(path, `field at ${off} out of range`);
    return Number(x);
  };
  const headerSize = v.getUint32(F.headerSize.offset, true);
  if (headerSize !== OVERLAY_HEADER_SIZE) throw corrupt(path, `header size ${headerSize}`);
  const flags = v.getUint32(F.flags.offset, true);
  if (flags !== 0) throw corrupt(path, `unknown flags ${flags}`);
  const clusterSize = v.getUint32(F.clusterSize.offset, true);
  if (clusterSize < MIN_CLUSTER_SIZE || clusterSize > MAX_CLUSTER_SIZE || (clusterSize & (clusterSize - 1)) !== 0)
    throw corrupt(path, `cluster size ${clusterSize}`);
  const virtualSize = num(F.virtualSize.offset);
  if (virtualSize % 512 !== 0 || virtualSize === 0)
    throw corrupt(path, `virtual size ${virtualSize} is not a positive number of sectors`);
  const h: OverlayHeader = {
    virtualSize,
    clusterSize,
    tableOffset: num(F.tableOffset.offset),
    tableEntries: num(F.tableEntries.offset),
    dataOffset: num(F.dataOffset.offset),
    baseSize: num(F.baseSize.offset),
    baseMtimeNs: v.getBigUint64(F.baseMtimeNs.offset, true),
    basePath: "",
  };
  const plan = planLayout(virtualSize, clusterSize);
  if (h.tableOffset !== plan.tableOffset || h.tableEntries !== plan.tableEntries || h.dataOffset !== plan.dataOffset)
    throw corrupt(path, "table geometry");
  const len = v.getUint32(F.basePathLength.offset, true);
  if (len === 0 || len > F.basePath.size) throw corrupt(path, "base path length");
  h.basePath = new TextDecoder().decode(b.subarray(F.basePath.offset, F.basePath.offset + len));
  if (!h.basePath.startsWith("/") || h.basePath.includes("\0"))
    throw corrupt(path, "base path is not an absolute path");
  return h;
}

/**
 * The header and the whole table must lie inside the file: creation writes the table as real
 * zeros up to dataOffset, so a shorter file was truncated (read past its end, the table would
 * silently say "unallocated" and show the base). Checked before the table is read, this also
 * bounds the memory the table takes by the file's size.
 */
export function checkExtent(path: string, h: OverlayHeader, fileSize: number): void {
  if (fileSize < h.dataOffset)
    throw corrupt(path, `file is ${fileSize} bytes but its header and cluster table need ${h.dataOffset}: truncated`);
}

/**
 * Check a table entry: unallocated, zero, or a cluster-aligned offset inside the data area that
 * lies within the file. Returns the reason it is bad, or undefined.
 */
export function checkEntry(e: number, h: OverlayHeader, fileSize: number): string | undefined {
  if (e === ENTRY_UNALLOCATED || e === ENTRY_ZERO) return undefined;
  if (e % h.clusterSize !== 0 || e < h.dataOffset) return `entry ${e} is not a data cluster`;
  if (e + h.clusterSize > fileSize) return `entry ${e} points past the end of the file`;
  return undefined;
}
