/**
 * ELF64 reader: file header, program headers (what a loader needs), section headers and the
 * symbol table (so tests can find `tohost`, `_start`, ...). Little-endian only: RISC-V Linux and
 * every host Corral runs on are little-endian.
 * Reference: System V ABI "gABI" chapter 4 (Object Files) and 5 (Program Loading); the ELF64
 * structures as in the Linux uapi `elf.h`. RISC-V's e_machine is 243 (RISC-V ELF psABI).
 */
import { FormatError, type FormatErrorCode } from "./errors.js";

/** A field of a binary record: byte offset and width (1, 2, 4 or 8; 8-byte fields read as bigint). */
export interface Field {
  readonly offset: number;
  readonly size: 1 | 2 | 4 | 8 | 16;
}

/** Elf64_Ehdr. e_ident is the 16-byte identification array; the others follow it. */
export const EHDR = {
  e_ident: { offset: 0, size: 16 },
  e_type: { offset: 16, size: 2 },
  e_machine: { offset: 18, size: 2 },
  e_version: { offset: 20, size: 4 },
  e_entry: { offset: 24, size: 8 },
  e_phoff: { offset: 32, size: 8 },
  e_shoff: { offset: 40, size: 8 },
  e_flags: { offset: 48, size: 4 },
  e_ehsize: { offset: 52, size: 2 },
  e_phentsize: { offset: 54, size: 2 },
  e_phnum: { offset: 56, size: 2 },
  e_shentsize: { offset: 58, size: 2 },
  e_shnum: { offset: 60, size: 2 },
  e_shstrndx: { offset: 62, size: 2 },
} as const satisfies Record<string, Field>;
export const EHDR_SIZE = 64;

/** Indexes into e_ident (gABI 4, "ELF Identification"). */
export const EI = { CLASS: 4, DATA: 5, VERSION: 6, OSABI: 7 } as const;

/** Elf64_Phdr. */
export const PHDR = {
  p_type: { offset: 0, size: 4 },
  p_flags: { offset: 4, size: 4 },
  p_offset: { offset: 8, size: 8 },
  p_vaddr: { offset: 16, size: 8 },
  p_paddr: { offset: 24, size: 8 },
  p_filesz: { offset: 32, size: 8 },
  p_memsz: { offset: 40, size: 8 },
  p_align: { offset: 48, size: 8 },
} as const satisfies Record<string, Field>;
export const PHDR_SIZE = 56;

/** Elf64_Shdr. */
export const SHDR = {
  sh_name: { offset: 0, size: 4 },
  sh_type: { offset: 4, size: 4 },
  sh_flags: { offset: 8, size: 8 },
  sh_addr: { offset: 16, size: 8 },
  sh_offset: { offset: 24, size: 8 },
  sh_size: { offset: 32, size: 8 },
  sh_link: { offset: 40, size: 4 },
  sh_info: { offset: 44, size: 4 },
  sh_addralign: { offset: 48, size: 8 },
  sh_entsize: { offset: 56, size: 8 },
} as const satisfies Record<string, Field>;
export const SHDR_SIZE = 64;

/** Elf64_Sym. */
export const SYM = {
  st_name: { offset: 0, size: 4 },
  st_info: { offset: 4, size: 1 },
  st_other: { offset: 5, size: 1 },
  st_shndx: { offset: 6, size: 2 },
  st_value: { offset: 8, size: 8 },
  st_size: { offset: 16, size: 8 },
} as const satisfies Record<string, Field>;
export const SYM_SIZE = 24;

export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const ET = { REL: 1, EXEC: 2, DYN: 3, CORE: 4 } as const;
export const PT = { NULL: 0, LOAD: 1, DYNAMIC: 2, INTERP: 3, NOTE: 4, PHDR: 6, TLS: 7 } as const;
/** Segment permission bits (p_flags). */
export const PF = { X: 1, W: 2, R: 4 } as const;
export const SHT = { SYMTAB: 2, STRTAB: 3, NOBITS: 8, DYNSYM: 11 } as const;
/** sh_flags bits (System V ABI, "Sections"). */
export const SHF = { WRITE: 1, ALLOC: 2, EXECINSTR: 4 } as const;
export const EM_RISCV = 243;
const SHN_UNDEF = 0;
const STB_LOCAL = 0;

