// ECALL's trap without a throw (isa/ops-sys.ts ecall, taken by runHart): a U-mode loop of system
// calls, delegated to an S-mode handler that steps sepc past the ECALL and returns, run by the
// interpreter and then, once its blocks are hot, by the wasm tier. The trap must be the
// privileged spec's (3.3.1, 4.1): scause 8, sepc the ECALL's address, SPP U, the ECALL not retired.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Machine } from "../../machine/machine.js";
import { GuestRam, RAM_BASE } from "../../machine/memory.js";
import { Exc, MS_SPP, PRIV_U } from "../isa/defs.js";
import { runHart } from "./exec.js";

const I = (f3: number, rd: number, rs: number, imm: number): number =>
  ((imm & 0xfff) << 20) | (rs << 15) | (f3 << 12) | (rd << 7) | 0x13;
const ADDI = (rd: number, rs: number, imm: number): number => I(0, rd, rs, imm);
const CSR = (csr: number, src: number, f3: number, rd: number): number =>
  (csr << 20) | (src << 15) | (f3 << 12) | (rd << 7) | 0x73;
/** JAL x0, off (J-type). */
const JMP = (off: number): number =>
  (((off >> 20) & 1) << 31) |
  (((off >> 1) & 0x3ff) << 21) |
  (((off >> 11) & 1) << 20) |
  (((off >> 12) & 0xff) << 12) |
  0x6f;
const ECALL = 0x00000073;
const SRET = 0x10200073;
const SEPC = 0x141;
const SCAUSE = 0x142;
const LOOP = 0x1000;
const HANDLER = 0x2000;

test("ECALL from U traps to S at its own address and does not retire, in the interpreter and in compiled code", async () => {
  const m = new Machine(new GuestRam(1 << 20), 1, () => {});
  const h = m.harts[0]!;
  const put = (off: number, ws: number[]): void => ws.forEach((w, i) => m.ram.view.setInt32(off + 4 * i, w, true));
  // U: x6 = 0; ecall; x5 += 1; back to the ecall. S: x7 = scause; x8 = sepc; sepc += 4; sret.
  put(LOOP, [ECALL, ADDI(5, 5, 1), JMP(-8)]);
  put(HANDLER, [CSR(SCAUSE, 0, 2, 7), CSR(SEPC, 0, 2, 8), ADDI(9, 8, 4), CSR(SEPC, 9, 1, 0), ADDI(10, 10, 1), SRET]);
  m.cache.invalidateAll();
  h.openPmp();
  h.medeleg = 1 << Exc.EcallU;
  h.stvec = RAM_BASE + HANDLER;
  h.setPriv(PRIV_U);
  h.pc = RAM_BASE + LOOP;
  let raised = 0;
  const raise = h.raise.bind(h);
  h.raise = (cause: number, tval: number): never => {
    raised++;
    return raise(cause, tval);
  };
  const wasm = m.cache.wasm;
  const retired0 = wasm?.retired ?? 0;
  // Stop each run inside the handler's loop at a varying point; the invariants hold at each.
  // Until the loop has also run compiled (its blocks are hot twice over: wasm/tier.ts), and on.
  let compiledAt = -1;
  for (let round = 0; round < 4000 && (compiledAt < 0 || round < compiledAt + 200); round++) {
    runHart(h, m.cache, 997 + (round % 13));
    if (compiledAt < 0 && wasm && wasm.retired > retired0) compiledAt = round;
    const iterations = h.x[2 * 5]!;
    const calls = h.x[2 * 10]!;
    assert.equal(h.x[2 * 7], Exc.EcallU, "scause");
    assert.equal(h.x[2 * 8], (RAM_BASE + LOOP) | 0, "sepc: the ECALL's own address");
    assert.ok(calls === iterations || calls === iterations + 1, `${calls} calls, ${iterations} loop iterations`);
    // Per completed call: the handler's 6 and the loop's addi and jal; the ECALL itself not counted.
    assert.ok(h.instret >= 8 * iterations && h.instret <= 8 * iterations + 8, `instret ${h.instret}`);
    if (round % 50 === 49) await new Promise((r) => setTimeout(r, 20)); // let hot batches install
  }
  assert.equal(raised, 0, "no ECALL went through raise (a throw)");
  assert.equal(h.mstatus & MS_SPP, 0, "SPP: the trap came from U");
  if (wasm) assert.ok(compiledAt >= 0, "the loop also ran compiled");
});
