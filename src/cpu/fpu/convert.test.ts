/**
 * FCVT between floating point and W/WU/L/LU, and FCVT.S.D / FCVT.D.S. Rounding and inexactness
 * come from the host's C library (rint in the current mode; round() is ties-away, i.e. RMM);
 * what RISC-V does with out-of-range results and NaN is the spec's table "Domains of
 * float-to-integer conversions and behavior for invalid inputs", applied here by hand.
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
  run,
  type Fmt,
  type RefCase,
} from "./testkit.js";

const NV = 0x10;
const NX = 0x01;

function numBits(fm: Fmt, x: number): bigint {
  const v = new DataView(new ArrayBuffer(8));
  if (fm.single) {
    v.setFloat32(0, x);
    return BigInt(v.getUint32(0));
  }
  v.setFloat64(0, x);
  return v.getBigUint64(0);
}
function bitsNum(bits: bigint): number {
  const v = new DataView(new ArrayBuffer(8));
  v.setBigUint64(0, bits);
  return v.getFloat64(0);
}

/** Values at and around every saturation boundary, in the format's own ulps. */
function boundaryValues(fm: Fmt): bigint[] {
  const out: bigint[] = [];
  for (const base of [0, 0.5, 1, 1.5, 2.5, 2 ** 31, 2 ** 32, 2 ** 63, 2 ** 64, 2 ** 53, 2 ** 24]) {
    for (const sign of [1, -1]) {
      const b = numBits(fm, sign * base);
      for (let d = -3n; d <= 3n; d++) out.push(b + d);
      for (const off of [-1, -0.5, 0.5, 1]) out.push(numBits(fm, sign * base + off));
    }
  }
  return out.filter((v) => v >= 0n);
}

const RANGES = [
  { min: -(2n ** 31n), max: 2n ** 31n - 1n, wide: false },
  { min: 0n, max: 2n ** 32n - 1n, wide: false },
  { min: -(2n ** 63n), max: 2n ** 63n - 1n, wide: true },
  { min: 0n, max: 2n ** 64n - 1n, wide: true },
];

/** The x register value RISC-V writes: 32-bit results sign-extended to 64 bits. */
function xValue(v: bigint, wide: boolean): bigint {
  return BigInt.asUintN(64, wide ? v : BigInt.asIntN(32, v));
}

function checkFloatToInt(fm: Fmt): void {
  const rng = new Rng(fm.single ? 11 : 12);
  const values = [...boundaryValues(fm)];
  for (let i = 0; i < 1500; i++) values.push(randomValue(fm, rng));
  const cases: RefCase[] = [];
  for (const a of values)
    for (let rm = 0; rm <= 4; rm++) cases.push({ op: "rint", fmt: fm.single ? "s" : "d", rm, a, b: 0n, c: 0n });
  const refs = reference(cases);
  const h = new TestHart();
  const bad: string[] = [];
  cases.forEach((c, i) => {
    const ref = refs[i]!;
    for (let type = 0; type < 4; type++) {
      const range = RANGES[type]!;
      const signBit = c.a >> BigInt(fm.width - 1);
      let want: bigint;
      let wantFlags: number;
      if (isNaNBits(fm, c.a)) {
        [want, wantFlags] = [range.max, NV]; // "Output for +∞ or NaN"
      } else {
        const r = bitsNum(ref.bits); // the rounded value, ±∞ for infinities
        const rb = Number.isFinite(r) ? BigInt(r) : signBit === 1n ? range.min - 1n : range.max + 1n;
        if (rb < range.min)
          [want, wantFlags] = [range.min, NV]; // "out-of-range negative input", -∞
        else if (rb > range.max)
          [want, wantFlags] = [range.max, NV]; // "out-of-range positive input", +∞
        else [want, wantFlags] = [rb, ref.flags & NX];
      }
      h.fflags = 0;
      h.frm = c.rm;
      h.setF(1, c.a, fm.single);
      h.setX(5, 0x5555n);
      assert.equal(run(h, opFp(0x18, fm.single ? 0 : 1, type, 1, i % 2 ? 7 : c.rm, 5)), true);
      const got = h.getX(5);
      const exp = xValue(want, range.wide);
      if (got !== exp || h.fflags !== wantFlags) {
        bad.push(
          `fcvt type ${type} from ${c.fmt} ${hex(c.a)} rm ${c.rm}: got ${hex(got)}/${h.fflags}, want ${hex(exp)}/${wantFlags}`,
        );
      }
    }
  });
  assert.deepEqual(bad.slice(0, 10), []);
}

