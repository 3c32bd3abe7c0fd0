/**
 * The general path: IEEE 754 add, multiply, divide, square root and fused multiply-add on bit
 * patterns, exact in every rounding mode, using BigInt. Not fast, but complete; ops.ts takes a
 * JS-double fast path for the common case and falls back here. NaN results are always the
 * canonical NaN (spec "NaN Generation and Propagation"); signaling NaN inputs raise NV.
 */
import {
  INF,
  SNAN,
  ZERO,
  bitLength,
  infBits,
  isNaNKind,
  unpack,
  zeroBits,
  type FloatFormat,
  type Unpacked,
} from "./format.js";
import { DZ, NV, RDN, type FlagSink } from "./hart.js";
import { roundPack } from "./round.js";

/** Canonical NaN, raising NV if any input was a signaling NaN. */
function nanResult(fmt: FloatFormat, env: FlagSink, ...ops: Unpacked[]): bigint {
  if (ops.some((o) => o.kind === SNAN)) env.fflags |= NV;
  return fmt.canonicalNaN;
}

function invalid(fmt: FloatFormat, env: FlagSink): bigint {
  env.fflags |= NV;
  return fmt.canonicalNaN;
}

/** Sign of an exact zero sum of operands with different signs: +0, or -0 when rounding down
 *  (IEEE 754 §6.3). */
function cancelSign(rm: number): number {
  return rm === RDN ? 1 : 0;
}

/** Exact sum of two finite nonzero values given as (sign, sig, exp), then rounded. */
function addFinite(
  fmt: FloatFormat,
  sa: number,
  ma: bigint,
  ea: number,
  sb: number,
  mb: bigint,
  eb: number,
  rm: number,
  env: FlagSink,
): bigint {
  const e = Math.min(ea, eb);
  const va = ma << BigInt(ea - e);
  const vb = mb << BigInt(eb - e);
  const sum = (sa ? -va : va) + (sb ? -vb : vb);
  if (sum === 0n) return zeroBits(fmt, cancelSign(rm));
  return sum < 0n ? roundPack(fmt, 1, -sum, e, rm, env) : roundPack(fmt, 0, sum, e, rm, env);
}

/** a + b, or a - b when `negateB`. */
export function fAdd(fmt: FloatFormat, a: bigint, b: bigint, rm: number, env: FlagSink, negateB = false): bigint {
  const x = unpack(fmt, a);
  const y = unpack(fmt, b);
  if (negateB) y.sign ^= 1;
  if (isNaNKind(x.kind) || isNaNKind(y.kind)) return nanResult(fmt, env, x, y);
  if (x.kind === INF) {
    if (y.kind === INF && y.sign !== x.sign) return invalid(fmt, env);
    return infBits(fmt, x.sign);
  }
  if (y.kind === INF) return infBits(fmt, y.sign);
  if (x.kind === ZERO) {
    if (y.kind === ZERO) return zeroBits(fmt, x.sign === y.sign ? x.sign : cancelSign(rm));
    return negateB ? b ^ fmt.signBit : b;
  }
  if (y.kind === ZERO) return a;
  return addFinite(fmt, x.sign, x.sig, x.exp, y.sign, y.sig, y.exp, rm, env);
}

export function fMul(fmt: FloatFormat, a: bigint, b: bigint, rm: number, env: FlagSink): bigint {
  const x = unpack(fmt, a);
  const y = unpack(fmt, b);
  if (isNaNKind(x.kind) || isNaNKind(y.kind)) return nanResult(fmt, env, x, y);
  const sign = x.sign ^ y.sign;
  if (x.kind === INF || y.kind === INF) {
    if (x.kind === ZERO || y.kind === ZERO) return invalid(fmt, env);
    return infBits(fmt, sign);
  }
  if (x.kind === ZERO || y.kind === ZERO) return zeroBits(fmt, sign);
  return roundPack(fmt, sign, x.sig * y.sig, x.exp + y.exp, rm, env);
}

