// Every tier (the interpreter, the JavaScript JIT, the wasm tier) against the closures (the reference semantics): random blocks
// (fixed seeds) of the instructions both handle themselves, plus some they leave to the closures,
// run once through each on identical real harts; registers, pc, memory, and any trap (cause,
// tval, which instruction) must agree. The ISA suite adds a run with every block compiled
// (tests/isa.test.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Machine } from "../../machine/machine.js";
import { GuestRam, RAM_BASE } from "../../machine/memory.js";
import { TRAP, type Hart } from "../hart/hart.js";
import { CodeCache, MAX_BLOCK, runHart, type Block } from "./exec.js";
import { interpret } from "./interp.js";
import { blockSource, compileBlock } from "./jit.js";
import { WasmTier } from "../wasm/tier.js";
import { HartArea } from "../wasm/layout.js";
import { branchShape } from "../wasm/emit-select.js";
import { decode } from "../isa/decode.js";
import { K, KIND_INFO, KINDS, kindAt, pack, WORDS } from "../isa/kinds.js";
import { MS_FS } from "../isa/defs.js";
import { rng } from "../testing/rng.js";
import { B, I, J, R, S } from "../isa/encode.testkit.js";

const DATA = 0x10000; // loads and stores land around here

/** Destinations never include the address registers x5..x7, so loads and stores stay near DATA. */
const DESTS = [0, 1, 2, 3, 4, 8, 9, 10];
const SRCS = [0, 1, 2, 3, 4, 5, 8, 9, 10];
const BASES = [5, 6, 7];

/**
 * Random register pairs for a differential test: each of x1-x31 random or an edge value, then the
 * address registers (BASES) at `addr(base)`: by default near DATA, now and then somewhere unmapped
 * (an access fault).
 */
function randomRegs(
  r: () => number,
  addr = (_base: number): number => (r() % 16 === 0 ? 0x1000 : RAM_BASE + DATA + (r() % 0x7000)),
): Int32Array {
  const edge = [0, 1, -1, 0x7fffffff, -0x80000000, 0x12345678, -0x789abcdf];
  const regs = new Int32Array(66);
  for (let k = 2; k < 64; k++) regs[k] = r() & 1 ? r() | 0 : edge[r() % edge.length]!;
  for (const base of BASES) {
    const a = addr(base);
    regs[2 * base] = a | 0;
    regs[2 * base + 1] = Math.floor(a / 2 ** 32);
  }
  return regs;
}

function randomBlock(r: () => number): number[] {
  const pick = <T>(xs: readonly T[]): T => xs[r() % xs.length]!;
  const imm12 = (): number => ((r() & 0xfff) << 20) >> 20;
  const sh = (): number => r() % 64;
  const words: number[] = [];
  const count = 1 + (r() % 10);
  for (let k = 0; k < count; k++) {
    const d = pick(DESTS);
    const a = pick(SRCS);
    const b = pick(SRCS);
    const kinds: (() => number)[] = [
      () => I(imm12(), a, pick([0, 2, 3, 4, 6, 7]), d, 0x13), // ADDI SLTI SLTIU XORI ORI ANDI
      () => I(sh(), a, 1, d, 0x13), // SLLI
      () => I(sh() | (r() & 1 ? 0x400 : 0), a, 5, d, 0x13), // SRLI SRAI
      () => I(imm12(), a, 0, d, 0x1b), // ADDIW
      () => I((r() % 32) | (r() & 1 ? 0x400 : 0), a, 5, d, 0x1b), // SRLIW SRAIW
      () => I(r() % 32, a, 1, d, 0x1b), // SLLIW
      () => R(pick([0, 0x20]), b, a, 0, d, 0x33), // ADD SUB
      () => R(0, b, a, pick([1, 2, 3, 4, 5, 6, 7]), d, 0x33), // SLL SLT SLTU XOR SRL OR AND
      () => R(0x20, b, a, 5, d, 0x33), // SRA
      () => R(1, b, a, r() % 8, d, 0x33), // M: MUL inline, the rest through closures
      () => R(pick([0, 0x20]), b, a, pick([0, 5]), d, 0x3b), // ADDW SUBW SRLW SRAW
      () => R(0, b, a, 1, d, 0x3b), // SLLW
      () => R(1, b, a, pick([0, 4, 5, 6, 7]), d, 0x3b), // MULW DIVW...
      () => (r() & 0xfffff000) | (d << 7) | pick([0x37, 0x17]), // LUI AUIPC
      () => I(imm12(), pick(BASES), pick([0, 1, 2, 3, 4, 5, 6]), d, 0x03), // loads
      () => S(imm12(), b, pick(BASES), r() % 4), // stores
      () => 0x0ff0000f, // FENCE
      () => 0x0001 | (((d || 1) & 31) << 7) | ((r() & 31) << 2), // C.ADDI
      () => 0x4001 | ((d & 31) << 7) | ((r() & 31) << 2) | ((r() & 1) << 12), // C.LI
      () => 0x9002 | (((d || 1) & 31) << 7) | (((a || 1) & 31) << 2), // C.ADD
      () => B(((r() % 64) - 32) * 2, b, a, pick([0, 1, 4, 5, 6, 7])), // a branch: a side exit
      // AMOs (inline in the wasm tier), LR and SC, .W and .D: often misaligned or unmapped (faults)
      () =>
        R(
          (pick([0x00, 0x01, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c, 0x02, 0x03]) << 2) | (r() & 3),
          b,
          pick(BASES),
          pick([2, 3]),
          d,
          0x2f,
        ),
      () => (r() & 1 ? 0xc001 : 0xe001) | ((r() % 8) << 7) | ((r() & 0x1f) << 2) | ((r() & 7) << 10), // C.BEQZ C.BNEZ
    ];
    words.push(pick(kinds)());
  }
  const a = pick(SRCS);
  const b = pick(SRCS);
  const enders: (() => number | null)[] = [
    () => null, // no control transfer: the block ends at the page boundary and falls through
    () => B(((r() % 512) - 256) * 2, b, a, pick([0, 1, 4, 5, 6, 7])),
    () => J(((r() % 4096) - 2048) * 2, pick(DESTS)),
    () => I(imm12(), a, 0, pick(DESTS), 0x67), // JALR
    () => 0x9002 | ((a || 1) << 7), // C.JALR: links pc + 2
    () => 0xa001 | ((r() & 0x7ff) << 2), // C.J
  ];
  const end = pick(enders)();
  if (end !== null) words.push(end);
  return words;
}

const CODE_END = 0x2000; // blocks are placed to end at this page boundary, so a block without
// a control transfer ends there and falls through

function place(m: Machine, h: Hart, words: number[], regs: Int32Array, dataSeed: number): void {
  const mem = m.ram.u8;
  const fill = rng(dataSeed);
  for (let i = DATA - 0x1000; i < DATA + 0x9000; i++) mem[i] = fill() & 0xff;
  const size = words.reduce((n, w) => n + ((w & 3) !== 3 ? 2 : 4), 0);
  let p = CODE_END - size;
  h.pc = RAM_BASE + p;
  for (const w of words) {
    const compressed = (w & 3) !== 3;
    for (let k = 0; k < (compressed ? 2 : 4); k++) mem[p + k] = (w >>> (8 * k)) & 0xff;
    p += compressed ? 2 : 4;
  }
  m.cache.invalidateAll(); // the code was written behind the CPU's back
  h.x.set(regs);
  h.openPmp(); // what firmware leaves: S and U may access everything (privileged spec 3.7.1)
}

/**
 * A machine with `prog` placed to end at CODE_END (place) and registers `regs`: the machine, its
 * hart and the program's start.
 */
function loaded(prog: number[], regs = new Int32Array(66), ramSize = 1 << 20): { m: Machine; h: Hart; start: number } {
  const m = new Machine(new GuestRam(ramSize), 1, () => {});
  const h = m.harts[0]!;
  place(m, h, prog, regs, 1);
  return { m, h, start: h.pc };
}

type Outcome = { x: number[]; pc: number; data: string; trap: string; src: string };

type Tier = "closures" | "interpreter" | "compiled" | "wasm";

function runOnce(m: Machine, h: Hart, tier: Tier): Outcome {
  const b = m.cache.lookup(h);
  const src = blockSource(b);
  let trap = "none";
  let i = 0;
  try {
    if (tier === "compiled") compileBlock(b)(h, 1);
    else if (tier === "wasm") {
      const w = new WasmTier(m.ram.memory!, -1);
      w.run(h, w.compileNow(b), 1);
    } else if (tier === "interpreter") interpret(h, m.cache.tables.t, b.tbase, b.count, b.ops);
    else for (i = 0; i < b.ops.length; i++) if (b.ops[i]!(h) === true) break;
  } catch (e) {
    if (e !== TRAP) throw e;
    trap = `cause ${h.trapCause} tval ${h.trapTval} at op ${tier === "closures" ? i : h.faultIndex}`;
  }
  const data = Buffer.from(m.ram.u8.subarray(DATA - 0x1000, DATA + 0x9000)).toString("base64");
  return { x: Array.from(h.x.subarray(0, 64)), pc: h.pc, data, trap, src };
}

