/**
 * The JavaScript tier: a hot block becomes one JavaScript function that V8 compiles to host code.
 *
 * Kept as a fallback and a reference, not for speed: the wasm tier (../wasm/) compiles hot blocks
 * by default and is faster (docs/benchmarks.md, seventh session). This tier compiles them where
 * the wasm tier cannot run: a machine whose RAM does not fit in one wasm memory (4 GiB less the
 * harts' areas, machine/memory.ts) or a hart beyond the memory's eight hart areas (wasm/layout.ts
 * HART_SLOTS); and with CORRAL_TIER=js. The tests use it as a second compiler to compare against
 * (engine/tiers.test.ts, and the ISA suite runs every program with every block compiled by it).
 *
 * The common RV64I instructions (the fast subset of the instruction kinds, isa/kinds.ts: ALU
 * ops, loads, stores, jumps and branches) are emitted inline as JavaScript on the register
 * pairs, with operands and immediates folded in as constants; x0 as a source folds to 0.
 * Everything else (M, A, F/D, CSR, system) calls the instruction's decoded closure, so this file
 * only has to be right about what it emits. Memory accesses call the hart's TLB fast paths
 * (Hart.lw and friends), which V8 inlines into the block: one definition of translation serves
 * the closures and this tier (the interpreter, interp.ts, probes the same TLB arrays inline).
 *
 * Why compile at all, when the interpreter (the first tier) has no call per instruction either:
 * a compiled block has its operands folded in as constants and no dispatch between
 * instructions, and loops inside one page stay in host code. Before the interpreter, blocks
 * that were not hot ran as closure calls, one through V8's generic Call builtin per instruction
 * (a fifth of host time on kernel code).
 *
 * A block that loops back to its own start loops inside its function (compileBlock).
 *
 * Traps: only loads, stores and closure calls can raise; the index of the op about to run is kept
 * in a local and stored in `h.faultIndex` when a trap unwinds, so the run loop can name its pc.
 * The semantics here must equal the closures' (isa/ops-*.ts): tiers.test.ts runs random blocks
 * through the closures, the interpreter and this tier and compares, and the ISA suite runs with
 * every block compiled.
 */
import { entryAt, K, kindAt, type ClosureKind, type CompileInput, type Entry } from "../isa/kinds.js";
import type { Hart } from "../hart/hart.js";
import { mulLow, sll, sra, srl } from "../isa/ops-int.js";

export type { CompileInput } from "../isa/kinds.js";

const TWO32 = "4294967296";

/** Low and high word of register pair `p` (2*r) as source; x0 folds to constants. */
const lo = (p: number): string => (p === 0 ? "0" : `x[${p}]`);
const hi = (p: number): string => (p === 0 ? "0" : `x[${p + 1}]`);
/** Write a 32-bit result sign-extended to 64 bits (the W forms, chapter 5.3 of the unprivileged spec). */
const setW = (d: number, v: string): string => `{ const v = ${v}; x[${d}] = v; x[${d + 1}] = v >> 31; }`;
/** Set pair `d` from `v`, an exact integer held in a double (a pc-relative address). */
const setNum = (d: number, v: string): string =>
  `const v = ${v}; x[${d}] = v | 0; x[${d + 1}] = Math.floor(v / ${TWO32}) | 0;`;
/** Set pair `d` to the pc-relative link `h.pc + rel`, unless d is the scratch pair (rd = x0). */
const link = (d: number, rel: number): string => (d === 64 ? "" : `{ ${setNum(d, `h.pc + ${rel}`)} } `);
/** The virtual address rs1 + imm as a double, and its low word as an int32 (see Hart.lb). */
function addr(a: number, imm: number): string {
  return a === 0 ? `${imm}, ${imm | 0}` : `${hi(a)} * ${TWO32} + (${lo(a)} >>> 0) + ${imm}, (${lo(a)} + ${imm}) | 0`;
}

/** The source of one instruction, or null when it runs through its closure. `traps`: it may raise. */
interface Emitted {
  src: string;
  traps: boolean;
}

/** 64-bit signed and unsigned less-than of pairs a < b, as source. */
const slt = (ah: string, al: string, bh: string, bl: string): string =>
  `(${ah} < ${bh} || (${ah} === ${bh} && (${al} >>> 0) < (${bl} >>> 0)))`;
