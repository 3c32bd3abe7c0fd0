/**
 * Loads, stores and atomics (unprivileged spec 2.6, chapter 8 "A"). The effective address is
 * computed as a JS number (exact for canonical addresses, see hart.ts); the hart's fast paths
 * do translation, permission checks and faults.
 */
import { TWO32 } from "./int64.js";
import { Exc, MS_FS } from "./defs.js";
import type { Hart } from "../hart/hart.js";
import type { Op } from "./ops-int.js";

export function load(width: number, unsigned: boolean, d: number, a: number, imm: number): Op {
  switch (width) {
    case 0:
      return unsigned
        ? (h) => {
            const x = h.x;
            const v = h.lbu(x[a + 1]! * TWO32 + (x[a]! >>> 0) + imm, (x[a]! + imm) | 0);
            x[d] = v;
            x[d + 1] = 0;
          }
        : (h) => {
            const x = h.x;
            const v = h.lb(x[a + 1]! * TWO32 + (x[a]! >>> 0) + imm, (x[a]! + imm) | 0);
            x[d] = v;
            x[d + 1] = v >> 31;
          };
    case 1:
      return unsigned
        ? (h) => {
            const x = h.x;
            const v = h.lhu(x[a + 1]! * TWO32 + (x[a]! >>> 0) + imm, (x[a]! + imm) | 0);
            x[d] = v;
            x[d + 1] = 0;
          }
        : (h) => {
            const x = h.x;
            const v = h.lh(x[a + 1]! * TWO32 + (x[a]! >>> 0) + imm, (x[a]! + imm) | 0);
            x[d] = v;
            x[d + 1] = v >> 31;
          };
    case 2:
      return unsigned
        ? (h) => {
            const x = h.x;
            const v = h.lw(x[a + 1]! * TWO32 + (x[a]! >>> 0) + imm, (x[a]! + imm) | 0);
            x[d] = v;
            x[d + 1] = 0;
          }
        : (h) => {
            const x = h.x;
            const v = h.lw(x[a + 1]! * TWO32 + (x[a]! >>> 0) + imm, (x[a]! + imm) | 0);
            x[d] = v;
            x[d + 1] = v >> 31;
          };
    default:
      return (h) => {
        const x = h.x;
        const v = h.ld(x[a + 1]! * TWO32 + (x[a]! >>> 0) + imm, (x[a]! + imm) | 0);
        x[d] = v;
        x[d + 1] = h.hiOut;
      };
  }
}

export function store(width: number, a: number, b: number, imm: number): Op {
  switch (width) {
    case 0:
      return (h) => h.sb(h.x[a + 1]! * TWO32 + (h.x[a]! >>> 0) + imm, (h.x[a]! + imm) | 0, h.x[b]!);
    case 1:
      return (h) => h.sh(h.x[a + 1]! * TWO32 + (h.x[a]! >>> 0) + imm, (h.x[a]! + imm) | 0, h.x[b]!);
    case 2:
      return (h) => h.sw(h.x[a + 1]! * TWO32 + (h.x[a]! >>> 0) + imm, (h.x[a]! + imm) | 0, h.x[b]!);
    default:
      return (h) => {
        const x = h.x;
        h.sd(x[a + 1]! * TWO32 + (x[a]! >>> 0) + imm, (x[a]! + imm) | 0, x[b]!, x[b + 1]!);
      };
  }
}

/** FLW/FLD/FSW/FSD (F and D chapters): illegal while mstatus.FS is Off. Single values are NaN-boxed. */
export function fpLoad(double: boolean, fd: number, a: number, imm: number, inst: number): Op {
  return (h) => {
    if (!(h.mstatus & MS_FS)) h.raise(Exc.Illegal, inst);
    const x = h.x;
    const addr = x[a + 1]! * TWO32 + (x[a]! >>> 0) + imm;
    const alo = (x[a]! + imm) | 0;
    if (double) {
      const lo = h.ld(addr, alo);
      h.f[fd + 1] = h.hiOut;
      h.f[fd] = lo;
    } else {
      h.f[fd] = h.lw(addr, alo);
      h.f[fd + 1] = -1;
    }
    h.markFsDirty();
  };
}
export function fpStore(double: boolean, a: number, fs: number, imm: number, inst: number): Op {
  return (h) => {
    if (!(h.mstatus & MS_FS)) h.raise(Exc.Illegal, inst);
    const x = h.x;
    const addr = x[a + 1]! * TWO32 + (x[a]! >>> 0) + imm;
    const alo = (x[a]! + imm) | 0;
    if (double) h.sd(addr, alo, h.f[fs]!, h.f[fs + 1]!);
    else h.sw(addr, alo, h.f[fs]!);
  };
}

