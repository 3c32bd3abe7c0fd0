// The F and D extensions in every tier (the interpreter, the JavaScript JIT, the wasm tier, whose
// emit-fp.ts inlines the common double-precision forms): random loops of FP instructions (fixed
// seeds) over operands chosen to reach every path of the inline forms and of the closures they
// fall back to: NaN payloads (quiet and signaling, NaN-boxed singles and bad boxes), subnormals,
// +-0, infinities, results at the edges of the normal range (2^-1022 itself, which may be tiny
// before rounding), overflow; every rounding mode (static, and DYN with every frm, the invalid
// ones included); fflags clear, NX alone or all set; mstatus.FS Off, Initial, Clean or Dirty; FP
// loads and stores through page caches that walk across pages and fault; CSR writes of fflags and
// frm mid-loop (closures: the inline forms must re-check what they cached). Every tier must end
// with the same x and f registers, fflags, frm, mstatus, pc, trap and memory.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Machine } from "../../machine/machine.js";
import { GuestRam, RAM_BASE } from "../../machine/memory.js";
import { MS_FS } from "../isa/defs.js";
import { encS } from "../isa/encode.js";
import { B, I, J, R } from "../isa/encode.testkit.js";
import { rng } from "../testing/rng.js";
import { compileBlock } from "./jit.js";
import { runHart, type Block } from "./exec.js";

const TIERS = ["interpreter", "js", "wasm"] as const;
const DATA = 0x10000;
const CODE_END = 0x2000;
const RAM_SIZE = 1 << 20;
/** x registers: destinations (never the bases x5..x7 nor the loop counter x11), and bases. */
const XDESTS = [0, 1, 2, 3, 4, 8, 9, 10];
const BASES = [5, 6, 7];
/** f registers the random code uses: few, so that results feed later operands. */
const FREGS = [0, 1, 2, 3, 4, 5, 6, 7];

/** Doubles (as their bits) that reach every arm of the inline forms and their closures. */
const D_BITS: bigint[] = [
  0n,
  1n << 63n, // -0
  0x3ff0000000000000n, // 1
  0xbff0000000000000n, // -1
  0x3ff8000000000000n, // 1.5
  0x3fb999999999999an, // 0.1
  0x3fd5555555555555n, // 1/3
  0x4008000000000000n, // 3
  0x0010000000000000n, // 2^-1022, the least normal
  0x000fffffffffffffn, // the greatest subnormal
  0x0000000000000001n, // the least subnormal
  0x8000000000000003n, // a negative subnormal
  0x2000000000000000n, // 2^-511: its square is 2^-1022
  0x1ff0000000000000n, // 2^-512
  0x1ff0000000000001n, // just above 2^-512: products round to 2^-1022 or below
  0x3cb0000000000000n, // 2^-52
  0x3fefffffffffffffn, // 1 - 2^-53: times 2^-1022, rounds up to 2^-1022 yet is tiny (UF)
  0x7fefffffffffffffn, // the greatest finite
  0xffefffffffffffffn,
  0x5fe0000000000000n, // 2^511
  0x7e70000000000000n, // 2^1000, fast.ts's window
  0x5df0000000000000n, // 2^480
  0x21f0000000000000n, // 2^-480
  0x7ff0000000000000n, // +inf
  0xfff0000000000000n, // -inf
  0x7ff8000000000000n, // the canonical NaN
  0x7ff8000000000123n, // a quiet NaN with a payload
  0xfff8000000000456n, // a negative quiet NaN
  0x7ff0000000000001n, // a signaling NaN
  0xfff4000000000000n, // a negative signaling NaN
  0xffffffff3f800000n, // 1.0f NaN-boxed (a NaN as a double)
  0xffffffff7fc00000n, // a single's canonical NaN, boxed
  0x000000003f800000n, // 1.0f not boxed (a double subnormal; a single's canonical NaN)
];

function randomF(r: () => number): bigint {
  switch (r() % 4) {
    case 0: // random bits
      return (BigInt(r() >>> 0) << 32n) | BigInt(r() >>> 0);
    case 1: {
      // an ordinary double of random magnitude
      const v = new Float64Array([((r() % 2000) - 1000) / (1 + (r() % 97))]);
      return new BigUint64Array(v.buffer)[0]!;
    }
    default:
      return D_BITS[r() % D_BITS.length]!;
  }
}

/**
 * One random F/D instruction (or a CSR access to fcsr, or an integer op); `moves`: only FP loads,
 * stores, compares and FMV.X.D (none of which dirties FS but the loads).
 */
