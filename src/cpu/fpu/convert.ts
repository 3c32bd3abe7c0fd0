/**
 * Conversions on the general path (BigInt): integers to floating point, and between single and
 * double (spec "Single-Precision Floating-Point Conversion and Move Instructions"). Floating
 * point to integers is ops-convert.ts's.
 */
import { INF, SNAN, ZERO, infBits, isNaNKind, unpack, zeroBits, type FloatFormat } from "./format.js";
import { NV, type FlagSink } from "./hart.js";
import { roundPack } from "./round.js";

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
