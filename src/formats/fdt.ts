/**
 * Flattened devicetree (DTB) writer and reader.
 * Devicetree Specification v0.4, chapter 5 "Flattened Devicetree (DTB) Format":
 *   header (5.2) | memory reservation block (5.3) | structure block (5.4) | strings block (5.5)
 * Every integer is big-endian. The kernel finds its RAM, harts and devices here, so the writer
 * emits exactly what the spec requires and the reader is strict enough to catch our own bugs.
 */
import { CorralError } from "../errors.js";
import type { DtNode, DtValue } from "../devices/device.js";
import { FormatError } from "./errors.js";

export type { DtNode, DtValue };

/** Byte offsets of the header fields (5.2, `struct fdt_header`, ten big-endian u32). */
export const FDT_HEADER = {
  magic: 0,
  totalsize: 4,
  off_dt_struct: 8,
  off_dt_strings: 12,
  off_mem_rsvmap: 16,
  version: 20,
  last_comp_version: 24,
  boot_cpuid_phys: 28,
  size_dt_strings: 32,
  size_dt_struct: 36,
} as const;
export const FDT_HEADER_SIZE = 40;
/** A reservation entry is `{ u64 address; u64 size; }` (5.3.2); a zero entry ends the list. */
export const FDT_RSV_ENTRY_SIZE = 16;

export const FDT_MAGIC = 0xd00dfeed;
export const FDT_VERSION = 17;
export const FDT_LAST_COMP_VERSION = 16;

/** Structure block tokens (5.4.1). */
export const FdtToken = { BEGIN_NODE: 1, END_NODE: 2, PROP: 3, NOP: 4, END: 9 } as const;

export interface FdtReservation {
  address: bigint;
  size: bigint;
}

export interface FdtEncodeOptions {
  /** Physical id of the boot CPU (header field boot_cpuid_phys). Default 0. */
  bootCpuId?: number;
  /** Memory reservation block entries (5.3); the terminating zero entry is added. */
  reservations?: readonly FdtReservation[];
}

/** Two u32 cells for a 64-bit value, high cell first (as `#address-cells = <2>` wants). */
export function u64Cells(v: number | bigint): number[] {
  const b = BigInt(v);
  if (b < 0n || b > 0xffff_ffff_ffff_ffffn) {
    throw new FormatError("FDT_BAD_VALUE", `u64Cells: ${b} does not fit in 64 bits`);
  }
  return [Number(b >> 32n), Number(b & 0xffff_ffffn)];
}

const utf8 = new TextEncoder();
const align4 = (n: number): number => (n + 3) & ~3;

/** The bytes a property value is stored as (5.4.1 FDT_PROP; 2.2.4 property value types). */
export function dtValueBytes(v: DtValue, propName = "?"): Uint8Array {
  if (v === null) return new Uint8Array(0);
  if (v instanceof Uint8Array) return v;
  if (typeof v === "string") return cstrings([v], propName);
  if (v.length === 0) return new Uint8Array(0);
  if (typeof v[0] === "string") return cstrings(v as readonly string[], propName);
  const cells = v as readonly number[];
  const out = new Uint8Array(cells.length * 4);
  const dv = new DataView(out.buffer);
  cells.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c > 0xffff_ffff) {
      throw new FormatError("FDT_BAD_VALUE", `property '${propName}': cell ${c} is not a u32`);
    }
    dv.setUint32(i * 4, c);
  });
  return out;
}