test("the interpreter and compiled blocks match the closures on random instruction mixes", () => {
  const r = rng(20261126);
  const A = new Machine(new GuestRam(1 << 20), 1, () => {});
  const B = new Machine(new GuestRam(1 << 20), 1, () => {});
  const C = new Machine(new GuestRam(1 << 20), 1, () => {});
  const D = new Machine(new GuestRam(1 << 20), 1, () => {});
  let traps = 0;
  for (let n = 0; n < 3000; n++) {
    const words = randomBlock(r);
    const regs = randomRegs(r);
    const seed = r();
    for (const m of [A, B, C, D]) place(m, m.harts[0]!, words, regs, seed);
    const want = runOnce(A, A.harts[0]!, "closures");
    if (want.trap !== "none") traps++;
    for (const [m, tier] of [
      [B, "interpreter"],
      [C, "compiled"],
      [D, "wasm"],
    ] as const) {
      const got = runOnce(m, m.harts[0]!, tier);
      const what = `${tier}, block ${words.map((w) => (w >>> 0).toString(16)).join(" ")}:\n${got.src}`;
      assert.equal(got.trap, want.trap, what);
      assert.deepEqual(got.x, want.x, what);
      if (Math.abs(want.pc) < 2 ** 53 || tier !== "wasm") assert.equal(got.pc, want.pc, what);
      else {
        // A JALR to a register beyond 2^53 (never a canonical address, so its fetch faults): the
        // wasm tier adds in exact i64, wrapping at 2^64 as the ISA says, and rounds once; the
        // closures add doubles, which round twice and do not wrap. Both land beyond 2^53.
        assert.ok(Math.abs(got.pc) >= 2 ** 53, `${got.pc} against ${want.pc}: ${what}`);
      }
      assert.equal(got.data, want.data, what);
    }
  }
  assert.ok(traps > 50, `the mix should include faulting accesses (had ${traps})`);
});

/** One encoding of every instruction kind (isa/kinds.ts): a kind without one does not compile. */
const SAMPLES: Record<Exclude<K, K.NEXT>, number> = {
  [K.NOP]: I(0, 0, 0, 0, 0x13),
  [K.LUI]: 0x12345537,
  [K.AUIPC]: 0x00001517,
  [K.JAL]: J(8, 1),
  [K.JALR]: I(4, 1, 0, 10, 0x67),
  [K.BEQ]: B(8, 9, 8, 0),
  [K.BNE]: B(8, 9, 8, 1),
  [K.BLT]: B(8, 9, 8, 4),
  [K.BGE]: B(8, 9, 8, 5),
  [K.BLTU]: B(8, 9, 8, 6),
  [K.BGEU]: B(8, 9, 8, 7),
  [K.LB]: I(9, 5, 0, 10, 3),
  [K.LH]: I(8, 5, 1, 10, 3),
  [K.LW]: I(8, 5, 2, 10, 3),
  [K.LD]: I(8, 5, 3, 10, 3),
  [K.LBU]: I(9, 5, 4, 10, 3),
  [K.LHU]: I(8, 5, 5, 10, 3),
  [K.LWU]: I(8, 5, 6, 10, 3),
  [K.SB]: S(9, 9, 5, 0),
  [K.SH]: S(8, 9, 5, 1),
  [K.SW]: S(8, 9, 5, 2),
  [K.SD]: S(8, 9, 5, 3),
  [K.ADDI]: I(-5, 8, 0, 10, 0x13),
  [K.SLTI]: I(-5, 8, 2, 10, 0x13),
  [K.SLTIU]: I(-5, 8, 3, 10, 0x13),
  [K.XORI]: I(-5, 8, 4, 10, 0x13),
  [K.ORI]: I(-5, 8, 6, 10, 0x13),
  [K.ANDI]: I(-5, 8, 7, 10, 0x13),
  [K.SLLI]: I(35, 8, 1, 10, 0x13),
  [K.SRLI]: I(35, 8, 5, 10, 0x13),
  [K.SRAI]: I(0x423, 8, 5, 10, 0x13),
  [K.ADDIW]: I(-5, 8, 0, 10, 0x1b),
  [K.SLLIW]: I(3, 8, 1, 10, 0x1b),
  [K.SRLIW]: I(3, 8, 5, 10, 0x1b),
  [K.SRAIW]: I(0x403, 8, 5, 10, 0x1b),
  [K.ADD]: R(0, 9, 8, 0, 10, 0x33),
  [K.SUB]: R(0x20, 9, 8, 0, 10, 0x33),
  [K.SLL]: R(0, 9, 8, 1, 10, 0x33),
  [K.SLT]: R(0, 9, 8, 2, 10, 0x33),
  [K.SLTU]: R(0, 9, 8, 3, 10, 0x33),
  [K.XOR]: R(0, 9, 8, 4, 10, 0x33),
  [K.SRL]: R(0, 9, 8, 5, 10, 0x33),
  [K.SRA]: R(0x20, 9, 8, 5, 10, 0x33),
  [K.OR]: R(0, 9, 8, 6, 10, 0x33),
  [K.AND]: R(0, 9, 8, 7, 10, 0x33),
  [K.MUL]: R(1, 9, 8, 0, 10, 0x33),
  [K.ADDW]: R(0, 9, 8, 0, 10, 0x3b),
  [K.SUBW]: R(0x20, 9, 8, 0, 10, 0x3b),
  [K.SLLW]: R(0, 9, 8, 1, 10, 0x3b),
  [K.SRLW]: R(0, 9, 8, 5, 10, 0x3b),
  [K.SRAW]: R(0x20, 9, 8, 5, 10, 0x3b),
  [K.MULW]: R(1, 9, 8, 0, 10, 0x3b),
  [K.MULH]: R(1, 9, 8, 1, 10, 0x33),
  [K.MULHSU]: R(1, 9, 8, 2, 10, 0x33),
  [K.MULHU]: R(1, 9, 8, 3, 10, 0x33),
  [K.DIV]: R(1, 9, 8, 4, 10, 0x33),
  [K.DIVU]: R(1, 9, 8, 5, 10, 0x33),
  [K.REM]: R(1, 9, 8, 6, 10, 0x33),
  [K.REMU]: R(1, 9, 8, 7, 10, 0x33),
  [K.DIVW]: R(1, 9, 8, 4, 10, 0x3b),
  [K.DIVUW]: R(1, 9, 8, 5, 10, 0x3b),
  [K.REMW]: R(1, 9, 8, 6, 10, 0x3b),
  [K.REMUW]: R(1, 9, 8, 7, 10, 0x3b),
  [K.LR_W]: A(0x02, 2),
  [K.SC_W]: A(0x03, 2),
  [K.AMOSWAP_W]: A(0x01, 2),
  [K.AMOADD_W]: A(0x00, 2),
  [K.AMOXOR_W]: A(0x04, 2),
  [K.AMOAND_W]: A(0x0c, 2),
  [K.AMOOR_W]: A(0x08, 2),
  [K.AMOMIN_W]: A(0x10, 2),
  [K.AMOMAX_W]: A(0x14, 2),
  [K.AMOMINU_W]: A(0x18, 2),
  [K.AMOMAXU_W]: A(0x1c, 2),
  [K.LR_D]: A(0x02, 3),
  [K.SC_D]: A(0x03, 3),
  [K.AMOSWAP_D]: A(0x01, 3),
  [K.AMOADD_D]: A(0x00, 3),
  [K.AMOXOR_D]: A(0x04, 3),
  [K.AMOAND_D]: A(0x0c, 3),
  [K.AMOOR_D]: A(0x08, 3),
  [K.AMOMIN_D]: A(0x10, 3),
  [K.AMOMAX_D]: A(0x14, 3),
  [K.AMOMINU_D]: A(0x18, 3),
  [K.AMOMAXU_D]: A(0x1c, 3),
  [K.FLW]: I(8, 5, 2, 10, 0x07),
  [K.FLD]: I(8, 5, 3, 10, 0x07),
  [K.FSW]: S(8, 9, 5, 2) | 4,
  [K.FSD]: S(8, 9, 5, 3) | 4,
  [K.FP]: R(0x01, 9, 8, 7, 10, 0x53), // fadd.d f10, f8, f9 (dynamic rounding)
  [K.CSRRW]: I(0x340, 8, 1, 10, 0x73),
  [K.CSRRS]: I(0x100, 8, 2, 10, 0x73),
  [K.CSRRC]: I(0x100, 8, 3, 10, 0x73),
  [K.CSRRWI]: I(0x340, 5, 5, 10, 0x73),
  [K.CSRRSI]: I(0x100, 2, 6, 10, 0x73),
  [K.CSRRCI]: I(0x100, 2, 7, 10, 0x73),
  [K.FENCE_I]: 0x0000100f,
  [K.ECALL]: 0x00000073,
  [K.EBREAK]: 0x00100073,
  [K.SRET]: 0x10200073,
  [K.MRET]: 0x30200073,
  [K.WFI]: 0x10500073,
  [K.SFENCE_VMA]: 0x12000073,
  [K.ILLEGAL]: R(0x20, 9, 8, 4, 10, 0x33),
};
/** An LR, SC or AMO (funct5 `f5`, width funct3 `f3`) of x9 at (x5) into x10. */
function A(f5: number, f3: number): number {
  return R(f5 << 2, 9, 5, f3, 10, 0x2f);
}

