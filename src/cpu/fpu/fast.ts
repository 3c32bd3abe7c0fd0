/**
 * Fast paths in round-to-nearest-even using the host's IEEE doubles. Each kernel takes finite,
 * non-NaN operands and returns the correctly rounded result, OR-ing its exact flags into env, or
 * returns NaN (and touches no flags) when the operands are outside the range where its reasoning
 * holds; the caller then takes the general (BigInt) path.
 *
 * Inexactness comes from exact error terms: TwoSum (Knuth) for sums and Dekker's TwoProduct with
 * Veltkamp splitting for products. Single precision is computed in double and rounded once with
 * Math.fround: for +, -, ×, ÷ and √ the double result is innocuous (53 ≥ 2·24 + 2), and a float32
 * product is exact in double.
 */
import { NX, OF, UF, type FlagSink } from "./hart.js";

const SPLIT = 134217729; // 2^27 + 1, Veltkamp's constant for binary64
const TWO_M480 = 2 ** -480;
const TWO_P480 = 2 ** 480;
const TWO_P1000 = 2 ** 1000;
const MIN_NORMAL_D = 2 ** -1022;
const MIN_NORMAL_S = 2 ** -126;
const TWO_P64 = 2 ** 64;
const TWO_M62 = 2 ** -62;

const scratch = new ArrayBuffer(8);
const f64 = new Float64Array(scratch);
const i32 = new Int32Array(scratch);

/** The exact error a*b - p of p = RN(a*b) (Dekker). Needs |a|,|b| < 2^995 and no underflow in
 *  the partial products; callers guarantee both with their operand windows. */
