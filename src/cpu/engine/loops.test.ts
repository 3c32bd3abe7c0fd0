/**
 * The loop rule (exec.ts CodeCache.loopMarked, loops.ts): a tight loop of a page's blocks is
 * compiled at once when one of them reaches the loop mark, and runs exactly as the interpreter
 * runs it; a loop whose passes are far apart (a function called now and then) waits for `hot`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Machine } from "../../machine/machine.js";
import { GuestRam, RAM_BASE } from "../../machine/memory.js";
import type { Hart } from "../hart/hart.js";
import { B, I, J, R } from "../isa/encode.testkit.js";
import { CodeCache, runHart, type Block } from "./exec.js";

/** A machine of 1 MiB with `code` written at each RAM offset given, the hart at `start`. */
function machine(code: [number, number[]][], start: number): { m: Machine; h: Hart } {
  const m = new Machine(new GuestRam(1 << 20), 1, () => {});
  const h = m.harts[0]!;
  for (const [at, words] of code) words.forEach((w, i) => m.ram.view.setInt32(at + 4 * i, w, true));
  h.pc = RAM_BASE + start;
  h.openPmp(); // what firmware leaves: S and U may access everything (privileged spec 3.7.1)
  return { m, h };
}

/** The block at RAM offset `off` of `cache` (it must have been built). */
function at(cache: CodeCache, off: number): Block {
  const b = cache.cached(off);
  assert.ok(b !== undefined, `a block at ${off.toString(16)}`);
  return b;
}

const PASSES = 2000; // an ADDI immediate (at most 2047)
const LOOP = 0x3000;
/**
 * A loop of three blocks with a diamond in it, PASSES passes, then `j .` (byte offsets from LOOP):
 *  0: addi x11, x0, PASSES
 *  4: loop: andi x12, x10, 1
 *  8:   beq x12, x0, even        (block 4 ends at the jal: 4 instructions on the odd path)
 * 12:   addi x10, x10, 5
 * 16:   jal x0, join
 * 20: even: addi x10, x10, 3     (block 20: through the bne and the j .)
 * 24: join: slli x13, x10, 1     (block 24)
 * 28:   xor x14, x14, x13
 * 32:   addi x11, x11, -1
 * 36:   bne x11, x0, loop
 * 40:   j .
 */
const diamond = [
  I(PASSES, 0, 0, 11, 0x13),
  I(1, 10, 7, 12, 0x13),
  B(12, 0, 12, 0),
  I(5, 10, 0, 10, 0x13),
  J(8, 0),
  I(3, 10, 0, 10, 0x13),
  I(1, 10, 1, 13, 0x13),
  R(0, 13, 14, 4, 14, 0x33),
  I(-1, 11, 0, 11, 0x13),
  B(-32, 0, 11, 1),
  J(0, 0),
];

/** Run the diamond loop on a cache with loop mark `mark`, one block at a time to its end. */
function runDiamond(mark: number, each: (cache: CodeCache) => void) {
  const { m, h } = machine([[LOOP, diamond]], LOOP);
  const cache = new CodeCache(m.ram, () => m.harts, undefined, mark);
  while (h.pc !== RAM_BASE + LOOP + 40) {
    runHart(h, cache, 1);
    each(cache);
  }
  return { cache, state: { x: Array.from(h.x.subarray(0, 64)), pc: h.pc, instret: h.instret } };
}

test("a tight loop of three blocks compiles as one region at its loop mark, and runs as the interpreter runs it", () => {
  const mark = 500;
  let compiledAt = -1;
  const { cache, state } = runDiamond(mark, (c) => {
    const head = c.cached(LOOP + 4);
    if (compiledAt < 0 && head !== undefined && head.wx >= 0) compiledAt = head.hits;
  });
  assert.equal(compiledAt, mark, "compiled at once (no wait for a batch or the event loop) by its mark-th run");
  const [head, even, join] = [at(cache, LOOP + 4), at(cache, LOOP + 20), at(cache, LOOP + 24)];
  assert.ok(even.wx >= 0 && join.wx >= 0, "the loop's other blocks with it");
  assert.ok(cache.wasm!.sameFunction(head.wx, even.wx) && cache.wasm!.sameFunction(head.wx, join.wx), "one region");
  assert.ok(cache.wasm!.retired > state.instret / 2, "the passes after the mark ran compiled");
  // The reference: no loop rule, and PASSES runs stay below `hot`, so every pass is interpreted.
  const ref = runDiamond(0, () => {});
  assert.equal(at(ref.cache, LOOP + 4).wx, -1);
  assert.equal(ref.cache.wasm!.retired, 0);
  assert.deepEqual(state, ref.state);
  // And what the program computes.
  let x10 = 0;
  let x14 = 0;
  for (let i = 0; i < PASSES; i++) {
    x10 += (x10 & 1) === 0 ? 3 : 5;
    x14 ^= x10 << 1;
  }
  assert.equal(state.x[20], x10);
  assert.equal(state.x[28], x14);
  assert.equal(state.x[22], 0);
});

