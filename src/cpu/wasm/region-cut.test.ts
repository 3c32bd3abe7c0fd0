// emit.ts emitBody's cut (cutAt): a region member whose block runs on, past a not-taken branch,
// into the code of another member (a loop's head block into the loop's body) goes on in that
// member instead of holding a copy of its code. That the region then runs as the interpreter does
// (the same registers, instret and stop points) is src/cpu/engine/tiers.test.ts's random regions;
// here, that the copy is gone: the region's function is about the head's own block function in
// size, where a copy made it the head's and the loop's together.
import assert from "node:assert/strict";
import { test } from "node:test";
import { B, I, J, R } from "../isa/encode.testkit.js";
import { Machine } from "../../machine/machine.js";
import { GuestRam, RAM_BASE } from "../../machine/memory.js";
import { blockBody, regionBody, type Emittable } from "./emit.js";

const FADD_D = (rd: number, rs1: number, rs2: number): number => R(0x01, rs2, rs1, 7, rd, 0x53);

test("a head block that runs on into a loop member of its region does not hold a copy of the loop", () => {
  // H: addi a0, a0, 8; addi a3, a3, 1         (then on into L: one block from H to the jal)
  // L: fadd.d x4 (f1..f5); bne a0, a2, L; jal x0, H
  const H = 0x1000;
  const L = 0x1008;
  const m = new Machine(new GuestRam(1 << 20), 1, () => {});
  const h = m.harts[0]!;
  const put = (at: number, words: number[]): void => words.forEach((w, i) => m.ram.view.setInt32(at + 4 * i, w, true));
  put(H, [I(8, 10, 0, 10, 0x13), I(1, 13, 0, 13, 0x13)]);
  put(L, [FADD_D(1, 2, 3), FADD_D(4, 1, 2), FADD_D(5, 4, 1), FADD_D(2, 5, 4), B(-16, 12, 10, 1), J(H - (L + 20), 0)]);
  m.cache.invalidateAll();
  h.openPmp();
  const block = (pc: number): Emittable => {
    h.pc = RAM_BASE + pc;
    return m.cache.lookup(h);
  };
  const head = block(H);
  const loop = block(L);
  assert.equal(head.n, 8, "H's block runs on through L to the jal");
  assert.equal(loop.n, 6);
  const region = regionBody([head, loop], [0, 1]);
  assert.ok(region, "H and L make a region");
  const size = (c: { bytes: { length: number } }): number => c.bytes.length;
  const alone = { head: size(blockBody(head, 0).code), loop: size(blockBody(loop, 1).code) };
  // With the copy the region held both blocks' code (about head + loop); without it, H's two
  // addi and L's code once, about the head's block alone.
  assert.ok(
    size(region.code) < alone.head + alone.loop / 2,
    `region ${size(region.code)} bytes, H alone ${alone.head}, L alone ${alone.loop}`,
  );
});
