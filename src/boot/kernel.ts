/**
 * Loading what the guest boots: a Linux kernel (flat RISC-V `Image`, as Debian ships it, or an ELF
 * `vmlinux`), a bare-metal ELF program, or M-mode firmware. Loaders only place bytes and report
 * where they went (rust-vmm linux-loader style); the boot builder decides registers and the DTB.
 */
import { CorralError, FieldError } from "../errors.js";
import { EM_RISCV, parseElf, PT, SHF, type ElfFile, type ElfSegment } from "../formats/elf.js";
import type { GuestRam } from "../machine/memory.js";
import { blobBytes, blobHead, blobSize, readBlobInto, type BlobData } from "./blob.js";
import { BootError, type BootErrorCode } from "./errors.js";

/** Linux Documentation/arch/riscv/boot-image-header.rst: "RISCV\0\0\0" at 0x30, "RSC\x05" at 0x38. */
export const IMAGE_HEADER = {
  textOffset: 8,
  imageSize: 16,
  magic: 0x30,
  magic2: 0x38,
  size: 64,
} as const;
const IMAGE_MAGIC = "RISCV\0\0\0";
const IMAGE_MAGIC2 = "RSC\x05";

export interface Loaded {
  /** Guest-physical entry point. */
  entry: number;
  /** First and one-past-last guest-physical byte the image occupies (incl. bss). */
  start: number;
  end: number;
}

export function isLinuxImage(b: Uint8Array): boolean {
  if (b.length < IMAGE_HEADER.size) return false;
  const ascii = (o: number, n: number): string => String.fromCharCode(...b.subarray(o, o + n));
  return ascii(IMAGE_HEADER.magic, 8) === IMAGE_MAGIC && ascii(IMAGE_HEADER.magic2, 4) === IMAGE_MAGIC2;
}

function isElf(b: Uint8Array): boolean {
  return b.length >= 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
}

function fits(ram: GuestRam, start: number, len: number, what: string, name: string): void {
  if (start < ram.base) {
    const base = `0x${ram.base.toString(16)}`;
    throw new BootError(
      "IMAGE_OUTSIDE_RAM",
      `${name}: the ${what} has a segment at 0x${start.toString(16)}, below guest RAM at ${base}; link it at ${base} or above`,
    );
  }
  if (!ram.contains(start, len)) {
    const mib = Math.ceil((start + len - ram.base) / 2 ** 20);
    throw new FieldError<BootErrorCode>(
      "IMAGE_TOO_LARGE",
      "memory",
      (n) =>
        `${name}: the ${what} needs guest memory up to ${mib} MiB but the guest has ${ram.size / 2 ** 20} MiB; raise ${n}`,
    );
  }
}

/** Load a Linux kernel: a flat Image at RAM base + text_offset, or an ELF vmlinux. */
export function loadKernel(ram: GuestRam, blob: BlobData, name: string): Loaded {
  const size = blobSize(blob);
  if (size === 0)
    throw new FieldError<BootErrorCode>(
      "KERNEL_EMPTY",
      "boot.kernel",
      (n) => `${name} is empty: pass a RISC-V Linux Image or vmlinux with ${n}`,
    );
  const head = blobHead(blob, IMAGE_HEADER.size, name);
  if (isLinuxImage(head)) {
    const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
    const textOffset = Number(dv.getBigUint64(IMAGE_HEADER.textOffset, true));
    const imageSize = Math.max(Number(dv.getBigUint64(IMAGE_HEADER.imageSize, true)), size);
    const start = ram.base + textOffset;
    fits(ram, start, imageSize, "kernel", name);
    // Straight from the file into RAM (dmaTarget tells the code cache, as write() does).
    readBlobInto(blob, ram.dmaTarget(start, size), name);
    return { entry: start, start, end: start + imageSize };
  }
  // An ELF is parsed whole, from a buffer of its own.
  const b = blobBytes(blob, name);
  if (isElf(b)) return loadElf(ram, b, name, true);
  throw new BootError(
    "KERNEL_FORMAT",
    `${name} is neither a RISC-V Linux Image nor an ELF file: pass the kernel's Image (arch/riscv/boot/Image) or vmlinux`,
  );
}

/**
 * Load an ELF's PT_LOAD segments at their physical addresses. A kernel ELF linked at virtual
 * addresses (vmlinux: 0xffffffff80000000) is placed at RAM base + 2 MiB, preserving offsets.
 *
 * What lies in RAM is loaded; a segment may reach outside RAM only with bytes that are no code or
 * data, as QEMU's loader drops them: `gcc -nostdlib -Ttext=0x80000000` makes a first segment that
 * starts a page lower, at 0x7ffff000, because it carries the ELF and program headers.
 */
