/**
 * FADD/FSUB/FMUL/FDIV/FSQRT/FMADD/FMSUB/FNMSUB/FNMADD in S and D, in RNE, RTZ, RDN and RUP,
 * checked bit for bit and flag for flag against the host's C compiler (x86-64 SSE and libm fma,
 * IEEE 754 with tininess after rounding like RISC-V). The C reference keeps NaN payloads where
 * RISC-V returns the canonical NaN, so a NaN reference result must be matched by the canonical NaN.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  D,
  Rng,
  S,
  TestHart,
  build,
  canonicalNaN,
  hex,
  isNaNBits,
  opFp,
  r4,
  randomValue,
  reference,
  relatedValue,
  run,
  type Fmt,
  type RefCase,
} from "./testkit.js";

const NV = 0x10;
const OPS = ["add", "sub", "mul", "div", "sqrt", "madd", "msub", "nmsub", "nmadd"] as const;
const FUNCT5: Record<string, number> = { add: 0, sub: 1, mul: 2, div: 3, sqrt: 11 };
const FMA_OPCODE: Record<string, number> = { madd: 0x43, msub: 0x47, nmsub: 0x4b, nmadd: 0x4f };
const PER_COMBINATION = 700;

function encode(op: string, fmt: number, rm: number): number {
  const opcode = FMA_OPCODE[op];
  if (opcode !== undefined) return r4(opcode, 3, fmt, 2, 1, rm, 4);
  return opFp(FUNCT5[op]!, fmt, op === "sqrt" ? 0 : 2, 1, rm, 4);
}

/** ∞ × 0 in an FMA is invalid even with a quiet-NaN addend (RISC-V F spec, FMA paragraph);
 *  x86 leaves NV clear in that one case, so the expected flags gain NV. */
function infTimesZero(fm: Fmt, a: bigint, b: bigint): boolean {
  const mag = (v: bigint): bigint => v & ((1n << BigInt(fm.width - 1)) - 1n);
  const inf = BigInt(fm.expMax) << BigInt(fm.fracBits);
  return (mag(a) === inf && mag(b) === 0n) || (mag(a) === 0n && mag(b) === inf);
}

function makeCases(fm: Fmt, seed: number): RefCase[] {
  const rng = new Rng(seed);
  const cases: RefCase[] = [];
  for (const op of OPS) {
    for (let rm = 0; rm < 4; rm++) {
      for (let i = 0; i < PER_COMBINATION; i++) {
        const a = randomValue(fm, rng);
        const b = rng.int(2) ? relatedValue(fm, rng, a) : randomValue(fm, rng);
        let c = randomValue(fm, rng);
        if (op.endsWith("add") || op.endsWith("sub")) {
          if (rng.int(2)) c = relatedValue(fm, rng, op === "add" || op === "sub" ? b : productNeighbour(fm, a, b, rng));
        }
        cases.push({ op, fmt: fm.single ? "s" : "d", rm, a, b, c });
      }
    }
  }
  for (let rm = 0; rm < 4; rm++) {
    for (let i = 0; i < 1500; i++) {
      const [a, b, c] = nearTie(fm, rng);
      cases.push({ op: rng.pick(["madd", "msub", "nmsub", "nmadd"]), fmt: fm.single ? "s" : "d", rm, a, b, c });
    }
  }
  return cases;
}

/**
 * Fused operands whose exact result sits on or next to a rounding midpoint with a tail far below
 * it: a = 1 + k·ulp, b = (1 + l·ulp)·2^-t, c = ±2^u·(1 + small). With k = 1, l = 3, t = 3, u = 0 in
 * binary64 the product is 2^-3 + 2^-53 + 3·2^-107 and c + a·b is a tie plus a tail that only an
 * exactly rounded FMA sees (the case where double rounding would go wrong).
 */
function nearTie(fm: Fmt, rng: Rng): [bigint, bigint, bigint] {
  const k = BigInt(1 + rng.int(8));
  const l = BigInt(1 + rng.int(8));
  const t = 1 + rng.int(6);
  const u = rng.int(5) - 2;
  const sa = rng.int(2);
  const sc = rng.int(2);
  const scale = rng.int(40) - 20;
  const a = build(fm, sa, fm.bias + scale, k);
  const b = build(fm, rng.int(2), fm.bias - t, rng.int(4) === 0 ? (1n << BigInt(fm.fracBits)) - l : l);
  const c = build(fm, sc, fm.bias + u + scale, BigInt(rng.int(3)));
  return [a, b, c];
}