function cstrings(list: readonly string[], propName: string): Uint8Array {
  const parts = list.map((s) => {
    if (s.includes("\0")) throw new FormatError("FDT_BAD_VALUE", `property '${propName}': string contains NUL`);
    return utf8.encode(s);
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length + 1; // the NUL is already 0
  }
  return out;
}

/** Append-only big-endian byte buffer. */
class Sink {
  private buf = new Uint8Array(4096);
  length = 0;
  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  u32(v: number): void {
    this.reserve(4);
    new DataView(this.buf.buffer).setUint32(this.length, v);
    this.length += 4;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  pad4(): void {
    const n = align4(this.length) - this.length;
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  take(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Serialize a tree (the root's name should be ""; it is written as the empty name anyway). */
export function encodeFdt(root: DtNode, opts: FdtEncodeOptions = {}): Uint8Array {
  const strings = new Sink();
  const nameOffsets = new Map<string, number>(); // 5.5: names stored once, referenced by offset
  const stringOffset = (name: string): number => {
    let off = nameOffsets.get(name);
    if (off === undefined) {
      off = strings.length;
      nameOffsets.set(name, off);
      strings.bytes(cstrings([name], name));
    }
    return off;
  };

  const struct = new Sink();
  const emit = (node: DtNode, isRoot: boolean): void => {
    struct.u32(FdtToken.BEGIN_NODE);
    struct.bytes(cstrings([isRoot ? "" : node.name], node.name));
    struct.pad4();
    // 5.4.1: all properties of a node precede its subnodes.
    for (const [name, value] of Object.entries(node.props)) {
      const data = dtValueBytes(value, name);
      struct.u32(FdtToken.PROP);
      struct.u32(data.length);
      struct.u32(stringOffset(name));
      struct.bytes(data);
      struct.pad4();
    }
    for (const child of node.children ?? []) emit(child, false);
    struct.u32(FdtToken.END_NODE);
  };
  emit(root, true);
  struct.u32(FdtToken.END);

  const rsv = opts.reservations ?? [];
  // 5.1: the reservation block is 8-byte aligned, the structure block 4-byte aligned.
  const offRsv = FDT_HEADER_SIZE; // 40 is a multiple of 8
  const offStruct = offRsv + (rsv.length + 1) * FDT_RSV_ENTRY_SIZE;
  const offStrings = offStruct + struct.length;
  const total = offStrings + strings.length;

  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  const H = FDT_HEADER;
  dv.setUint32(H.magic, FDT_MAGIC);
  dv.setUint32(H.totalsize, total);
  dv.setUint32(H.off_dt_struct, offStruct);
  dv.setUint32(H.off_dt_strings, offStrings);
  dv.setUint32(H.off_mem_rsvmap, offRsv);
  dv.setUint32(H.version, FDT_VERSION);
  dv.setUint32(H.last_comp_version, FDT_LAST_COMP_VERSION);
  dv.setUint32(H.boot_cpuid_phys, opts.bootCpuId ?? 0);
  dv.setUint32(H.size_dt_strings, strings.length);
  dv.setUint32(H.size_dt_struct, struct.length);
  rsv.forEach((r, i) => {
    dv.setBigUint64(offRsv + i * FDT_RSV_ENTRY_SIZE, r.address);
    dv.setBigUint64(offRsv + i * FDT_RSV_ENTRY_SIZE + 8, r.size);
  });
  out.set(struct.take(), offStruct);
  out.set(strings.take(), offStrings);
  return out;
}

// ---- reader ----

export interface FdtHeader {
  totalsize: number;
  offStruct: number;
  offStrings: number;
  offMemRsvmap: number;
  version: number;
  lastCompVersion: number;
  bootCpuId: number;
  sizeStrings: number;
  sizeStruct: number;
}

function bad(msg: string): CorralError {
  return new FormatError("FDT_BAD_BLOB", `invalid device tree blob: ${msg}`);
}

/** Read and check the header (5.2). */
export function decodeFdtHeader(blob: Uint8Array): FdtHeader {
  if (blob.length < FDT_HEADER_SIZE) throw bad(`${blob.length} bytes is shorter than the header`);
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const H = FDT_HEADER;
  if (dv.getUint32(H.magic) !== FDT_MAGIC) throw bad("bad magic (expected 0xd00dfeed)");
  const h: FdtHeader = {
    totalsize: dv.getUint32(H.totalsize),
    offStruct: dv.getUint32(H.off_dt_struct),
    offStrings: dv.getUint32(H.off_dt_strings),
    offMemRsvmap: dv.getUint32(H.off_mem_rsvmap),
    version: dv.getUint32(H.version),
    lastCompVersion: dv.getUint32(H.last_comp_version),
    bootCpuId: dv.getUint32(H.boot_cpuid_phys),
    sizeStrings: dv.getUint32(H.size_dt_strings),
    sizeStruct: dv.getUint32(H.size_dt_struct),
  };
  if (h.lastCompVersion > FDT_VERSION) throw bad(`last_comp_version ${h.lastCompVersion} is newer than 17`);
  if (h.totalsize > blob.length) throw bad(`totalsize ${h.totalsize} exceeds the ${blob.length}-byte buffer`);
  if (h.offStruct + h.sizeStruct > h.totalsize || h.offStrings + h.sizeStrings > h.totalsize) {
    throw bad("a block lies outside totalsize");
  }
  return h;
}

/** Entries of the memory reservation block (5.3), without the terminator. */
export function decodeFdtReservations(blob: Uint8Array): FdtReservation[] {
  const h = decodeFdtHeader(blob);
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const out: FdtReservation[] = [];
  for (let o = h.offMemRsvmap; ; o += FDT_RSV_ENTRY_SIZE) {
    if (o + FDT_RSV_ENTRY_SIZE > h.totalsize) throw bad("unterminated memory reservation block");
    const address = dv.getBigUint64(o);
    const size = dv.getBigUint64(o + 8);
    if (address === 0n && size === 0n) return out;
    out.push({ address, size });
  }
}

const isPrintable = (b: number): boolean => b >= 0x20 && b < 0x7f;

/**
 * A blob does not record value types, so guess the way `dtc` does when it prints a DTS: empty →
 * null; NUL-terminated printable strings (no empty ones) → string or string list; a multiple of
 * 4 bytes → u32 cells; anything else → bytes. Round-trips every value except cells that happen to
 * spell printable text; compare through `dtValueBytes` when that matters.
 */
export function guessDtValue(data: Uint8Array): DtValue {
  if (data.length === 0) return null;
  const last = data[data.length - 1];
  if (last === 0 && data[0] !== 0) {
    let ok = true;
    for (let i = 0; i < data.length && ok; i++) {
      const b = data[i] ?? 0;
      ok = b === 0 ? data[i - 1] !== 0 : isPrintable(b);
    }
    if (ok) {
      const list = new TextDecoder().decode(data.subarray(0, -1)).split("\0");
      return list.length === 1 ? (list[0] ?? "") : list;
    }
  }
  if (data.length % 4 === 0) {
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    return Array.from({ length: data.length / 4 }, (_, i) => dv.getUint32(i * 4));
  }
  return data.slice();
}

/** Parse a DTB into a tree; property values are typed by `guessDtValue`. */
export function decodeFdt(blob: Uint8Array): DtNode {
  const h = decodeFdtHeader(blob);
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const end = h.offStruct + h.sizeStruct;
  let o = h.offStruct;
  const u32 = (): number => {
    if (o + 4 > end) throw bad("structure block ends in the middle of a token");
    const v = dv.getUint32(o);
    o += 4;
    return v;
  };
  const cstr = (from: number, limit: number): { s: string; next: number } => {
    const nul = blob.indexOf(0, from);
    if (nul < 0 || nul >= limit) throw bad("unterminated string");
    return { s: new TextDecoder().decode(blob.subarray(from, nul)), next: nul + 1 };
  };
  const stack: DtNode[] = [];
  let root: DtNode | undefined;
  for (;;) {
    const tok = u32();
    if (tok === FdtToken.NOP) continue;
    if (tok === FdtToken.BEGIN_NODE) {
      const { s, next } = cstr(o, end);
      o = align4(next);
      const node: DtNode = { name: s, props: {} };
      const parent = stack[stack.length - 1];
      if (parent) (parent.children ??= []).push(node);
      else if (root) throw bad("more than one root node");
      else root = node;
      stack.push(node);
    } else if (tok === FdtToken.PROP) {
      const node = stack[stack.length - 1];
      if (!node) throw bad("property outside any node");
      const len = u32();
      const nameoff = u32();
      if (o + len > end) throw bad("property value runs past the structure block");
      const name = cstr(h.offStrings + nameoff, h.offStrings + h.sizeStrings).s;
      node.props[name] = guessDtValue(blob.subarray(o, o + len));
      o = align4(o + len);
    } else if (tok === FdtToken.END_NODE) {
      if (!stack.pop()) throw bad("unbalanced FDT_END_NODE");
    } else if (tok === FdtToken.END) {
      if (stack.length !== 0 || !root) throw bad("FDT_END inside a node");
      return root;
    } else {
      throw bad(`unknown token 0x${tok.toString(16)} at offset ${o - 4}`);
    }
  }
}