const MACHINE_NAMES: Record<number, string> = {
  3: "x86 (32-bit)",
  8: "MIPS",
  20: "PowerPC",
  21: "PowerPC64",
  22: "s390",
  40: "ARM",
  62: "x86-64",
  183: "AArch64",
  243: "RISC-V",
  258: "LoongArch",
};

export function machineName(machine: number): string {
  return MACHINE_NAMES[machine] ?? `machine ${machine}`;
}

export interface ElfSegment {
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  paddr: bigint;
  filesz: number;
  memsz: number;
  align: bigint;
}

export interface ElfSection {
  name: string;
  type: number;
  /** sh_flags (SHF): SHF.ALLOC marks what a loader puts in memory (code and data). */
  flags: number;
  addr: bigint;
  offset: number;
  size: number;
}

export interface ElfFile {
  /** Always 64: ELF32 files are rejected with ELF_NOT_64BIT. */
  class: 64;
  machine: number;
  machineName: string;
  /** e_type: one of ET (EXEC for bare-metal test programs). */
  type: number;
  entry: bigint;
  segments: ElfSegment[];
  sections: ElfSection[];
  /** Value of a symbol from .symtab (or .dynsym when stripped); undefined if absent. */
  symbol(name: string): bigint | undefined;
}

export interface ParseElfOptions {
  /** How to name the file in error messages (a path). Default "the file". */
  name?: string;
  /** Require this e_machine (e.g. EM_RISCV); otherwise ELF_WRONG_MACHINE. */
  machine?: number;
}

/** Read one field of a record at `base`; 8-byte fields come back as bigint. */
function read(dv: DataView, base: number, f: Field): number | bigint {
  switch (f.size) {
    case 1:
      return dv.getUint8(base + f.offset);
    case 2:
      return dv.getUint16(base + f.offset, true);
    case 4:
      return dv.getUint32(base + f.offset, true);
    case 8:
      return dv.getBigUint64(base + f.offset, true);
    case 16:
      throw new Error("16-byte fields are byte arrays");
  }
}
const num = (dv: DataView, base: number, f: Field): number => Number(read(dv, base, f));
const big = (dv: DataView, base: number, f: Field): bigint => BigInt(read(dv, base, f));

export function parseElf(buf: Uint8Array, opts: ParseElfOptions = {}): ElfFile {
  const what = opts.name ?? "the file";
  const fail = (code: FormatErrorCode, msg: string): FormatError => new FormatError(code, `${what} ${msg}`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  /** Throws ELF_TRUNCATED unless [off, off+len) lies in the file. */
  const need = (off: bigint | number, len: bigint | number, part: string): number => {
    if (BigInt(off) + BigInt(len) > BigInt(buf.length)) {
      throw fail("ELF_TRUNCATED", `is truncated: its ${part} ends past the end of the file (${buf.length} bytes)`);
    }
    return Number(off);
  };

  if (buf.length < 4 || buf[0] !== 0x7f || buf[1] !== 0x45 || buf[2] !== 0x4c || buf[3] !== 0x46) {
    throw fail("ELF_BAD_MAGIC", "is not an ELF file (no \\x7fELF magic)");
  }
  need(0, EHDR_SIZE, "ELF header");
  if (buf[EI.CLASS] !== ELFCLASS64)
    throw fail("ELF_NOT_64BIT", "is a 32-bit ELF; Corral needs a 64-bit (ELFCLASS64) file");
  if (buf[EI.DATA] !== ELFDATA2LSB) throw fail("ELF_NOT_LITTLE_ENDIAN", "is a big-endian ELF; RISC-V is little-endian");

  const machine = num(dv, 0, EHDR.e_machine);
  if (opts.machine !== undefined && machine !== opts.machine) {
    throw fail("ELF_WRONG_MACHINE", `is an ELF for ${machineName(machine)}, not ${machineName(opts.machine)}`);
  }

  const phoff = big(dv, 0, EHDR.e_phoff);
  const phnum = num(dv, 0, EHDR.e_phnum);
  const phentsize = num(dv, 0, EHDR.e_phentsize);
  if (phnum > 0 && phentsize < PHDR_SIZE)
    throw fail("ELF_BAD_HEADER", `has program headers of ${phentsize} bytes (< ${PHDR_SIZE})`);
  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const base = need(phoff + BigInt(i * phentsize), PHDR_SIZE, "program header table");
    const seg: ElfSegment = {
      type: num(dv, base, PHDR.p_type),
      flags: num(dv, base, PHDR.p_flags),
      offset: big(dv, base, PHDR.p_offset),
      vaddr: big(dv, base, PHDR.p_vaddr),
      paddr: big(dv, base, PHDR.p_paddr),
      filesz: num(dv, base, PHDR.p_filesz),
      memsz: num(dv, base, PHDR.p_memsz),
      align: big(dv, base, PHDR.p_align),
    };
    if (seg.type === PT.LOAD) need(seg.offset, seg.filesz, `segment ${i}`);
    if (seg.type === PT.LOAD && seg.filesz > seg.memsz)
      throw fail("ELF_BAD_HEADER", `has loadable segment ${i} with filesz > memsz`);
    segments.push(seg);
  }

  const sections = readSections(dv, need, fail);
  const symbols = readSymbols(dv, buf, sections.raw, need);
  return {
    class: 64,
    machine,
    machineName: machineName(machine),
    type: num(dv, 0, EHDR.e_type),
    entry: big(dv, 0, EHDR.e_entry),
    segments,
    sections: sections.list,
    symbol: (name) => symbols.get(name),
  };
}

