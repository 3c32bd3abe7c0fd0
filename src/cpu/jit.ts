/**
 * The JIT: a hot block becomes one JavaScript function that V8 compiles to host code.
 *
 * The common RV64I instructions (the ones kernel code is made of: ALU ops, loads, stores, jumps
 * and branches) are emitted inline as JavaScript on the register pairs, with operands and
 * immediates folded in as constants; x0 as a source folds to 0. Everything else (M, A, F/D, CSR,
 * system) calls the instruction's decoded closure, so this file only has to be right about what
 * it emits. Memory accesses call the hart's TLB fast paths (Hart.lw and friends), which V8 inlines
 into the block: one definition of translation serves the closures and this tier (the
 * interpreter, interp.ts, probes the same TLB arrays inline).
 *
 * Why compile at all, when the interpreter (the first tier) has no call per instruction either:
 * a compiled block has its operands folded in as constants and no dispatch between
 * instructions, and loops inside one page stay in host code. Before the interpreter, blocks
 * that were not hot ran as closure calls, one through V8's generic Call builtin per instruction
 * (a fifth of host time on kernel code).
 *
 * Hot blocks of one page are compiled together into a region (compileRegion), so control that
 * stays within the page stays in one host function.
 *
 * Traps: only loads, stores and closure calls can raise; the index of the op about to run is kept
 * in a local and stored in `h.faultIndex` when a trap unwinds, so the run loop can name its pc.
 * The semantics here must equal the closures' (ops-*.ts): jit.test.ts runs random blocks through
 * both and compares, and the ISA suite runs with every block compiled.
 */
import { expandCompressed } from "./compressed.js";
import { immB, immJ, immS } from "./decode.js";
import type { Hart } from "./hart.js";
import { mulLow, sll, sra, srl, type Op } from "./ops-int.js";

/** What a compiled block needs besides the hart: the closures it falls back to. */
export interface CompileInput {
  /** The decoded closures (the reference semantics), including a final fall-through op when the block falls through. */
  readonly ops: readonly Op[];
  /** Each instruction's raw encoding (a 16-bit parcel for compressed ones). */
  readonly raws: Int32Array;
  /** Byte offset of each op from the block start. */
  readonly offs: Int32Array;
  /** Number of guest instructions. */
  readonly n: number;
}

const TWO32 = "4294967296";

/** Low and high word of register pair `p` (2*r) as source; x0 folds to constants. */
const lo = (p: number): string => (p === 0 ? "0" : `x[${p}]`);
const hi = (p: number): string => (p === 0 ? "0" : `x[${p + 1}]`);
/** Write a 32-bit result sign-extended to 64 bits (the W forms, chapter 5.3 of the unprivileged spec). */
const setW = (d: number, v: string): string => `{ const v = ${v}; x[${d}] = v; x[${d + 1}] = v >> 31; }`;
/** Set pair `d` from `v`, an exact integer held in a double (a pc-relative address). */
const setNum = (d: number, v: string): string => `const v = ${v}; x[${d}] = v | 0; x[${d + 1}] = Math.floor(v / ${TWO32}) | 0;`;
/** The virtual address rs1 + imm as a double, and its low word as an int32 (see Hart.lb). */
function addr(a: number, imm: number): string {
  return a === 0 ? `${imm}, ${imm | 0}` : `${hi(a)} * ${TWO32} + (${lo(a)} >>> 0) + ${imm}, (${lo(a)} + ${imm}) | 0`;
}

/** The source of one instruction, or null when it runs through its closure. `traps`: it may raise. */
interface Emitted {
  src: string;
  traps: boolean;
}

