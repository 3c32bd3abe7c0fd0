/**
 * Test support for the FPU (used only by *.test.ts): a bare hart, instruction encoders, a seeded
 * generator of interesting operands, and the host C compiler as the reference implementation.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeFp } from "./decode.js";
import type { FpuHart } from "./hart.js";

export class TestHart implements FpuHart {
  readonly x = new Int32Array(64);
  readonly f = new Int32Array(64);
  fflags = 0;
  frm = 0;
  dirty = 0;
  markFsDirty(): void {
    this.dirty++;
  }
  setF(r: number, bits: bigint, single: boolean): void {
    this.f[2 * r] = Number(BigInt.asIntN(32, bits));
    this.f[2 * r + 1] = single ? -1 : Number(BigInt.asIntN(32, bits >> 32n));
  }
  getF(r: number): bigint {
    return (BigInt(this.f[2 * r + 1]! >>> 0) << 32n) | BigInt(this.f[2 * r]! >>> 0);
  }
  setX(r: number, v: bigint): void {
    this.x[2 * r] = Number(BigInt.asIntN(32, v));
    this.x[2 * r + 1] = Number(BigInt.asIntN(32, v >> 32n));
  }
  getX(r: number): bigint {
    return (BigInt(this.x[2 * r + 1]! >>> 0) << 32n) | BigInt(this.x[2 * r]! >>> 0);
  }
}

/** OP-FP R-type word. fmt: 0 = S, 1 = D. */
export function opFp(funct5: number, fmt: number, rs2: number, rs1: number, rm: number, rd: number): number {
  return ((funct5 << 27) | (fmt << 25) | (rs2 << 20) | (rs1 << 15) | (rm << 12) | (rd << 7) | 0x53) >>> 0;
}

/** R4-type word of FMADD (0x43), FMSUB (0x47), FNMSUB (0x4b), FNMADD (0x4f). */
export function r4(opcode: number, rs3: number, fmt: number, rs2: number, rs1: number, rm: number, rd: number): number {
  return ((rs3 << 27) | (fmt << 25) | (rs2 << 20) | (rs1 << 15) | (rm << 12) | (rd << 7) | opcode) >>> 0;
}

/** Decode and run one instruction; throws if it does not decode. */
export function run(h: TestHart, inst: number): boolean {
  const exec = decodeFp(inst);
  if (exec === null) throw new Error(`instruction 0x${inst.toString(16)} did not decode`);
  return exec(h);
}

/** Deterministic PRNG (mulberry32) so failures reproduce. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  int(n: number): number {
    return this.u32() % n;
  }
  big(bits: number): bigint {
    let v = 0n;
    for (let i = 0; i < bits; i += 32) v = (v << 32n) | BigInt(this.u32());
    return v & ((1n << BigInt(bits)) - 1n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

export interface Fmt {
  single: boolean;
  width: number;
  fracBits: number;
  expMax: number;
  bias: number;
}
export const S: Fmt = { single: true, width: 32, fracBits: 23, expMax: 255, bias: 127 };
export const D: Fmt = { single: false, width: 64, fracBits: 52, expMax: 2047, bias: 1023 };

export function build(fm: Fmt, sign: number, exp: number, frac: bigint): bigint {
  return (
    (BigInt(sign) << BigInt(fm.width - 1)) |
    (BigInt(exp) << BigInt(fm.fracBits)) |
    (frac & ((1n << BigInt(fm.fracBits)) - 1n))
  );
}

export function isNaNBits(fm: Fmt, v: bigint): boolean {
  const exp = Number((v >> BigInt(fm.fracBits)) & BigInt(fm.expMax));
  return exp === fm.expMax && (v & ((1n << BigInt(fm.fracBits)) - 1n)) !== 0n;
}

export function canonicalNaN(fm: Fmt): bigint {
  return build(fm, 0, fm.expMax, 1n << BigInt(fm.fracBits - 1));
}

/** Special and boundary values of a format. */
export function specials(fm: Fmt): bigint[] {
  const F = fm.fracBits;
  const top = 1n << BigInt(F - 1);
  const all = (1n << BigInt(F)) - 1n;
  const out: bigint[] = [];
  for (const s of [0, 1]) {
    out.push(
      build(fm, s, 0, 0n),
      build(fm, s, 0, 1n),
      build(fm, s, 0, all),
      build(fm, s, 0, top),
      build(fm, s, 1, 0n),
      build(fm, s, 1, 1n),
      build(fm, s, fm.expMax - 1, all),
      build(fm, s, fm.expMax - 1, 0n),
      build(fm, s, fm.bias, 0n),
      build(fm, s, fm.bias, 1n),
      build(fm, s, fm.bias - 1, all),
      build(fm, s, fm.bias, all),
      build(fm, s, fm.bias - 1, 0n),
      build(fm, s, fm.bias + 1, top),
      build(fm, s, fm.expMax, 0n),
      build(fm, s, fm.expMax, top),
      build(fm, s, fm.expMax, top | 0x5n),
      build(fm, s, fm.expMax, 1n),
      build(fm, s, fm.expMax, top - 1n),
    );
  }
  return out;
}