interface RawSection extends ElfSection {
  link: number;
  entsize: number;
}
type Need = (off: bigint | number, len: bigint | number, part: string) => number;
type Fail = (code: FormatErrorCode, msg: string) => FormatError;

function readSections(dv: DataView, need: Need, fail: Fail): { raw: RawSection[]; list: ElfSection[] } {
  const shoff = big(dv, 0, EHDR.e_shoff);
  const shnum = num(dv, 0, EHDR.e_shnum);
  const shentsize = num(dv, 0, EHDR.e_shentsize);
  if (shoff === 0n || shnum === 0) return { raw: [], list: [] };
  if (shentsize < SHDR_SIZE) throw fail("ELF_BAD_HEADER", `has section headers of ${shentsize} bytes (< ${SHDR_SIZE})`);
  const raw: (RawSection & { nameOff: number })[] = [];
  for (let i = 0; i < shnum; i++) {
    const base = need(shoff + BigInt(i * shentsize), SHDR_SIZE, "section header table");
    const type = num(dv, base, SHDR.sh_type);
    const s = {
      name: "",
      nameOff: num(dv, base, SHDR.sh_name),
      type,
      flags: num(dv, base, SHDR.sh_flags),
      addr: big(dv, base, SHDR.sh_addr),
      offset: num(dv, base, SHDR.sh_offset),
      size: num(dv, base, SHDR.sh_size),
      link: num(dv, base, SHDR.sh_link),
      entsize: num(dv, base, SHDR.sh_entsize),
    };
    if (type !== SHT.NOBITS) need(s.offset, s.size, `section ${i}`);
    raw.push(s);
  }
  const shstr = raw[num(dv, 0, EHDR.e_shstrndx)];
  const bytes = new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength);
  if (shstr) for (const s of raw) s.name = cstr(bytes, shstr.offset + s.nameOff, shstr.offset + shstr.size);
  return {
    raw,
    list: raw.map(({ name, type, flags, addr, offset, size }) => ({ name, type, flags, addr, offset, size })),
  };
}

function readSymbols(dv: DataView, buf: Uint8Array, sections: RawSection[], need: Need): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const tab = sections.find((s) => s.type === SHT.SYMTAB) ?? sections.find((s) => s.type === SHT.DYNSYM);
  const strtab = tab && sections[tab.link];
  if (!tab || !strtab) return out;
  const entsize = tab.entsize || SYM_SIZE;
  // Entry 0 is the reserved undefined symbol (gABI 4, "Symbol Table").
  for (let base = tab.offset + entsize; base + SYM_SIZE <= tab.offset + tab.size; base += entsize) {
    need(base, SYM_SIZE, "symbol table");
    if (num(dv, base, SYM.st_shndx) === SHN_UNDEF) continue; // an import, not a definition
    const name = cstr(buf, strtab.offset + num(dv, base, SYM.st_name), strtab.offset + strtab.size);
    if (!name) continue;
    // A global or weak definition wins over a local one of the same name (st_info high nibble).
    const bind = num(dv, base, SYM.st_info) >> 4;
    if (bind !== STB_LOCAL || !out.has(name)) out.set(name, big(dv, base, SYM.st_value));
  }
  return out;
}

function cstr(buf: Uint8Array, from: number, limit: number): string {
  let end = from;
  while (end < limit && buf[end] !== 0) end++;
  return new TextDecoder().decode(buf.subarray(from, end));
}