const sltu = (ah: string, al: string, bh: string, bl: string): string =>
  `((${ah} >>> 0) < (${bh} >>> 0) || (${ah} === ${bh} && (${al} >>> 0) < (${bl} >>> 0)))`;

/** d = a + (imm as a 64-bit value), with the carry out of the low word. */
function add64(d: number, a: number, bl: string, bh: string): string {
  return `{ const s = (${lo(a)} >>> 0) + (${bl} >>> 0); x[${d + 1}] = (${hi(a)} + ${bh} + (s > 4294967295 ? 1 : 0)) | 0; x[${d}] = s | 0; }`;
}

/** A shift of a pair by a constant 1..63 (sll, srl, sra as in ops-int.ts; 0 is classified a move). */
function shiftConst(kind: K.SLLI | K.SRLI | K.SRAI, d: number, a: number, s: number): string {
  const [l, h] = [lo(a), hi(a)];
  if (kind === K.SLLI)
    return s < 32
      ? `{ const l = ${l}; x[${d + 1}] = (${h} << ${s}) | (l >>> ${32 - s}); x[${d}] = l << ${s}; }`
      : `x[${d + 1}] = ${l} << ${s - 32}; x[${d}] = 0;`;
  const top = kind === K.SRLI ? ">>>" : ">>";
  return s < 32
    ? `{ const t = ${h}; x[${d}] = (${l} >>> ${s}) | (t << ${32 - s}); x[${d + 1}] = t ${top} ${s}; }`
    : kind === K.SRLI
      ? `x[${d}] = ${h} >>> ${s - 32}; x[${d + 1}] = 0;`
      : `{ const t = ${h}; x[${d}] = t >> ${s - 32}; x[${d + 1}] = t >> 31; }`;
}

/** Loads: the hart accessor, and how the high word is made. */
const LOADS: Record<K.LB | K.LH | K.LW | K.LD | K.LBU | K.LHU | K.LWU, [fn: string, high: "sign" | "zero" | "hiOut"]> =
  {
    [K.LB]: ["lb", "sign"],
    [K.LH]: ["lh", "sign"],
    [K.LW]: ["lw", "sign"],
    [K.LD]: ["ld", "hiOut"],
    [K.LBU]: ["lbu", "zero"],
    [K.LHU]: ["lhu", "zero"],
    [K.LWU]: ["lw", "zero"],
  };
const STORES: Record<K.SB | K.SH | K.SW, string> = { [K.SB]: "sb", [K.SH]: "sh", [K.SW]: "sw" };

/**
 * One decoded op (isa/kinds.ts) as JavaScript with its operands folded in; `k` is its index in
 * the block. A taken branch is a side exit: it retires the k + 1 instructions up to and including
 * itself (in the region's `done` and `h.instret`) and leaves the member's case (compileRegion).
 */