/** A random operand drawn from a mix of distributions that reach every exponent, exact small
 *  integers, values with few significant bits, and the specials. */
export function randomValue(fm: Fmt, rng: Rng): bigint {
  const k = rng.int(10);
  const sign = rng.int(2);
  if (k === 0) return rng.pick(specials(fm));
  if (k <= 3) return build(fm, sign, rng.int(fm.expMax + 1), rng.big(fm.fracBits));
  if (k <= 5) return build(fm, sign, fm.bias - 8 + rng.int(16), rng.big(fm.fracBits));
  if (k === 6) {
    // Few significant bits: products and quotients are often exact or exact ties.
    const bits = 1 + rng.int(6);
    const frac = rng.big(bits) << BigInt(fm.fracBits - bits);
    return build(fm, sign, fm.bias - 4 + rng.int(8), frac);
  }
  if (k === 7) return build(fm, sign, rng.int(fm.fracBits + 3), rng.big(fm.fracBits)); // subnormal/tiny
  if (k === 8) return build(fm, sign, fm.expMax - 1 - rng.int(fm.fracBits), rng.big(fm.fracBits)); // huge
  // One bit set near the top and one near the bottom: 1 + 2^-i style values that make ties.
  return build(fm, sign, fm.bias - 2 + rng.int(4), (1n << BigInt(rng.int(fm.fracBits))) | (rng.int(2) ? 1n : 0n));
}

/** A second operand related to the first: close to it, its negation, or scaled so that a
 *  product or quotient lands near the overflow or underflow thresholds. */
export function relatedValue(fm: Fmt, rng: Rng, a: bigint): bigint {
  const k = rng.int(6);
  const exp = Number((a >> BigInt(fm.fracBits)) & BigInt(fm.expMax));
  const flip = rng.int(2) ? 1n << BigInt(fm.width - 1) : 0n;
  if (k <= 1) return (a ^ flip) + BigInt(rng.int(5)) - 2n; // cancellation
  if (k === 2)
    return build(
      fm,
      rng.int(2),
      Math.max(0, Math.min(fm.expMax - 1, fm.bias * 2 - exp + rng.int(5) - 2)),
      rng.big(fm.fracBits),
    ); // product ~ 2^emax
  if (k === 3)
    return build(
      fm,
      rng.int(2),
      Math.max(0, Math.min(fm.expMax - 1, 2 - exp + rng.int(2 * fm.fracBits) + 2)),
      rng.big(fm.fracBits),
    ); // product ~ subnormal
  if (k === 4)
    return build(
      fm,
      rng.int(2),
      Math.max(0, Math.min(fm.expMax - 1, exp - rng.int(fm.fracBits + 4))),
      rng.big(fm.fracBits),
    ); // alignment shifts
  return randomValue(fm, rng);
}

