/**
 * Type feedback for the engine's hot functions before the guest starts (issue 17 item 1 b).
 *
 * V8 optimizes a function for the paths it has seen run; a path first reached after that (a switch
 * case of the interpreter, the run loop's trap or interrupt path, a slow path of a load) is a
 * "soft" deoptimization ("insufficient type feedback"): the function falls back to bytecode until
 * V8 has optimized it again. A boot did that to `interpret` 6 times and to `runHart` 8 times
 * (--trace-deopt), each time running the hottest code of the emulator unoptimized for a while, and
 * the Hart's address fields (pc, stvec, sepc...) changed from small integers to doubles under
 * optimized code ("wrong map"). So, once per process, before the first machine is built, a
 * throw-away machine of 1 MiB runs: every kind the interpreter runs inline, on operands of every
 * magnitude, with memory accesses that hit, miss and fault (`interpret` directly); then a small
 * program through the run loop (`runHart`) that traps, takes an interrupt, sleeps, and gets one
 * loop compiled by the wasm tier and faulting inside compiled code. It costs a few milliseconds.
 *
 * Nothing here changes what any machine computes: the throw-away machine shares no state with
 * the real ones, only the classes (and so V8's maps and feedback) of the engine.
 */
import { setFlagsFromString } from "node:v8";
import { RAM_BASE, GuestRam } from "./memory.js";
import { Machine } from "./machine.js";
import { TRAP, type Hart } from "../cpu/hart/hart.js";
import { CodeCache, runHart } from "../cpu/engine/exec.js";
import { interpret } from "../cpu/engine/interp.js";
import { K, pack, SIZES, WORDS } from "../cpu/isa/kinds.js";
import { MIP_MSIP } from "../cpu/isa/defs.js";
import { rng } from "../cpu/testing/rng.js";

let done = false;

/** Run the warm-up once per process (a no-op after the first call, or with CORRAL_WARM_UP=0). */
export function warmUpEngine(): void {
  if (done || process.env["CORRAL_WARM_UP"] === "0") return;
  done = true;
  // V8 gives a function its feedback vector only after it has run a while (eight times its
  // bytecode's size: 27 KB of bytecode for `interpret`), and records nothing before: most of a
  // short warm-up would go unrecorded. Eager allocation for the warm-up's first calls, and back
  // to V8's default before anything else runs (code caches are made and checked under the
  // default: code-cache.ts).
  setFlagsFromString("--no-lazy-feedback-allocation");
  try {
    const m = new Machine(new GuestRam(1 << 20), 1, () => {});
    const h = m.harts[0]!;
    h.openPmp();
    addressFields(h);
    runLoop(m, h);
    interpreterCases(h);
  } finally {
    setFlagsFromString("--lazy-feedback-allocation");
  }
}

/** RAM offset of the data the warm-up's loads and stores touch. */
const DATA = 0x10000;

/**
 * The Hart fields a real guest fills with addresses (pc, trap vectors and values, satp's root):
 * given a value beyond the small integers here, so that the field is a double from the start and
 * no optimized code sees it change representation under it.
 */
function addressFields(h: Hart): void {
  const big = -0x7fff0000 * 2;
  h.pc = big;
  h.stvec = big;
  h.sepc = big;
  h.stval = big;
  h.trapTval = big;
  h.satpRoot = 2 ** 31 + 4096;
  h.stimecmp = 2 ** 40;
  h.mtvec = big;
  h.mepc = big;
  h.mtval = big;
}

/** Every kind `interpret` runs inline (K.NEXT to K.MULW), each on several random operand sets. */
function interpreterCases(h: Hart): void {
  const r = rng(17);
  const x = h.x;
  const edge = [0, 1, -1, 0x7fffffff, -0x80000000, 0x12345678, -0x789abcdf];
  const code = new Int32Array(2 * WORDS);
  const data = RAM_BASE + DATA;
  const t = new Int32Array(2 * WORDS);
  for (let kind = K.NOP; kind <= K.MULW; kind++) {
    for (let v = 0; v < 8; v++) {
      let imm = ((r() & 0xfff) << 20) >> 20;
      if (kind >= K.SLLI && kind <= K.SRAI) imm = 1 + (v % 2 ? r() % 31 : 31 + (r() % 32));
      if (kind >= K.SLLIW && kind <= K.SRAIW) imm = r() % 32;
      if (kind === K.LUI) imm = r() << 12;
      const size = SIZES[kind];
      if (size !== undefined) {
        // Registers x5 (base) at the data page: a hit once the TLB holds it, a miss the first time,
        // across a page end now and then, and outside RAM (an access fault) once.
        const at = v === 7 ? 0x1000 : v === 6 ? data + 4096 - size + 1 : data + 8 * (r() % 64);
        x[10] = at | 0;
        x[11] = Math.floor(at / 2 ** 32);
        imm = v === 6 ? 0 : (r() % 8) * size;
      }
      // Operands x6 and x7 (pairs 12 and 14) of every magnitude.
      for (let k = 12; k < 16; k++) x[k] = r() & 1 ? r() | 0 : edge[r() % edge.length]!;
      h.pc = RAM_BASE + 0x1000;
      pack([kind, 2 * (1 + (v % 4)), size !== undefined ? 10 : 12, 14, imm, 4], code, 0);
      pack([K.NEXT, 0, 0, 0, 4, 0], code, 1);
      t.set(code);
      try {
        interpret(h, t, 0, 2, []);
      } catch (e) {
        if (e !== TRAP) throw e;
      }
    }
  }
}