export type Amo32 = (old: number, v: number) => number;
export const AMO32: Record<number, Amo32> = {
  0x00: (o, v) => (o + v) | 0,
  0x01: (_o, v) => v,
  0x04: (o, v) => o ^ v,
  0x08: (o, v) => o | v,
  0x0c: (o, v) => o & v,
  0x10: (o, v) => (o < v ? o : v),
  0x14: (o, v) => (o > v ? o : v),
  0x18: (o, v) => (o >>> 0 < v >>> 0 ? o : v),
  0x1c: (o, v) => (o >>> 0 > v >>> 0 ? o : v),
};

/** 64-bit AMO results computed on pairs; returns the new low word and sets `amoHi`. */
let amoHi = 0;
/** The high word of amo64's last result. */
export function amo64Hi(): number {
  return amoHi;
}
export function amo64(f: number, ol: number, oh: number, vl: number, vh: number): number {
  switch (f) {
    case 0x00: {
      const s = (ol >>> 0) + (vl >>> 0);
      amoHi = (oh + vh + (s > 0xffffffff ? 1 : 0)) | 0;
      return s | 0;
    }
    case 0x01:
      amoHi = vh;
      return vl;
    case 0x04:
      amoHi = oh ^ vh;
      return ol ^ vl;
    case 0x08:
      amoHi = oh | vh;
      return ol | vl;
    case 0x0c:
      amoHi = oh & vh;
      return ol & vl;
  }
  // min/max: pick one operand by a signed or unsigned 64-bit comparison
  const signed = f === 0x10 || f === 0x14;
  const less = signed
    ? oh < vh || (oh === vh && ol >>> 0 < vl >>> 0)
    : oh >>> 0 < vh >>> 0 || (oh === vh && ol >>> 0 < vl >>> 0);
  const pickOld = f === 0x10 || f === 0x18 ? less : !less;
  amoHi = pickOld ? oh : vh;
  return pickOld ? ol : vl;
}

/** AMO, LR and SC (chapter 8). Returns null for an unknown funct5. */
export function amo(funct5: number, double: boolean, d: number, a: number, b: number): Op | null {
  const size = double ? 8 : 4;
  if (funct5 === 0x02)
    return (h) => {
      const x = h.x;
      const off = h.amoAt(x[a + 1]! * TWO32 + (x[a]! >>> 0), x[a]!, size, true);
      const v = h.view;
      const lo = v.getInt32(off, true);
      x[d + 1] = double ? v.getInt32(off + 4, true) : lo >> 31;
      x[d] = lo;
      h.reservation = off;
    };
  if (funct5 === 0x03)
    return (h) => {
      const x = h.x;
      const off = h.amoAt(x[a + 1]! * TWO32 + (x[a]! >>> 0), x[a]!, size, false);
      const ok = h.reservation === off;
      h.reservation = -1;
      if (ok) {
        h.view.setInt32(off, x[b]!, true);
        if (double) h.view.setInt32(off + 4, x[b + 1]!, true);
      }
      x[d] = ok ? 0 : 1;
      x[d + 1] = 0;
    };
  if (!double) {
    const f = AMO32[funct5];
    if (!f) return null;
    return (h) => {
      const x = h.x;
      const off = h.amoAt(x[a + 1]! * TWO32 + (x[a]! >>> 0), x[a]!, 4, false);
      const v = h.view;
      const old = v.getInt32(off, true);
      v.setInt32(off, f(old, x[b]!), true);
      x[d] = old;
      x[d + 1] = old >> 31;
    };
  }
  if (!(funct5 in AMO32)) return null;
  return (h) => {
    const x = h.x;
    const off = h.amoAt(x[a + 1]! * TWO32 + (x[a]! >>> 0), x[a]!, 8, false);
    const v = h.view;
    const ol = v.getInt32(off, true);
    const oh = v.getInt32(off + 4, true);
    const nl = amo64(funct5, ol, oh, x[b]!, x[b + 1]!);
    v.setInt32(off, nl, true);
    v.setInt32(off + 4, amoHi, true);
    x[d] = ol;
    x[d + 1] = oh;
  };
}

export type { Hart };