test("a loop whose passes are far apart (one pass a call, from another page) waits for the hot mark", () => {
  // Page 0x3000: 600 calls of X, each after 40 other instructions.
  //  0: addi x11, x0, 600; 4: loop: 40 x addi x10, x10, 1; 164: addi x12, x0, 1; 168: jal x1, X;
  // 172: addi x11, x11, -1; 176: bne x11, x0, loop; 180: j .
  // Page 0x4000, X: addi x12, x12, -1; bne x12, x0, X; jalr x0, 0(x1)   (a loop of one pass here)
  const caller = [
    I(600, 0, 0, 11, 0x13),
    ...Array.from({ length: 40 }, () => I(1, 10, 0, 10, 0x13)),
    I(1, 0, 0, 12, 0x13),
    J(0x4000 - 0x30a8, 1),
    I(-1, 11, 0, 11, 0x13),
    B(-0xac, 0, 11, 1),
    J(0, 0),
  ];
  const x = [I(-1, 12, 0, 12, 0x13), B(-4, 0, 12, 1), I(0, 1, 0, 0, 0x67)];
  const { m, h } = machine(
    [
      [0x3000, caller],
      [0x4000, x],
    ],
    0x3000,
  );
  const cache = new CodeCache(m.ram, () => m.harts, undefined, 100);
  while (h.pc !== RAM_BASE + 0x30b4) runHart(h, cache, 1); // a block at a time: the `j .` never runs
  const fn = at(cache, 0x4000);
  assert.equal(fn.hits, 600, "X ran 600 times, past its loop mark");
  assert.equal(fn.wx, -1, "not compiled: its passes were not back to back");
  assert.equal(cache.wasm!.retired, 0);
  assert.equal(h.x[20], 600 * 40);
  // The same X looping 600 times in one call is tight: compiled at the mark.
  const tight = machine(
    [
      [0x3000, [I(600, 0, 0, 12, 0x13), J(0x1000 - 4, 1), J(0, 0)]],
      [0x4000, x],
    ],
    0x3000,
  );
  const c2 = new CodeCache(tight.m.ram, () => tight.m.harts, undefined, 100);
  while (tight.h.pc !== RAM_BASE + 0x3008) runHart(tight.h, c2, 1);
  assert.ok(at(c2, 0x4000).wx >= 0);
  assert.equal(at(c2, 0x4000).hits, 100, "interpreted up to the mark, then compiled");
  assert.equal(tight.h.x[24], 0);
});

/**
 * A page whose inner loop reaches its mark while the outer loop's block has run 50 times (byte
 * offsets from LOOP):
 *  0: addi x11, x0, 200
 *  4: outer: addi x10, x10, 7    (block 4: the neighbour, rewritten below)
 *  8:   addi x12, x0, 10
 * 12:   jal x0, inner
 * 16: inner: addi x13, x13, 1    (block 16: the loop, through the bne's and the j .)
 * 20:   addi x12, x12, -1
 * 24:   bne x12, x0, inner
 * 28:   addi x11, x11, -1
 * 32:   bne x11, x0, outer
 * 36:   j .
 */
const nested = [
  I(200, 0, 0, 11, 0x13),
  I(7, 10, 0, 10, 0x13),
  I(10, 0, 0, 12, 0x13),
  J(4, 0),
  I(1, 13, 0, 13, 0x13),
  I(-1, 12, 0, 12, 0x13),
  B(-8, 0, 12, 1),
  I(-1, 11, 0, 11, 0x13),
  B(-28, 0, 11, 1),
  J(0, 0),
];
const ADD9 = I(9, 10, 0, 10, 0x13);

/**
 * Run `nested` a block at a time with neighbours' warm mark `warm`; once block 4 is compiled and
 * the hart is between blocks, rewrite its first instruction as the CPU's store does (RAM, then
 * CodeCache.codeWritten). Returns what the run saw and the outer block's runs left at the rewrite.
 */
function runNested(warm: number) {
  const { m, h } = machine([[LOOP, nested]], LOOP);
  const cache = new CodeCache(m.ram, () => m.harts, undefined, 500, warm);
  let outerAtMark = -2;
  let leftAtWrite = -1;
  while (h.pc !== RAM_BASE + LOOP + 36) {
    runHart(h, cache, 1);
    const head = cache.cached(LOOP + 16);
    if (outerAtMark === -2 && head !== undefined && head.wx >= 0) outerAtMark = at(cache, LOOP + 4).wx;
    if (leftAtWrite < 0 && (cache.cached(LOOP + 4)?.wx ?? -1) >= 0) {
      leftAtWrite = 200 - Number(h.x[20]) / 7; // the passes whose addi at 4 is still to run
      m.ram.view.setInt32(LOOP + 4, ADD9, true);
      cache.codeWritten(LOOP >>> 12, 4, 4);
    }
  }
  return { cache, h, outerAtMark, leftAtWrite };
}

test("a loop compiled at its mark brings its page's warm blocks with it, and a neighbour rewritten after runs the new code", () => {
  const on = runNested(32);
  assert.ok(on.outerAtMark >= 0, "the outer block (50 runs, past the warm mark 32) compiled with the inner loop");
  assert.ok(on.leftAtWrite > 0 && on.leftAtWrite < 200, "rewritten mid-run, while compiled");
  // Each pass adds 7 before the rewrite and 9 after: the new code ran, not the compiled old one.
  assert.equal(Number(on.h.x[20]), 7 * (200 - on.leftAtWrite) + 9 * on.leftAtWrite);
  assert.equal(Number(on.h.x[26]), 200 * 10);
  // With the rule off the outer block waits (it never reaches `hot`), and the same program computes the same.
  const off = runNested(0);
  assert.equal(off.outerAtMark, -1, "not compiled with the loop");
  assert.equal(off.leftAtWrite, -1);
  assert.equal(Number(off.h.x[20]), 7 * 200);
  // A block cold at the mark stays out: the warm mark above the outer block's 50 runs.
  assert.equal(runNested(64).outerAtMark, -1);
});
