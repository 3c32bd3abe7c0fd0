/**
 * Reading guest memory for the profiler, through the hart's current page tables, without any of
 * a real access's effects: no A/D bits set, no TLB filled, no fault raised (RISC-V privileged
 * spec 4.3.2, the walk only). The guest wrote every byte it reads, so anything out of place is
 * simply "unreadable" (-1): a PTE pointing outside RAM, a reserved encoding, an address out of range.
 */
import type { Hart } from "../cpu/hart/hart.js";
import { SATP_BARE, SATP_SV39 } from "../cpu/isa/defs.js";

const PTE_V = 1;
const PTE_R = 2;
const PTE_W = 4;
const PTE_X = 8;
/** Bytes below a level's VPN field: 2^(12 + 9 * level). */
const LEVEL_SHIFT = [2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39];

/** What a walk reads of a hart. */
type Walker = Pick<Hart, "ram" | "satpMode" | "satpRoot">;

/** The RAM offset virtual address `va` maps to in `h`'s current address space, or -1. */
export function peekOffset(h: Walker, va: number): number {
  const ram = h.ram;
  if (h.satpMode === SATP_BARE) {
    const off = va - ram.base;
    return off >= 0 && off < ram.size ? off : -1;
  }
  const levels = h.satpMode === SATP_SV39 ? 3 : 4;
  const half = 2 ** (levels === 3 ? 38 : 47);
  if (va >= half || va < -half) return -1;
  const vu = va < 0 ? va + 2 ** 48 : va;
  let table = h.satpRoot;
  for (let level = levels - 1; level >= 0; level--) {
    const off = table + (Math.floor(vu / LEVEL_SHIFT[level]!) % 512) * 8 - ram.base;
    if (off < 0 || off + 8 > ram.size) return -1;
    const lo = ram.view.getInt32(off, true);
    const hi = ram.view.getInt32(off + 4, true);
    if (!(lo & PTE_V) || (!(lo & PTE_R) && lo & PTE_W)) return -1;
    const ppn = (hi & 0x3fffff) * 4194304 + (lo >>> 10);
    if (!(lo & (PTE_R | PTE_X))) {
      table = ppn * 4096;
      continue;
    }
    const pa = ppn * 4096 + (vu % LEVEL_SHIFT[level]!);
    const at = pa - ram.base;
    return at >= 0 && at < ram.size ? at : -1;
  }
  return -1;
}

/** `len` bytes at `va` (within one page), or null when they are not mapped to RAM. */
export function peekBytes(h: Walker, va: number, len: number): Uint8Array | null {
  const off = peekOffset(h, va);
  if (off < 0 || (off & 0xfff) + len > 4096 || off + len > h.ram.size) return null;
  return h.ram.u8.subarray(off, off + len);
}
