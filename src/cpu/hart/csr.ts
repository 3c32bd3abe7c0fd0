import {
  ALL_INTS,
  Csr,
  MEDELEG_MASK,
  MENVCFG_HI_STCE,
  MIP_SEIP,
  MIP_SSIP,
  MIP_STIP,
  MISA_EXT,
  MISA_HI,
  MS_FS,
  MS_MPP,
  MS_MXR,
  MSTATUS_HI_XL,
  MSTATUS_WMASK,
  MS_TVM,
  PRIV_M,
  PRIV_S,
  S_INTS,
  SATP_BARE,
  SATP_SV39,
  SATP_SV48,
  SSTATUS_HI_XL,
  SSTATUS_MASK,
} from "../isa/defs.js";
import type { Hart } from "./hart.js";
import { PMP_ENTRIES } from "./pmp.js";
import { aiaRead, aiaWrite } from "./csr-aia.js";
import { ASID_MASK } from "./tlb.js";
import { hi32, lo32, signed64 as signed, TWO32, unsigned64 as u64 } from "../isa/int64.js";

/** The value a CSR read produced (two words, to stay exact). */
export const csrOut = { lo: 0, hi: 0 };

// Slots in Hart.scratch (pairs).
const MSCRATCH = 0;
const SSCRATCH = 2;
const MENVCFG = 4;
const SENVCFG = 6;

function out(lo: number, hi: number): true {
  csrOut.lo = lo | 0;
  csrOut.hi = hi | 0;
  return true;
}
function outNum(v: number): true {
  return out(lo32(v), hi32(v));
}
/** Unsigned 64-bit value that may exceed 2^53 (counters, stimecmp). */
function outU(v: number): true {
  return out(v % TWO32, Math.floor(v / TWO32));
}

function fsOn(h: Hart): boolean {
  return (h.mstatus & MS_FS) !== 0;
}

/**
 * Whether `csr` may be accessed at the hart's privilege (2.1: bits 9:8 are the lowest privilege
 * allowed, bits 11:10 == 3 means read-only) plus the extra gates: counters (mcounteren/scounteren,
 * 3.1.11), satp under TVM (3.1.6.5), stimecmp under menvcfg.STCE (Sstc), FP CSRs under mstatus.FS.
 */
export function csrAllowed(h: Hart, csr: number, write: boolean): boolean {
  if (((csr >>> 8) & 3) > h.priv) return false;
  if (write && csr >>> 10 === 3) return false;
  if (csr >= Csr.cycle && csr <= 0xc1f) {
    const bit = 1 << (csr - Csr.cycle);
    if (h.priv < PRIV_M && !(h.mcounteren & bit)) return false;
    if (h.priv < PRIV_S && !(h.scounteren & bit)) return false;
  }
  if (csr === Csr.satp && h.priv === PRIV_S && h.mstatus & MS_TVM) return false;
  if (csr === Csr.stimecmp && h.priv < PRIV_M && !(h.scratch[MENVCFG + 1]! & MENVCFG_HI_STCE)) return false;
  if (csr <= Csr.fcsr && !fsOn(h)) return false;
  return true;
}

/**
 * Read a CSR into csrOut. Returns false for a CSR that does not exist (illegal instruction).
 * `retired`: instructions retired before this one that `h.instret` does not count yet (those of
 * the running block, added when it ends), so cycle and instret read exactly (privileged spec
 * 3.1.11: minstret counts the instructions the hart has retired).
 */