test("FCVT.{W,WU,L,LU}.S: rounding in all five modes, saturation and NV per the spec table", () => checkFloatToInt(S));
test("FCVT.{W,WU,L,LU}.D: rounding in all five modes, saturation and NV per the spec table", () => checkFloatToInt(D));

function randomInt(rng: Rng): bigint {
  const k = rng.int(5);
  if (k === 0)
    return rng.pick([
      0n,
      1n,
      -1n,
      2n ** 31n,
      2n ** 31n - 1n,
      2n ** 32n - 1n,
      2n ** 63n,
      2n ** 63n - 1n,
      2n ** 64n - 1n,
      2n ** 53n + 1n,
      2n ** 24n + 1n,
    ]);
  const bits = 1 + rng.int(64);
  return rng.big(bits);
}

const FROM = ["fromw", "fromwu", "froml", "fromlu"];

function checkIntToFloat(fm: Fmt): void {
  const rng = new Rng(fm.single ? 21 : 22);
  const cases: RefCase[] = [];
  for (let i = 0; i < 1500; i++) {
    const v = randomInt(rng);
    for (let type = 0; type < 4; type++)
      for (let rm = 0; rm < 4; rm++)
        cases.push({ op: FROM[type]!, fmt: fm.single ? "s" : "d", rm, a: v, b: 0n, c: 0n });
  }
  const refs = reference(cases);
  const h = new TestHart();
  const bad: string[] = [];
  cases.forEach((c, i) => {
    const ref = refs[i]!;
    h.fflags = 0;
    h.frm = c.rm;
    h.setX(5, c.a);
    assert.equal(run(h, opFp(0x1a, fm.single ? 0 : 1, FROM.indexOf(c.op), 5, i % 2 ? 7 : c.rm, 4)), true);
    const got = h.getF(4);
    const want = fm.single ? ref.bits | 0xffffffff00000000n : ref.bits;
    if (got !== want || h.fflags !== ref.flags)
      bad.push(`${c.op}.${c.fmt} ${hex(c.a)} rm ${c.rm}: got ${hex(got)}/${h.fflags} want ${hex(want)}/${ref.flags}`);
  });
  assert.deepEqual(bad.slice(0, 10), []);
}

test("FCVT.S.{W,WU,L,LU} match the host's conversions in RNE/RTZ/RDN/RUP", () => checkIntToFloat(S));
test("FCVT.D.{W,WU,L,LU} match the host's conversions in RNE/RTZ/RDN/RUP", () => checkIntToFloat(D));

test("FCVT.S.D and FCVT.D.S match the host's conversions; NaNs become canonical", () => {
  const rng = new Rng(31);
  const cases: RefCase[] = [];
  for (let i = 0; i < 3000; i++) {
    const k = rng.int(3);
    // Doubles near the single-precision range edges, and arbitrary ones.
    const d =
      k === 0
        ? randomValue(D, rng)
        : k === 1
          ? (BigInt(rng.int(2)) << 63n) | (BigInt(1023 - 150 + rng.int(30)) << 52n) | rng.big(52)
          : (BigInt(rng.int(2)) << 63n) | (BigInt(1023 + 120 + rng.int(10)) << 52n) | rng.big(52);
    for (let rm = 0; rm < 4; rm++) {
      cases.push({ op: "tos", fmt: "d", rm, a: d, b: 0n, c: 0n });
      cases.push({ op: "tod", fmt: "s", rm, a: randomValue(S, rng), b: 0n, c: 0n });
    }
  }
  const refs = reference(cases);
  const h = new TestHart();
  const bad: string[] = [];
  cases.forEach((c, i) => {
    const ref = refs[i]!;
    const toS = c.op === "tos";
    h.fflags = 0;
    h.frm = c.rm;
    h.setF(1, c.a, !toS);
    assert.equal(run(h, opFp(0x08, toS ? 0 : 1, toS ? 1 : 0, 1, i % 2 ? 7 : c.rm, 4)), true);
    const got = h.getF(4);
    const fm = toS ? S : D;
    let want = isNaNBits(fm, ref.bits) ? canonicalNaN(fm) : ref.bits;
    if (toS) want |= 0xffffffff00000000n;
    if (got !== want || h.fflags !== ref.flags)
      bad.push(`${c.op} ${hex(c.a)} rm ${c.rm}: got ${hex(got)}/${h.fflags} want ${hex(want)}/${ref.flags}`);
  });
  assert.deepEqual(bad.slice(0, 10), []);
});