function emit(inst: number, len: number, off: number): Emitted | null {
  const opcode = inst & 0x7f;
  const rd = (inst >>> 7) & 31;
  const d = rd * 2;
  const f3 = (inst >>> 12) & 7;
  const a = ((inst >>> 15) & 31) * 2;
  const b = ((inst >>> 20) & 31) * 2;
  const f7 = inst >>> 25;
  const immI = inst >> 20;
  const pure = (src: string): Emitted | null => ({ src: rd === 0 ? "" : src, traps: false });
  switch (opcode) {
    case 0x37: // LUI
      return pure(`x[${d}] = ${inst & 0xfffff000}; x[${d + 1}] = ${(inst & 0xfffff000) >> 31};`);
    case 0x17: // AUIPC: pc-relative, the pc is a double (hart.ts)
      return pure(`{ ${setNum(d, `h.pc + ${off + (inst & 0xfffff000)}`)} }`);
    case 0x6f: {
      const link = rd === 0 ? "" : `{ ${setNum(d, `h.pc + ${off + len}`)} } `;
      return { src: `${link}h.pc += ${off + immJ(inst)};`, traps: false };
    }
    case 0x67: {
      if (f3 !== 0) return null;
      const link = rd === 0 ? "" : `${setNum(d, `h.pc + ${off + len}`)} `;
      return { src: `{ const t = ${hi(a)} * ${TWO32} + (${lo(a)} >>> 0) + ${immI}; ${link}h.pc = t - (t & 1); }`, traps: false };
    }
    case 0x63:
      return branch(inst, f3, a, b, off, len);
    case 0x03:
      return load(f3, d === 0 ? 64 : d, a, immI);
    case 0x23: {
      const at = addr(a, immS(inst));
      if (f3 === 3) return { src: `h.sd(${at}, ${lo(b)}, ${hi(b)});`, traps: true };
      const fn = ["sb", "sh", "sw"][f3];
      return fn ? { src: `h.${fn}(${at}, ${lo(b)});`, traps: true } : null;
    }
    case 0x13:
      return opImm(f3, inst, d, a, immI, pure);
    case 0x1b: {
      const sh = (inst >>> 20) & 31;
      if (f3 === 0) return pure(setW(d, `(${lo(a)} + ${immI}) | 0`));
      if (f3 === 1 && f7 === 0) return pure(setW(d, `${lo(a)} << ${sh}`));
      if (f3 === 5 && f7 === 0) return pure(setW(d, `(${lo(a)} >>> ${sh}) | 0`));
      if (f3 === 5 && f7 === 0x20) return pure(setW(d, `${lo(a)} >> ${sh}`));
      return null;
    }
    case 0x33:
      return op(f3, f7, d, a, b, pure);
    case 0x3b: {
      const w: Record<string, string | undefined> = {
        "0:0": `(${lo(a)} + ${lo(b)}) | 0`,
        "32:0": `(${lo(a)} - ${lo(b)}) | 0`,
        "0:1": `${lo(a)} << (${lo(b)} & 31)`,
        "0:5": `(${lo(a)} >>> (${lo(b)} & 31)) | 0`,
        "32:5": `${lo(a)} >> (${lo(b)} & 31)`,
        "1:0": `Math.imul(${lo(a)}, ${lo(b)})`,
      };
      const v = w[`${f7}:${f3}`];
      return v === undefined ? null : pure(setW(d, v));
    }
    case 0x0f: // FENCE: sequentially consistent machine, nothing to do (FENCE.I ends blocks: closure)
      return f3 === 0 ? { src: "", traps: false } : null;
  }
  return null;
}

function load(f3: number, d: number, a: number, imm: number): Emitted | null {
  const at = addr(a, imm);
  switch (f3) {
    case 0:
    case 1:
    case 2:
      return { src: `{ const v = h.${["lb", "lh", "lw"][f3]}(${at}); x[${d}] = v; x[${d + 1}] = v >> 31; }`, traps: true };
    case 3:
      return { src: `x[${d}] = h.ld(${at}); x[${d + 1}] = h.hiOut;`, traps: true };
    case 4:
      return { src: `x[${d}] = h.lbu(${at}); x[${d + 1}] = 0;`, traps: true };
    case 5:
      return { src: `x[${d}] = h.lhu(${at}); x[${d + 1}] = 0;`, traps: true };
    case 6:
      return { src: `x[${d}] = h.lw(${at}); x[${d + 1}] = 0;`, traps: true };
  }
  return null;
}

/** 64-bit signed and unsigned less-than of pairs a < b, as source. */
const slt = (ah: string, al: string, bh: string, bl: string): string => `(${ah} < ${bh} || (${ah} === ${bh} && (${al} >>> 0) < (${bl} >>> 0)))`;
const sltu = (ah: string, al: string, bh: string, bl: string): string => `((${ah} >>> 0) < (${bh} >>> 0) || (${ah} === ${bh} && (${al} >>> 0) < (${bl} >>> 0)))`;

function branch(inst: number, f3: number, a: number, b: number, off: number, len: number): Emitted | null {
  const imm = immB(inst);
  const [al, ah, bl, bh] = [lo(a), hi(a), lo(b), hi(b)];
  const conds: Record<number, string | undefined> = {
    0: `${al} === ${bl} && ${ah} === ${bh}`,
    1: `${al} !== ${bl} || ${ah} !== ${bh}`,
    4: slt(ah, al, bh, bl),
    5: `!${slt(ah, al, bh, bl)}`,
    6: sltu(ah, al, bh, bl),
    7: `!${sltu(ah, al, bh, bl)}`,
  };
  const c = conds[f3];
  return c === undefined ? null : { src: `h.pc += (${c}) ? ${off + imm} : ${off + len};`, traps: false };
}

