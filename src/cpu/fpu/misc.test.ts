/**
 * Non-rounding instructions: FEQ/FLT/FLE and FCLASS against the host's C (comparison operators
 * are quiet for ==, signaling for < and <=; fpclassify/signbit/issignaling), FMIN/FMAX by the
 * spec's 2019 rules on top of the host's ordering, and sign injection, moves and NaN boxing by
 * their bit-level definitions.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  D,
  Rng,
  S,
  TestHart,
  canonicalNaN,
  hex,
  isNaNBits,
  opFp,
  randomValue,
  reference,
  relatedValue,
  run,
  type Fmt,
  type RefCase,
} from "./testkit.js";

const NV = 0x10;

function pairs(fm: Fmt, seed: number, n: number): [bigint, bigint][] {
  const rng = new Rng(seed);
  const out: [bigint, bigint][] = [];
  for (let i = 0; i < n; i++) {
    const a = randomValue(fm, rng);
    const k = rng.int(4);
    // Equal values, opposite zeros, and neighbours exercise the orderings' edges.
    const b =
      k === 0
        ? a
        : k === 1
          ? a ^ (1n << BigInt(fm.width - 1))
          : k === 2
            ? relatedValue(fm, rng, a)
            : randomValue(fm, rng);
    out.push([a, b]);
  }
  return out;
}

function checkCompareAndClass(fm: Fmt, seed: number): void {
  const ps = pairs(fm, seed, 3000);
  const fmt = fm.single ? "s" : "d";
  const cases: RefCase[] = [];
  for (const [a, b] of ps) {
    for (const op of ["le", "lt", "eq"]) cases.push({ op, fmt, rm: 0, a, b, c: 0n });
    cases.push({ op: "class", fmt, rm: 0, a, b, c: 0n });
  }
  const refs = reference(cases);
  const h = new TestHart();
  const bad: string[] = [];
  const toNum = (bits: bigint): number => {
    const v = new DataView(new ArrayBuffer(8));
    if (fm.single) {
      v.setUint32(0, Number(bits));
      return v.getFloat32(0);
    }
    v.setBigUint64(0, bits);
    return v.getFloat64(0);
  };
  cases.forEach((c, i) => {
    const ref = refs[i]!;
    h.fflags = 0;
    h.setF(1, c.a, fm.single);
    h.setF(2, c.b, fm.single);
    const isClass = c.op === "class";
    const funct3 = isClass ? 1 : ["le", "lt", "eq"].indexOf(c.op);
    run(h, opFp(isClass ? 0x1c : 0x14, fm.single ? 0 : 1, isClass ? 0 : 2, 1, funct3, 10));
    const want = isClass ? 1n << BigInt(toNum(ref.bits)) : BigInt(toNum(ref.bits));
    // "FCLASS.S does not set the floating-point exception flags" (the C classification of a
    // signaling NaN may raise invalid as a side effect, so its flags are not the reference).
    const wantFlags = isClass ? 0 : ref.flags;
    if (h.getX(10) !== want || h.fflags !== wantFlags)
      bad.push(
        `${c.op}.${fmt} ${hex(c.a)} ${hex(c.b)}: got ${hex(h.getX(10))}/${h.fflags} want ${hex(want)}/${wantFlags}`,
      );
  });
  assert.deepEqual(bad.slice(0, 10), []);
}

test("FEQ/FLT/FLE and FCLASS (S) match the host", () => checkCompareAndClass(S, 41));
test("FEQ/FLT/FLE and FCLASS (D) match the host", () => checkCompareAndClass(D, 42));

function checkMinMax(fm: Fmt, seed: number): void {
  const ps = pairs(fm, seed, 3000);
  const fmt = fm.single ? "s" : "d";
  // The host's signaling "<" orders non-NaN values; the rest is the spec's text.
  const cases: RefCase[] = ps.map(([a, b]) => ({ op: "lt", fmt, rm: 0, a, b, c: 0n }));
  const refs = reference(cases);
  const h = new TestHart();
  const sign = 1n << BigInt(fm.width - 1);
  const isSNaN = (v: bigint): boolean => isNaNBits(fm, v) && (v & (1n << BigInt(fm.fracBits - 1))) === 0n;
  ps.forEach(([a, b], i) => {
    for (const isMax of [false, true]) {
      const lt = refs[i]!.bits !== 0n; // a < b
      let want: bigint;
      // "If both inputs are NaNs, the result is the canonical NaN. If only one operand is a NaN,
      // the result is the non-NaN operand." "-0.0 is considered to be less than +0.0".
      if (isNaNBits(fm, a) && isNaNBits(fm, b)) want = canonicalNaN(fm);
      else if (isNaNBits(fm, a)) want = b;
      else if (isNaNBits(fm, b)) want = a;
      else if ((a | b) === sign && a !== b)
        want = isMax ? 0n : sign; // +0 and -0
      else want = lt !== isMax ? a : b;
      // "Signaling NaN inputs set the invalid operation exception flag, even when the result is not NaN."
      const wantFlags = isSNaN(a) || isSNaN(b) ? NV : 0;
      h.fflags = 0;
      h.setF(1, a, fm.single);
      h.setF(2, b, fm.single);
      run(h, opFp(5, fm.single ? 0 : 1, 2, 1, isMax ? 1 : 0, 4));
      const got = fm.single ? h.getF(4) & 0xffffffffn : h.getF(4);
      assert.equal(hex(got), hex(want), `${isMax ? "fmax" : "fmin"}.${fmt} ${hex(a)} ${hex(b)}`);
      assert.equal(h.fflags, wantFlags);
    }
  });
}

test("FMIN/FMAX (S): minimumNumber/maximumNumber, -0 < +0, NV on sNaN", () => checkMinMax(S, 43));
test("FMIN/FMAX (D): minimumNumber/maximumNumber, -0 < +0, NV on sNaN", () => checkMinMax(D, 44));

test("sign injection keeps every other bit, NaN payloads included, and sets no flags", () => {
  const rng = new Rng(45);
  const h = new TestHart();
  for (let i = 0; i < 2000; i++) {
    for (const fm of [S, D]) {
      const a = randomValue(fm, rng);
      const b = randomValue(fm, rng);
      const sign = 1n << BigInt(fm.width - 1);
      h.fflags = 0;
      h.setF(1, a, fm.single);
      h.setF(2, b, fm.single);
      for (const [funct3, s] of [
        [0, b & sign],
        [1, ~b & sign],
        [2, (a ^ b) & sign],
      ] as const) {
        run(h, opFp(4, fm.single ? 0 : 1, 2, 1, funct3, 4));
        const want = (a & ~sign) | s;
        assert.equal(h.getF(4), fm.single ? want | 0xffffffff00000000n : want);
      }
      assert.equal(h.fflags, 0);
    }
  }
});

test("moves transfer bits unchanged; FMV.X.W sign-extends; FMV.W.X NaN-boxes", () => {
  const h = new TestHart();
  h.setX(5, 0x12345678ff800001n); // low word is a signaling NaN pattern
  run(h, opFp(0x1e, 0, 0, 5, 0, 4)); // FMV.W.X f4, x5
  assert.equal(h.getF(4), 0xffffffffff800001n);
  run(h, opFp(0x1c, 0, 0, 4, 0, 6)); // FMV.X.W x6, f4
  assert.equal(h.getX(6), 0xffffffffff800001n);
  h.setF(7, 0x00000000_7f812345n, false); // not NaN-boxed: FMV.X.W still moves the low bits
  run(h, opFp(0x1c, 0, 0, 7, 0, 6));
  assert.equal(h.getX(6), 0x7f812345n);
  h.setX(5, 0x7ff0000000000001n);
  run(h, opFp(0x1e, 1, 0, 5, 0, 4)); // FMV.D.X
  assert.equal(h.getF(4), 0x7ff0000000000001n);
  run(h, opFp(0x1c, 1, 0, 4, 0, 6)); // FMV.X.D
  assert.equal(h.getX(6), 0x7ff0000000000001n);
  assert.equal(h.fflags, 0);
});

test("a single that is not NaN-boxed reads as the canonical NaN", () => {
  const h = new TestHart();
  h.setF(1, 0x000000003f800000n, false); // 1.0f with a zero upper word
  h.setF(2, 0x40000000n, true); // 2.0f, boxed
  run(h, opFp(0, 0, 2, 1, 0, 4)); // FADD.S: canonical NaN, no flags (a quiet NaN)
  assert.equal(h.getF(4), 0xffffffff7fc00000n);
  assert.equal(h.fflags, 0);
  run(h, opFp(0x1c, 0, 0, 1, 1, 10)); // FCLASS.S: quiet NaN
  assert.equal(h.getX(10), 1n << 9n);
  run(h, opFp(5, 0, 2, 1, 0, 4)); // FMIN.S: the other operand
  assert.equal(h.getF(4), 0xffffffff40000000n);
  run(h, opFp(4, 0, 2, 1, 2, 4)); // FSGNJX.S: canonical NaN's bits with the sign XORed
  assert.equal(h.getF(4), 0xffffffff7fc00000n);
  run(h, opFp(8, 1, 0, 1, 0, 4)); // FCVT.D.S: canonical double NaN
  assert.equal(h.getF(4), 0x7ff8000000000000n);
  h.setF(1, 0xfffffffe3f800000n, false); // upper word almost all ones is not a box either
  run(h, opFp(0x1c, 0, 0, 1, 1, 10));
  assert.equal(h.getX(10), 1n << 9n);
});