export function loadElf(ram: GuestRam, b: Uint8Array, name: string, kernel = false): Loaded {
  let elf;
  try {
    elf = parseElf(b, { name, machine: EM_RISCV });
  } catch (e) {
    if (e instanceof CorralError) {
      const what = kernel ? "a riscv64 Linux kernel with" : "a 64-bit RISC-V ELF with";
      const message = e.message;
      throw new FieldError(e.code, kernel ? "boot.kernel" : "boot.firmware", (n) => `${message}: pass ${what} ${n}`, {
        cause: e,
      });
    }
    throw e;
  }
  const loads = [...elf.segments.entries()].filter(([, s]) => s.type === PT.LOAD && s.memsz > 0);
  if (loads.length === 0)
    throw new BootError("ELF_NO_SEGMENTS", `${name} has no loadable segments: it cannot be booted`);
  const lowest = loads.reduce((m, [, s]) => (s.paddr < m ? s.paddr : m), loads[0]![1].paddr);
  const inRam = lowest >= BigInt(ram.base) && lowest < BigInt(ram.base + ram.size);
  const delta = kernel && !inRam ? BigInt(ram.base + 0x20_0000) - lowest : 0n;
  let start = Infinity;
  let end = 0;
  for (const [i, s] of loads) {
    const pa = Number(s.paddr + delta);
    const lo = Math.max(pa, ram.base);
    const hi = Math.min(pa + s.memsz, ram.end);
    refuseOutsideRam(ram, elf, i, s, pa, lo, hi, name);
    if (hi <= lo) continue;
    // [pa, pa + filesz) comes from the file, the rest of memsz is zeros (bss).
    const fileEnd = Math.min(hi, pa + s.filesz);
    const off = Number(s.offset) + (lo - pa);
    if (fileEnd > lo) ram.write(lo, b.subarray(off, off + (fileEnd - lo)));
    const zeroFrom = Math.max(lo, fileEnd);
    if (hi > zeroFrom) ram.fill(zeroFrom, hi - zeroFrom, 0);
    start = Math.min(start, lo);
    end = Math.max(end, hi);
  }
  // The entry is virtual for a kernel ELF: move it with the same delta, relative to the lowest vaddr.
  let entry = Number(elf.entry + delta);
  if (kernel && !inRam) {
    const lowV = loads.reduce((m, [, s]) => (s.vaddr < m ? s.vaddr : m), loads[0]![1].vaddr);
    entry = Number(elf.entry - lowV + BigInt(ram.base + 0x20_0000));
  }
  return { entry, start, end };
}

/**
 * Refuse segment `i` if what lies outside RAM (below `lo` or from `hi` on, of [pa, pa + memsz))
 * is code or data: an allocated section (SHF_ALLOC) there. Without section headers nothing tells
 * headers from code, so any byte outside RAM is refused.
 */
function refuseOutsideRam(
  ram: GuestRam,
  elf: ElfFile,
  i: number,
  s: ElfSegment,
  pa: number,
  lo: number,
  hi: number,
  name: string,
): void {
  const outside = (a: number, len: number): boolean => a < lo || a + len > Math.max(hi, lo);
  let what: string | undefined;
  let at = 0;
  if (elf.sections.length === 0) {
    if (outside(pa, s.memsz)) [what, at] = ["its bytes", pa < lo ? pa : Math.max(hi, lo)];
  } else {
    for (const sec of elf.sections) {
      if (
        (sec.flags & SHF.ALLOC) === 0 ||
        sec.size === 0 ||
        sec.addr < s.vaddr ||
        sec.addr >= s.vaddr + BigInt(s.memsz)
      )
        continue;
      const secPa = pa + Number(sec.addr - s.vaddr);
      if (outside(secPa, sec.size)) {
        [what, at] = [`section ${sec.name || "(unnamed)"}`, secPa];
        break;
      }
    }
  }
  if (what === undefined) return;
  const above = at >= ram.end;
  throw new FieldError(
    above ? "IMAGE_TOO_LARGE" : "IMAGE_OUTSIDE_RAM",
    "memory",
    (n) =>
      `${name}: segment ${i} puts ${what} at 0x${at.toString(16)}, outside guest RAM (0x${ram.base.toString(16)}-0x${(ram.end - 1).toString(16)}); ` +
      (above ? `raise ${n} or link it lower` : `link it at 0x${ram.base.toString(16)} or above`),
  );
}

/** Load firmware or a bare-metal program: an ELF at its addresses, or a flat binary at RAM base. */
export function loadFirmware(ram: GuestRam, b: Uint8Array, name: string): Loaded {
  if (b.length === 0)
    throw new FieldError<BootErrorCode>(
      "FIRMWARE_EMPTY",
      "boot.firmware",
      (n) => `${name} is empty: pass an M-mode ELF or flat binary with ${n}`,
    );
  if (isElf(b)) return loadElf(ram, b, name);
  fits(ram, ram.base, b.length, "firmware", name);
  ram.write(ram.base, b);
  return { entry: ram.base, start: ram.base, end: ram.base + b.length };
}

/** Copy or read a blob (initrd, DTB) to `at`, checking it fits below `limit`; `hint(n)` says what to do, the memory field called `n`. */
export function placeBlob(
  ram: GuestRam,
  b: BlobData,
  name: string,
  at: number,
  limit: number,
  what: string,
  hint: (n: string) => string,
): { start: number; end: number } {
  const size = blobSize(b);
  if (at < ram.base || at + size > limit) {
    throw new FieldError<BootErrorCode>(
      "IMAGE_TOO_LARGE",
      "memory",
      (n) =>
        `the ${what} (${(size / 2 ** 20).toFixed(1)} MiB) does not fit in guest memory (${ram.size / 2 ** 20} MiB); ${hint(n)}`,
    );
  }
  readBlobInto(b, ram.dmaTarget(at, size), name);
  return { start: at, end: at + size };
}
