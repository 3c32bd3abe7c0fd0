/**
 * Operations that inspect values without rounding: FEQ/FLT/FLE, FMIN/FMAX, FCLASS. They work on
 * register bits; a JS number is used only to order two non-NaN values.
 */
import { INF, QNAN, SNAN, ZERO, FINITE } from "./format.js";
import { NV, type FlagSink } from "./hart.js";

/** Kind (ZERO, FINITE, INF, QNAN, SNAN) of single-precision bits. */
export function kindS(bits: number): number {
  const e = (bits >>> 23) & 0xff;
  const frac = bits & 0x7fffff;
  if (e === 0xff) return frac === 0 ? INF : frac & 0x400000 ? QNAN : SNAN;
  return e === 0 && frac === 0 ? ZERO : FINITE;
}

/** Kind of double-precision bits given as (low, high) words. */
export function kindD(lo: number, hi: number): number {
  const e = (hi >>> 20) & 0x7ff;
  const fracHi = hi & 0xfffff;
  if (e === 0x7ff) return fracHi === 0 && lo === 0 ? INF : fracHi & 0x80000 ? QNAN : SNAN;
  return e === 0 && fracHi === 0 && lo === 0 ? ZERO : FINITE;
}

/** funct3 of FLE, FLT, FEQ (spec "Single-Precision Floating-Point Compare Instructions"). */
export const FLE = 0;
export const FLT = 1;
export const FEQ = 2;

/** FEQ is a quiet comparison (NV only for signaling NaNs); FLT and FLE signal on any NaN.
 *  Any NaN makes the result 0. */
export function compare(op: number, ka: number, a: number, kb: number, b: number, env: FlagSink): number {
  if (ka >= QNAN || kb >= QNAN) {
    if (op !== FEQ || ka === SNAN || kb === SNAN) env.fflags |= NV;
    return 0;
  }
  if (op === FEQ) return a === b ? 1 : 0;
  if (op === FLT) return a < b ? 1 : 0;
  return a <= b ? 1 : 0;
}

/** Which operand FMIN/FMAX return: 0 = rs1, 1 = rs2, 2 = the canonical NaN. IEEE 754-201x
 *  minimumNumber/maximumNumber: -0 < +0, a single NaN yields the other operand, sNaN raises NV. */
export function minMaxPick(isMax: boolean, ka: number, a: number, kb: number, b: number, env: FlagSink): number {
  if (ka === SNAN || kb === SNAN) env.fflags |= NV;
  const aNaN = ka >= QNAN;
  const bNaN = kb >= QNAN;
  if (aNaN) return bNaN ? 2 : 1;
  if (bNaN) return 0;
  if (a === b) {
    // Equal values differ only for zeros of opposite sign: order -0 below +0.
    const aNeg = Object.is(a, -0);
    return isMax === aNeg ? 1 : 0;
  }
  return a > b === isMax ? 0 : 1;
}

/** FCLASS mask bit from the kind and sign (spec table "Format of result of FCLASS instruction"). */
function classBit(kind: number, sign: number, subnormal: boolean): number {
  switch (kind) {
    case INF:
      return sign ? 1 << 0 : 1 << 7;
    case ZERO:
      return sign ? 1 << 3 : 1 << 4;
    case SNAN:
      return 1 << 8;
    case QNAN:
      return 1 << 9;
    default:
      if (subnormal) return sign ? 1 << 2 : 1 << 5;
      return sign ? 1 << 1 : 1 << 6;
  }
}

export function fclassS(bits: number): number {
  return classBit(kindS(bits), bits >>> 31, (bits & 0x7f800000) === 0);
}

export function fclassD(lo: number, hi: number): number {
  return classBit(kindD(lo, hi), hi >>> 31, (hi & 0x7ff00000) === 0);
}