const C_REFERENCE = String.raw`
#define _GNU_SOURCE
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#pragma STDC FENV_ACCESS ON
static const int modes[4] = { FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD };
/* x86 exception flags in RISC-V fflags order: NV DZ OF UF NX. */
static int rv(void) {
  int e = fetestexcept(FE_ALL_EXCEPT);
  return (e & FE_INVALID ? 16 : 0) | (e & FE_DIVBYZERO ? 8 : 0) | (e & FE_OVERFLOW ? 4 : 0) |
         (e & FE_UNDERFLOW ? 2 : 0) | (e & FE_INEXACT ? 1 : 0);
}
static double D(uint64_t v) { double x; memcpy(&x, &v, 8); return x; }
static float S(uint64_t v) { float x; uint32_t w = (uint32_t)v; memcpy(&x, &w, 4); return x; }
static uint64_t bD(double x) { uint64_t v; memcpy(&v, &x, 8); return v; }
static uint64_t bS(float x) { uint32_t v; memcpy(&v, &x, 4); return v; }
#define IS(s) (strcmp(op, s) == 0)
int main(void) {
  char op[16], fmt[4];
  int rm;
  unsigned long long a, b, c;
  while (scanf("%15s %3s %d %llx %llx %llx", op, fmt, &rm, &a, &b, &c) == 6) {
    uint64_t r = 0;
    int fl;
    fesetround(rm == 4 ? FE_TONEAREST : modes[rm]);
    feclearexcept(FE_ALL_EXCEPT);
    if (fmt[0] == 'd') {
      volatile double x = D(a), y = D(b), z = D(c);
      volatile double v = 0;
      if (IS("add")) v = x + y; else if (IS("sub")) v = x - y; else if (IS("mul")) v = x * y;
      else if (IS("div")) v = x / y; else if (IS("sqrt")) v = sqrt(x);
      else if (IS("madd")) v = fma(x, y, z); else if (IS("msub")) v = fma(x, y, -z);
      else if (IS("nmsub")) v = fma(-x, y, z); else if (IS("nmadd")) v = fma(-x, y, -z);
      else if (IS("rint")) v = rm == 4 ? round(x) : rint(x);
      else if (IS("tos")) { volatile float t = (float)x; fl = rv(); printf("%llx %d\n", (unsigned long long)bS(t), fl); continue; }
      else if (IS("eq")) v = x == y; else if (IS("lt")) v = x < y; else if (IS("le")) v = x <= y;
      else if (IS("fromw")) v = (double)(int32_t)a; else if (IS("fromwu")) v = (double)(uint32_t)a;
      else if (IS("froml")) v = (double)(int64_t)a; else if (IS("fromlu")) v = (double)(uint64_t)a;
      else if (IS("class")) {
        int k = fpclassify(x), s = signbit(x) != 0;
        v = k == FP_INFINITE ? (s ? 0 : 7) : k == FP_NORMAL ? (s ? 1 : 6) : k == FP_SUBNORMAL ? (s ? 2 : 5)
          : k == FP_ZERO ? (s ? 3 : 4) : issignaling(x) ? 8 : 9;
      }
      fl = rv();
      if (IS("rint") && rm == 4 && v != x) fl |= 1;
      r = bD(v);
    } else {
      volatile float x = S(a), y = S(b), z = S(c);
      volatile float v = 0;
      if (IS("add")) v = x + y; else if (IS("sub")) v = x - y; else if (IS("mul")) v = x * y;
      else if (IS("div")) v = x / y; else if (IS("sqrt")) v = sqrtf(x);
      else if (IS("madd")) v = fmaf(x, y, z); else if (IS("msub")) v = fmaf(x, y, -z);
      else if (IS("nmsub")) v = fmaf(-x, y, z); else if (IS("nmadd")) v = fmaf(-x, y, -z);
      else if (IS("rint")) { volatile double t = rm == 4 ? round((double)x) : rint((double)x); fl = rv();
        if (rm == 4 && t != (double)x) fl |= 1; printf("%llx %d\n", (unsigned long long)bD(t), fl); continue; }
      else if (IS("tod")) { volatile double t = (double)x; fl = rv(); printf("%llx %d\n", (unsigned long long)bD(t), fl); continue; }
      else if (IS("eq")) v = x == y; else if (IS("lt")) v = x < y; else if (IS("le")) v = x <= y;
      else if (IS("fromw")) v = (float)(int32_t)a; else if (IS("fromwu")) v = (float)(uint32_t)a;
      else if (IS("froml")) v = (float)(int64_t)a; else if (IS("fromlu")) v = (float)(uint64_t)a;
      else if (IS("class")) {
        int k = fpclassify(x), s = signbit(x) != 0;
        v = k == FP_INFINITE ? (s ? 0 : 7) : k == FP_NORMAL ? (s ? 1 : 6) : k == FP_SUBNORMAL ? (s ? 2 : 5)
          : k == FP_ZERO ? (s ? 3 : 4) : issignaling(x) ? 8 : 9;
      }
      fl = rv();
      r = bS(v);
    }
    printf("%llx %d\n", (unsigned long long)r, fl);
  }
  return 0;
}
`;

/** One reference computation: op name as in the C program, format, rounding mode 0..4 (4 is
 *  only meaningful for "rint", where C's round() is round-half-away), operand bits. */
export interface RefCase {
  op: string;
  fmt: "s" | "d";
  rm: number;
  a: bigint;
  b: bigint;
  c: bigint;
}
export interface RefResult {
  bits: bigint;
  flags: number;
}

/** Run the cases through the host C compiler's IEEE arithmetic (x86-64 SSE/FMA via libm). */
export function reference(cases: readonly RefCase[]): RefResult[] {
  const dir = mkdtempSync(join(tmpdir(), "corral-fpu-"));
  try {
    writeFileSync(join(dir, "ref.c"), C_REFERENCE);
    execFileSync("gcc", [
      "-O0",
      "-frounding-math",
      "-ffp-contract=off",
      "-fno-builtin",
      "-o",
      join(dir, "ref"),
      join(dir, "ref.c"),
      "-lm",
    ]);
    const input = cases
      .map((c) => `${c.op} ${c.fmt} ${c.rm} ${c.a.toString(16)} ${c.b.toString(16)} ${c.c.toString(16)}\n`)
      .join("");
    const out = execFileSync(join(dir, "ref"), { input, maxBuffer: 1 << 28 })
      .toString()
      .trim()
      .split("\n");
    if (out.length !== cases.length) throw new Error(`reference printed ${out.length} lines for ${cases.length} cases`);
    return out.map((line) => {
      const [bits, flags] = line.split(" ");
      return { bits: BigInt(`0x${bits}`), flags: Number(flags) };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}