// Encoders (unprivileged spec 2.3 and 16.2): the warm-up program below.
const R = (f7: number, rs2: number, rs1: number, f3: number, rd: number): number =>
  (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | 0x33;
const I = (imm: number, rs1: number, f3: number, rd: number, opc = 0x13): number =>
  ((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opc;
const S = (imm: number, rs2: number, rs1: number, f3: number): number =>
  (((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | 0x23;
const B = (imm: number, rs2: number, rs1: number, f3: number): number =>
  (((imm >> 12) & 1) << 31) |
  (((imm >> 5) & 0x3f) << 25) |
  (rs2 << 20) |
  (rs1 << 15) |
  (f3 << 12) |
  (((imm >> 1) & 15) << 8) |
  (((imm >> 11) & 1) << 7) |
  0x63;
const J = (imm: number, rd: number): number =>
  (((imm >> 20) & 1) << 31) |
  (((imm >> 1) & 0x3ff) << 21) |
  (((imm >> 11) & 1) << 20) |
  (((imm >> 12) & 0xff) << 12) |
  (rd << 7) |
  0x6f;
const AUIPC = (imm20: number, rd: number): number => (imm20 << 12) | (rd << 7) | 0x17;
const CSRRW = (csr: number, rs1: number, rd: number): number => I(csr, rs1, 1, rd, 0x73);
const CSRRS = (csr: number, rs1: number, rd: number): number => I(csr, rs1, 2, rd, 0x73);
const CSRRSI = (csr: number, uimm: number, rd: number): number => I(csr, uimm, 6, rd, 0x73);
const ECALL = 0x73;
const MRET = 0x30200073;
const WFI = 0x10500073;
// Compressed forms (16.5 to 16.7), rd'/rs' given as x8..x15.
const C_ADDI = (rd: number, imm: number): number => (((imm >> 5) & 1) << 12) | (rd << 7) | ((imm & 31) << 2) | 1;
const C_LI = (rd: number, imm: number): number =>
  (2 << 13) | (((imm >> 5) & 1) << 12) | (rd << 7) | ((imm & 31) << 2) | 1;
const C_MV = (rd: number, rs2: number): number => (4 << 13) | (rd << 7) | (rs2 << 2) | 2;
const C_ADD = (rd: number, rs2: number): number => (4 << 13) | (1 << 12) | (rd << 7) | (rs2 << 2) | 2;
const C_SLLI = (rd: number, sh: number): number => (((sh >> 5) & 1) << 12) | (rd << 7) | ((sh & 31) << 2) | 2;
const C_ALU = (f: number, rd: number, rs2: number, w = 0): number =>
  (4 << 13) | (w << 12) | (3 << 10) | ((rd - 8) << 7) | (f << 5) | ((rs2 - 8) << 2) | 1;
const C_SHIFT = (f: number, rd: number, sh: number): number =>
  (4 << 13) | (((sh >> 5) & 1) << 12) | (f << 10) | ((rd - 8) << 7) | ((sh & 31) << 2) | 1;
const C_LD = (rd: number, rs1: number, off: number): number =>
  (3 << 13) | (((off >> 3) & 7) << 10) | ((rs1 - 8) << 7) | (((off >> 6) & 3) << 5) | ((rd - 8) << 2);
const C_SD = (rs2: number, rs1: number, off: number): number =>
  (7 << 13) | (((off >> 3) & 7) << 10) | ((rs1 - 8) << 7) | (((off >> 6) & 3) << 5) | ((rs2 - 8) << 2);

const MSTATUS = 0x300;
const MIE = 0x304;
const MTVEC = 0x305;
const MEPC = 0x341;
const MCAUSE = 0x342;
const LOOPS = 100;

/**
 * The warm-up program (M mode, no translation, at RAM offset 0), as 32-bit words and 16-bit
 * parcels, and the offsets of its labels. x8 (s0) points at DATA; x9 counts the loop down; x19 is
 * the loop's load base, 0 (outside RAM) on the second pass, when the loop is compiled; x20 says
 * which pass runs.
 */
function program(): (number | [number])[] {
  const handler = 0x700;
  const loop: (number | [number])[] = [
    I(1, 0, 0, 21),
    R(0, 9, 9, 0, 5), // add
    R(0x20, 5, 8, 0, 6), // sub
    R(1, 6, 5, 0, 7), // mul
    R(1, 9, 7, 4, 28), // div (a closure)
    I(3, 9, 1, 29), // slli
    I(0x400 | 7, 6, 5, 30), // srai
    R(0, 29, 28, 7, 31), // and
    S(0, 6, 8, 3), // sd
    I(0, 8, 3, 6, 0x03), // ld
    I(8, 19, 2, 7, 0x03), // lw from x19: faults on the second pass
    S(4, 7, 8, 2), // sw
    I(4, 8, 4, 5, 0x03), // lbu
    R(0, 7, 6, 0, 5) | 0x8, // addw (opcode 0x3b)
    [C_ADDI(10, -3)],
    [C_LI(11, 17)],
    [C_MV(12, 10)],
    [C_ADD(12, 11)],
    [C_SLLI(13, 7)],
    [C_ALU(0, 10, 11)],
    [C_ALU(1, 10, 12)],
    [C_ALU(2, 11, 12)],
    [C_ALU(3, 12, 13)],
    [C_ALU(1, 10, 11, 1)],
    [C_SHIFT(0, 10, 3)],
    [C_SHIFT(1, 11, 40)],
    [C_SHIFT(2, 12, 7)],
    [C_SD(10, 8, 16)],
    [C_LD(14, 8, 16)],
    I(-1, 9, 0, 9), // addi x9, x9, -1
  ];
  const out: (number | [number])[] = [
    AUIPC(0, 5),
    I(handler, 5, 0, 5),
    CSRRW(MTVEC, 5, 0),
    AUIPC(DATA >>> 12, 8),
    I(LOOPS, 0, 0, 9),
    R(0, 8, 0, 0, 19), // x19 = x8
  ];
  const loopAt = size(out);
  out.push(...loop);
  out.push(B(loopAt - size(out), 0, 9, 1)); // bne x9, x0, loop
  out.push(
    ECALL, // a trap from the interpreter
    I(0, 20, 0, 5), // addi x5, x20, 0
  );
  // The second pass: the loop again, now compiled, its load faulting in compiled code.
  const again = size(out);
  out.push(B(20, 0, 5, 1)); // bne x5, x0, +20: both passes done
  out.push(I(1, 0, 0, 20), I(0, 0, 0, 19), I(LOOPS, 0, 0, 9)); // x20 = 1, x19 = 0, x9 = LOOPS
  out.push(J(loopAt - (again + 16), 0));
  out.push(
    I(8, 0, 0, 5),
    CSRRW(MIE, 5, 0), // MSIE on: the pending software interrupt is taken
    CSRRSI(MSTATUS, 8, 0), // MIE on
    WFI,
  );
  out.push(...new Array<[number]>((handler - size(out)) / 2).fill([C_ADDI(0, 0)])); // C.NOP
  out.push(
    CSRRS(MCAUSE, 0, 28),
    B(20, 0, 28, 4), // blt x28, x0, +20: an interrupt
    CSRRS(MEPC, 0, 28),
    I(4, 28, 0, 28),
    CSRRW(MEPC, 28, 0),
    MRET,
    CSRRW(MIE, 0, 0), // the interrupt: MSIE off, back where it came
    MRET,
  );
  return out;
}

function size(words: readonly (number | [number])[]): number {
  return words.reduce<number>((n, w) => n + (typeof w === "number" ? 4 : 2), 0);
}

/**
 * The program through the run loop, on a code cache of its own whose blocks compile after 30
 * runs, in place: the loop compiles on its first pass and faults in compiled code on the second.
 */
function runLoop(m: Machine, h: Hart): void {
  const u8 = m.ram.u8;
  let p = 0;
  for (const w of program()) {
    const v = typeof w === "number" ? w : w[0];
    const n = typeof w === "number" ? 4 : 2;
    for (let k = 0; k < n; k++) u8[p + k] = (v >>> (8 * k)) & 0xff;
    p += n;
  }
  const cache = new CodeCache(m.ram, () => m.harts, undefined, 30);
  if (cache.wasm !== null) cache.wasm.compileOffThread = false;
  h.pc = RAM_BASE;
  h.setPending(MIP_MSIP, true);
  for (let round = 0; round < 100 && !h.sleeping; round++) runHart(h, cache, 20_000);
  h.setPending(MIP_MSIP, false);
}
