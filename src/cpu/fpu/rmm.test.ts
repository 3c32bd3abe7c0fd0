/**
 * RMM (round to nearest, ties to max magnitude), which the x86 host cannot compute directly.
 * Hand-derived ties, and a property check against the host: RMM equals the host's RNE result
 * except at an exact midpoint, where it equals the host's away-from-zero result (RUP for
 * positive, RDN for negative). Whether the exact value is the midpoint of the host's RTZ and
 * away results is decided with exact rational arithmetic on the operands.
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
  r4,
  randomValue,
  reference,
  relatedValue,
  run,
  type Fmt,
  type RefCase,
} from "./testkit.js";

const RMM = 4;
const NX = 0x01;
const UF = 0x02;
const OF = 0x04;

/** A finite value as num * 2^exp. */
interface Exact {
  num: bigint;
  exp: number;
}
function exact(fm: Fmt, bits: bigint): Exact | null {
  const e = Number((bits >> BigInt(fm.fracBits)) & BigInt(fm.expMax));
  if (e === fm.expMax) return null;
  const frac = bits & ((1n << BigInt(fm.fracBits)) - 1n);
  const sig = e === 0 ? frac : frac | (1n << BigInt(fm.fracBits));
  const num = bits >> BigInt(fm.width - 1) ? -sig : sig;
  return { num, exp: (e === 0 ? 1 : e) - fm.bias - fm.fracBits };
}
function add(x: Exact, y: Exact): Exact {
  const e = Math.min(x.exp, y.exp);
  return { num: (x.num << BigInt(x.exp - e)) + (y.num << BigInt(y.exp - e)), exp: e };
}
function mul(x: Exact, y: Exact): Exact {
  return { num: x.num * y.num, exp: x.exp + y.exp };
}
function neg(x: Exact): Exact {
  return { num: -x.num, exp: x.exp };
}
function eq(x: Exact, y: Exact): boolean {
  return add(x, neg(y)).num === 0n;
}

const FUNCT5: Record<string, number> = { add: 0, sub: 1, mul: 2, div: 3, sqrt: 11 };
const FMA: Record<string, number> = { madd: 0x43, msub: 0x47, nmsub: 0x4b, nmadd: 0x4f };

/** Is the exact result of the case equal to m? */
function resultEquals(fm: Fmt, c: RefCase, m: Exact): boolean | null {
  const a = exact(fm, c.a);
  const b = exact(fm, c.b);
  const z = exact(fm, c.c);
  if (a === null || b === null || z === null) return null;
  switch (c.op) {
    case "add":
      return eq(add(a, b), m);
    case "sub":
      return eq(add(a, neg(b)), m);
    case "mul":
      return eq(mul(a, b), m);
    case "div":
      return eq(a, mul(m, b));
    case "sqrt":
      return eq(a, mul(m, m));
    default: {
      const p = c.op.startsWith("n") ? neg(mul(a, b)) : mul(a, b);
      return eq(add(p, c.op === "madd" || c.op === "nmsub" ? z : neg(z)), m);
    }
  }
}

function runRmm(h: TestHart, fm: Fmt, c: RefCase): bigint {
  h.fflags = 0;
  h.setF(1, c.a, fm.single);
  h.setF(2, c.b, fm.single);
  h.setF(3, c.c, fm.single);
  const f = fm.single ? 0 : 1;
  const fma = FMA[c.op];
  run(h, fma !== undefined ? r4(fma, 3, f, 2, 1, RMM, 4) : opFp(FUNCT5[c.op]!, f, c.op === "sqrt" ? 0 : 2, 1, RMM, 4));
  const got = h.getF(4);
  return fm.single ? got & 0xffffffffn : got;
}

function checkProperty(fm: Fmt, seed: number): void {
  const rng = new Rng(seed);
  const fmt = fm.single ? "s" : "d";
  const base: RefCase[] = [];
  for (const op of [...Object.keys(FUNCT5), ...Object.keys(FMA)]) {
    for (let i = 0; i < 1500; i++) {
      // Few-bit operands make exact midpoints common.
      const a = rng.int(3) ? fewBits(fm, rng) : randomValue(fm, rng);
      const b = rng.int(3) ? fewBits(fm, rng) : relatedValue(fm, rng, a);
      base.push({ op, fmt, rm: 0, a, b, c: rng.int(2) ? fewBits(fm, rng) : randomValue(fm, rng) });
    }
  }
  const cases = base.flatMap((c) => [0, 1, 2, 3].map((rm) => ({ ...c, rm })));
  const refs = reference(cases);
  const h = new TestHart();
  let ties = 0;
  base.forEach((c, i) => {
    const [rne, rtz, rdn, rup] = [0, 1, 2, 3].map((k) => refs[4 * i + k]!);
    const got = runRmm(h, fm, c);
    const label = `${c.op}.${fmt} ${hex(c.a)} ${hex(c.b)} ${hex(c.c)}`;
    if (isNaNBits(fm, rne!.bits)) {
      assert.equal(got, canonicalNaN(fm), label);
      return;
    }
    const away = rne!.bits >> BigInt(fm.width - 1) ? rdn! : rup!;
    const lo = exact(fm, rtz!.bits);
    const hi = exact(fm, away.bits);
    const tie =
      lo !== null &&
      hi !== null &&
      rtz!.bits !== away.bits &&
      resultEquals(fm, c, { ...add(lo, hi), exp: add(lo, hi).exp - 1 }) === true;
    if (tie) {
      ties++;
      assert.equal(hex(got), hex(away.bits), `tie: ${label}`);
      assert.equal(h.fflags & (NX | OF), away.flags & (NX | OF), `tie flags: ${label}`);
    } else {
      assert.equal(hex(got), hex(rne!.bits), label);
      // Away from ties RMM and RNE round identically; tininess (UF) is judged at unbounded
      // precision, where a tie can exist that the subnormal result does not show.
      assert.equal(h.fflags & ~UF, rne!.flags & ~UF, `flags: ${label}`);
    }
  });
  assert.ok(ties > 100, `only ${ties} ties exercised`);
}

