// Compiled CSRRS/CSRRC on sstatus (emit-ext.ts ExtEmitter.sstatus) against the closures, the reference
// semantics: every form, privilege and operand, inline or through the closure; and an interrupt
// enabled by compiled code is taken at once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Machine } from "../../machine/machine.js";
import { GuestRam, RAM_BASE } from "../../machine/memory.js";
import { MS_FS, MS_SIE, MS_SPIE, MS_SUM, PRIV_M, PRIV_S, PRIV_U } from "../isa/defs.js";
import { TRAP, type Hart } from "../hart/hart.js";
import { runHart } from "../engine/exec.js";
import { WasmTier } from "./tier.js";

/** CSR instruction (Zicsr, 9.1): csr, rs1 or uimm, funct3, rd. */
const CSR = (csr: number, src: number, f3: number, rd: number): number =>
  (csr << 20) | (src << 15) | (f3 << 12) | (rd << 7) | 0x73;
const SSTATUS = 0x100;
const RS = 2;
const RC = 3;
const RSI = 6;
const RCI = 7;
const I = (f3: number, rd: number, rs: number, imm: number): number =>
  ((imm & 0xfff) << 20) | (rs << 15) | (f3 << 12) | (rd << 7) | 0x13;
const ADDI = (rd: number, rs: number, imm: number): number => I(0, rd, rs, imm);
const XORI = (rd: number, rs: number, imm: number): number => I(4, rd, rs, imm);
const J_SELF = 0x6f; // jal x0, 0

const CODE = 0x1000;

function machine(prog: number[]): { m: Machine; h: Hart; start: number } {
  const m = new Machine(new GuestRam(1 << 20), 1, () => {});
  const h = m.harts[0]!;
  prog.forEach((w, i) => m.ram.view.setInt32(CODE + 4 * i, w, true));
  m.cache.invalidateAll();
  h.openPmp(); // what firmware leaves: S and U may access everything (privileged spec 3.7.1)
  h.pc = RAM_BASE + CODE;
  return { m, h, start: h.pc };
}

type Case = { inst: number; priv: number; mstatus: number; x11: number; x11hi: number };

/**
 * Run the block `xori x11, x11, -1; <c.inst>` in `tier` (x11 starts inverted: it is a register
 * compiled code holds modified in a local, which the closure must find in memory); what it left,
 * and how often the CSR op's closure ran.
 */
function run(
  c: Case,
  tier: "closures" | "wasm",
): { x: number[]; pc: number; mstatus: number; trap: string; irq: boolean; closureRuns: number } {
  const { m, h, start } = machine([XORI(11, 11, -1), c.inst, J_SELF]);
  h.setPriv(c.priv);
  h.mstatus = c.mstatus;
  h.x[22] = ~c.x11;
  h.x[23] = ~c.x11hi;
  h.x[24] = 0x5a5a5a5a; // x12: overwritten or not
  h.irqCheck = false;
  const b = m.cache.lookup(h);
  let closureRuns = 0;
  const op = b.ops[1]!;
  b.ops[1] = (hh) => {
    closureRuns++;
    return op(hh);
  };
  let trap = "none";
  try {
    if (tier === "closures") for (const o of b.ops) o(h);
    else {
      const w = new WasmTier(m.ram.memory!, -1);
      w.run(h, w.compileNow(b), 1);
    }
  } catch (e) {
    if (e !== TRAP) throw e;
    trap = `cause ${h.trapCause}`;
  }
  return {
    x: Array.from(h.x.subarray(0, 64)),
    pc: h.pc - start,
    mstatus: h.mstatus,
    trap,
    irq: h.irqCheck,
    closureRuns,
  };
}