function randomFp(r: () => number, moves: boolean): number {
  const pick = <T>(xs: readonly T[]): T => xs[r() % xs.length]!;
  const f = (): number => pick(FREGS);
  // Static rounding modes now and then (the wasm tier inlines only RNE and DYN), DYN mostly.
  const rm = (): number => (r() % 50 === 0 ? 5 : pick([7, 7, 7, 7, 7, 7, 0, 0, 1, 2, 3, 4]));
  const fmt = (): number => (r() % 5 === 0 ? 0 : 1); // S now and then (closures), else D
  const off = (): number => pick([0, 8, -8, 16, 4088, 4092, 3, ((r() & 0xfff) << 20) >> 20]);
  const kinds: (() => number)[] = [
    () => R((pick([0, 1, 2, 3]) << 2) | fmt(), f(), f(), rm(), f(), 0x53), // FADD FSUB FMUL FDIV
    () => R((pick([0, 1, 2, 3]) << 2) | 1, f(), f(), rm(), f(), 0x53),
    () => R((0x0b << 2) | fmt(), 0, f(), rm(), f(), 0x53), // FSQRT
    // FMADD FMSUB FNMSUB FNMADD
    () =>
      (f() << 27) |
      (fmt() << 25) |
      (f() << 20) |
      (f() << 15) |
      (rm() << 12) |
      (f() << 7) |
      pick([0x43, 0x47, 0x4b, 0x4f]),
    () =>
      (f() << 27) | (1 << 25) | (f() << 20) | (f() << 15) | (rm() << 12) | (f() << 7) | pick([0x43, 0x47, 0x4b, 0x4f]),
    () => R((4 << 2) | fmt(), f(), f(), r() % 4, f(), 0x53), // FSGNJ FSGNJN FSGNJX (rm 3: illegal)
    () => R((5 << 2) | fmt(), f(), f(), r() % 2, f(), 0x53), // FMIN FMAX
    () => R((0x14 << 2) | fmt(), f(), f(), r() % 3, pick(XDESTS), 0x53), // FLE FLT FEQ
    () => R(0x71, 0, f(), r() % 2, pick(XDESTS), 0x53), // FMV.X.D FCLASS.D
    () => R(0x79, 0, pick([1, 2, 3, 4, 8, 9, 10]), 0, f(), 0x53), // FMV.D.X
    () => R(0x69, pick([0, 1, 2, 3]), pick([1, 2, 3, 4, 8, 9, 10]), rm(), f(), 0x53), // FCVT.D.[W|WU|L|LU]
    () => R(0x61, pick([0, 1, 2, 3]), f(), rm(), pick(XDESTS), 0x53), // FCVT.[W|WU|L|LU].D
    () => R(0x20, 1, f(), rm(), f(), 0x53), // FCVT.S.D
    () => R(0x21, 0, f(), rm(), f(), 0x53), // FCVT.D.S
    () => I(off(), pick(BASES), pick([2, 3]), f(), 0x07), // FLW FLD
    () => I(off(), pick(BASES), 3, f(), 0x07),
    () => encS(0x27, pick([2, 3]), pick(BASES), f(), off()), // FSW FSD
    () => encS(0x27, 3, pick(BASES), f(), off()),
    () => I(r() % 2048, pick([1, 2, 3]), 0, pick(XDESTS), 0x13), // ADDI
    () => I(off(), pick(BASES), 3, pick(XDESTS), 0x03), // LD (fills the TLB: see below)
  ];
  if (moves)
    return pick([
      () => I(off(), pick(BASES), pick([2, 3]), f(), 0x07),
      () => encS(0x27, pick([2, 3]), pick(BASES), f(), off()),
      () => R((0x14 << 2) | 1, f(), f(), r() % 3, pick(XDESTS), 0x53),
      () => R(0x71, 0, f(), 0, pick(XDESTS), 0x53),
      // LD: an integer load fills the TLB in its slow path (a closure does not), so that later FP
      // accesses to the page take their inline path even in the first pass.
      () => I(off(), pick(BASES), 3, pick(XDESTS), 0x03),
    ])();
  // fcsr now and then: clear or set fflags, set frm (a closure in the middle of the loop).
  if (r() % 40 === 0)
    return pick([
      I(0x001, 0, 1, 0, 0x73), // csrrw x0, fflags, x0: clear the flags
      I(0x001, 1, 6, pick(XDESTS), 0x73), // csrrsi rd, fflags, NX
      I(0x002, r() % 6, 5, pick(XDESTS), 0x73), // csrrwi rd, frm, imm (5: invalid for DYN)
      I(0x003, 0, 2, pick(XDESTS), 0x73), // csrrs rd, fcsr, x0: read
    ]);
  return pick(kinds)();
}