export function csrRead(h: Hart, csr: number, retired = 0): boolean {
  switch (csr) {
    case Csr.fflags:
      return out(h.fflags, 0);
    case Csr.frm:
      return out(h.frm, 0);
    case Csr.fcsr:
      return out((h.frm << 5) | h.fflags, 0);
    case Csr.cycle:
    case Csr.mcycle:
      return outU(h.instret + retired + h.cycleOffset);
    case Csr.instret:
    case Csr.minstret:
      return outU(h.instret + retired + h.instretOffset);
    case Csr.time:
      return outU(h.host.clock.ticks());
    case Csr.sstatus: {
      const v = h.mstatus & SSTATUS_MASK;
      return out(v, SSTATUS_HI_XL | (sd(h) ? 0x8000_0000 : 0));
    }
    case Csr.mstatus:
      return out(h.mstatus, MSTATUS_HI_XL | (sd(h) ? 0x8000_0000 : 0));
    case Csr.sie:
      return out(h.mie & h.mideleg, 0);
    case Csr.mie:
      return out(h.mie, 0);
    case Csr.sip:
      return out(h.mip & h.mideleg, 0);
    case Csr.mip:
      return out(h.mip, 0);
    case Csr.stvec:
      return outNum(h.stvec);
    case Csr.mtvec:
      return outNum(h.mtvec);
    case Csr.scounteren:
      return out(h.scounteren, 0);
    case Csr.mcounteren:
      return out(h.mcounteren, 0);
    case Csr.mcountinhibit:
      return out(h.mcountinhibit, 0);
    case Csr.senvcfg:
      return out(h.scratch[SENVCFG]!, 0);
    case Csr.menvcfg:
      return out(h.scratch[MENVCFG]!, h.scratch[MENVCFG + 1]!);
    case Csr.sscratch:
      return out(h.scratch[SSCRATCH]!, h.scratch[SSCRATCH + 1]!);
    case Csr.mscratch:
      return out(h.scratch[MSCRATCH]!, h.scratch[MSCRATCH + 1]!);
    case Csr.sepc:
      return outNum(h.sepc);
    case Csr.mepc:
      return outNum(h.mepc);
    case Csr.scause:
      return out(h.scause, h.scauseInt ? 0x8000_0000 : 0);
    case Csr.mcause:
      return out(h.mcause, h.mcauseInt ? 0x8000_0000 : 0);
    case Csr.stval:
      return outNum(h.stval);
    case Csr.mtval:
      return outNum(h.mtval);
    case Csr.stimecmp:
      return outU(h.stimecmp === Number.MAX_VALUE ? 2 ** 64 - 1 : h.stimecmp);
    case Csr.satp: {
      const ppn = h.satpRoot / 4096;
      return out(ppn % TWO32, (h.satpMode << 28) | (h.satpAsid << 12) | Math.floor(ppn / TWO32));
    }
    case Csr.misa:
      return out(MISA_EXT, MISA_HI);
    case Csr.medeleg:
      return out(h.medeleg, 0);
    case Csr.mideleg:
      return out(h.mideleg, 0);
    case Csr.mvendorid:
    case Csr.marchid:
    case Csr.mimpid:
    case Csr.mconfigptr:
      return out(0, 0);
    case Csr.mhartid:
      return out(h.hartId, 0);
  }
  // pmpcfg0..15 (RV64: only even numbers exist), pmpaddr0..63 (3.7.1; pmp.ts).
  if (csr >= 0x3a0 && csr <= 0x3af) {
    if (csr & 1) return false;
    const [lo, hi] = h.pmp.readCfg(csr - 0x3a0);
    return out(lo, hi);
  }
  if (csr >= 0x3b0 && csr <= 0x3ef) {
    const e = csr - 0x3b0;
    return e < PMP_ENTRIES ? out(h.pmp.addrLo[e]!, h.pmp.addrHi[e]!) : out(0, 0);
  }
  // The trigger module (Sdtrig, trigger.ts).
  switch (csr) {
    case Csr.tselect:
      return out(h.trig.select, 0);
    case Csr.tdata1: {
      const [lo, hi] = h.trig.readTdata1();
      return out(lo, hi);
    }
    case Csr.tdata2: {
      const [lo, hi] = h.trig.readTdata2();
      return out(lo, hi);
    }
    case Csr.tdata3:
      return out(0, 0); // textra: no context matching (all its fields WARL 0)
    case Csr.tinfo:
      return out(h.trig.readTinfo(), 0);
  }
  // Unimplemented hardware performance counters and their events read as zero (3.1.10).
  if ((csr >= 0xc03 && csr <= 0xc1f) || (csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0x323 && csr <= 0x33f))
    return out(0, 0);
  // Smaia/Ssaia, on a board with IMSICs (csr-aia.ts).
  if (h.aia !== null) {
    const v = aiaRead(h, csr);
    if (v !== undefined) return out(v[0], v[1]);
  }
  return false;
}

function sd(h: Hart): boolean {
  return (h.mstatus & MS_FS) === MS_FS;
}

/**
 * Write a CSR (already checked with csrAllowed). Returns false for a CSR that does not exist.
 * `retired` as for csrRead.
 */