/** d = a + (imm as a 64-bit value), with the carry out of the low word. */
function add64(d: number, a: number, bl: string, bh: string): string {
  return `{ const s = (${lo(a)} >>> 0) + (${bl} >>> 0); x[${d + 1}] = (${hi(a)} + ${bh} + (s > 4294967295 ? 1 : 0)) | 0; x[${d}] = s | 0; }`;
}

/** A shift of a pair by a constant 0..63 (sll, srl, sra as in ops-int.ts). */
function shiftConst(kind: number, d: number, a: number, s: number): string {
  const [l, h] = [lo(a), hi(a)];
  if (s === 0) return `x[${d}] = ${l}; x[${d + 1}] = ${h};`;
  if (kind === 0)
    return s < 32
      ? `{ const l = ${l}; x[${d + 1}] = (${h} << ${s}) | (l >>> ${32 - s}); x[${d}] = l << ${s}; }`
      : `x[${d + 1}] = ${l} << ${s - 32}; x[${d}] = 0;`;
  const top = kind === 1 ? ">>>" : ">>";
  return s < 32
    ? `{ const t = ${h}; x[${d}] = (${l} >>> ${s}) | (t << ${32 - s}); x[${d + 1}] = t ${top} ${s}; }`
    : kind === 1
      ? `x[${d}] = ${h} >>> ${s - 32}; x[${d + 1}] = 0;`
      : `{ const t = ${h}; x[${d}] = t >> ${s - 32}; x[${d + 1}] = t >> 31; }`;
}

function opImm(f3: number, inst: number, d: number, a: number, imm: number, pure: (s: string) => Emitted | null): Emitted | null {
  const ih = imm >> 31;
  switch (f3) {
    case 0:
      if (a === 0) return pure(`x[${d}] = ${imm}; x[${d + 1}] = ${ih};`);
      if (imm === 0) return pure(`x[${d}] = ${lo(a)}; x[${d + 1}] = ${hi(a)};`);
      return pure(add64(d, a, `${imm}`, `${ih}`));
    case 1:
      return inst >>> 26 === 0 ? pure(shiftConst(0, d, a, (inst >>> 20) & 63)) : null;
    case 2:
      return pure(`x[${d}] = ${slt(hi(a), lo(a), `${ih}`, `${imm}`)} ? 1 : 0; x[${d + 1}] = 0;`);
    case 3:
      return pure(`x[${d}] = ${sltu(hi(a), lo(a), `${ih}`, `${imm}`)} ? 1 : 0; x[${d + 1}] = 0;`);
    case 4:
      return pure(`x[${d}] = ${lo(a)} ^ ${imm}; x[${d + 1}] = ${hi(a)} ^ ${ih};`);
    case 5: {
      const f6 = inst >>> 26;
      if (f6 !== 0 && f6 !== 0x10) return null;
      return pure(shiftConst(f6 === 0 ? 1 : 2, d, a, (inst >>> 20) & 63));
    }
    case 6:
      return pure(`x[${d}] = ${lo(a)} | ${imm}; x[${d + 1}] = ${hi(a)} | ${ih};`);
    default:
      return pure(`x[${d}] = ${lo(a)} & ${imm}; x[${d + 1}] = ${hi(a)} & ${ih};`);
  }
}

function op(f3: number, f7: number, d: number, a: number, b: number, pure: (s: string) => Emitted | null): Emitted | null {
  const [al, ah, bl, bh] = [lo(a), hi(a), lo(b), hi(b)];
  if (f7 === 1) return f3 === 0 ? pure(`mulLow(x, ${d}, ${al}, ${ah}, ${bl}, ${bh});`) : null;
  if (f7 === 0x20) {
    if (f3 === 0)
      return pure(`{ const s = (${al} >>> 0) - (${bl} >>> 0); x[${d + 1}] = (${ah} - ${bh} - (s < 0 ? 1 : 0)) | 0; x[${d}] = s | 0; }`);
    return f3 === 5 ? pure(`sra(x, ${d}, ${al}, ${ah}, ${bl} & 63);`) : null;
  }
  if (f7 !== 0) return null;
  switch (f3) {
    case 0:
      return pure(add64(d, a, bl, bh));
    case 1:
      return pure(`sll(x, ${d}, ${al}, ${ah}, ${bl} & 63);`);
    case 2:
      return pure(`x[${d}] = ${slt(ah, al, bh, bl)} ? 1 : 0; x[${d + 1}] = 0;`);
    case 3:
      return pure(`x[${d}] = ${sltu(ah, al, bh, bl)} ? 1 : 0; x[${d + 1}] = 0;`);
    case 4:
      return pure(`x[${d}] = ${al} ^ ${bl}; x[${d + 1}] = ${ah} ^ ${bh};`);
    case 5:
      return pure(`srl(x, ${d}, ${al}, ${ah}, ${bl} & 63);`);
    case 6:
      return pure(`x[${d}] = ${al} | ${bl}; x[${d + 1}] = ${ah} | ${bh};`);
    default:
      return pure(`x[${d}] = ${al} & ${bl}; x[${d + 1}] = ${ah} & ${bh};`);
  }
}