test("every instruction kind decodes from its sample and runs alike in every tier's switch", () => {
  const r = rng(20261206);
  const machines = [0, 1, 2, 3].map(() => new Machine(new GuestRam(1 << 20), 1, () => {}));
  for (let kind = 0 as K; kind < KINDS; kind++) {
    if (kind === K.NEXT) continue;
    const word = SAMPLES[kind];
    assert.equal(decode(word, 4, 0).entry[0], kind, `${KIND_INFO[kind][0]}: ${(word >>> 0).toString(16)}`);
    // Twice, with registers that make branches go both ways.
    for (let round = 0; round < 2; round++) {
      const regs = new Int32Array(66);
      for (let k = 2; k < 64; k++) regs[k] = r() | 0;
      if (round === 1) regs.set([regs[16]!, regs[17]!], 18); // x9 = x8
      const addr = RAM_BASE + DATA + 8 * (r() % 256); // aligned for the atomics
      regs.set([addr | 0, Math.floor(addr / 2 ** 32)], 10); // x5
      const seed = r();
      const outcomes = machines.map((m, j): Outcome & { f: number[] } => {
        const h = m.harts[0]!;
        place(m, h, [word], regs, seed);
        h.mstatus |= MS_FS; // the F and D instructions run instead of trapping
        h.f.fill(0x3ff00000 + kind);
        const b = m.cache.lookup(h);
        assert.equal(kindAt(b.code, 0), kind);
        const o = runOnce(m, h, (["closures", "interpreter", "compiled", "wasm"] as const)[j]!);
        return { ...o, f: Array.from(h.f), src: "" };
      });
      for (const o of outcomes.slice(1)) assert.deepEqual(o, outcomes[0], KIND_INFO[kind][0]);
    }
  }
});

test("compiled M-extension instructions match the closures on edge operands (zero divisor, overflow, signs)", () => {
  // MULH MULHSU MULHU DIV DIVU REM REMU, then DIVW DIVUW REMW REMUW (wasm: emit-ext.ts mulDiv).
  const ops = [1, 2, 3, 4, 5, 6, 7]
    .map((f3) => R(1, 9, 8, f3, 10, 0x33))
    .concat([4, 5, 6, 7].map((f3) => R(1, 9, 8, f3, 10, 0x3b)));
  // Values as (low, high) words: 0, 1, -1, 2^63 (MIN), 2^63 - 1, -2^31 and 2^31 in the low word,
  // 2^32, a mixed one.
  const vals: [number, number][] = [
    [0, 0],
    [1, 0],
    [-1, -1],
    [0, -0x80000000],
    [-1, 0x7fffffff],
    [-0x80000000, -1],
    [-0x80000000, 0],
    [0, 1],
    [0x9abcdef1 | 0, 0x12345678],
  ];
  const A = new Machine(new GuestRam(1 << 20), 1, () => {});
  const D = new Machine(new GuestRam(1 << 20), 1, () => {});
  for (const op of ops) {
    for (const [al, ah] of vals) {
      for (const [bl, bh] of vals) {
        const regs = new Int32Array(66);
        regs.set([al, ah, bl, bh], 16); // x8, x9
        for (const m of [A, D]) place(m, m.harts[0]!, [op, J(0, 0)], regs, 1);
        const want = runOnce(A, A.harts[0]!, "closures");
        const got = runOnce(D, D.harts[0]!, "wasm");
        assert.deepEqual(
          got.x.slice(20, 22),
          want.x.slice(20, 22),
          `${(op >>> 0).toString(16)} of ${al},${ah} and ${bl},${bh}`,
        );
      }
    }
  }
});