export function csrWrite(h: Hart, csr: number, lo: number, hi: number, retired = 0): boolean {
  switch (csr) {
    case Csr.fflags:
      h.fflags = lo & 0x1f;
      h.markFsDirty();
      return true;
    case Csr.frm:
      h.frm = lo & 7;
      h.markFsDirty();
      return true;
    case Csr.fcsr:
      h.fflags = lo & 0x1f;
      h.frm = (lo >>> 5) & 7;
      h.markFsDirty();
      return true;
    case Csr.mcycle:
      h.cycleOffset = u64(lo, hi) - h.instret - retired;
      return true;
    case Csr.minstret:
      // The instruction that writes minstret is itself not counted after the write (3.1.10).
      h.instretOffset = u64(lo, hi) - h.instret - retired - 1;
      return true;
    case Csr.sstatus:
      return writeMstatus(h, (h.mstatus & ~SSTATUS_MASK) | (lo & SSTATUS_MASK));
    case Csr.mstatus:
      return writeMstatus(h, lo);
    case Csr.sie:
      h.mie = (h.mie & ~h.mideleg) | (lo & h.mideleg);
      h.irqCheck = true;
      return true;
    case Csr.mie:
      h.mie = lo & ALL_INTS;
      h.irqCheck = true;
      h.wake();
      return true;
    case Csr.sip:
      // Only SSIP is writable through sip (4.1.3).
      h.writeMipSw(MIP_SSIP & h.mideleg, lo);
      h.irqCheck = true;
      return true;
    case Csr.mip: {
      // SSIP, STIP (unless Sstc drives it) and SEIP are writable by M-mode (3.1.9).
      const stce = (h.scratch[MENVCFG + 1]! & MENVCFG_HI_STCE) !== 0;
      const mask = MIP_SSIP | MIP_SEIP | (stce ? 0 : MIP_STIP);
      h.writeMipSw(mask, lo);
      h.irqCheck = true;
      h.wake();
      return true;
    }
    case Csr.stvec:
      h.stvec = tvec(lo, hi);
      return true;
    case Csr.mtvec:
      h.mtvec = tvec(lo, hi);
      return true;
    case Csr.scounteren:
      h.scounteren = lo & 7;
      return true;
    case Csr.mcounteren:
      h.mcounteren = lo & 7;
      return true;
    case Csr.mcountinhibit:
      h.mcountinhibit = lo & 5;
      return true;
    case Csr.senvcfg:
      h.scratch[SENVCFG] = lo & 1;
      return true;
    case Csr.menvcfg:
      h.scratch[MENVCFG] = lo & 1;
      h.scratch[MENVCFG + 1] = hi & MENVCFG_HI_STCE;
      h.updateTimer(h.host.clock.ticks());
      return true;
    case Csr.sscratch:
      h.scratch[SSCRATCH] = lo;
      h.scratch[SSCRATCH + 1] = hi;
      return true;
    case Csr.mscratch:
      h.scratch[MSCRATCH] = lo;
      h.scratch[MSCRATCH + 1] = hi;
      return true;
    case Csr.sepc:
      h.sepc = signed(lo & ~1, hi);
      return true;
    case Csr.mepc:
      h.mepc = signed(lo & ~1, hi);
      return true;
    case Csr.scause:
      h.scause = lo >>> 0;
      h.scauseInt = hi < 0;
      return true;
    case Csr.mcause:
      h.mcause = lo >>> 0;
      h.mcauseInt = hi < 0;
      return true;
    case Csr.stval:
      h.stval = signed(lo, hi);
      return true;
    case Csr.mtval:
      h.mtval = signed(lo, hi);
      return true;
    case Csr.stimecmp:
      h.stimecmp = u64(lo, hi);
      h.updateTimer(h.host.clock.ticks());
      return true;
    case Csr.satp: {
      // Unsupported modes (Sv57, Sv64) leave satp unchanged (4.1.11). ASID is bits 59..44, all 16
      // writable (tlb.ts ASID_BITS; Linux finds ASIDLEN by writing ones there and reading back),
      // kept whatever the mode, as QEMU keeps it.
      const mode = hi >>> 28;
      if (mode !== SATP_BARE && mode !== SATP_SV39 && mode !== SATP_SV48) return true;
      h.setSatp(mode, (hi >>> 12) & ASID_MASK, ((hi & 0xfff) * TWO32 + (lo >>> 0)) * 4096);
      return true;
    }
    case Csr.misa:
      return true; // WARL, fixed
    case Csr.medeleg:
      h.medeleg = lo & MEDELEG_MASK;
      return true;
    case Csr.mideleg:
      h.mideleg = lo & S_INTS;
      h.irqCheck = true;
      return true;
  }
  if (csr >= 0x3a0 && csr <= 0x3af) {
    if (csr & 1) return false;
    if (h.pmp.writeCfg(csr - 0x3a0, lo, hi)) h.protectionChanged();
    return true;
  }
  if (csr >= 0x3b0 && csr <= 0x3ef) {
    if (h.pmp.writeAddr(csr - 0x3b0, lo, hi)) h.protectionChanged();
    return true;
  }
  switch (csr) {
    case Csr.tselect:
      h.trig.writeSelect(lo, hi);
      return true;
    case Csr.tdata1:
      if (h.trig.writeTdata1(lo, hi)) h.protectionChanged();
      return true;
    case Csr.tdata2:
      h.trig.writeTdata2(lo, hi);
      return true;
    case Csr.tdata3:
    case Csr.tinfo: // read-only in 1.0 (writes ignored, as QEMU does)
      return true;
  }
  if ((csr >= 0xb03 && csr <= 0xb1f) || (csr >= 0x323 && csr <= 0x33f)) return true;
  return h.aia !== null && aiaWrite(h, csr, lo, hi);
}

function writeMstatus(h: Hart, v: number): true {
  const old = h.mstatus;
  let nv = (old & ~MSTATUS_WMASK) | (v & MSTATUS_WMASK);
  // MPP is WARL: the reserved value 2 keeps the previous mode.
  if ((nv & MS_MPP) === 2 << 11) nv = (nv & ~MS_MPP) | (old & MS_MPP);
  h.mstatus = nv;
  if ((nv ^ old) & MS_MXR) h.flushTlb();
  h.updateContexts();
  h.irqCheck = true;
  return true;
}

/** mtvec/stvec: modes 0 (direct) and 1 (vectored); others are reserved, read back as direct. */
function tvec(lo: number, hi: number): number {
  const mode = lo & 3;
  return signed((lo & ~3) | (mode === 1 ? 1 : 0), hi);
}