/** The source of a block's body; its closures are named `${prefix}${k}` (exported for tests). */
export function blockSource(b: CompileInput, prefix = "o"): string {
  const lines: string[] = [];
  for (let k = 0; k < b.ops.length; k++) {
    if (k === b.n) {
      lines.push(`h.pc += ${b.offs[k]!};`); // the fall-through op
      break;
    }
    const e = emitAt(b, k);
    if (e === null) lines.push(`i = ${k}; ${prefix}${k}(h);`);
    else lines.push(e.traps ? `i = ${k}; ${e.src}` : e.src);
  }
  return lines.join("\n        ");
}

/** Instruction k of a block as a 32-bit encoding (compressed ones expanded; -1 if reserved). */
export function instAt(b: CompileInput, k: number): number {
  const raw = b.raws[k]!;
  return (raw & 3) !== 3 ? expandCompressed(raw & 0xffff) : raw;
}

function emitAt(b: CompileInput, k: number): Emitted | null {
  const inst = instAt(b, k);
  return inst === -1 ? null : emit(inst, (b.raws[k]! & 3) !== 3 ? 2 : 4, b.offs[k]!);
}

/**
 * Whether control may stay in the region after the block: it falls through or ends in a jump or
 * branch. A block that ends in anything else (CSR, ECALL, xRET, SFENCE.VMA, FENCE.I, WFI) may
 * change the translation, the privilege or interrupt state, so the region returns after it.
 */
export function continues(b: CompileInput): boolean {
  if (b.ops.length > b.n) return true;
  const inst = instAt(b, b.n - 1);
  const opcode = inst & 0x7f;
  return inst !== -1 && (opcode === 0x63 || opcode === 0x6f || (opcode === 0x67 && ((inst >>> 12) & 7) === 0));
}

/** A block as a region member: where it starts in RAM, and the flag set when its code is overwritten. */
export interface RegionBlock extends CompileInput {
  readonly off: number;
  readonly dead: boolean;
}

/**
 * Run compiled code from the hart's pc: returns the instructions retired (whole blocks), at most
 * about `budget` (it stops at the first block boundary at or past it). Adds them to `h.instret`.
 */
export type Compiled = (h: Hart, budget: number) => number;

/**
 * Compile blocks of one physical page into one function: a loop around a switch on the pc's
 * offset in the page, so a jump or branch to another member runs on without returning to the run
 * loop (QEMU chains translated blocks by patching jumps; a JavaScript JIT cannot, but a loop in
 * one function is as direct). Every member's entry is a case, so the region is entered at any of
 * them. Successors in the same virtual page are in the same physical page because nothing inside
 * the region changes the translation (blocks that could end the region, see `continues`).
 *
 * It leaves the loop at a pc outside the members, after a block that does not `continue`, when
 * the budget is spent, when an interrupt may be pending (`h.irqCheck`), and when a store has
 * overwritten the page's code (the members' `dead` flag). A trap records the running member's
 * offsets, the op index and the instructions retired before it (`h.faultOffs`, `faultIndex`).
 */
export function compileRegion(blocks: readonly RegionBlock[]): Compiled {
  const cases = blocks.map((b, j) => {
    const body = blockSource(b, `o${j}_`);
    const tail = continues(b) ? `done += ${b.n}; h.instret += ${b.n}; break;` : `h.instret += ${b.n}; return done + ${b.n};`;
    return `case ${b.off & 0xfff}: {
        cur = B${j};
        ${body}
        ${tail}
      }`;
  });
  const src = cases.join("\n      ");
  const closures = blocks.flatMap((b, j) => b.ops.map((_, k) => `o${j}_${k}`).filter((n) => src.includes(`${n}(h)`)));
  const bind = closures.map((n) => {
    const [j, k] = n.slice(1).split("_");
    return `const ${n} = blocks[${j}].ops[${k}];`;
  });
  const factory = `${blocks.map((_, j) => `const B${j} = blocks[${j}];`).join("\n")}
${bind.join("\n")}
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
  return new Function("blocks", "mulLow", "sll", "srl", "sra", factory)(blocks, mulLow, sll, srl, sra) as Compiled;
}