const bytes = (ws: number[]): number => ws.reduce((s, w) => s + ((w & 3) !== 3 ? 2 : 4), 0);

interface Start {
  prog: number[];
  x: Int32Array;
  f: bigint[];
  fflags: number;
  frm: number;
  fs: number;
  seed: number;
  mtvec: number;
}

function place(m: Machine, s: Start): { start: number; block: Block } {
  const h = m.harts[0]!;
  const mem = m.ram.u8;
  const fill = rng(s.seed);
  for (let i = DATA - 0x1000; i < DATA + 0x9000; i++) mem[i] = fill() & 0xff;
  mem.fill(0, RAM_SIZE - 0x1000);
  let p = CODE_END - bytes(s.prog);
  const start = RAM_BASE + p;
  for (const w of s.prog) {
    const n = (w & 3) !== 3 ? 2 : 4;
    for (let k = 0; k < n; k++) mem[p + k] = (w >>> (8 * k)) & 0xff;
    p += n;
  }
  m.cache.invalidateAll();
  h.x.set(s.x);
  for (let r = 0; r < 32; r++) {
    h.f[2 * r] = Number(s.f[r]! & 0xffffffffn) | 0;
    h.f[2 * r + 1] = Number(s.f[r]! >> 32n) | 0;
  }
  h.fflags = s.fflags;
  h.frm = s.frm;
  h.mstatus = (h.mstatus & ~MS_FS) | (s.fs << 13);
  h.openPmp();
  h.instret = 0;
  h.mcause = 0;
  h.mepc = 0;
  h.pc = start;
  h.mtvec = start + s.mtvec;
  return { start, block: m.cache.lookup(h) };
}

function runIn(m: Machine, tier: (typeof TIERS)[number], s: Start) {
  const h = m.harts[0]!;
  const { start, block } = place(m, s);
  if (tier === "js") block.run = compileBlock(block);
  else if (tier === "wasm") m.cache.wasm!.compileNow(block);
  h.pc = start;
  const ret = runHart(h, m.cache, 3000);
  return {
    x: Array.from(h.x.subarray(0, 64)),
    f: Array.from(h.f),
    fflags: h.fflags,
    frm: h.frm,
    fs: (h.mstatus & MS_FS) >>> 13,
    pc: h.pc - start,
    mepc: h.mepc - start,
    mcause: h.mcause,
    ret,
    instret: h.instret,
    data: Buffer.from(m.ram.u8.subarray(DATA - 0x1000, DATA + 0x9000)).toString("base64"),
    end: Buffer.from(m.ram.u8.subarray(RAM_SIZE - 0x1000)).toString("base64"),
  };
}

/**
 * `loops` random loops from seed `seed`, each run on every tier, which must agree; `more` adds ops
 * to each body. Counts of how they ended, for the callers' checks that the loops reached their paths.
 */