test("compiled CSRRS/CSRRC on sstatus match the closures; SIE-only forms in S and M mode run inline", () => {
  const forms = [
    { inst: CSR(SSTATUS, 2, RCI, 12), inline: true }, // local_irq_save: csrrci x12, sstatus, 2
    { inst: CSR(SSTATUS, 2, RSI, 0), inline: true }, // local_irq_enable: csrsi sstatus, 2
    { inst: CSR(SSTATUS, 2, RCI, 0), inline: true }, // local_irq_disable
    { inst: CSR(SSTATUS, 11, RS, 0), inline: "x11 is SIE or 0" }, // local_irq_restore: csrs sstatus, x11
    { inst: CSR(SSTATUS, 11, RC, 12), inline: "x11 is SIE or 0" },
    { inst: CSR(SSTATUS, 11, RC, 11), inline: "x11 is SIE or 0" }, // rd = rs1
    { inst: CSR(SSTATUS, 0, RS, 12), inline: true }, // csrr x12, sstatus
    { inst: CSR(SSTATUS, 0, RCI, 12), inline: true }, // a read: uimm 0 writes nothing
    { inst: CSR(SSTATUS, 1, RSI, 12), inline: false }, // uimm 1 (UIE is not SIE): the closure
    { inst: CSR(SSTATUS, 11, 1, 12), inline: false }, // CSRRW: the closure
  ];
  const statuses = [0, MS_SIE, MS_SPIE | MS_SUM, MS_SIE | MS_FS | MS_SUM, MS_FS >>> 1];
  const x11s: [number, number][] = [
    [0, 0],
    [MS_SIE, 0],
    [MS_SIE | MS_SUM, 0],
    [MS_SIE, 1],
    [-1, -1],
  ];
  let inlined = 0;
  for (const f of forms) {
    for (const priv of [PRIV_M, PRIV_S, PRIV_U]) {
      for (const mstatus of statuses) {
        for (const [x11, x11hi] of x11s) {
          const c: Case = { inst: f.inst, priv, mstatus, x11, x11hi };
          const want = run(c, "closures");
          const got = run(c, "wasm");
          const what = JSON.stringify(c);
          assert.deepEqual({ ...got, irq: false, closureRuns: 0 }, { ...want, irq: false, closureRuns: 0 }, what);
          // Interrupts newly enabled must make the run loop look (the closure always asks).
          if (!(mstatus & MS_SIE) && got.mstatus & MS_SIE) assert.ok(got.irq, `SIE set without irqCheck: ${what}`);
          const regOk = (x11 & ~MS_SIE) === 0 && x11hi === 0;
          const inline = priv !== PRIV_U && (f.inline === true || (f.inline !== false && regOk));
          assert.equal(got.closureRuns, inline ? 0 : 1, `closure runs: ${what}`);
          if (inline) inlined++;
        }
      }
    }
  }
  assert.ok(inlined > 200, `inline cases ${inlined}`);
});

test("an interrupt that compiled code enables with csrsi is taken before the next instruction", () => {
  //  0: csrsi sstatus, SIE     (ends its block; compiled, it chains on)
  //  4: addi x10, x10, 1
  //  8: j .
  // 12: handler: j .
  const { m, h, start } = machine([CSR(SSTATUS, 2, RSI, 0), ADDI(10, 10, 1), J_SELF, J_SELF]);
  h.setPriv(PRIV_S);
  h.mstatus = 0;
  h.mideleg = 1 << 5;
  h.mie = 1 << 5;
  h.stvec = start + 12;
  h.setPending(1 << 5, true); // a supervisor timer interrupt, pending but disabled by SIE
  for (const o of [0, 4, 12]) {
    h.pc = start + o;
    m.cache.wasm!.compileNow(m.cache.lookup(h));
  }
  h.pc = start;
  // The first poll finds the interrupt disabled; compiled csrsi enables it, and the run loop
  // must take it before the addi (without STOP_IRQ the chain ran on into `j .`).
  runHart(h, m.cache, 10);
  assert.deepEqual(
    {
      scause: h.scause,
      int: h.scauseInt,
      sepc: h.sepc - start,
      x10: h.x[20],
      pc: h.pc - start,
      spie: (h.mstatus & MS_SPIE) !== 0,
    },
    { scause: 5, int: true, sepc: 4, x10: 0, pc: 12, spie: true },
  );
});
