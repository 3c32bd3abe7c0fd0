/**
 * A kernel's symbol table read from its own kallsyms tables (CONFIG_KALLSYMS), in a flat Image or
 * vmlinux, as System.map text. Debian's linux-image packages ship a placeholder System.map ("The
 * real System.map is in the linux-image-<version>-dbg package", a 1 GB download); the tables the
 * kernel carries for /proc/kallsyms hold the same symbols, so Corral makes System.map from them.
 *
 * Layout (scripts/kallsyms.c write_src, Linux 6.4 and later), each table 8-byte aligned in .rodata:
 *   kallsyms_num_syms    u32
 *   kallsyms_names       per symbol: a length (one byte; two when >= 0x80: low 7 bits, then the
 *                        rest), then that many token indices; the expanded name's first char is
 *                        the symbol's type
 *   kallsyms_markers     u32 per 256 symbols: where that symbol's entry starts in names
 *   kallsyms_token_table 256 NUL-terminated tokens; a byte that names use as itself is its own
 *                        token, so tokens 0x30..0x39 are "0".."9" (how the table is found here)
 *   kallsyms_token_index u16 per token: its offset in the token table
 *   kallsyms_offsets     u32 per symbol: address - kallsyms_relative_base (no absolute per-CPU
 *                        symbols on RISC-V), sorted by address
 *   kallsyms_relative_base u64
 */

/** The tokens "0".."9", each NUL-terminated, as the token table holds them at 0x30..0x39. */
const DIGITS = Buffer.from("0\x001\x002\x003\x004\x005\x006\x007\x008\x009\x00", "latin1");

export interface KernelSymbol {
  /** The address as an unsigned 64-bit value. */
  addr: bigint;
  type: string;
  name: string;
}

const align8 = (n: number): number => (n + 7) & ~7;

/**
 * The kernel's symbols in address order, or null when `image` holds no kallsyms tables this
 * reader recognises (a kernel built without CONFIG_KALLSYMS, or an older layout).
 */
export function readKallsyms(image: Uint8Array): KernelSymbol[] | null {
  const buf = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  for (let at = buf.indexOf(DIGITS); at >= 0; at = buf.indexOf(DIGITS, at + 1)) {
    const syms = tryTables(buf, at);
    if (syms) return syms;
  }
  return null;
}

function tryTables(buf: Buffer, digits: number): KernelSymbol[] | null {
  // Back 0x30 tokens from "0" to the table's start.
  let t = digits;
  for (let k = 0; k < 0x30; k++) {
    if (t < 2 || buf[t - 1] !== 0) return null;
    let s = t - 1;
    while (s > 0 && buf[s - 1] !== 0) s--;
    t = s;
  }
  if (t % 8 !== 0) return null;
  const tokenTable = t;
  const tokens: string[] = [];
  let p = tokenTable;
  for (let k = 0; k < 256; k++) {
    const end = buf.indexOf(0, p);
    if (end < 0 || end - p > 64) return null;
    tokens.push(buf.toString("latin1", p, end));
    p = end + 1;
  }
  const tokenIndex = align8(p);
  if (tokenIndex + 512 > buf.length) return null;
  for (let k = 0, off = 0; k < 256; k++) {
    if (buf.readUInt16LE(tokenIndex + 2 * k) !== off) return null;
    off += tokens[k]!.length + 1;
  }
  // The markers end right before the token table (possibly 4 bytes of padding).
  let end = tokenTable;
  if (buf.readUInt32LE(end - 4) === 0 && buf.readUInt32LE(end - 8) !== 0) end -= 4;
  let m = end - 4;
  while (m >= 4 && buf.readUInt32LE(m) !== 0 && buf.readUInt32LE(m - 4) < buf.readUInt32LE(m)) m -= 4;
  if (buf.readUInt32LE(m) !== 0) return null;
  const markers = m;
  const nMarkers = (end - markers) / 4;
  // kallsyms_num_syms: the u32 whose count needs exactly these markers, whose names end here.
  for (let q = (markers - 8) & ~7; q >= 0 && markers - q < 64 * 2 ** 20; q -= 8) {
    const n = buf.readUInt32LE(q);
    if (n === 0 || Math.ceil(n / 256) !== nMarkers) continue;
    const names = q + 8;
    const syms = decode(buf, names, markers, n, tokens, tokenIndex + 512);
    if (syms) return syms;
  }
  return null;
}

function decode(
  buf: Buffer,
  names: number,
  markersAt: number,
  n: number,
  tokens: string[],
  offsetsAt: number,
): KernelSymbol[] | null {
  const out: KernelSymbol[] = [];
  const offsets = align8(offsetsAt);
  const baseAt = align8(offsets + 4 * n);
  if (baseAt + 8 > buf.length) return null;
  const base = buf.readBigUInt64LE(baseAt);
  let p = names;
  for (let i = 0; i < n; i++) {
    if (i % 256 === 0 && buf.readUInt32LE(markersAt + (i / 256) * 4) !== p - names) return null;
    let len = buf[p++]!;
    if (len & 0x80) len = (len & 0x7f) | (buf[p++]! << 7);
    if (len === 0 || p + len > markersAt) return null;
    let name = "";
    for (let k = 0; k < len; k++) name += tokens[buf[p + k]!];
    p += len;
    const addr = BigInt.asUintN(64, base + BigInt(buf.readUInt32LE(offsets + 4 * i)));
    out.push({ addr, type: name[0]!, name: name.slice(1) });
  }
  return p <= markersAt ? out : null;
}

/** Symbols as System.map text: "ffffffff80002000 T _start" lines. */
export function systemMapText(syms: readonly KernelSymbol[]): string {
  return syms.map((s) => `${s.addr.toString(16).padStart(16, "0")} ${s.type} ${s.name}\n`).join("");
}