function emit([kind, d, a, b, w1, w2]: Entry, k: number): Emitted | null {
  const pure = (src: string): Emitted => ({ src, traps: false });
  const [al, ah, bl, bh] = [lo(a), hi(a), lo(b), hi(b)];
  const ih = w1 >> 31;
  switch (kind) {
    case K.LB:
    case K.LH:
    case K.LW:
    case K.LD:
    case K.LBU:
    case K.LHU:
    case K.LWU: {
      const [fn, high] = LOADS[kind];
      const at = addr(a, w1);
      const src =
        high === "sign"
          ? `{ const v = h.${fn}(${at}); x[${d}] = v; x[${d + 1}] = v >> 31; }`
          : `x[${d}] = h.${fn}(${at}); x[${d + 1}] = ${high === "zero" ? "0" : "h.hiOut"};`;
      return { src, traps: true };
    }
    case K.SB:
    case K.SH:
    case K.SW:
      return { src: `h.${STORES[kind]}(${addr(a, w1)}, ${bl});`, traps: true };
    case K.NOP:
      return pure("");
    case K.SD:
      return { src: `h.sd(${addr(a, w1)}, ${bl}, ${bh});`, traps: true };
    case K.LUI:
      return pure(`x[${d}] = ${w1}; x[${d + 1}] = ${ih};`);
    case K.AUIPC: // pc-relative: the pc is a double (hart.ts)
      return pure(`{ ${setNum(d, `h.pc + ${w2 + w1}`)} }`);
    case K.JAL:
      return pure(`${link(d, w2)}h.pc += ${w1};`);
    case K.JALR:
      return pure(`{ const t = ${ah} * ${TWO32} + (${al} >>> 0) + ${w1}; ${link(d, w2)}h.pc = t - (t & 1); }`);
    case K.BEQ:
    case K.BNE:
    case K.BLT:
    case K.BGE:
    case K.BLTU:
    case K.BGEU: {
      const c = {
        [K.BEQ]: `${al} === ${bl} && ${ah} === ${bh}`,
        [K.BNE]: `${al} !== ${bl} || ${ah} !== ${bh}`,
        [K.BLT]: slt(ah, al, bh, bl),
        [K.BGE]: `!${slt(ah, al, bh, bl)}`,
        [K.BLTU]: sltu(ah, al, bh, bl),
        [K.BGEU]: `!${sltu(ah, al, bh, bl)}`,
      }[kind];
      return pure(`if (${c}) { h.pc += ${w1}; done += ${k + 1}; h.instret += ${k + 1}; break; }`);
    }
    case K.ADDI:
      if (a === 0) return pure(`x[${d}] = ${w1}; x[${d + 1}] = ${ih};`);
      if (w1 === 0) return pure(`x[${d}] = ${al}; x[${d + 1}] = ${ah};`);
      return pure(add64(d, a, `${w1}`, `${ih}`));
    case K.SLTI:
      return pure(`x[${d}] = ${slt(ah, al, `${ih}`, `${w1}`)} ? 1 : 0; x[${d + 1}] = 0;`);
    case K.SLTIU:
      return pure(`x[${d}] = ${sltu(ah, al, `${ih}`, `${w1}`)} ? 1 : 0; x[${d + 1}] = 0;`);
    case K.XORI:
      return pure(`x[${d}] = ${al} ^ ${w1}; x[${d + 1}] = ${ah} ^ ${ih};`);
    case K.ORI:
      return pure(`x[${d}] = ${al} | ${w1}; x[${d + 1}] = ${ah} | ${ih};`);
    case K.ANDI:
      return pure(`x[${d}] = ${al} & ${w1}; x[${d + 1}] = ${ah} & ${ih};`);
    case K.SLLI:
    case K.SRLI:
    case K.SRAI:
      return pure(shiftConst(kind, d, a, w1));
    case K.ADDIW:
      return pure(setW(d, `(${al} + ${w1}) | 0`));
    case K.SLLIW:
      return pure(setW(d, `${al} << ${w1}`));
    case K.SRLIW:
      return pure(setW(d, `(${al} >>> ${w1}) | 0`));
    case K.SRAIW:
      return pure(setW(d, `${al} >> ${w1}`));
    case K.ADD:
      return pure(add64(d, a, bl, bh));
    case K.SUB:
      return pure(
        `{ const s = (${al} >>> 0) - (${bl} >>> 0); x[${d + 1}] = (${ah} - ${bh} - (s < 0 ? 1 : 0)) | 0; x[${d}] = s | 0; }`,
      );
    case K.SLL:
      return pure(`sll(x, ${d}, ${al}, ${ah}, ${bl} & 63);`);
    case K.SLT:
      return pure(`x[${d}] = ${slt(ah, al, bh, bl)} ? 1 : 0; x[${d + 1}] = 0;`);
    case K.SLTU:
      return pure(`x[${d}] = ${sltu(ah, al, bh, bl)} ? 1 : 0; x[${d + 1}] = 0;`);
    case K.XOR:
      return pure(`x[${d}] = ${al} ^ ${bl}; x[${d + 1}] = ${ah} ^ ${bh};`);
    case K.SRL:
      return pure(`srl(x, ${d}, ${al}, ${ah}, ${bl} & 63);`);
    case K.SRA:
      return pure(`sra(x, ${d}, ${al}, ${ah}, ${bl} & 63);`);
    case K.OR:
      return pure(`x[${d}] = ${al} | ${bl}; x[${d + 1}] = ${ah} | ${bh};`);
    case K.AND:
      return pure(`x[${d}] = ${al} & ${bl}; x[${d + 1}] = ${ah} & ${bh};`);
    case K.MUL:
      return pure(`mulLow(x, ${d}, ${al}, ${ah}, ${bl}, ${bh});`);
    case K.ADDW:
      return pure(setW(d, `(${al} + ${bl}) | 0`));
    case K.SUBW:
      return pure(setW(d, `(${al} - ${bl}) | 0`));
    case K.SLLW:
      return pure(setW(d, `${al} << (${bl} & 31)`));
    case K.SRLW:
      return pure(setW(d, `(${al} >>> (${bl} & 31)) | 0`));
    case K.SRAW:
      return pure(setW(d, `${al} >> (${bl} & 31)`));
    case K.MULW:
      return pure(setW(d, `Math.imul(${al}, ${bl})`));
    case K.NEXT: // the fall-through op: blockSource emits it
      return null;
    default: {
      // Every other kind runs its closure (the type says no inline kind was left out).
      const _closure: ClosureKind = kind;
      return null;
    }
  }
}