export function fDiv(fmt: FloatFormat, a: bigint, b: bigint, rm: number, env: FlagSink): bigint {
  const x = unpack(fmt, a);
  const y = unpack(fmt, b);
  if (isNaNKind(x.kind) || isNaNKind(y.kind)) return nanResult(fmt, env, x, y);
  const sign = x.sign ^ y.sign;
  if (x.kind === INF) return y.kind === INF ? invalid(fmt, env) : infBits(fmt, sign);
  if (y.kind === INF) return zeroBits(fmt, sign);
  if (y.kind === ZERO) {
    if (x.kind === ZERO) return invalid(fmt, env);
    env.fflags |= DZ;
    return infBits(fmt, sign);
  }
  if (x.kind === ZERO) return zeroBits(fmt, sign);
  // Quotient with at least p+2 significant bits; the remainder becomes the sticky bit.
  const shift = Math.max(0, fmt.p + 2 + bitLength(y.sig) - bitLength(x.sig));
  const num = x.sig << BigInt(shift);
  const q = num / y.sig;
  const sticky = q * y.sig !== num;
  return roundPack(fmt, sign, q, x.exp - shift - y.exp, rm, env, sticky);
}

/** Integer square root: the largest r with r*r <= n (Newton's method from above). */
export function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let r = 1n << BigInt((bitLength(n) >> 1) + 1);
  for (;;) {
    const next = (r + n / r) >> 1n;
    if (next >= r) return r;
    r = next;
  }
}

export function fSqrt(fmt: FloatFormat, a: bigint, rm: number, env: FlagSink): bigint {
  const x = unpack(fmt, a);
  if (isNaNKind(x.kind)) return nanResult(fmt, env, x);
  if (x.kind === ZERO) return a; // sqrt(±0) = ±0
  if (x.sign) return invalid(fmt, env);
  if (x.kind === INF) return a;
  let sig = x.sig;
  let exp = x.exp;
  if (exp & 1) {
    sig <<= 1n;
    exp -= 1;
  }
  // Scale by 4^k so the root has at least p+2 bits; the remainder becomes the sticky bit.
  const k = Math.max(0, Math.ceil((2 * (fmt.p + 2) - bitLength(sig)) / 2));
  const n = sig << BigInt(2 * k);
  const r = isqrt(n);
  return roundPack(fmt, 0, r, (exp - 2 * k) / 2, rm, env, r * r !== n);
}

/**
 * Fused multiply-add with a single rounding: (-1)^negProd * (a*b) + (-1)^negAdd * c.
 * FMADD: (0,0), FMSUB: (0,1), FNMSUB: (1,0), FNMADD: (1,1) (spec "fused multiply-add").
 */
export function fFma(
  fmt: FloatFormat,
  a: bigint,
  b: bigint,
  c: bigint,
  negProd: boolean,
  negAdd: boolean,
  rm: number,
  env: FlagSink,
): bigint {
  const x = unpack(fmt, a);
  const y = unpack(fmt, b);
  const z = unpack(fmt, c);
  // ∞ × 0 is invalid even when the addend is a quiet NaN (spec, F extension, FMA paragraph).
  const infTimesZero = (x.kind === INF && y.kind === ZERO) || (x.kind === ZERO && y.kind === INF);
  if (infTimesZero) {
    env.fflags |= NV;
    return fmt.canonicalNaN;
  }
  if (isNaNKind(x.kind) || isNaNKind(y.kind) || isNaNKind(z.kind)) return nanResult(fmt, env, x, y, z);
  const ps = x.sign ^ y.sign ^ (negProd ? 1 : 0);
  const zs = z.sign ^ (negAdd ? 1 : 0);
  if (x.kind === INF || y.kind === INF) {
    if (z.kind === INF && zs !== ps) return invalid(fmt, env);
    return infBits(fmt, ps);
  }
  if (z.kind === INF) return infBits(fmt, zs);
  if (x.kind === ZERO || y.kind === ZERO) {
    if (z.kind === ZERO) return zeroBits(fmt, ps === zs ? ps : cancelSign(rm));
    return zs === z.sign ? c : c ^ fmt.signBit;
  }
  if (z.kind === ZERO) return roundPack(fmt, ps, x.sig * y.sig, x.exp + y.exp, rm, env);
  return addFinite(fmt, ps, x.sig * y.sig, x.exp + y.exp, zs, z.sig, z.exp, rm, env);
}