test("saturation boundaries, by hand from the spec table", () => {
  const h = new TestHart();
  const cvt = (fm: Fmt, x: number | bigint, type: number, rm: number): [bigint, number] => {
    h.fflags = 0;
    h.setF(1, typeof x === "bigint" ? x : numBits(fm, x), fm.single);
    run(h, opFp(0x18, fm.single ? 0 : 1, type, 1, rm, 5));
    return [h.getX(5), h.fflags];
  };
  const M64 = 2n ** 64n - 1n;
  // FCVT.W.D: 2^31 - 0.5 rounds to 2^31 in RNE (out of range: clipped, NV only) but to
  // 2^31 - 1 in RTZ (valid, NX).
  assert.deepEqual(cvt(D, 2 ** 31 - 0.5, 0, 0), [0x7fffffffn, NV]);
  assert.deepEqual(cvt(D, 2 ** 31 - 0.5, 0, 1), [0x7fffffffn, NX]);
  assert.deepEqual(cvt(D, -(2 ** 31) - 0.5, 0, 1), [M64 - 2n ** 31n + 1n, NX]); // -2^31, sign-extended
  assert.deepEqual(cvt(D, -(2 ** 31) - 1, 0, 1), [M64 - 2n ** 31n + 1n, NV]);
  // FCVT.WU: negative values that round to zero are valid (NX); -1 is out of range (NV, 0).
  assert.deepEqual(cvt(D, -0.75, 1, 1), [0n, NX]);
  assert.deepEqual(cvt(D, -0.75, 1, 0), [0n, NV]);
  assert.deepEqual(cvt(S, -0, 1, 0), [0n, 0]);
  // FCVT.WU.S of 2^32 - 256 (largest float below 2^32) sign-extends bit 31 into the upper half.
  assert.deepEqual(cvt(S, 2 ** 32 - 256, 1, 0), [M64 - 255n, 0]);
  assert.deepEqual(cvt(S, 2 ** 32, 1, 0), [M64, NV]);
  // FCVT.L/LU: 2^63 is out of range for L, in range for LU; NaN of either sign gives the maximum.
  assert.deepEqual(cvt(D, 2 ** 63, 2, 0), [2n ** 63n - 1n, NV]);
  assert.deepEqual(cvt(D, -(2 ** 63), 2, 0), [2n ** 63n, 0]);
  assert.deepEqual(cvt(D, 2 ** 63, 3, 0), [2n ** 63n, 0]);
  assert.deepEqual(cvt(D, 0xfff8000000000000n, 2, 0), [2n ** 63n - 1n, NV]);
  assert.deepEqual(cvt(D, 0xfff8000000000000n, 3, 0), [M64, NV]);
  assert.deepEqual(cvt(S, 0xff800000n, 3, 0), [0n, NV]); // -inf → 0 for unsigned
  assert.deepEqual(cvt(S, 0xff800000n, 0, 0), [M64 - 2n ** 31n + 1n, NV]);
  // An un-NaN-boxed single reads as the canonical NaN: maximum, NV.
  h.fflags = 0;
  h.f[2] = 0x3f800000; // 1.0f without the box
  h.f[3] = 0;
  run(h, opFp(0x18, 0, 0, 1, 0, 5));
  assert.deepEqual([h.getX(5), h.fflags], [0x7fffffffn, NV]);
});
