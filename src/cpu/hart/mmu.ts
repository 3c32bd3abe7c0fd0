import { Exc, MS_MXR, MS_SUM, PRIV_M, PRIV_S, PRIV_U, SATP_BARE, SATP_SV39 } from "../isa/defs.js";
import type { Hart } from "./hart.js";
import { PMP_R, PMP_W } from "./pmp.js";

/** What an access wants (RISC-V privileged spec 4.3.2 step 5). */
export const enum Access {
  Read = 0,
  Write = 1,
  Exec = 2,
}

const PAGE_FAULT = [Exc.LoadPage, Exc.StorePage, Exc.InstPage] as const;
const ACCESS_FAULT = [Exc.LoadAccess, Exc.StoreAccess, Exc.InstAccess] as const;

// PTE bits (4.3.1, figure 4.21).
const PTE_V = 1 << 0;
const PTE_R = 1 << 1;
const PTE_W = 1 << 2;
const PTE_X = 1 << 3;
const PTE_U = 1 << 4;
const PTE_G = 1 << 5;
const PTE_A = 1 << 6;
const PTE_D = 1 << 7;

// Powers of two the walk needs, by level count or level: `2 ** n` with a variable exponent is a
// call into V8's pow (2 % of host time on a fork loop, from the walk alone).
/** Half the virtual address space, by number of levels (3: Sv39, 4: Sv48). */
const HALF_SPACE = [0, 0, 0, 2 ** 38, 2 ** 47];
/** Bytes below a level's VPN field: 2^(12 + 9 * level). */
const LEVEL_SHIFT = [2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39];
/** 4 KiB pages a leaf at a level maps: 2^(9 * level). */
const LEVEL_PAGES = [1, 2 ** 9, 2 ** 18, 2 ** 27];

/**
 * Translate a virtual address for `access` at privilege `priv` (the effective privilege: MPRV
 * already applied by the caller). Returns the physical address. Raises the page fault the spec
 * prescribes (4.3.2) through `h.raise`, which throws.
 *
 * A/D bits are updated by the walker, atomically with respect to this single-threaded machine
 * (the Svadu behaviour; 4.3.1 allows either this or a fault). Leaves in `h.walkGlobal` whether the
 * mapping is global: G set in the leaf or in any non-leaf PTE above it (4.3.1), for the TLB.
 */
export function translate(h: Hart, va: number, access: Access, priv: number): number {
  const mode = h.satpMode;
  h.walkGlobal = false;
  if (priv === PRIV_M || mode === SATP_BARE) {
    // Bare: the address is physical. Negative values are addresses >= 2^63: nothing lives there.
    if (va < 0) h.raise(ACCESS_FAULT[access], va);
    return va;
  }
  const levels = mode === SATP_SV39 ? 3 : 4;
  const half = HALF_SPACE[levels]!;
  // Bits 63..VA-1 must all equal bit VA-1 (VA = 39 or 48), i.e. the value fits the signed range (4.3.2).
  if (va >= half || va < -half) h.raise(PAGE_FAULT[access], va);
  const vu = va < 0 ? va + 2 ** 48 : va; // low 48 bits as an unsigned number
  const ram = h.ram;
  const view = ram.view;
  let table = h.satpRoot;
  let global = 0;
  for (let level = levels - 1; level >= 0; level--) {
    const vpn = Math.floor(vu / LEVEL_SHIFT[level]!) % 512;
    const pteAddr = table + vpn * 8;
    const off = pteAddr - ram.base;
    if (off < 0 || off + 8 > ram.size) h.raise(ACCESS_FAULT[access], va);
    // The walk's implicit reads and A/D writes are checked by PMP as S-mode accesses (3.7.1),
    // faulting as the access that caused the walk (4.3.2 step 2).
    if (!h.pmp.allows(pteAddr, 8, PMP_R, PRIV_S)) h.raise(ACCESS_FAULT[access], va);
    const lo = view.getInt32(off, true);
    const hi = view.getInt32(off + 4, true);
    if (!(lo & PTE_V) || (!(lo & PTE_R) && lo & PTE_W)) h.raise(PAGE_FAULT[access], va);
    // Bits 63..54: N, PBMT and reserved. Corral advertises neither Svnapot nor Svpbmt, so all must be 0.
    if (hi & 0xffc00000) h.raise(PAGE_FAULT[access], va);
    const ppn = (hi & 0x3fffff) * 4194304 + (lo >>> 10);
    global |= lo & PTE_G;
    if (!(lo & (PTE_R | PTE_X))) {
      table = ppn * 4096;
      continue;
    }
    // Leaf: permission checks (4.3.2 step 5).
    if (lo & PTE_U) {
      if (priv === PRIV_S && (access === Access.Exec || !(h.mstatus & MS_SUM))) h.raise(PAGE_FAULT[access], va);
    } else if (priv === PRIV_U) {
      h.raise(PAGE_FAULT[access], va);
    }
    const mxr = (h.mstatus & MS_MXR) !== 0;
    const ok =
      access === Access.Read
        ? (lo & PTE_R) !== 0 || (mxr && (lo & PTE_X) !== 0)
        : access === Access.Write
          ? (lo & PTE_W) !== 0
          : (lo & PTE_X) !== 0;
    if (!ok) h.raise(PAGE_FAULT[access], va);
    // A superpage's PPN must be aligned to its size (step 6).
    const pageSpan = LEVEL_PAGES[level]!;
    if (ppn % pageSpan !== 0) h.raise(PAGE_FAULT[access], va);
    let nlo = lo | PTE_A;
    if (access === Access.Write) nlo |= PTE_D;
    if (nlo !== lo) {
      if (!h.pmp.allows(pteAddr, 8, PMP_W, PRIV_S)) h.raise(ACCESS_FAULT[access], va);
      view.setInt32(off, nlo, true);
    }
    const inPage = vu % (4096 * pageSpan);
    h.walkGlobal = global !== 0;
    return ppn * 4096 + inPage;
  }
  return h.raise(PAGE_FAULT[access], va);
}