function productError(a: number, b: number, p: number): number {
  let t = SPLIT * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/** The exact error a+b - s of s = RN(a+b) (Knuth's TwoSum), valid when nothing overflows. */
function sumError(a: number, b: number, s: number): number {
  const bv = s - a;
  const av = s - bv;
  return a - av + (b - bv);
}

/** True when |v| lies in [2^-480, 2^480] or v is zero: products and quotients of two such values
 *  neither overflow nor lose bits of their error terms to underflow. */
function inWindow(v: number): boolean {
  const m = Math.abs(v);
  return (m >= TWO_M480 && m <= TWO_P480) || m === 0;
}

/**
 * Whether fflags.NX is still clear. Inside the binary64 kernels' windows NX is the only flag an
 * operation can raise, and fflags accrue (unprivileged spec, "Floating-Point Control and Status
 * Register": flags are only set by arithmetic), so once NX is set the exact error terms that decide
 * NX change nothing and are skipped: the interpreter's share of the wasm tier's FAST arm
 * (emit-fp.ts). The probe sink of the directed modes starts each use at 0, so it still measures.
 */
function nxClear(env: FlagSink): boolean {
  return (env.fflags & NX) === 0;
}

// ---- binary64 ----

/** An exact sum in the subnormal range cannot be inexact, so addition never underflows. */
export function addD(a: number, b: number, env: FlagSink): number {
  const s = a + b;
  const m = Math.abs(s);
  if (m === Infinity) {
    env.fflags |= OF | NX;
    return s;
  }
  if (m >= TWO_P1000) return NaN;
  if (nxClear(env) && sumError(a, b, s) !== 0) env.fflags |= NX;
  return s;
}

export function mulD(a: number, b: number, env: FlagSink): number {
  if (!inWindow(a) || !inWindow(b)) return NaN;
  const p = a * b;
  if (p !== 0 && nxClear(env) && productError(a, b, p) !== 0) env.fflags |= NX;
  return p;
}

export function divD(a: number, b: number, env: FlagSink): number {
  if (b === 0 || !inWindow(a) || !inWindow(b)) return NaN;
  const q = a / b;
  // q is exact iff q*b reproduces a exactly.
  if (q !== 0 && nxClear(env) && (q * b !== a || productError(q, b, q * b) !== 0)) env.fflags |= NX;
  return q;
}

export function sqrtD(a: number, env: FlagSink): number {
  if (a === 0) return a; // sqrt(±0) = ±0
  if (!(a >= TWO_M480 * TWO_M480 && a <= TWO_P1000)) return NaN;
  const r = Math.sqrt(a);
  const rr = r * r;
  if (nxClear(env) && (rr !== a || productError(r, r, rr) !== 0)) env.fflags |= NX;
  return r;
}

/** The neighbour of s one unit in the last place away from zero (up) or toward zero (down). */
function stepUlp(s: number, awayFromZero: boolean): number {
  f64[0] = s;
  let lo = i32[0]!;
  let hi = i32[1]!;
  if (awayFromZero) {
    lo = (lo + 1) | 0;
    if (lo === 0) hi = (hi + 1) | 0;
  } else {
    if (lo === 0) hi = (hi - 1) | 0;
    lo = (lo - 1) | 0;
  }
  i32[0] = lo;
  i32[1] = hi;
  return f64[0]!;
}

/**
 * Fused a*b + c in binary64 (Boldo & Melquiond, "Emulation of FMA and correctly rounded sums:
 * proved algorithms using rounding to odd", IEEE TC 2008): the exact product uh+ul, TwoSum of
 * c+uh into th+tl, then RN(th + RO(tl+ul)). Round-to-odd is built from RN and its exact error.
 * The result is exact iff the residual (a*b+c) - z, assembled from the exact error terms, is zero.
 */
export function fmaD(a: number, b: number, c: number, env: FlagSink): number {
  if (!inWindow(a) || !inWindow(b) || !inWindow(c)) return NaN;
  const uh = a * b;
  const ul = uh === 0 ? 0 : productError(a, b, uh);
  const th = c + uh;
  const tl = sumError(c, uh, th);
  const s = tl + ul;
  const e = sumError(tl, ul, s);
  // v = RO(tl + ul): s when exact or already odd, otherwise its neighbour on the side of e.
  let v = s;
  if (e !== 0) {
    f64[0] = s;
    if ((i32[0]! & 1) === 0) v = stepUlp(s, e > 0 === s > 0);
  }
  const z = th + v;
  const mz = Math.abs(z);
  if (mz <= MIN_NORMAL_D) {
    // Possibly tiny; exact zero results (cancellation) keep their IEEE sign via the JS sum only
    // when every term is zero, so leave all of this to the general path.
    return NaN;
  }
  if (!nxClear(env)) return z; // the windows leave NX the only flag possible, and it is set
  const e3 = sumError(th, v, z);
  // Residual (a*b + c) - z = e3 + (s - v) + e.
  let exact: boolean;
  if (e === 0) {
    exact = e3 === 0;
  } else {
    // d = v - s is 0 or ±ulp(s), exact; the residual is zero iff e3 equals d - e exactly.
    const d = v - s;
    const w = d - e;
    exact = sumError(d, -e, w) === 0 && e3 === w;
  }
  if (!exact) env.fflags |= NX;
  return z;
}

// ---- binary32 (operands are float32 values held in JS numbers) ----

export function addS(a: number, b: number, env: FlagSink): number {
  const s = a + b;
  const r = Math.fround(s);
  if (r === Infinity || r === -Infinity) env.fflags |= OF | NX;
  else if (r !== s || sumError(a, b, s) !== 0) env.fflags |= NX;
  return r;
}

/** Tininess after rounding for a float32 result whose exact value is x (given exactly or as a
 *  double rounded once): round to 24 bits with the exponent range lifted by 2^64. */
function tinyS(scaled: number): boolean {
  return Math.abs(Math.fround(scaled)) < TWO_M62;
}

export function mulS(a: number, b: number, env: FlagSink): number {
  const p = a * b; // exact: 24 × 24 bits, exponent well inside binary64
  const r = Math.fround(p);
  if (r === p) return r;
  let flags = NX;
  if (r === Infinity || r === -Infinity) flags |= OF;
  else if (Math.abs(r) <= MIN_NORMAL_S && tinyS(p * TWO_P64)) flags |= UF;
  env.fflags |= flags;
  return r;
}

export function divS(a: number, b: number, env: FlagSink): number {
  if (b === 0) return NaN;
  const r = Math.fround(a / b);
  if (r * b === a) return r; // r*b is exact in binary64, so this is the exactness test
  let flags = NX;
  if (r === Infinity || r === -Infinity) flags |= OF;
  else if (Math.abs(r) <= MIN_NORMAL_S && tinyS((a * TWO_P64) / b)) flags |= UF;
  env.fflags |= flags;
  return r;
}

export function sqrtS(a: number, env: FlagSink): number {
  if (a === 0) return a;
  if (a < 0) return NaN;
  const r = Math.fround(Math.sqrt(a));
  if (r * r !== a) env.fflags |= NX;
  return r;
}

/** Fused a*b + c in binary32: the product is exact in double, the sum s = RN53(a*b + c) comes with
 *  its exact error, and fround(s) is the correctly rounded result unless s landed exactly on a
 *  float32 midpoint while being inexact (then double rounding could go the wrong way). */
export function fmaS(a: number, b: number, c: number, env: FlagSink): number {
  const p = a * b;
  const s = p + c;
  const e = sumError(p, c, s);
  const r = Math.fround(s);
  if (e === 0 && r === s) return r;
  if (Math.abs(r) <= MIN_NORMAL_S) return NaN; // may underflow: general path
  if (e !== 0) {
    f64[0] = s;
    if ((i32[0]! & 0x1fffffff) === 0x10000000) return NaN; // s is a float32 midpoint
  }
  env.fflags |= r === Infinity || r === -Infinity ? OF | NX : NX;
  return r;
}
