/**
 * Conversions on the general path (BigInt): floating point to and from 32/64-bit integers and
 * between single and double. Spec "Single-Precision Floating-Point Conversion and Move
 * Instructions", table "Domains of float-to-integer conversions and behavior for invalid inputs":
 * an out-of-range result is clipped to the nearest representable value with NV set; NaN converts to
 * the maximum; NX is set only when the rounded result differs and NV is not set.
 */
import { INF, SNAN, ZERO, infBits, isNaNKind, unpack, zeroBits, type FloatFormat } from "./format.js";
import { NV, NX, type FlagSink } from "./hart.js";
import { roundPack, roundShift } from "./round.js";

/** Range of an integer destination: bits 32 or 64, signed or not. */
export interface IntRange {
  readonly min: bigint;
  readonly max: bigint;
}

export const INT32: IntRange = { min: -(1n << 31n), max: (1n << 31n) - 1n };
export const UINT32: IntRange = { min: 0n, max: (1n << 32n) - 1n };
export const INT64: IntRange = { min: -(1n << 63n), max: (1n << 63n) - 1n };
export const UINT64: IntRange = { min: 0n, max: (1n << 64n) - 1n };

/** FCVT.{W,WU,L,LU}.{S,D}: the integer value (not yet sign-extended or wrapped). */
export function floatToInt(fmt: FloatFormat, a: bigint, range: IntRange, rm: number, env: FlagSink): bigint {
  const x = unpack(fmt, a);
  if (isNaNKind(x.kind)) {
    env.fflags |= NV;
    return range.max;
  }
  if (x.kind === INF) {
    env.fflags |= NV;
    return x.sign ? range.min : range.max;
  }
  if (x.kind === ZERO) return 0n;
  // Anything at or above 2^64 is out of range for every destination; avoid huge shifts.
  if (x.exp > 64) {
    env.fflags |= NV;
    return x.sign ? range.min : range.max;
  }
  const r = roundShift(x.sig, -x.exp, x.sign, rm);
  const v = x.sign ? -r.q : r.q;
  if (v < range.min) {
    env.fflags |= NV;
    return range.min;
  }
  if (v > range.max) {
    env.fflags |= NV;
    return range.max;
  }
  if (r.inexact) env.fflags |= NX;
  return v;
}

/** FCVT.{S,D}.{W,WU,L,LU}: round an exact integer to the format. */
export function intToFloat(fmt: FloatFormat, v: bigint, rm: number, env: FlagSink): bigint {
  if (v === 0n) return 0n; // +0 whatever the mode (spec: FCVT.S.W rd, x0 never sets flags)
  return v < 0n ? roundPack(fmt, 1, -v, 0, rm, env) : roundPack(fmt, 0, v, 0, rm, env);
}

/** FCVT.S.D and FCVT.D.S: NaN becomes the canonical NaN of the destination (NV if signaling). */
export function floatToFloat(from: FloatFormat, to: FloatFormat, a: bigint, rm: number, env: FlagSink): bigint {
  const x = unpack(from, a);
  if (isNaNKind(x.kind)) {
    if (x.kind === SNAN) env.fflags |= NV;
    return to.canonicalNaN;
  }
  if (x.kind === INF) return infBits(to, x.sign);
  if (x.kind === ZERO) return zeroBits(to, x.sign);
  return roundPack(to, x.sign, x.sig, x.exp, rm, env);
}
