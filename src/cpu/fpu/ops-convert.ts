/**
 * Executors for FCVT between floating point and integers and between S and D. Float-to-integer
 * conversions round with JS arithmetic in every mode (the rounded value of a double is exact in a
 * double); integer-to-float and S↔D take the general path only when rounding is needed outside
 * RNE or a tiny result needs the underflow decision.
 */
import { bigS, finiteD, numFromD, numFromS, readS, writeBigPair, writeNumD, writeNumS, writeS } from "./bits.js";
import { kindD, kindS } from "./compare.js";
import { floatToFloat, intToFloat } from "./convert.js";
import { F32, F64, FINITE, INF, ZERO, isNaNKind } from "./format.js";
import { DYN, NV, NX, OF, RDN, RMM, RNE, RUP, UF, type FlagSink, type FpExec, type FpuHart } from "./hart.js";

/** Integer destinations, by the rs2 field of FCVT (spec: W = 0, WU = 1, L = 2, LU = 3). */
export const CVT_W = 0;
export const CVT_WU = 1;
export const CVT_L = 2;
export const CVT_LU = 3;

/** Domain and saturation values per destination (spec table "Domains of float-to-integer
 *  conversions and behavior for invalid inputs"), as doubles and as (low, high) register words. */
interface IntDomain {
  min: number;
  /** Exclusive upper bound: the largest valid input after rounding is maxExcl - 1. */
  maxExcl: number;
  minLo: number;
  minHi: number;
  maxLo: number;
  maxHi: number;
}
const DOMAINS: readonly IntDomain[] = [
  { min: -(2 ** 31), maxExcl: 2 ** 31, minLo: -0x80000000, minHi: -1, maxLo: 0x7fffffff, maxHi: 0 },
  // FCVT.WU: 2^32-1 sign-extends to all ones (results of 32-bit conversions are sign-extended).
  { min: 0, maxExcl: 2 ** 32, minLo: 0, minHi: 0, maxLo: -1, maxHi: -1 },
  { min: -(2 ** 63), maxExcl: 2 ** 63, minLo: 0, minHi: -0x80000000, maxLo: -1, maxHi: 0x7fffffff },
  { min: 0, maxExcl: 2 ** 64, minLo: 0, minHi: 0, maxLo: -1, maxHi: -1 },
];

const TWO_P32 = 2 ** 32;
const MIN_NORMAL_S = 2 ** -126;
const TWO_P64 = 2 ** 64;

/** Round a finite double to an integer in mode rm (exact: the result is a double). */
export function roundToInteger(v: number, rm: number): number {
  const t = Math.trunc(v);
  const d = Math.abs(v - t); // exact: v and t share the binade or t is zero
  if (d === 0) return t;
  const away = v < 0 ? t - 1 : t + 1;
  switch (rm) {
    case RNE:
      return d > 0.5 || (d === 0.5 && t % 2 !== 0) ? away : t;
    case RMM:
      return d >= 0.5 ? away : t;
    case RDN:
      return v < 0 ? away : t;
    case RUP:
      return v > 0 ? away : t;
    default:
      return t;
  }
}

function writeX(h: FpuHart, rd: number, lo: number, hi: number): void {
  if (rd === 0) return;
  h.x[2 * rd] = lo;
  h.x[2 * rd + 1] = hi;
}

/** The float-to-integer core shared by S and D: `kind` from the bits, `v` the value when finite. */
function toInt(
  h: FpuHart,
  rd: number,
  kind: number,
  sign: number,
  v: number,
  dom: IntDomain,
  rm: number,
  wide: boolean,
): void {
  if (isNaNKind(kind)) {
    // NaN (any sign) converts to the maximum (spec table: "Output for +∞ or NaN").
    h.fflags |= NV;
    writeX(h, rd, dom.maxLo, dom.maxHi);
    return;
  }
  if (kind === ZERO) {
    writeX(h, rd, 0, 0);
    return;
  }
  const r = kind === INF ? (sign ? -Infinity : Infinity) : roundToInteger(v, rm);
  if (r < dom.min) {
    h.fflags |= NV;
    writeX(h, rd, dom.minLo, dom.minHi);
    return;
  }
  if (r >= dom.maxExcl) {
    h.fflags |= NV;
    writeX(h, rd, dom.maxLo, dom.maxHi);
    return;
  }
  if (r !== v) h.fflags |= NX;
  if (!wide) {
    const lo = r | 0;
    writeX(h, rd, lo, lo >> 31);
    return;
  }
  const hi = Math.floor(r / TWO_P32);
  writeX(h, rd, (r - hi * TWO_P32) | 0, hi | 0);
}

/** FCVT.{W,WU,L,LU}.S */
export function cvtIntFromS(rd: number, rs1: number, type: number, rm: number): FpExec {
  const dom = DOMAINS[type]!;
  const wide = type >= CVT_L;
  return (h) => {
    const mode = rm === DYN ? h.frm : rm;
    if (mode > RMM) return false;
    const bits = readS(h.f, rs1);
    const before = h.fflags;
    const kind = kindS(bits);
    toInt(h, rd, kind, bits >>> 31, kind === FINITE ? numFromS(bits) : 0, dom, mode, wide);
    if (h.fflags !== before) h.markFsDirty();
    return true;
  };
}

