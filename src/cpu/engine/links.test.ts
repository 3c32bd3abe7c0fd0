// Block links (exec.ts runHart, Block.lx) against every way the code behind one virtual pc can
// change: a bare-metal program calls the same virtual address from the same block five times,
// and between the calls changes what that address runs: a privilege change (M, untranslated, to
// S under Sv39), a rewritten PTE with SFENCE.VMA, a store into the called code with FENCE.I, and a
// satp write to another ASID. A link followed without its check would run the code the call ran
// before; the callee's result, gathered in x12, says which code ran each time.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Machine } from "../../machine/machine.js";
import { GuestRam, RAM_BASE } from "../../machine/memory.js";
import { compileBlock } from "./jit.js";
import { runHart } from "./exec.js";
import { I, J, R, S } from "../isa/encode.testkit.js";

const CALL = 0x1000; // the calling block, then what it returns to
const STEP = [0x1100, 0x1200, 0x1300, 0x1400, 0x1500]; // what runs between calls, one page
const HANDLER = 0x1600;
const V = 0x100000; // the called virtual address (RAM_BASE + V); untranslated, RAM offset V
const P = [0x100000, 0x101000, 0x102000, 0x103000]; // the callees' RAM pages
const ROOT1 = 0x10000; // Sv39 tables: ASID 1's root, level 1 and level 0, then ASID 2's
const ROOT2 = 0x13000;
const OK = 0xcf; // PTE: V R W X A D (privileged spec 4.4.1)

const auipc = (rd: number): number => (rd << 7) | 0x17;
const csrw = (csr: number, rs: number, f3 = 1): number => I(csr, rs, f3, 0, 0x73);
const MRET = 0x30200073;
const SFENCE_VMA = 0x12000073;
const FENCE_I = 0x0000100f;
const EBREAK = 0x00100073;
const WFI = 0x10500073;
const li = (k: number): number => I(k, 0, 0, 10, 0x13); // addi x10, x0, k

/** x14 = the next step (auipc, addi), placed at `at`. */
const nextStep = (at: number, to: number): number[] => [auipc(14), I(to - at, 14, 0, 14, 0x13)];

function machine(): Machine {
  const m = new Machine(new GuestRam(2 << 20), 1, () => {});
  const h = m.harts[0]!;
  const v = m.ram.view;
  const put = (off: number, words: number[]): void => words.forEach((w, k) => v.setInt32(off + 4 * k, w, true));
  const pte = (ramOff: number, flags: number): number => ((RAM_BASE + ramOff) / 4096) * 1024 + flags;
  for (const [root, callee] of [
    [ROOT1, P[1]!],
    [ROOT2, P[3]!],
  ] as const) {
    v.setUint32(root + 2 * 8, pte(root + 0x1000, 1), true); // VPN[2] = 2: RAM_BASE's gigabyte
    v.setUint32(root + 0x1000, pte(root + 0x2000, 1), true);
    for (let i = 0; i < 256; i++) v.setUint32(root + 0x2000 + 8 * i, pte(i * 4096, OK), true); // identity
    v.setUint32(root + 0x2000 + 8 * 256, pte(callee, OK), true); // V
  }
  // The calling block and its return: x12 = x12 << 4 | x10, then to the step x14 names.
  put(CALL, [I(0, 9, 0, 1, 0x67), I(4, 12, 1, 12, 0x13), R(0, 10, 12, 0, 12, 0x33), I(0, 14, 0, 0, 0x67)]);
  // 1: into S under ASID 1's tables (satp, mepc, mstatus.MPP = S), back at the call.
  put(STEP[0]!, [
    csrw(0x180, 15),
    csrw(0x341, 16),
    csrw(0x300, 18, 3),
    csrw(0x300, 17, 2),
    ...nextStep(STEP[0]! + 16, STEP[1]!),
    MRET,
  ]);
  // 2: V's PTE to P[2], SFENCE.VMA.
  put(STEP[1]!, [S(0, 19, 20, 3), SFENCE_VMA, ...nextStep(STEP[1]! + 8, STEP[2]!), J(CALL - (STEP[1]! + 16), 0)]);
  // 3: a store into the called code (through V), FENCE.I.
  put(STEP[2]!, [S(0, 21, 9, 2), FENCE_I, ...nextStep(STEP[2]! + 8, STEP[3]!), J(CALL - (STEP[2]! + 16), 0)]);
  // 4: satp to ASID 2's tables, no fence (a fresh ASID).
  put(STEP[3]!, [csrw(0x180, 23), ...nextStep(STEP[3]! + 4, STEP[4]!), J(CALL - (STEP[3]! + 12), 0)]);
  put(STEP[4]!, [EBREAK]);
  put(HANDLER, [WFI, J(-4, 0)]);
  P.forEach((p, k) => put(p, [li([1, 2, 3, 5][k]!), I(0, 1, 0, 0, 0x67)]));
  m.cache.invalidateAll(); // the code was written behind the CPU's back
  h.openPmp();
  const reg = (r: number, lo: number, hi = 0): void => {
    h.x[2 * r] = lo | 0;
    h.x[2 * r + 1] = hi | 0;
  };
  const satp = (asid: number, root: number): [number, number] => [(RAM_BASE + root) / 4096, (8 << 28) | (asid << 12)];
  reg(9, RAM_BASE + V);
  reg(14, RAM_BASE + STEP[0]!);
  reg(15, ...satp(1, ROOT1));
  reg(16, RAM_BASE + CALL);
  reg(17, 1 << 11);
  reg(18, 3 << 11);
  reg(19, pte(P[2]!, OK));
  reg(20, RAM_BASE + ROOT1 + 0x2000 + 8 * 256);
  reg(21, li(4));
  reg(23, ...satp(2, ROOT2));
  h.mtvec = RAM_BASE + HANDLER;
  h.pc = RAM_BASE + CALL;
  return m;
}

test("a block's links never outlive a privilege change, SFENCE.VMA, a code store with FENCE.I or an ASID switch, in every tier", () => {
  for (const tier of ["interpreter", "js", "wasm"] as const) {
    const m = machine();
    const h = m.harts[0]!;
    // The calling block, its return and the first callee compiled up front in the compiling tiers.
    for (const at of [CALL, CALL + 4, V]) {
      h.pc = RAM_BASE + at;
      const b = m.cache.lookup(h);
      if (tier === "js") b.run = compileBlock(b);
      else if (tier === "wasm") m.cache.wasm!.compileNow(b);
    }
    h.pc = RAM_BASE + CALL;
    runHart(h, m.cache, 1000);
    assert.equal(h.sleeping, true, `${tier}: reached the handler`);
    assert.equal(h.mcause, 3, `${tier}: the final EBREAK`);
    // 1 untranslated, 2 through ASID 1's first PTE, 3 after its rewrite, 4 after the store, 5 in ASID 2.
    assert.equal(h.x[24], 0x12345, `${tier}: x12 = ${h.x[24]!.toString(16)}`);
    const call = m.cache.cached(CALL)!;
    if (tier !== "wasm") {
      // The last call went through the checked link's path: it now names the last callee.
      assert.equal(call.lx, m.cache.cached(P[3]!), `${tier}: the link was taken and moved on`);
    }
  }
});