/**
 * The source of a block's body, the case of its function's switch (compileBlock: it uses the
 * function's `done`, and `break` leaves the case); its closures are named `${prefix}${k}`
 * (exported for tests).
 */
export function blockSource(b: CompileInput, prefix = "o"): string {
  const lines: string[] = [];
  for (let k = 0; k < b.count; k++) {
    if (k === b.n) {
      lines.push(`h.pc += ${b.offs[k]!};`); // the fall-through op
      break;
    }
    const e = emit(entryAt(b.code, k), k);
    if (e === null) lines.push(`i = ${k}; ${prefix}${k}(h);`);
    else lines.push(e.traps ? `i = ${k}; ${e.src}` : e.src);
  }
  return lines.join("\n        ");
}

/**
 * Whether control may stay in compiled code after the block: it falls through (a block whose
 * last instruction is a branch falls through too: branches never end blocks) or ends in a jump.
 * A block that ends in anything else (CSR, ECALL, xRET, SFENCE.VMA, FENCE.I, WFI) may change the
 * translation, the privilege or interrupt state, so compiled code returns after it.
 */
export function continues(b: CompileInput): boolean {
  if (b.count > b.n) return true;
  const last = kindAt(b.code, b.n - 1);
  return last === K.JAL || last === K.JALR;
}

/** A block as this tier compiles it: where it starts in RAM, and the flag set when its code is overwritten. */
export interface JitBlock extends CompileInput {
  readonly off: number;
  readonly dead: boolean;
}

/**
 * Run compiled code from the hart's pc: returns the instructions retired, at most about `budget`
 * (it stops at the first block boundary at or past it). Adds them to `h.instret`.
 */
export type Compiled = (h: Hart, budget: number) => number;

/**
 * Compile block `b` into one function: a loop around a switch on the pc's offset in the page
 * whose one case is the block, so a block that jumps or branches back to its own start runs on
 * without returning to the run loop (QEMU chains translated blocks by patching jumps; a loop in
 * one function is as direct).
 *
 * It leaves the loop at any other pc, after a block that does not `continue`, when the budget is
 * spent, when an interrupt may be pending (`h.irqCheck`), and when a store has overwritten the
 * block's code (its `dead` flag). A trap records the block's offsets, the op index and the
 * instructions retired before it (`h.faultOffs`, `faultIndex`, `faultDone`).
 *
 * (This compiled several blocks of a page into one function, a region, until issue 15: measured,
 * regions made the CPU-bound program 1.5x faster and kernel workloads 15-45 % slower, since every
 * recompilation of a page's region was a new, larger function for V8 to warm up; they were never
 * used. The generated code for one block is the region of one it always was.)
 */
export function compileBlock(b: JitBlock): Compiled {
  const body = blockSource(b, "o0_");
  const tail = continues(b)
    ? `done += ${b.n}; h.instret += ${b.n}; break;`
    : `h.instret += ${b.n}; return done + ${b.n};`;
  const src = `case ${b.off & 0xfff}: {
        cur = B0;
        ${body}
        ${tail}
      }`;
  const bind = Array.from({ length: b.count }, (_, k) => k).filter((k) => src.includes(`o0_${k}(h)`));
  const factory = `const B0 = b;
${bind.map((k) => `const o0_${k} = b.ops[${k}];`).join("\n")}
return function region(h, budget) {
  const x = h.x;
  const vbase = h.pc - (h.pc & 4095);
  let i = 0;
  let cur = B0;
  let done = 0;
  try {
    for (;;) {
      switch (h.pc - vbase) {
      ${src}
      default:
        return done;
      }
      if (done >= budget || h.irqCheck || B0.dead) return done;
    }
  } catch (e) {
    h.faultOffs = cur.offs;
    h.faultIndex = i;
    h.faultDone = done;
    throw e;
  }
};`;
  return new Function("b", "mulLow", "sll", "srl", "sra", factory)(b, mulLow, sll, srl, sra) as Compiled;
}