function fewBits(fm: Fmt, rng: Rng): bigint {
  const bits = 1 + rng.int(fm.single ? 12 : 27);
  const exp = rng.int(8) === 0 ? rng.int(fm.expMax) : fm.bias - 6 + rng.int(12);
  return (
    (BigInt(rng.int(2)) << BigInt(fm.width - 1)) |
    (BigInt(exp) << BigInt(fm.fracBits)) |
    (rng.big(bits) << BigInt(fm.fracBits - bits))
  );
}

test("RMM (S) equals RNE except at exact midpoints, where it rounds away from zero", () => checkProperty(S, 51));
test("RMM (D) equals RNE except at exact midpoints, where it rounds away from zero", () => checkProperty(D, 52));

test("RMM ties by hand", () => {
  const h = new TestHart();
  const op = (fm: Fmt, funct5: number, a: bigint, b: bigint): [bigint, number] => {
    h.fflags = 0;
    h.setF(1, a, fm.single);
    h.setF(2, b, fm.single);
    run(h, opFp(funct5, fm.single ? 0 : 1, 2, 1, RMM, 4));
    const r = h.getF(4);
    return [fm.single ? r & 0xffffffffn : r, h.fflags];
  };
  // 1 + 2^-53 is halfway between 1 and 1 + 2^-52: RMM goes up (RNE would keep the even 1).
  assert.deepEqual(op(D, 0, 0x3ff0000000000000n, 0x3ca0000000000000n), [0x3ff0000000000001n, NX]);
  assert.deepEqual(op(D, 0, 0xbff0000000000000n, 0xbca0000000000000n), [0xbff0000000000001n, NX]);
  // 1 + 2^-24 in single precision likewise.
  assert.deepEqual(op(S, 0, 0x3f800000n, 0x33800000n), [0x3f800001n, NX]);
  // (1 + 2^-26)(1 + 2^-27) = 1 + 2^-26 + 2^-27 + 2^-53: a tie in the product.
  assert.deepEqual(op(D, 2, 0x3ff0000004000000n, 0x3ff0000002000000n), [0x3ff0000006000001n, NX]);
  // Half the smallest subnormal is a tie between 0 and 2^-1074: RMM gives 2^-1074, tiny and
  // inexact, so UF (tininess after rounding: unbounded rounding is still 2^-1075 < 2^-1022).
  assert.deepEqual(op(D, 2, 0x0000000000000001n, 0x3fe0000000000000n), [0x0000000000000001n, UF | NX]);
  assert.deepEqual(op(S, 3, 0x80000001n, 0x40000000n), [0x80000001n, UF | NX]);
  // The largest finite plus half its ulp overflows: RMM, like RNE, gives infinity.
  assert.deepEqual(op(D, 0, 0x7fefffffffffffffn, 0x7c90000000000000n), [0x7ff0000000000000n, OF | NX]);
  // FCVT.W.D in RMM: 2.5 → 3, -2.5 → -3 (ties away), 2.4 → 2.
  const cvt = (x: bigint): bigint => {
    h.setF(1, x, false);
    run(h, opFp(0x18, 1, 0, 1, RMM, 5));
    return BigInt.asIntN(64, h.getX(5));
  };
  assert.equal(cvt(0x4004000000000000n), 3n);
  assert.equal(cvt(0xc004000000000000n), -3n);
  assert.equal(cvt(0x4003333333333333n), 2n);
  // FCVT.S.L in RMM: 2^24 + 1 is a tie between 2^24 and 2^24 + 2: away gives 2^24 + 2.
  h.setX(5, (1n << 24n) + 1n);
  h.fflags = 0;
  run(h, opFp(0x1a, 0, 2, 5, RMM, 4));
  assert.deepEqual([h.getF(4) & 0xffffffffn, h.fflags], [0x4b800001n, NX]);
});