function randomLoops(
  seed: number,
  loops: number,
  more: (r: () => number) => number[] = () => [],
): { finished: number; late: number; flagsSeen: Set<number> } {
  // loop: <random FP body>; addi x11, x11, -1; addi x6, x6, STRIDE; bne x11, x0, loop; j next;
  // next: ebreak; handler: j . (mtvec). x6 walks (now and then off the end of RAM: a fault in a
  // later pass); x7 is now and then unmapped.
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[r() % xs.length]!;
  const machines = TIERS.map(() => new Machine(new GuestRam(RAM_SIZE), 1, () => {}));
  let finished = 0;
  let late = 0;
  const flagsSeen = new Set<number>();
  for (let n = 0; n < loops; n++) {
    const moves = r() % 6 === 0;
    const body = Array.from({ length: 1 + (r() % 12) }, () => randomFp(r, moves));
    body.push(...more(r));
    // Now and then fflags cleared or frm set in the middle of the body: the ops after it, in this
    // pass and the next, must not trust what the ops before it found (emit-fp.ts FAST).
    if (r() % 6 === 0)
      body.splice(1 + (r() % body.length), 0, pick([I(0x001, 0, 1, 0, 0x73), I(0x002, 1 + (r() % 4), 5, 0, 0x73)]));
    const rounds = 1 + (r() % 30);
    const size = bytes(body);
    const tail = [
      I(-1, 11, 0, 11, 0x13),
      I(pick([8, 64, 512, 64]), 6, 0, 6, 0x13),
      B(-(size + 8), 0, 11, 1),
      J(4, 0),
      0x00100073,
      J(0, 0),
    ];
    const x = new Int32Array(66);
    const edge = [0, 1, -1, 3, 0x7fffffff, -0x80000000, 0x3ff00000];
    for (let k = 2; k < 64; k++) x[k] = r() & 1 ? r() | 0 : edge[r() % edge.length]!;
    for (const base of BASES) {
      const a =
        base === 7 && r() % 8 === 0
          ? 0x1000
          : base === 6 && r() % 2 === 0
            ? RAM_BASE + RAM_SIZE - 64 * (1 + (r() % 30))
            : RAM_BASE + DATA + (r() % 0x7000);
      x[2 * base] = a | 0;
      x[2 * base + 1] = Math.floor(a / 2 ** 32);
    }
    x[22] = rounds; // x11
    x[23] = 0;
    const s: Start = {
      prog: [...body, ...tail],
      x,
      f: Array.from({ length: 32 }, () => randomF(r)),
      fflags: pick([0, 0, 1, 1, 1, 0x1f, 0x10, r() & 0x1f]),
      frm: r() % 40 === 0 ? pick([5, 7]) : pick([0, 0, 0, 0, 0, 1, 2, 3, 4]),
      fs: r() % 40 === 0 ? 0 : pick([3, 3, 2, 1]),
      seed: r(),
      mtvec: size + 20,
    };
    const results = TIERS.map((tier, i) => runIn(machines[i]!, tier, s));
    const where = `${s.prog.map((w) => (w >>> 0).toString(16)).join(" ")}, ${rounds} rounds, frm ${s.frm}, fflags ${s.fflags}, FS ${s.fs}, f ${s.f.slice(0, 8).map((v) => v.toString(16))}`;
    assert.deepEqual(results[1], results[0], `js: ${where}`);
    assert.deepEqual(results[2], results[0], `wasm: ${where}`);
    const want = results[0]!;
    if (want.mcause === 3 && want.x[22] === 0) finished++;
    if (want.mcause !== 3 && want.x[22]! < rounds) late++;
    flagsSeen.add(want.fflags);
  }
  return { finished, late, flagsSeen };
}

test("random loops of F and D instructions run alike in every tier (all rounding modes, NaN payloads, subnormals, fflags, FS)", () => {
  const { finished, late, flagsSeen } = randomLoops(20261207 + 1000, 500);
  assert.ok(finished > 150, `many loops should run all their rounds (${finished} did)`);
  assert.ok(late > 10, `some loops should trap in a later pass (${late} did)`);
  assert.ok(flagsSeen.size > 12, `the loops should end with many sets of flags (${flagsSeen.size})`);
});

test("random loops with more careful arms than a member keeps inline (emit-fp.ts CAREFUL_INLINE_MAX) run alike in every tier", () => {
  // Five D ops in RNE or DYN with a careful arm (FADD/FSUB/FMUL/FDIV/FSQRT.D, the fused forms) on
  // top of the random body: more than CAREFUL_INLINE_MAX, so the wasm tier calls their functions
  // (careful-fp.ts) where the first test's shorter bodies mostly keep them inline. fflags starts
  // clear in a quarter of the loops: FAST is 0 there and the careful functions decide NX.
  const careful = (r: () => number): number => {
    const f = (): number => FREGS[r() % FREGS.length]!;
    const rm = [0, 7][r() % 2]!;
    if (r() % 3 === 0)
      return (
        (f() << 27) |
        (1 << 25) |
        (f() << 20) |
        (f() << 15) |
        (rm << 12) |
        (f() << 7) |
        [0x43, 0x47, 0x4b, 0x4f][r() % 4]!
      );
    const f5 = [0, 1, 2, 3, 0x0b][r() % 5]!;
    return R((f5 << 2) | 1, f5 === 0x0b ? 0 : f(), f(), rm, f(), 0x53);
  };
  const { finished, flagsSeen } = randomLoops(20261207 + 2000, 250, (r) => Array.from({ length: 5 }, () => careful(r)));
  assert.ok(finished > 60, `many loops should run all their rounds (${finished} did)`);
  assert.ok(flagsSeen.size > 8, `the loops should end with many sets of flags (${flagsSeen.size})`);
});