test("the JIT emits common instructions inline, not as closure calls", () => {
  // addi a0, a0, 1; ld a1, 8(a0); bne a0, a1, -8
  const words = [I(1, 10, 0, 10, 0x13), I(8, 10, 3, 11, 0x03), B(-8, 11, 10, 1)];
  const code = new Int32Array(WORDS * words.length);
  const ops = words.map((w, k) => {
    const dec = decode(w, 4, 4 * k, k);
    pack(dec.entry, code, k);
    return dec.op;
  });
  const src = blockSource({ ops, op: (k) => ops[k]!, count: 3, code, offs: Int32Array.from([0, 4, 8]), n: 3 });
  assert.doesNotMatch(src, /\bo\d+\(h\)/, src);
  assert.match(src, /h\.ld\(/);
});

/** The run loop's tiers, and how a test makes a block run in one (CodeCache.compile picks one). */
const TIERS = ["interpreter", "js", "wasm"] as const;
function compileIn(m: Machine, b: Block, tier: (typeof TIERS)[number]): void {
  if (tier === "js") b.run = compileBlock(b);
  else if (tier === "wasm") m.cache.wasm!.compileNow(b);
}

test("a loop inside one page runs in every tier and stops at a trap with the right pc and count", () => {
  // x10 = 0; x11 = 50; loop: x10 += 3; sd x10, 0(x5); x11 -= 1; bne x11, x0, loop; ebreak
  // 28: the trap handler: csrrs x13, minstret, x0; j .
  const prog = [
    I(0, 0, 0, 10, 0x13),
    I(50, 0, 0, 11, 0x13),
    I(3, 10, 0, 10, 0x13),
    S(0, 10, 5, 3),
    I(-1, 11, 0, 11, 0x13),
    B(-12, 0, 11, 1),
    0x00100073,
  ];
  const handler = [I(0xb02, 0, 2, 13, 0x73), J(0, 0)];
  const regs = new Int32Array(66);
  regs[10] = (RAM_BASE + DATA) | 0;
  regs[11] = 0;
  // The reference: the closures, block by block, up to the trap.
  const { m, h, start } = loaded([...prog, ...handler], regs);
  let retired = 0;
  let where = "";
  for (;;) {
    const b = m.cache.lookup(h);
    let k = 0;
    try {
      for (k = 0; k < b.ops.length; k++) if (b.ops[k]!(h) === true) break;
      retired += Math.min(k + 1, b.n);
    } catch (e) {
      if (e !== TRAP) throw e;
      h.pc += b.offs[k]!;
      retired += k;
      where = `cause ${h.trapCause}`;
      break;
    }
  }
  const want = {
    x: Array.from(h.x.subarray(0, 64)),
    pc: h.pc - start,
    retired,
    where,
    mem: m.ram.view.getInt32(DATA, true),
  };
  assert.equal(want.pc, 24);
  assert.equal(want.retired, 2 + 50 * 4);
  assert.equal(want.mem, 150);
  assert.equal(want.where, "cause 3");
  // Each tier, with the three blocks the loop is made of compiled (from the start, from the loop
  // head, the EBREAK), through the run loop; the handler reads minstret at the trap.
  for (const tier of TIERS) {
    const t = loaded([...prog, ...handler], regs);
    t.h.mtvec = t.start + 28;
    for (const o of [0, 8, 24]) {
      t.h.pc = t.start + o;
      compileIn(t.m, t.m.cache.lookup(t.h), tier);
    }
    t.h.pc = t.start;
    runHart(t.h, t.m.cache, 1000);
    const x = Array.from(t.h.x.subarray(0, 64));
    const mem = t.m.ram.view.getInt32(DATA, true);
    const got = {
      x: [...x.slice(0, 26), 0, 0, ...x.slice(28)],
      pc: t.h.mepc - t.start,
      retired: x[26],
      where: `cause ${t.h.mcause}`,
      mem,
    };
    assert.deepEqual(got, want, tier);
  }
});

test("the interpreter's table space, when full, flushes the code cache and the guest runs on unchanged", () => {
  //  0: addi x11, x0, 2
  //  4: loop: addi x10, x10, 3
  //  8: jal x0, q
  // 12: q: sd x10, 0(x5)
  // 16: addi x11, x11, -1
  // 20: bne x11, x0, loop
  // 24: j .
  const prog = [
    I(2, 0, 0, 11, 0x13),
    I(3, 10, 0, 10, 0x13),
    J(4, 0),
    S(0, 10, 5, 3),
    I(-1, 11, 0, 11, 0x13),
    B(-16, 0, 11, 1),
    J(0, 0),
  ];
  const regs = new Int32Array(66);
  regs[2 * 5] = (RAM_BASE + DATA) | 0; // x5
  const { m, h, start } = loaded(prog, regs);
  // Room for the largest block plus one op: each block built after one of two ops or more flushes
  // the cache first. The blocks at 0, 12, 4, 12 again and 24 are built in that order, each after
  // a flush; the second run of the block at 12 must not find the first one's table, which the
  // block at 4 has overwritten.
  const cache = new CodeCache(m.ram, () => m.harts, 4 * (MAX_BLOCK + 1) + 4);
  let retired = 0;
  while (retired < 2 * 5 + 10) retired += runHart(h, cache, 10);
  assert.equal(cache.tables.resets, 4);
  assert.ok(cache.tables.top <= cache.tables.max);
  assert.equal(h.x[2 * 10], 6); // x10 (pairs: x[2r] is the low word)
  assert.equal(h.x[2 * 11], 0);
  assert.equal(m.ram.view.getInt32(DATA, true), 6);
  assert.equal(h.pc - start, 24); // at the final `j .`
});

/**
 * A loop of `rounds` passes adding 3 to x10 and storing it at DATA, then `j .` at byte 20:
 *  0: addi x11, x0, rounds; 4: loop: addi x10, x10, 3; 8: sd x10, 0(x5); 12: addi x11, x11, -1;
 * 16: bne x11, x0, loop; 20: j .
 */
function storeLoop(rounds: number): ReturnType<typeof loaded> {
  const prog = [
    I(rounds, 0, 0, 11, 0x13),
    I(3, 10, 0, 10, 0x13),
    S(0, 10, 5, 3),
    I(-1, 11, 0, 11, 0x13),
    B(-12, 0, 11, 1),
    J(0, 0),
  ];
  const regs = new Int32Array(66);
  regs[2 * 5] = (RAM_BASE + DATA) | 0; // x5
  return loaded(prog, regs);
}

test("trim drops every block, compiled ones too, and the guest runs on unchanged (the VM process's trim after boot)", () => {
  const { m, h, start } = storeLoop(40);
  const cache = new CodeCache(m.ram, () => m.harts);
  // Twenty rounds of the loop in the interpreter, then its block compiled by whichever tier
  // compiles here (forced: it has not run the default threshold's times).
  let retired = 0;
  while (retired < 1 + 4 * 20) retired += runHart(h, cache, 1 + 4 * 20 - retired);
  const loop = cache.lookup(h);
  cache.compile(loop);
  if (cache.wasm) cache.wasm.flush();
  assert.ok(loop.wx >= 0 || loop.run !== null, "the loop's block is compiled");
  assert.ok(cache.trim() >= 2, "the first block and the loop's were dropped");
  assert.ok(loop.dead);
  assert.equal(loop.wx, -1, "its wasm slot was given back");
  assert.equal(cache.tables.top, 0);
  assert.equal(
    m.ram.codePages.reduce((a, b) => a + b, 0),
    0,
  );
  while (h.pc - start !== 20) runHart(h, cache, 1000);
  assert.notEqual(cache.lookup(h), loop, "blocks are built again");
  assert.equal(h.x[2 * 10], 120);
  assert.equal(h.x[2 * 11], 0);
  assert.equal(m.ram.view.getInt32(DATA, true), 120);
});

test("runHart's slow bound: a long slice ends after that many instructions interpreted or traps taken, compiled code runs on", () => {
  const { m, h, start } = storeLoop(2000);
  const cache = new CodeCache(m.ram, () => m.harts);
  // Interpreted (the loop's block runs far below the threshold here): each slice of a budget of a
  // million ends once 50 instructions were interpreted, within the block that crossed 50.
  let retired = 0;
  for (let i = 0; i < 20; i++) {
    const n = runHart(h, cache, 1_000_000, 50);
    assert.ok(n >= 50 && n < 50 + 4, `a slice of ${n} instructions`);
    retired += n;
  }
  // The loop's block compiled (forced) by whichever tier compiles here: the rest of its 2,000
  // rounds run in one slice whose interpreted part (the first block run, the final `j .`) still
  // ends it at 50.
  const loop = cache.lookup(h);
  cache.compile(loop);
  if (cache.wasm) cache.wasm.flush();
  assert.ok(loop.wx >= 0 || loop.run !== null, "the loop's block is compiled");
  const n = runHart(h, cache, 1_000_000, 50);
  assert.ok(n > 1 + 4 * 2000 - retired, `the compiled loop ran on: ${n}`);
  assert.ok(n < 1 + 4 * 2000 - retired + 50 + 4, `then the slice ended: ${n}`);
  assert.equal(h.pc - start, 20);
  assert.equal(h.x[2 * 10], 6000);
  assert.equal(m.ram.view.getInt32(DATA, true), 6000);
  // Traps that make no progress (mtvec at 0, where no RAM is: every fetch faults) count too.
  h.mtvec = 0;
  h.pc = 0;
  assert.equal(runHart(h, cache, 1_000_000, 30), 0);
});

test("every tier counts the instructions of superblocks left early at a taken branch", () => {
  //  0: addi x11, x0, 10
  //  4: loop: andi x12, x11, 1
  //  8: beq x12, x0, +8        (a side exit to 16 when x11 is even)
  // 12: addi x10, x10, 1
  // 16: addi x11, x11, -1
  // 20: bne x11, x0, -16       (a side exit back to 4)
  // 24: j .
  // Blocks start at 0, 16 and 4 and run on through untaken branches. Until pc 24 and the one run
  // of `j .` there: 1 + 5 odd rounds of 5 + 5 even rounds of 4 + 1 = 47 instructions.
  const prog = [
    I(10, 0, 0, 11, 0x13),
    I(1, 11, 7, 12, 0x13),
    B(8, 0, 12, 0),
    I(1, 10, 0, 10, 0x13),
    I(-1, 11, 0, 11, 0x13),
    B(-16, 0, 11, 1),
    J(0, 0),
  ];
  for (const tier of TIERS) {
    const { m, h, start } = loaded(prog);
    for (const o of [0, 4, 16]) {
      h.pc = start + o;
      compileIn(m, m.cache.lookup(h), tier);
    }
    h.pc = start;
    let retired = 0;
    let calls = 0;
    do {
      retired += runHart(h, m.cache, 1);
      calls++;
    } while (h.pc !== start + 24 && calls < 100);
    assert.equal(retired, 47, tier);
    assert.equal(h.instret, 47, tier);
    assert.equal(h.x[2 * 10], 5, tier);
    // One block per call: once from 0, five times from 16, nine from 4 (each runs on through
    // its untaken branches).
    assert.equal(calls, 15, tier);
  }
});

test("a block looping on itself in compiled code traps with the exact count, pc and cause", () => {
  //  0: loop: addi x11, x11, 1
  //  4: ld x12, 0(x5)
  //  8: addi x5, x5, 256
  // 12: jal x0, loop          (the block jumps to itself: compiled code loops in place)
  // 16: handler: csrrs x13, minstret, x0
  // 20: j .
  // x5 starts 5 * 256 bytes below the end of RAM: five rounds load, the sixth faults at its ld.
  const prog = [
    I(1, 11, 0, 11, 0x13),
    I(0, 5, 3, 12, 0x03),
    I(256, 5, 0, 5, 0x13),
    J(-12, 0),
    I(0xb02, 0, 2, 13, 0x73),
    J(0, 0),
  ];
  const ramSize = 1 << 20;
  for (const tier of TIERS) {
    const regs = new Int32Array(66);
    const x5 = RAM_BASE + ramSize - 5 * 256;
    regs[10] = x5 | 0;
    regs[11] = Math.floor(x5 / 2 ** 32);
    const { m, h, start } = loaded(prog, regs, ramSize);
    h.mtvec = start + 16;
    compileIn(m, m.cache.lookup(h), tier);
    const ret = runHart(h, m.cache, 1000);
    const got = {
      pc: h.pc - start,
      mepc: h.mepc - start,
      mcause: h.mcause,
      x11: h.x[22],
      x5: h.x[10]! - (x5 | 0),
      x13: h.x[26],
      ret,
      instret: h.instret,
    };
    // 5 rounds of 4, then the addi before the faulting ld: minstret reads 21 in the handler. The
    // run loop's count agrees with instret (it stops at its budget inside the one-instruction `j .`);
    // the trap spent one unit of the budget of 1000 (runHart), so 999 instructions retired.
    assert.deepEqual(got, { pc: 20, mepc: 4, mcause: 5, x11: 6, x5: 5 * 256, x13: 21, ret: 999, instret: 999 }, tier);
  }
});

test("compiled code runs a loop in place when its block ends in a closure (a CSR op)", () => {
  //  0: loop: addi x10, x10, 1
  //  4: bne x10, x11, loop     (a side exit back to the block's own start)
  //  8: csrrs x13, minstret, x0 (ends the block: a closure that sets the pc)
  // 12: j .
  // Linux's __clear_user is such a loop, followed by `csrc sstatus`.
  const prog = [I(1, 10, 0, 10, 0x13), B(-4, 11, 10, 1), I(0xb02, 0, 2, 13, 0x73), J(0, 0)];
  for (const tier of ["js", "wasm"] as const) {
    const regs = new Int32Array(66);
    regs[22] = 50; // x11
    const { m, h, start } = loaded(prog, regs);
    const b = m.cache.lookup(h);
    compileIn(m, b, tier);
    let jsCalls = 0;
    if (tier === "js") {
      const run = b.run!;
      b.run = (...a) => (jsCalls++, run(...a));
    }
    const entries = tier === "wasm" ? countEntries(m) : () => jsCalls;
    // A budget that leaves the `j .` below the loop mark (exec.ts LOOP_MARK): it stays interpreted.
    runHart(h, m.cache, 500);
    assert.equal(h.x[26], 100, `${tier}: minstret after 50 rounds of 2`);
    assert.equal(h.pc - start, 12, tier);
    assert.equal(entries(), 1, `${tier}: the loop ran inside one call of compiled code`);
  }
});

/** Count the wasm tier's entries from the run loop. */
function countEntries(m: Machine): () => number {
  const w = m.cache.wasm!;
  const run = w.run.bind(w);
  let calls = 0;
  w.run = (...a) => (calls++, run(...a));
  return () => calls;
}

test("compiled wasm blocks chain into each other without the run loop, and stop at one that is not compiled", () => {
  //  0: A: addi x10, x10, 1
  //  4:    jal x0, C
  //  8:    nop
  // 12: C: addi x11, x11, 3
  // 16:    bne x10, x12, A      (a side exit to another block)
  // 20: D: j .                  (left to the interpreter)
  const prog = [I(1, 10, 0, 10, 0x13), J(8, 0), I(0, 0, 0, 0, 0x13), I(3, 11, 0, 11, 0x13), B(-16, 12, 10, 1), J(0, 0)];
  for (const tier of TIERS) {
    const regs = new Int32Array(66);
    regs[24] = 50; // x12
    const { m, h, start } = loaded(prog, regs);
    for (const o of [0, 12]) {
      h.pc = start + o;
      compileIn(m, m.cache.lookup(h), tier);
    }
    h.pc = start;
    const entries = tier === "wasm" ? countEntries(m) : () => 1;
    // D runs 400 times, below the loop mark (exec.ts LOOP_MARK): it stays interpreted.
    const ret = runHart(h, m.cache, 600);
    assert.deepEqual(
      { x10: h.x[20], x11: h.x[22], pc: h.pc - start, ret, instret: h.instret },
      { x10: 50, x11: 150, pc: 20, ret: 600, instret: 600 },
      tier,
    );
    assert.equal(entries(), 1, `${tier}: 100 blocks in one entry`);
  }
});

test("compiled code trusts no page cache the hart's area holds when it is entered", () => {
  // Page caches are slots of the hart's area that every compiled function shares (emitter.ts);
  // anything may change the TLBs outside compiled code, so WasmTier.run empties them at entry.
  //  0: ld x10, 0(x5)
  //  4: add x12, x12, x10
  //  8: addi x11, x11, -1
  // 12: bne x11, x0, 0       (one block looping on itself, compiled)
  // 16: j .
  const prog = [I(0, 5, 3, 10, 0x03), R(0, 10, 12, 0, 12, 0x33), I(-1, 11, 0, 11, 0x13), B(-12, 0, 11, 1), J(0, 0)];
  const at = 0x40000; // the page x5 points into; the next one holds another value
  const regs = new Int32Array(66);
  regs[10] = (RAM_BASE + at) | 0; // x5 (its high word 0)
  regs[22] = 100; // x11
  const { m, h, start } = loaded(prog, regs);
  m.ram.view.setInt32(at, 7, true);
  m.ram.view.setInt32(at + 0x1000, 1000, true);
  m.cache.wasm!.compileNow(m.cache.lookup(h));
  h.pc = start;
  runHart(h, m.cache, 40);
  // What a stale cache of x5's reads would hold: x5's page, found at the next page's RAM offset.
  const slot = (HartArea.pages + 16 * 5) >>> 2;
  h.slots[slot] = (RAM_BASE + at) | 0;
  h.slots[slot + 1] = 0;
  h.slots[slot + 2] = (at + 0x1000 - ((RAM_BASE + at) | 0)) | 0;
  runHart(h, m.cache, 1000);
  assert.deepEqual({ x11: h.x[22], x12: h.x[24], pc: h.pc - start }, { x11: 0, x12: 700, pc: 16 });
});

test("a chain follows a return (JALR) through the execute TLB as well as in-page jumps", () => {
  //  0: A: addi x10, x10, 1
  //  4:    jal x1, F
  //  8: B: bne x10, x12, A      (a side exit)
  // 12:    j .                  (its own block, left to the interpreter)
  // 16: F: addi x11, x11, 3
  // 20:    jalr x0, 0(x1)       (to B: a computed target, looked up in the TLB)
  const prog = [I(1, 10, 0, 10, 0x13), J(12, 1), B(-8, 12, 10, 1), J(0, 0), I(3, 11, 0, 11, 0x13), I(0, 1, 0, 0, 0x67)];
  const regs = new Int32Array(66);
  regs[24] = 50; // x12
  const { m, h, start } = loaded(prog, regs);
  for (const o of [0, 8, 16]) {
    h.pc = start + o;
    compileIn(m, m.cache.lookup(h), "wasm");
  }
  h.pc = start;
  const entries = countEntries(m);
  runHart(h, m.cache, 500); // the `j .` runs below the loop mark (exec.ts LOOP_MARK)
  assert.deepEqual({ x10: h.x[20], x11: h.x[22], pc: h.pc - start }, { x10: 50, x11: 150, pc: 12 });
  assert.equal(entries(), 1, "150 blocks in one entry");
});

test("a store to another page's code drops that page's compiled block from the chain", () => {
  // 0x1ff8: A: sw x13, 0(x5)      x5 = the first instruction of B, x13 = addi x10, x0, 42
  // 0x1ffc:    jal x0, B
  // 0x2000: B: addi x10, x0, 1    (the next page; compiled before A runs)
  // 0x2004:    j .
  const newInst = I(42, 0, 0, 10, 0x13);
  for (const tier of TIERS) {
    const m = new Machine(new GuestRam(1 << 20), 1, () => {});
    const h = m.harts[0]!;
    const regs = new Int32Array(66);
    regs[10] = (RAM_BASE + CODE_END) | 0; // x5
    regs[26] = newInst; // x13
    place(m, h, [S(0, 13, 5, 2), J(4, 0)], regs, 1);
    m.ram.view.setInt32(CODE_END, I(1, 0, 0, 10, 0x13), true);
    m.ram.view.setInt32(CODE_END + 4, J(0, 0), true);
    const start = h.pc;
    h.pc = RAM_BASE + CODE_END;
    compileIn(m, m.cache.lookup(h), tier);
    h.pc = start;
    compileIn(m, m.cache.lookup(h), tier);
    runHart(h, m.cache, 100);
    assert.equal(h.x[20], 42, `${tier}: the rewritten instruction ran`);
    assert.equal(h.pc, RAM_BASE + CODE_END + 4, tier);
  }
});

/** Let the event loop turn until every block of `bs` is compiled (the tier installs batches there). */
async function installed(bs: readonly Block[]): Promise<boolean> {
  for (let i = 0; i < 5000 && !bs.every((b) => b.wx >= 0); i++) await new Promise((r) => setTimeout(r, 1));
  return bs.every((b) => b.wx >= 0);
}

test("the wasm tier compiles hot blocks a batch at a time off the thread, or at once when one of them stays hot", async () => {
  // 17 blocks, each `addi x10, x10, 1; jal x0, next`, then `j .`.
  const prog: number[] = [];
  for (let i = 0; i < 17; i++) prog.push(I(1, 10, 0, 10, 0x13), J(4, 0));
  prog.push(J(0, 0));
  const { m, h, start } = loaded(prog);
  const blocks = Array.from({ length: 17 }, (_, i) => {
    h.pc = start + 8 * i;
    return m.cache.lookup(h);
  });
  const tier = m.cache.wasm!;
  const hot = 100;
  blocks.slice(0, 15).forEach((b) => assert.equal(tier.compile(b, hot), false, "queued"));
  assert.ok(blocks.slice(0, 15).every((b) => b.wx === -1 && b.queued));
  assert.equal(tier.compile(blocks[15]!, hot), false, "the sixteenth fills the batch, which compiles off the thread");
  assert.ok(
    blocks.slice(0, 16).every((b) => b.compiling && b.wx === -1),
    "meanwhile the blocks stay in the interpreter",
  );
  blocks[3]!.hits = 2 * hot;
  assert.equal(tier.compile(blocks[3]!, hot), false, "a block being compiled is not queued again");
  assert.ok(await installed(blocks.slice(0, 16)), "installed once compiled");
  const idx = blocks.slice(0, 16).map((b) => b.wx);
  assert.ok(new Set(idx).size === 16, "sixteen table slots");
  const last = blocks[16]!;
  assert.equal(tier.compile(last, hot), false);
  last.hits = 2 * hot - 1;
  assert.equal(tier.compile(last, hot), false, "not yet hot twice over");
  last.hits = 2 * hot;
  tier.compile(last, hot);
  assert.ok(await installed([last]), "hot twice over: its batch compiles as it is");
  // And the compiled chain runs: 17 increments, then `j .`.
  h.pc = start;
  const entries = countEntries(m);
  runHart(h, m.cache, 500); // the `j .` runs below the loop mark (exec.ts LOOP_MARK)
  assert.equal(h.x[20], 17);
  assert.equal(h.pc - start, 8 * 17);
  assert.equal(entries(), 1, "the 17 blocks chained in one entry");
});

test("a block whose code is overwritten while its batch compiles is never installed; its slot is reused", async () => {
  const prog: number[] = [];
  for (let i = 0; i < 16; i++) prog.push(I(1, 10, 0, 10, 0x13), J(4, 0));
  prog.push(J(0, 0));
  const { m, h, start } = loaded(prog);
  const blocks = Array.from({ length: 16 }, (_, i) => {
    h.pc = start + 8 * i;
    return m.cache.lookup(h);
  });
  const tier = m.cache.wasm!;
  blocks.forEach((b) => tier.compile(b, 100));
  assert.ok(blocks.every((b) => b.compiling));
  m.cache.invalidatePage((start - RAM_BASE) >>> 12); // as a store to the page does
  for (let i = 0; i < 5000 && blocks.some((b) => b.compiling); i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(
    blocks.every((b) => b.dead && !b.compiling && b.wx === -1),
    "dead blocks get no slot",
  );
  // The same code, built again, compiles into the slots the dead batch gave back.
  const again = Array.from({ length: 16 }, (_, i) => {
    h.pc = start + 8 * i;
    return m.cache.lookup(h);
  });
  again.forEach((b) => tier.compile(b, 100));
  assert.ok(await installed(again));
  assert.ok(
    again.every((b) => b.wx < 16),
    `slots reused: ${again.map((b) => b.wx).join(",")}`,
  );
  h.pc = start;
  runHart(h, m.cache, 1000);
  assert.equal(h.x[20], 16);
});

/** What a hart ends with: registers, pcs relative to `base`, trap, counts, the data area. */
function hartState(m: Machine, h: Hart, base: number, ret: number) {
  return {
    x: Array.from(h.x.subarray(0, 64)),
    pc: h.pc - base,
    mepc: h.mepc - base,
    mcause: h.mcause,
    ret,
    instret: h.instret,
    data: Buffer.from(m.ram.u8.subarray(DATA - 0x1000, DATA + 0x9000)).toString("base64"),
  };
}

/** Run a hart from `start` for one 2000-instruction slice; what it ends with, relative to `start`. */
/**
 * Base registers for the loop tests: in the data area, now and then unmapped (0x1000), and x6 now
 * and then near the end of RAM, so that it walks off its end after a few passes.
 */
function loopBase(r: () => number, ramSize: number): (base: number) => number {
  return (base) =>
    r() % 16 === 0
      ? 0x1000
      : base === 6 && r() % 2 === 0
        ? RAM_BASE + ramSize - 64 * (1 + (r() % 30))
        : RAM_BASE + DATA + (r() % 0x7000);
}

function runFrom(m: Machine, h: Hart, start: number, ramSize: number) {
  h.pc = start;
  const ret = runHart(h, m.cache, 2000);
  return { ...hartState(m, h, start, ret), end: Buffer.from(m.ram.u8.subarray(ramSize - 0x1000)).toString("base64") };
}

test("random loops of one block run alike in every tier, registers held across passes in the wasm tier", () => {
  // loop: <a random block body>; addi x11, x11, -1; addi x6, x6, 64; bne x11, x0, loop;
  // j next; next: ebreak; handler: j . (mtvec). The body's own branches leave the loop now and
  // then, into code that may be anything (zeros trap as illegal instructions); its loads and
  // stores fault now and then, also in a later pass (x6 walks off the end of RAM). x11 is never a
  // random destination (DESTS), so every loop ends. The wasm tier holds the loop's registers in
  // locals across passes (emit.ts blockBody): a register written in one pass must reach memory
  // when the loop ends, and when a later pass traps before writing it again.
  const r = rng(20261206);
  const ramSize = 1 << 20;
  let finished = 0;
  let late = 0;
  const machines = TIERS.map(() => new Machine(new GuestRam(ramSize), 1, () => {}));
  for (let n = 0; n < 400; n++) {
    const words = randomBlock(r);
    // The body: without the random ender (a final jump or branch), if there is one.
    const body = words.length > 1 ? words.slice(0, -1) : words;
    const rounds = 1 + (r() % 40);
    const size = body.reduce((s, w) => s + ((w & 3) !== 3 ? 2 : 4), 0);
    const tail = [I(-1, 11, 0, 11, 0x13), I(64, 6, 0, 6, 0x13), B(-(size + 8), 0, 11, 1), J(4, 0), 0x00100073, J(0, 0)];
    const prog = [...body, ...tail];
    const regs = randomRegs(r, loopBase(r, ramSize));
    regs[22] = rounds; // x11
    regs[23] = 0;
    const seed = r();
    const want = sameInEveryTier(machines, prog, regs, seed, ramSize, `loop, ${rounds} rounds`, (m, h, tier) => {
      h.mtvec = h.pc + size + 20;
      compileIn(m, m.cache.lookup(h), tier);
    });
    if (want.mcause === 3 && want.x[22] === 0) finished++;
    if (want.mcause === 5 || want.mcause === 7) if (want.x[22]! < rounds) late++;
  }
  assert.ok(finished > 100, `most loops should run all their rounds (${finished} did)`);
  assert.ok(late > 5, `some loops should fault in a later pass (${late} did)`);
});

/**
 * Runs `prog` (placed with `regs` and data from `seed`) from its start through every tier, after
 * `prepare` (trap vector, compiles) on each machine; asserts every tier ends alike and returns the
 * interpreter's end state. `what` names the case in a failure.
 */
function sameInEveryTier(
  machines: Machine[],
  prog: number[],
  regs: Int32Array,
  seed: number,
  ramSize: number,
  what: string,
  prepare: (m: Machine, h: Hart, tier: (typeof TIERS)[number]) => void,
): ReturnType<typeof runFrom> {
  const results = TIERS.map((tier, i) => {
    const m = machines[i]!;
    const h = m.harts[0]!;
    place(m, h, prog, regs, seed);
    m.ram.u8.fill(0, ramSize - 0x1000);
    h.instret = 0;
    h.mcause = 0;
    h.mepc = 0;
    const start = h.pc;
    prepare(m, h, tier);
    return runFrom(m, h, start, ramSize);
  });
  const where = `${prog.map((w) => (w >>> 0).toString(16)).join(" ")}: ${what}`;
  assert.deepEqual(results[1], results[0], `js: ${where}`);
  assert.deepEqual(results[2], results[0], `wasm: ${where}`);
  return results[0]!;
}

/**
 * The blocks at `offsets` from the hart's pc, compiled by `tier` (the wasm tier's in one batch);
 * the pc is left where it was.
 */
function blocksIn(m: Machine, h: Hart, tier: (typeof TIERS)[number], offsets: readonly number[]): Block[] {
  const start = h.pc;
  const blocks = offsets.map((o) => {
    h.pc = start + o;
    return m.cache.lookup(h);
  });
  h.pc = start;
  if (tier === "js") for (const blk of blocks) blk.run = compileBlock(blk);
  if (tier === "wasm") {
    const w = m.cache.wasm!;
    for (const blk of blocks) w.compile(blk, 1000);
    w.flush();
  }
  return blocks;
}

/**
 * sameInEveryTier for a loop of blocks A (`sa` bytes), B (`sb` bytes) and C (after them), each
 * compiled by the tier in one batch; also says whether the wasm tier put A and B in one function.
 */
function loopInEveryTier(
  machines: Machine[],
  prog: number[],
  regs: Int32Array,
  seed: number,
  sa: number,
  sb: number,
  ramSize: number,
  rounds: number,
): { want: ReturnType<typeof runFrom>; together: boolean } {
  let together = false;
  const want = sameInEveryTier(machines, prog, regs, seed, ramSize, `blocks, ${rounds} rounds`, (m, h, tier) => {
    h.mtvec = h.pc + sa + sb + 8;
    const blocks = blocksIn(m, h, tier, [0, sa, sa + sb + 4]);
    if (tier === "wasm") together = m.cache.wasm!.sameFunction(blocks[0]!.wx, blocks[1]!.wx);
  });
  return { want, together };
}

test("random loops over several blocks of one page run alike in every tier, as one wasm region", () => {
  // A: <random body>; j B.  B: <random body>; addi x11, x11, -1; addi x6, x6, 64; bne x11, x0, A;
  // j C.  C: ebreak.  handler: j . (mtvec). The wasm tier compiles A, B and C in one batch: one
  // function for the page's three blocks (emit.ts regionBody), which passes from A to B and back
  // without the hub, registers held in locals throughout. The bodies' own branches leave now and
  // then, to a member's start or anywhere else; accesses fault now and then, also late.
  const r = rng(20261207);
  const ramSize = 1 << 20;
  const bytes = (ws: number[]): number => ws.reduce((s, w) => s + ((w & 3) !== 3 ? 2 : 4), 0);
  const bodyOf = (): number[] => {
    const words = randomBlock(r);
    return words.length > 1 ? words.slice(0, -1) : words;
  };
  let finished = 0;
  let shared = 0;
  const machines = TIERS.map(() => new Machine(new GuestRam(ramSize), 1, () => {}));
  for (let n = 0; n < 300; n++) {
    const a = bodyOf();
    const b = bodyOf();
    const rounds = 1 + (r() % 30);
    const sa = bytes(a) + 4;
    const sb = bytes(b) + 12;
    const prog = [
      ...a,
      J(4, 0), // j B: the next instruction, and the end of block A
      ...b,
      I(-1, 11, 0, 11, 0x13),
      I(64, 6, 0, 6, 0x13),
      B(-(sa + sb - 4), 0, 11, 1),
      J(4, 0),
      0x00100073,
      J(0, 0),
    ];
    const regs = randomRegs(r, loopBase(r, ramSize));
    regs[22] = rounds; // x11
    regs[23] = 0;
    const seed = r();
    const { want, together } = loopInEveryTier(machines, prog, regs, seed, sa, sb, ramSize, rounds);
    if (together) shared++;
    if (want.mcause === 3 && want.x[22] === 0) finished++;
  }
  assert.ok(finished > 80, `most loops should run all their rounds (${finished} did)`);
  assert.ok(shared > 250, `A and B should share one function (${shared} of 300 did)`);
});

test("random programs jumping indirectly among blocks compiled one per batch run alike in every tier, code rewritten as they run", () => {
  // Four blocks in three pages (RAM 0x3000, 0x3800, 0x4000, 0x4800), each: <random body>;
  // addi x11, x11, -1; bne x11, x0, +8; ebreak; andi x13, x11, 3; slli x13, x13, 11;
  // add x13, x13, x14; jalr x0/x1, 0(x13): a computed jump to block (x11 & 3), as an
  // interpreter's dispatch is. Every block is compiled in a batch of its own (a module of its
  // own), so compiled code passes from one to the next through the table (tier.ts: the hub's
  // execute-TLB and jump-cache lookup) or returns to the run loop. In half of the programs block 0
  // also stores an instruction into block 2's first one (block 3 shares its page): each pass kills
  // block 2, so a compiled exit must not reach its released function. The hart runs in slices of
  // 97 instructions, each entered afresh; results, counts and traps must agree. The bodies' own
  // branches and accesses leave or fault now and then, as in the tests above.
  const r = rng(20261207);
  const ramSize = 1 << 20;
  const CODE = 0x3000;
  const put = (mem: Uint8Array, at: number, words: readonly number[]): number => {
    for (const w of words) {
      const n = (w & 3) !== 3 ? 2 : 4;
      for (let k = 0; k < n; k++) mem[at + k] = (w >>> (8 * k)) & 0xff;
      at += n;
    }
    return at;
  };
  let finished = 0;
  let rewritten = 0;
  let chained = 0;
  const machines = TIERS.map(() => new Machine(new GuestRam(ramSize), 1, () => {}));
  for (let n = 0; n < 300; n++) {
    const writes = r() % 2 === 0;
    const blocks = [0, 1, 2, 3].map((i) => {
      const words = randomBlock(r);
      const body = words.length > 1 ? words.slice(0, -1) : words;
      const store = i === 0 && writes ? [S(0, 15, 16, 2)] : []; // sw x15, 0(x16)
      const link = r() % 2 === 0 ? 0 : 1;
      return [
        ...store,
        ...body,
        I(-1, 11, 0, 11, 0x13),
        B(8, 0, 11, 1),
        0x00100073,
        I(3, 11, 7, 13, 0x13),
        I(11, 13, 1, 13, 0x13),
        R(0, 14, 13, 0, 13, 0x33),
        I(0, 13, 0, link, 0x67),
      ];
    });
    const rounds = 20 + (r() % 60);
    const regs = randomRegs(r);
    const set = (x: number, v: number): void => {
      regs[2 * x] = v | 0;
      regs[2 * x + 1] = Math.floor(v / 2 ** 32);
    };
    set(11, rounds);
    set(14, RAM_BASE + CODE);
    set(15, I(7, 10, 0, 10, 0x13)); // addi x10, x10, 7
    set(16, RAM_BASE + CODE + 0x1000);
    const seed = r();
    const results = TIERS.map((tier, i) => {
      const m = machines[i]!;
      const h = m.harts[0]!;
      place(m, h, [J(0, 0)], regs, seed); // the trap handler, `j .`, ends at CODE_END
      h.mtvec = h.pc;
      m.ram.u8.fill(0, CODE, CODE + 0x2000);
      const ends = blocks.map((words, j) => put(m.ram.u8, CODE + 0x800 * j, words));
      m.cache.invalidateAll();
      h.instret = 0;
      h.mcause = 0;
      h.mepc = 0;
      // Each block and its dispatch (after the ebreak), compiled alone.
      for (let j = 0; j < 4; j++)
        for (const at of [CODE + 0x800 * j, ends[j]! - 16]) {
          h.pc = RAM_BASE + at;
          compileIn(m, m.cache.lookup(h), tier);
        }
      const entries = tier === "wasm" ? countEntries(m) : () => 0;
      h.pc = RAM_BASE + CODE + 0x800 * (rounds & 3);
      let ret = 0;
      for (let s = 0; s < 200 && h.mcause === 0; s++) ret += runHart(h, m.cache, 97);
      return {
        entries: entries(),
        out: {
          ...hartState(m, h, RAM_BASE, ret),
          code: Buffer.from(m.ram.u8.subarray(CODE, CODE + 0x2000)).toString("base64"),
        },
      };
    });
    const what = `program ${n}: ${blocks.map((ws) => ws.map((w) => (w >>> 0).toString(16)).join(" ")).join(" | ")}, ${rounds} rounds`;
    assert.deepEqual(results[1]!.out, results[0]!.out, `js: ${what}`);
    assert.deepEqual(results[2]!.out, results[0]!.out, `wasm: ${what}`);
    const want = results[0]!.out;
    if (want.mcause === 3 && want.x[22] === 0) {
      finished++;
      if (writes) rewritten++;
      // Fewer entries from the run loop than slices-worth of dispatches: exits passed to compiled blocks.
      else if (results[2]!.entries < rounds / 2) chained++;
    }
  }
  assert.ok(finished > 40, `most programs should run all their rounds (${finished} did)`);
  assert.ok(rewritten > 15, `some of those rewrite code as they run (${rewritten} did)`);
  assert.ok(chained > 15, `compiled exits should reach compiled blocks without the run loop (${chained} did)`);
});

test("a store beside a block in a code page keeps the block, compiled or not; a store into one drops it, in every tier", () => {
  // 0x1ff8: W: sw x13, 0(x5)       the store under test
  // 0x1ffc:    jal x0, B
  // 0x2000: B: addi x10, x0, 1     (compiled in the tier under test before W runs)
  // 0x2004:    j .
  // 0x2040:    a data word beside B and C, in their page
  // 0x2080: C: addi x11, x0, 7     (built and run once: interpreted)
  // 0x2084:    j .
  // With the old rule, any store to the page dropped B and C (engine/code-writes.ts).
  const B0 = CODE_END;
  const C0 = CODE_END + 0x80;
  const cases = [
    { name: "beside", at: CODE_END + 0x40, value: 0x12345678, x10: 1, bDead: false, cDead: false },
    { name: "into C", at: C0, value: I(9, 0, 0, 11, 0x13), x10: 1, bDead: false, cDead: true },
    { name: "into B", at: B0, value: I(42, 0, 0, 10, 0x13), x10: 42, bDead: true, cDead: false },
  ];
  for (const tier of TIERS)
    for (const c of cases) {
      const m = new Machine(new GuestRam(1 << 20), 1, () => {});
      const h = m.harts[0]!;
      const regs = new Int32Array(66);
      regs[10] = (RAM_BASE + c.at) | 0; // x5
      regs[26] = c.value; // x13
      place(m, h, [S(0, 13, 5, 2), J(4, 0)], regs, 1);
      m.ram.view.setInt32(B0, I(1, 0, 0, 10, 0x13), true);
      m.ram.view.setInt32(B0 + 4, J(0, 0), true);
      m.ram.view.setInt32(C0, I(7, 0, 0, 11, 0x13), true);
      m.ram.view.setInt32(C0 + 4, J(0, 0), true);
      const start = h.pc;
      h.pc = RAM_BASE + C0;
      runHart(h, m.cache, 3);
      h.pc = RAM_BASE + C0;
      const blockC = m.cache.lookup(h);
      h.pc = RAM_BASE + B0;
      const blockB = m.cache.lookup(h);
      compileIn(m, blockB, tier);
      h.pc = start;
      compileIn(m, m.cache.lookup(h), tier);
      runHart(h, m.cache, 100);
      const what = `${tier}, ${c.name}`;
      assert.equal(h.x[20], c.x10, `${what}: B's code as it is in memory ran`);
      assert.equal(h.pc, RAM_BASE + B0 + 4, what);
      assert.equal(m.ram.view.getInt32(c.at, true), c.value, `${what}: the store landed`);
      assert.equal(blockB.dead, c.bDead, `${what}: B dropped`);
      // A store into a compiled wasm block drops its page (a region's function may hold it).
      assert.equal(blockC.dead, c.cDead || (c.bDead && tier === "wasm"), `${what}: C dropped`);
      if (!c.bDead) {
        h.pc = RAM_BASE + B0;
        assert.equal(m.cache.lookup(h), blockB, `${what}: B is still the page's block`);
        if (tier !== "interpreter") assert.ok(blockB.wx >= 0 || blockB.run !== null, `${what}: B is still compiled`);
      }
      // C, run again, runs what memory now holds.
      h.pc = RAM_BASE + C0;
      runHart(h, m.cache, 3);
      assert.equal(h.x[22], c.name === "into C" ? 9 : 7, `${what}: C's code as it is in memory ran`);
    }
});

test("random loops whose loads and stores walk across pages run alike in every tier (the wasm tier's page caches)", () => {
  // A: <random loads and stores>; j B.  B: <random loads and stores>; addi x5, x5, STRIDE;
  // addi x11, x11, -1; bne x11, x0, A; j C.  C: ebreak.  handler: j . (mtvec). The wasm tier
  // compiles A and B as one region whose accesses go through page caches (emitter.ts
  // cachedAccess): x5 walks by a stride that stays in its page for many passes, leaves it every
  // pass, or is misaligned (an access that crosses a page); x6 stays put; x7 is now and then
  // unmapped (a fault) or in the code's own page (a store there goes the slow way, which drops
  // the code's blocks when it hits them), or at the start of RAM's last page. Every access must
  // see what the interpreter sees.
  const r = rng(20261207 + 14);
  const ramSize = 1 << 20;
  const pick = <T>(xs: readonly T[]): T => xs[r() % xs.length]!;
  const bytes = (ws: number[]): number => ws.reduce((s, w) => s + ((w & 3) !== 3 ? 2 : 4), 0);
  const offset = (): number => pick([0, 8, -8, 16, 4088, -4095, 3, 4093, ((r() & 0xfff) << 20) >> 20]);
  const body = (): number[] =>
    Array.from(
      { length: 1 + (r() % 6) },
      () =>
        r() % 3 === 0
          ? I(r() % 2048, pick(SRCS), 0, pick(DESTS), 0x13) // ADDI
          : r() & 1
            ? I(offset(), pick(BASES), r() % 7, pick(DESTS), 0x03) // LB LH LW LD LBU LHU LWU
            : S(offset(), pick(SRCS), pick(BASES), r() % 4), // SB SH SW SD
    );
  let finished = 0;
  let crossed = 0;
  let shared = 0;
  const machines = TIERS.map(() => new Machine(new GuestRam(ramSize), 1, () => {}));
  for (let n = 0; n < 300; n++) {
    const a = body();
    const b = body();
    const stride = pick([8, -8, 24, 3, 1000, 4096, -4096, 2049]);
    const rounds = 1 + (r() % 40);
    // x6 now and then at the start of RAM's last page: an access through it that crosses the
    // page's end leaves RAM (a fault).
    const regs = randomRegs(r, (base) =>
      base === 7 && r() % 4 === 0
        ? pick([0x1000, RAM_BASE + 0x1000 + (r() % 0x800)])
        : base === 6 && r() % 4 === 0
          ? RAM_BASE + ramSize - 0x1000
          : RAM_BASE + DATA + (r() % 0x7000),
    );
    regs[22] = rounds; // x11
    regs[23] = 0;
    const sa = bytes(a) + 4;
    const sb = bytes(b) + 12;
    const prog = [
      ...a,
      J(4, 0),
      ...b,
      I(stride, 5, 0, 5, 0x13),
      I(-1, 11, 0, 11, 0x13),
      B(-(sa + sb - 4), 0, 11, 1),
      J(4, 0),
      0x00100073,
      J(0, 0),
    ];
    const x5 = regs[10]! >>> 0;
    const seed = r();
    const { want, together } = loopInEveryTier(machines, prog, regs, seed, sa, sb, ramSize, rounds);
    if (together) shared++;
    if (want.mcause === 3 && want.x[22] === 0) finished++;
    if (want.x[10]! >>> 12 !== x5 >>> 12) crossed++;
  }
  assert.ok(finished > 60, `most loops should run all their rounds (${finished} did)`);
  assert.ok(crossed > 40, `x5 should leave its page in many loops (${crossed} did)`);
  assert.ok(shared > 250, `A and B should share one function (${shared} of 300 did)`);
});

test("random short diamonds and triangles run alike in every tier (the wasm tier's if-conversion)", () => {
  //   S: j J
  //   T: <taken arm>                    (the diamond's taken side: falls through into J)
  //   J: <pre>; andi x13, x6, MASK; [b<cc> ..., MID]; b<cc> x13, rs, L
  //      <triangle arm: up to 4 ops, MID the start of one of them>
  //   L: addi x11, x11, -1; addi x6, x6, 64; beq x11, x0, OUT; b<cc> x13, rs, T
  //      <fall arm>; j J
  // OUT: ebreak.  handler: csrr x14, minstret; j . (mtvec)
  // The wasm tier compiles S, T and J in one batch (T and J one region). Its if-conversion
  // (emit-select.ts) runs the triangle's arm and both arms of the diamond under guards: each
  // arm a few ALU ops and at most one store, now and then one that cannot be converted (five
  // ops, two stores). The conditions follow x6, which walks by 64 a pass, and random registers;
  // a store on an arm faults now and then (x7 unmapped, x6 walking off the end of RAM) or does
  // not happen on the other; a branch now and then enters the triangle's arm in its middle;
  // slices of 2000 instructions end mid-loop in the longer runs, where every tier must end alike.
  const r = rng(20261207 + 17);
  const ramSize = 1 << 20;
  const pick = <T>(xs: readonly T[]): T => xs[r() % xs.length]!;
  const imm12 = (): number => ((r() & 0xfff) << 20) >> 20;
  const size = (w: number): number => ((w & 3) !== 3 ? 2 : 4);
  const alu = (): number =>
    pick([
      () => I(imm12(), pick(SRCS), pick([0, 2, 3, 4, 6, 7]), pick(DESTS), 0x13), // ADDI SLTI SLTIU XORI ORI ANDI
      () => R(pick([0, 0x20]), pick(SRCS), pick(SRCS), 0, pick(DESTS), 0x33), // ADD SUB
      () => R(1, pick(SRCS), pick(SRCS), 0, pick(DESTS), 0x33), // MUL
      () => I(r() % 32, pick(SRCS), 1, pick(DESTS), 0x1b), // SLLIW
      () => (r() & 0xfffff000) | (pick(DESTS) << 7) | pick([0x37, 0x17]), // LUI AUIPC
      () => 0x0001 | ((pick(DESTS) || 1) << 7) | ((r() & 31) << 2), // C.ADDI
    ])();
  const store = (): number => S(pick([0, 8, -8, 16, 4092, 3]), pick(SRCS), pick(BASES), r() % 4);
  /** An arm of `n` ops: ALU ops and at most one store, or now and then two (not converted). */
  const armOf = (n: number): number[] => {
    const ops = Array.from({ length: n }, alu);
    const stores = n === 0 ? 0 : r() % 8 === 0 ? 2 : r() % 3 === 0 ? 0 : 1;
    for (let s = 0; s < stores; s++) ops[r() % n] = store();
    return ops;
  };
  const armLength = (): number => (r() % 10 === 0 ? 5 : r() % 5);
  const cc = (): number => pick([0, 1, 4, 5, 6, 7]);
  let finished = 0;
  let diamonds = 0;
  let triangles = 0;
  let stopped = 0;
  let takenFaults = 0;
  let fallFaults = 0;
  const machines = TIERS.map(() => new Machine(new GuestRam(ramSize), 1, () => {}));
  for (let n = 0; n < 300; n++) {
    const taken = armOf(armLength());
    const fall = armOf(armLength());
    const tri = armOf(1 + (r() % 4));
    const pre = Array.from({ length: r() % 3 }, () => (r() & 1 ? store() : alu()));
    const rs = pick([0, 0, ...SRCS]);
    const mid = r() % 4 === 0 ? r() % tri.length : -1;
    // Offsets, then the words: the branches' displacements need the arms' sizes.
    const bytes = (ws: number[]): number => ws.reduce((s, w) => s + size(w), 0);
    const T = 4;
    const Jo = T + bytes(taken);
    const mask = 64 << (r() % 3);
    const triBranch = Jo + bytes(pre) + 4 + (mid >= 0 ? 4 : 0);
    const L = triBranch + 4 + bytes(tri);
    const dBranch = L + 12;
    const out = dBranch + 4 + bytes(fall) + 4;
    const prog = [
      J(Jo, 0),
      ...taken,
      ...pre,
      I(mask, 6, 7, 13, 0x13), // andi x13, x6, mask
      ...(mid >= 0
        ? [B(triBranch + 4 + bytes(tri.slice(0, mid)) - (triBranch - 4), pick(SRCS), pick(SRCS), cc())]
        : []),
      B(L - triBranch, rs, 13, cc()),
      ...tri,
      I(-1, 11, 0, 11, 0x13),
      I(64, 6, 0, 6, 0x13),
      B(out - (L + 8), 0, 11, 0), // beq x11, x0, OUT
      B(T - dBranch, rs, 13, cc()),
      ...fall,
      J(Jo - (out - 4), 0),
      0x00100073,
      I(0xb02, 0, 2, 14, 0x73), // csrr x14, minstret: the count at the trap, which the spin hides
      J(0, 0),
    ];
    const rounds = r() % 4 === 0 ? 150 + (r() % 200) : 1 + (r() % 40);
    const regs = randomRegs(r, loopBase(r, ramSize));
    regs[22] = rounds; // x11
    regs[23] = 0;
    const seed = r();
    const want = sameInEveryTier(
      machines,
      prog,
      regs,
      seed,
      ramSize,
      `if-conversion, ${rounds} rounds`,
      (m, h, tier) => {
        h.mtvec = h.pc + out + 4;
        const blocks = blocksIn(m, h, tier, [0, T, Jo]);
        if (tier === "wasm") {
          // The shapes the conversion sees (every store given a page cache, as in a region).
          const members = new Map([blocks[1]!, blocks[2]!].map((b, j) => [b.off, j]));
          const j = blocks[2]!;
          for (let k = 0; k < j.count; k++) {
            const shape = branchShape([blocks[1]!, j], 1, k, members, () => true);
            if (shape?.kind === "diamond") diamonds++;
            if (shape?.kind === "triangle") triangles++;
          }
        }
      },
    );
    if (want.mcause === 3 && want.x[22] === 0) finished++;
    if (want.mcause === 0) stopped++;
    if (want.mcause === 7 && want.mepc >= T && want.mepc < Jo) takenFaults++;
    if (want.mcause === 7 && want.mepc >= dBranch) fallFaults++;
  }
  assert.ok(finished > 100, `most loops should run all their rounds (${finished} did)`);
  assert.ok(diamonds > 150, `most programs should hold a diamond the wasm tier converts (${diamonds} did)`);
  assert.ok(triangles > 150, `most programs should hold a triangle the wasm tier converts (${triangles} did)`);
  assert.ok(stopped > 10, `some runs should end their slice mid-loop (${stopped} did)`);
  assert.ok(takenFaults > 10 && fallFaults > 5, `stores on both arms should fault (${takenFaults}, ${fallFaults} did)`);
});