/** An addend close to -(a*b), so the fused sum cancels massively. */
function productNeighbour(fm: Fmt, a: bigint, b: bigint, rng: Rng): bigint {
  const buf = new DataView(new ArrayBuffer(8));
  let p: number;
  if (fm.single) {
    buf.setUint32(0, Number(a));
    const x = buf.getFloat32(0);
    buf.setUint32(0, Number(b));
    p = Math.fround(x * buf.getFloat32(0));
    buf.setFloat32(0, rng.int(2) ? -p : p);
    return BigInt(buf.getUint32(0));
  }
  buf.setBigUint64(0, a);
  const x = buf.getFloat64(0);
  buf.setBigUint64(0, b);
  p = x * buf.getFloat64(0);
  buf.setFloat64(0, rng.int(2) ? -p : p);
  return buf.getBigUint64(0);
}

function check(fm: Fmt, seed: number): void {
  const cases = makeCases(fm, seed);
  const refs = reference(cases);
  const h = new TestHart();
  let failures = 0;
  const messages: string[] = [];
  cases.forEach((c, i) => {
    const ref = refs[i]!;
    // Alternate between the static rounding mode and rm = DYN with frm holding it.
    const dyn = i % 2 === 1;
    h.frm = dyn ? c.rm : 0;
    h.fflags = 0;
    h.dirty = 0;
    h.setF(1, c.a, fm.single);
    h.setF(2, c.b, fm.single);
    h.setF(3, c.c, fm.single);
    assert.equal(run(h, encode(c.op, fm.single ? 0 : 1, dyn ? 7 : c.rm)), true);
    const got = h.getF(4);
    const gotBits = fm.single ? got & 0xffffffffn : got;
    const want = isNaNBits(fm, ref.bits) ? canonicalNaN(fm) : ref.bits;
    let wantFlags = ref.flags;
    if (c.op in FMA_OPCODE && infTimesZero(fm, c.a, c.b)) wantFlags |= NV;
    const boxed = !fm.single || got >> 32n === 0xffffffffn;
    if (gotBits !== want || h.fflags !== wantFlags || !boxed || h.dirty === 0) {
      failures++;
      if (messages.length < 12) {
        messages.push(
          `${c.op}.${c.fmt} rm=${c.rm}${dyn ? "(dyn)" : ""} a=${hex(c.a)} b=${hex(c.b)} c=${hex(c.c)}: ` +
            `got ${hex(got)} flags ${h.fflags}, want ${hex(want)} flags ${wantFlags}`,
        );
      }
    }
  });
  assert.equal(failures, 0, `${failures} of ${cases.length} differ:\n${messages.join("\n")}`);
}

test("single-precision arithmetic matches the host's IEEE arithmetic in RNE/RTZ/RDN/RUP", () => {
  check(S, 1);
});

test("double-precision arithmetic matches the host's IEEE arithmetic in RNE/RTZ/RDN/RUP", () => {
  check(D, 2);
});

test("an exact zero sum is +0, or -0 when rounding down (IEEE 754 §6.3), on every path", () => {
  const h = new TestHart();
  for (const fm of [S, D]) {
    const one = fm.single ? 0x3f800000n : 0x3ff0000000000000n;
    const sign = 1n << BigInt(fm.width - 1);
    h.setF(1, one, fm.single);
    h.setF(2, one, fm.single);
    h.setF(3, one | sign, fm.single);
    for (let rm = 0; rm <= 4; rm++) {
      const want = rm === 2 ? sign : 0n;
      run(h, opFp(1, fm.single ? 0 : 1, 2, 1, rm, 4)); // 1 - 1
      assert.equal(h.getF(4) & ((1n << BigInt(fm.width)) - 1n), want, `fsub rm ${rm}`);
      run(h, r4(0x43, 3, fm.single ? 0 : 1, 2, 1, rm, 4)); // 1*1 + (-1)
      assert.equal(h.getF(4) & ((1n << BigInt(fm.width)) - 1n), want, `fmadd rm ${rm}`);
    }
  }
});
