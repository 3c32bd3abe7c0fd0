/**
 * The kernels each arithmetic instruction plugs into the executors of ops-arith.ts, indexed by
 * funct5 (FADD 0, FSUB 1, FMUL 2, FDIV 3) or by FMA opcode (FMADD, FMSUB, FNMSUB, FNMADD).
 */
import { addD, addS, divD, divS, fmaD, fmaS, mulD, mulS, sqrtD, sqrtS } from "./fast.js";
import type { Fast2, Fast3, Slow2, Slow3 } from "./ops-arith.js";
import { fAdd, fDiv, fFma, fMul, fSqrt } from "./softfloat.js";

/** FMA sign pattern (negate product, negate addend) per opcode (spec: FMADD = a*b+c,
 *  FMSUB = a*b-c, FNMSUB = -(a*b)+c, FNMADD = -(a*b)-c). */
const FMA_SIGNS: readonly (readonly [boolean, boolean])[] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

export const fastOps = {
  fastS: [addS, (a, b, env) => addS(a, -b, env), mulS, divS] as readonly Fast2[],
  fastD: [addD, (a, b, env) => addD(a, -b, env), mulD, divD] as readonly Fast2[],
  slow2: [
    (fmt, a, b, rm, env) => fAdd(fmt, a, b, rm, env),
    (fmt, a, b, rm, env) => fAdd(fmt, a, b, rm, env, true),
    fMul,
    fDiv,
  ] as readonly Slow2[],
  sqrtS: ((a, _b, env) => sqrtS(a, env)) as Fast2,
  sqrtD: ((a, _b, env) => sqrtD(a, env)) as Fast2,
  sqrtSlow: ((fmt, a, _b, rm, env) => fSqrt(fmt, a, rm, env)) as Slow2,
  fmaS: FMA_SIGNS.map(([np, na]): Fast3 => (a, b, c, env) => fmaS(np ? -a : a, b, na ? -c : c, env)),
  fmaD: FMA_SIGNS.map(([np, na]): Fast3 => (a, b, c, env) => fmaD(np ? -a : a, b, na ? -c : c, env)),
  fmaSlow: FMA_SIGNS.map(([np, na]): Slow3 => (fmt, a, b, c, rm, env) => fFma(fmt, a, b, c, np, na, rm, env)),
};