/** FCVT.{W,WU,L,LU}.D */
export function cvtIntFromD(rd: number, rs1: number, type: number, rm: number): FpExec {
  const dom = DOMAINS[type]!;
  const wide = type >= CVT_L;
  return (h) => {
    const mode = rm === DYN ? h.frm : rm;
    if (mode > RMM) return false;
    const lo = h.f[2 * rs1]!;
    const hi = h.f[2 * rs1 + 1]!;
    const before = h.fflags;
    const kind = kindD(lo, hi);
    toInt(h, rd, kind, hi >>> 31, kind === FINITE ? numFromD(lo, hi) : 0, dom, mode, wide);
    if (h.fflags !== before) h.markFsDirty();
    return true;
  };
}

/** The source integer of FCVT.{S,D}.{W,WU,L,LU} as a double, and whether that double is exact. */
function readInt(x: Int32Array, rs1: number, type: number, out: { exact: boolean }): number {
  const lo = x[2 * rs1]!;
  out.exact = true;
  if (type === CVT_W) return lo;
  if (type === CVT_WU) return lo >>> 0;
  const hiW = x[2 * rs1 + 1]!;
  const hi = type === CVT_L ? hiW : hiW >>> 0;
  const a = hi * TWO_P32;
  const b = lo >>> 0;
  const v = a + b;
  // TwoSum error of a + b: zero iff the 64-bit integer is exactly a double.
  const bv = v - a;
  out.exact = a - (v - bv) + (b - bv) === 0;
  return v;
}

function intBig(x: Int32Array, rs1: number, type: number): bigint {
  const lo = x[2 * rs1]!;
  if (type === CVT_W) return BigInt(lo);
  if (type === CVT_WU) return BigInt(lo >>> 0);
  const v = (BigInt(x[2 * rs1 + 1]! >>> 0) << 32n) | BigInt(lo >>> 0);
  return type === CVT_L ? BigInt.asIntN(64, v) : v;
}

/** FCVT.S.{W,WU,L,LU} */
export function cvtSFromInt(rd: number, rs1: number, type: number, rm: number): FpExec {
  const ex = { exact: true };
  return (h) => {
    const mode = rm === DYN ? h.frm : rm;
    if (mode > RMM) return false;
    const v = readInt(h.x, rs1, type, ex);
    if (ex.exact) {
      const r = Math.fround(v);
      if (r === v) {
        writeNumS(h.f, rd, r);
        h.markFsDirty();
        return true;
      }
      if (mode === RNE) {
        // v exact, so fround rounds it once: the correctly rounded result (no overflow possible).
        h.fflags |= NX;
        writeNumS(h.f, rd, r);
        h.markFsDirty();
        return true;
      }
    }
    writeS(h.f, rd, Number(intToFloat(F32, intBig(h.x, rs1, type), mode, h)));
    h.markFsDirty();
    return true;
  };
}

/** FCVT.D.{W,WU,L,LU} */
export function cvtDFromInt(rd: number, rs1: number, type: number, rm: number): FpExec {
  const ex = { exact: true };
  return (h) => {
    const mode = rm === DYN ? h.frm : rm;
    if (mode > RMM) return false;
    const v = readInt(h.x, rs1, type, ex);
    if (ex.exact || mode === RNE) {
      // Inexact only for 64-bit sources, where hi*2^32 + lo rounds once: correct in RNE.
      if (!ex.exact) h.fflags |= NX;
      writeNumD(h.f, rd, v);
    } else {
      writeBigPair(h.f, rd, intToFloat(F64, intBig(h.x, rs1, type), mode, h));
    }
    h.markFsDirty();
    return true;
  };
}

/** Flags of fround(v) for a finite double v in RNE: NX, plus OF on overflow, UF when tiny after
 *  rounding (judged on v scaled by 2^64, where float32 has its full precision). */
function narrowFlags(v: number, r: number, env: FlagSink): void {
  if (r === Infinity || r === -Infinity) env.fflags |= OF | NX;
  else if (Math.abs(r) <= MIN_NORMAL_S && Math.abs(Math.fround(v * TWO_P64)) < MIN_NORMAL_S * TWO_P64)
    env.fflags |= UF | NX;
  else env.fflags |= NX;
}

/** FCVT.S.D */
export function cvtSFromD(rd: number, rs1: number, rm: number): FpExec {
  return (h) => {
    const mode = rm === DYN ? h.frm : rm;
    if (mode > RMM) return false;
    const f = h.f;
    const lo = f[2 * rs1]!;
    const hi = f[2 * rs1 + 1]!;
    if (finiteD(hi)) {
      const v = numFromD(lo, hi);
      const r = Math.fround(v);
      if (r === v || mode === RNE) {
        if (r !== v) narrowFlags(v, r, h);
        writeNumS(f, rd, r);
        h.markFsDirty();
        return true;
      }
    }
    const a = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    writeS(f, rd, Number(floatToFloat(F64, F32, a, mode, h)));
    h.markFsDirty();
    return true;
  };
}

/** FCVT.D.S: always exact; a NaN becomes the canonical double NaN (NV if signaling). */
export function cvtDFromS(rd: number, rs1: number, rm: number): FpExec {
  return (h) => {
    const mode = rm === DYN ? h.frm : rm;
    if (mode > RMM) return false;
    const f = h.f;
    const bits = readS(f, rs1);
    const kind = kindS(bits);
    if (isNaNKind(kind)) {
      writeBigPair(f, rd, floatToFloat(F32, F64, bigS(bits), mode, h));
    } else {
      writeNumD(f, rd, numFromS(bits));
    }
    h.markFsDirty();
    return true;
  };
}