test("the careful arms, inline and called, set NX exactly when a result is inexact (fflags clear: FAST is 0)", () => {
  // RNE D ops with fflags clear and FS Dirty, three passes: the wasm tier's FAST local is 0 in the
  // first pass, so its careful arms (careful-fp.ts) decide NX. Four exact ones keep their arms
  // inline (CAREFUL_INLINE_MAX); with a fifth, 1 / 3, the member calls their functions.
  const machines = TIERS.map(() => new Machine(new GuestRam(RAM_SIZE), 1, () => {}));
  const d = (f5: number, rd: number, rs1: number, rs2: number): number => R((f5 << 2) | 1, rs2, rs1, 0, rd, 0x53);
  const exact = [
    d(3, 5, 3, 4), // FDIV.D f5 = 6 / 3 = 2
    d(1, 6, 3, 4), // FSUB.D f6 = 6 - 3 = 3
    (0 << 27) | (1 << 25) | (4 << 20) | (3 << 15) | (7 << 7) | 0x43, // FMADD.D f7 = 6 * 3 + 1 = 19
    d(0x0b, 8, 9, 0), // FSQRT.D f8 = sqrt(16) = 4
  ];
  const third = d(3, 2, 0, 4); // FDIV.D f2 = 1 / 3, inexact
  const bits = (v: number): bigint => new BigUint64Array(new Float64Array([v]).buffer)[0]!;
  for (const [body, fflags, values] of [
    [exact, 0, { 5: 2, 6: 3, 7: 19, 8: 4 }],
    [[third], 1, { 2: 1 / 3 }],
    [[...exact, third], 1, { 2: 1 / 3, 5: 2, 6: 3, 7: 19, 8: 4 }],
  ] as const) {
    const size = bytes([...body]);
    const prog = [...body, I(-1, 11, 0, 11, 0x13), B(-(size + 4), 0, 11, 1), J(4, 0), 0x00100073, J(0, 0)];
    const x = new Int32Array(66);
    x[22] = 3; // x11: three passes
    const f = Array.from({ length: 32 }, () => 0n);
    [f[0], f[3], f[4], f[9]] = [bits(1), bits(6), bits(3), bits(16)];
    const s: Start = { prog, x, f, fflags: 0, frm: 0, fs: 3, seed: 1, mtvec: size + 16 };
    const results = TIERS.map((tier, i) => runIn(machines[i]!, tier, s));
    const want = results[0]!;
    assert.equal(want.fflags, fflags, `fflags, ${body.length} ops`);
    for (const [r, v] of Object.entries(values)) {
      const got = (BigInt(want.f[2 * Number(r) + 1]! >>> 0) << 32n) | BigInt(want.f[2 * Number(r)]! >>> 0);
      assert.equal(got, bits(v), `f${r}, ${body.length} ops`);
    }
    assert.deepEqual(results[1], want, `js, ${body.length} ops`);
    assert.deepEqual(results[2], want, `wasm, ${body.length} ops`);
  }
});

test("a product that rounds up to 2^-1022 raises UF on every tier, in the FAST state too (tininess after rounding)", () => {
  // f2 = f0 * f1 and f3 = f0 * f1 + f4 with f0 = 1 - 2^-53, f1 = 2^-1022, f4 = +0: the exact value
  // 2^-1022 - 2^-1075 is a tie between the greatest subnormal and 2^-1022 and goes to 2^-1022 (even),
  // but with an unbounded exponent it is representable and below 2^-1022: tiny, so UF | NX
  // (unprivileged spec, "Floating-Point Control and Status Register": tininess after rounding).
  // fflags NX, frm RNE and FS Dirty are the wasm tier's FAST state, whose arm tests the result alone
  // (emit-fp.ts isNormal); its high-word test must send this 2^-1022 to the closure.
  const machines = TIERS.map(() => new Machine(new GuestRam(RAM_SIZE), 1, () => {}));
  const body = [
    R((2 << 2) | 1, 1, 0, 7, 2, 0x53),
    (4 << 27) | (1 << 25) | (1 << 20) | (0 << 15) | (7 << 12) | (3 << 7) | 0x43,
  ];
  const size = bytes(body);
  const prog = [...body, I(-1, 11, 0, 11, 0x13), B(-(size + 4), 0, 11, 1), J(4, 0), 0x00100073, J(0, 0)];
  for (const fflags of [0, 1]) {
    const x = new Int32Array(66);
    x[22] = 3; // x11: three passes
    const f = Array.from({ length: 32 }, () => 0n);
    f[0] = 0x3fefffffffffffffn;
    f[1] = 0x0010000000000000n;
    const s: Start = { prog, x, f, fflags, frm: 0, fs: 3, seed: 1, mtvec: size + 16 };
    const results = TIERS.map((tier, i) => runIn(machines[i]!, tier, s));
    const want = results[0]!;
    assert.equal(want.fflags, 3, "UF | NX");
    assert.deepEqual([want.f[4], want.f[5], want.f[6], want.f[7]], [0, 0x00100000, 0, 0x00100000], "f2 = f3 = 2^-1022");
    assert.deepEqual(results[1], want, `js, fflags ${fflags}`);
    assert.deepEqual(results[2], want, `wasm, fflags ${fflags}`);
  }
});
