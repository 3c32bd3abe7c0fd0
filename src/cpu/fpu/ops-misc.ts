/**
 * Executors that never round: sign injection, FMIN/FMAX, comparisons, FCLASS and the bit moves
 * between f and x registers. Sign injection and moves work on raw bits so NaN payloads survive
 * (spec: "Sign-injection instructions do not set floating-point exception flags, nor do they
 * canonicalize NaNs"; FMV "bits are not modified in the transfer").
 */
import { CANONICAL_NAN_D_HI, CANONICAL_NAN_S, numFromD, numFromS, readS, writeS } from "./bits.js";
import { compare, fclassD, fclassS, kindD, kindS, minMaxPick } from "./compare.js";
import { FINITE } from "./format.js";
import type { FpExec, FpuHart } from "./hart.js";

/** funct3 of FSGNJ, FSGNJN, FSGNJX. */
export const SGNJ = 0;
export const SGNJN = 1;
export const SGNJX = 2;

function signOf(op: number, a: number, b: number): number {
  if (op === SGNJ) return b & 0x80000000;
  if (op === SGNJN) return ~b & 0x80000000;
  return (a ^ b) & 0x80000000;
}

export function sgnjS(rd: number, rs1: number, rs2: number, op: number): FpExec {
  return (h) => {
    const f = h.f;
    const a = readS(f, rs1);
    writeS(f, rd, (a & 0x7fffffff) | signOf(op, a, readS(f, rs2)));
    h.markFsDirty();
    return true;
  };
}

export function sgnjD(rd: number, rs1: number, rs2: number, op: number): FpExec {
  return (h) => {
    const f = h.f;
    const ahi = f[2 * rs1 + 1]!;
    const bhi = f[2 * rs2 + 1]!;
    f[2 * rd] = f[2 * rs1]!;
    f[2 * rd + 1] = (ahi & 0x7fffffff) | signOf(op, ahi, bhi);
    h.markFsDirty();
    return true;
  };
}

/** A JS number for ordering; only read for ZERO and FINITE kinds (never a NaN). */
function orderS(kind: number, bits: number): number {
  return kind <= FINITE ? numFromS(bits) : bits >= 0 ? Infinity : -Infinity;
}
function orderD(kind: number, lo: number, hi: number): number {
  return kind <= FINITE ? numFromD(lo, hi) : hi >= 0 ? Infinity : -Infinity;
}

export function minMaxS(rd: number, rs1: number, rs2: number, isMax: boolean): FpExec {
  return (h) => {
    const f = h.f;
    const a = readS(f, rs1);
    const b = readS(f, rs2);
    const ka = kindS(a);
    const kb = kindS(b);
    const pick = minMaxPick(isMax, ka, orderS(ka, a), kb, orderS(kb, b), h);
    writeS(f, rd, pick === 0 ? a : pick === 1 ? b : CANONICAL_NAN_S);
    h.markFsDirty();
    return true;
  };
}

export function minMaxD(rd: number, rs1: number, rs2: number, isMax: boolean): FpExec {
  return (h) => {
    const f = h.f;
    const alo = f[2 * rs1]!;
    const ahi = f[2 * rs1 + 1]!;
    const blo = f[2 * rs2]!;
    const bhi = f[2 * rs2 + 1]!;
    const ka = kindD(alo, ahi);
    const kb = kindD(blo, bhi);
    const pick = minMaxPick(isMax, ka, orderD(ka, alo, ahi), kb, orderD(kb, blo, bhi), h);
    if (pick === 0) {
      f[2 * rd] = alo;
      f[2 * rd + 1] = ahi;
    } else if (pick === 1) {
      f[2 * rd] = blo;
      f[2 * rd + 1] = bhi;
    } else {
      f[2 * rd] = 0;
      f[2 * rd + 1] = CANONICAL_NAN_D_HI;
    }
    h.markFsDirty();
    return true;
  };
}

function writeX(h: FpuHart, rd: number, lo: number, hi: number): void {
  if (rd === 0) return;
  h.x[2 * rd] = lo;
  h.x[2 * rd + 1] = hi;
}

/** Instructions that write only x may still raise NV, which changes FP state (fflags): mark
 *  FS dirty then too (privileged spec: FS tracks fcsr as well as the f registers). */
export function cmpS(rd: number, rs1: number, rs2: number, op: number): FpExec {
  return (h) => {
    const a = readS(h.f, rs1);
    const b = readS(h.f, rs2);
    const ka = kindS(a);
    const kb = kindS(b);
    const before = h.fflags;
    writeX(h, rd, compare(op, ka, orderS(ka, a), kb, orderS(kb, b), h), 0);
    if (h.fflags !== before) h.markFsDirty();
    return true;
  };
}

export function cmpD(rd: number, rs1: number, rs2: number, op: number): FpExec {
  return (h) => {
    const f = h.f;
    const alo = f[2 * rs1]!;
    const ahi = f[2 * rs1 + 1]!;
    const blo = f[2 * rs2]!;
    const bhi = f[2 * rs2 + 1]!;
    const ka = kindD(alo, ahi);
    const kb = kindD(blo, bhi);
    const before = h.fflags;
    writeX(h, rd, compare(op, ka, orderD(ka, alo, ahi), kb, orderD(kb, blo, bhi), h), 0);
    if (h.fflags !== before) h.markFsDirty();
    return true;
  };
}

export function classS(rd: number, rs1: number): FpExec {
  return (h) => {
    writeX(h, rd, fclassS(readS(h.f, rs1)), 0);
    return true;
  };
}

export function classD(rd: number, rs1: number): FpExec {
  return (h) => {
    writeX(h, rd, fclassD(h.f[2 * rs1]!, h.f[2 * rs1 + 1]!), 0);
    return true;
  };
}

/** FMV.X.W: the low 32 bits, NaN-boxed or not, sign-extended (spec: narrower transfers out of
 *  the f registers ignore the upper bits). */
export function mvXW(rd: number, rs1: number): FpExec {
  return (h) => {
    const v = h.f[2 * rs1]!;
    writeX(h, rd, v, v >> 31);
    return true;
  };
}

/** FMV.W.X: the low 32 bits of x, NaN-boxed. */
export function mvWX(rd: number, rs1: number): FpExec {
  return (h) => {
    writeS(h.f, rd, h.x[2 * rs1]!);
    h.markFsDirty();
    return true;
  };
}

export function mvXD(rd: number, rs1: number): FpExec {
  return (h) => {
    writeX(h, rd, h.f[2 * rs1]!, h.f[2 * rs1 + 1]!);
    return true;
  };
}

export function mvDX(rd: number, rs1: number): FpExec {
  return (h) => {
    h.f[2 * rd] = h.x[2 * rs1]!;
    h.f[2 * rd + 1] = h.x[2 * rs1 + 1]!;
    h.markFsDirty();
    return true;
  };
}
