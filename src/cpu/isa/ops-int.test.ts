// Integer ops on register pairs checked against BigInt arithmetic (the definition of RV64 M
// semantics, unprivileged spec chapter 7), over edge values and seeded random operands.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Hart } from "../hart/hart.js";
import * as I from "./ops-int.js";

const EDGE = [
  0n,
  1n,
  2n,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  (1n << 63n) - 1n,
  1n << 63n,
  (1n << 64n) - 1n,
  0x123456789abcdef0n,
  0xfedcba9876543210n,
];

function rng(seed: number): () => bigint {
  let s = BigInt(seed);
  return () => {
    s = (s * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n);
    return s;
  };
}
function values(): bigint[] {
  const r = rng(7);
  return [...EDGE, ...Array.from({ length: 40 }, r)];
}
const fakeHart = (): Hart => ({ x: new Int32Array(66) }) as unknown as Hart;
function set(h: Hart, r: number, v: bigint): void {
  h.x[2 * r] = Number(BigInt.asIntN(32, v));
  h.x[2 * r + 1] = Number(BigInt.asIntN(32, v >> 32n));
}
function get(h: Hart, r: number): bigint {
  return BigInt.asUintN(64, (BigInt(h.x[2 * r + 1]!) << 32n) | BigInt(h.x[2 * r]! >>> 0));
}
const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

const CASES: [string, (d: number, a: number, b: number) => I.Op, (a: bigint, b: bigint) => bigint][] = [
  ["add", I.add, (a, b) => a + b],
  ["sub", I.sub, (a, b) => a - b],
  ["mul", I.mul, (a, b) => a * b],
  ["mulhu", (d, a, b) => I.mulh("uu", d, a, b), (a, b) => (a * b) >> 64n],
  ["mulh", (d, a, b) => I.mulh("ss", d, a, b), (a, b) => (s64(a) * s64(b)) >> 64n],
  ["mulhsu", (d, a, b) => I.mulh("su", d, a, b), (a, b) => (s64(a) * b) >> 64n],
  [
    "div",
    (d, a, b) => I.div(true, false, d, a, b),
    (a, b) => (b === 0n ? -1n : s64(a) === -(1n << 63n) && s64(b) === -1n ? a : s64(a) / s64(b)),
  ],
  ["divu", (d, a, b) => I.div(false, false, d, a, b), (a, b) => (b === 0n ? -1n : a / b)],
  [
    "rem",
    (d, a, b) => I.div(true, true, d, a, b),
    (a, b) => (b === 0n ? a : s64(a) === -(1n << 63n) && s64(b) === -1n ? 0n : s64(a) % s64(b)),
  ],
  ["remu", (d, a, b) => I.div(false, true, d, a, b), (a, b) => (b === 0n ? a : a % b)],
  ["sll", (d, a, b) => I.shift(0, d, a, b), (a, b) => a << (b & 63n)],
  ["srl", (d, a, b) => I.shift(1, d, a, b), (a, b) => a >> (b & 63n)],
  ["sra", (d, a, b) => I.shift(2, d, a, b), (a, b) => s64(a) >> (b & 63n)],
  ["slt", (d, a, b) => I.slt(d, a, b, false), (a, b) => (s64(a) < s64(b) ? 1n : 0n)],
  ["sltu", (d, a, b) => I.slt(d, a, b, true), (a, b) => (a < b ? 1n : 0n)],
];

for (const [name, make, ref] of CASES) {
  test(`${name} matches 64-bit reference arithmetic`, () => {
    const op = make(2 * 3, 2 * 1, 2 * 2);
    const h = fakeHart();
    const vs = values();
    for (const a of vs)
      for (const b of vs) {
        set(h, 1, a);
        set(h, 2, b);
        op(h);
        assert.equal(get(h, 3), u64(ref(a, b)), `${name}(0x${a.toString(16)}, 0x${b.toString(16)})`);
      }
  });
}

test("W forms sign-extend their 32-bit results", () => {
  const h = fakeHart();
  const vs = values();
  const sx = (v: bigint): bigint => u64(BigInt.asIntN(32, v));
  const ws: [I.Op, (a: bigint, b: bigint) => bigint][] = [
    [I.opW("add", 6, 2, 4), (a, b) => sx(a + b)],
    [I.opW("sub", 6, 2, 4), (a, b) => sx(a - b)],
    [I.opW("mul", 6, 2, 4), (a, b) => sx(a * b)],
    [I.opW("sll", 6, 2, 4), (a, b) => sx(a << (b & 31n))],
    [I.opW("srl", 6, 2, 4), (a, b) => sx(BigInt.asUintN(32, a) >> (b & 31n))],
    [I.opW("sra", 6, 2, 4), (a, b) => sx(BigInt.asIntN(32, a) >> (b & 31n))],
    [
      I.divW(true, false, 6, 2, 4),
      (a, b) => {
        const x = BigInt.asIntN(32, a),
          y = BigInt.asIntN(32, b);
        return y === 0n ? u64(-1n) : x === -(1n << 31n) && y === -1n ? sx(x) : sx(x / y);
      },
    ],
    [
      I.divW(false, true, 6, 2, 4),
      (a, b) => {
        const x = BigInt.asUintN(32, a),
          y = BigInt.asUintN(32, b);
        return y === 0n ? sx(x) : sx(x % y);
      },
    ],
  ];
  for (const [op, ref] of ws)
    for (const a of vs)
      for (const b of vs) {
        set(h, 1, a);
        set(h, 2, b);
        op(h);
        assert.equal(get(h, 3), ref(a, b));
      }
});
