/**
 * The fast subset of RV64I, pre-decoded: the instructions kernel code is mostly made of (ALU ops,
 * W forms, MUL, LUI/AUIPC, loads and stores, branches, JAL/JALR), each classified once into a kind
 * and its operands. Both tiers read this one classification: the interpreter runs it from a table
 * (interp.ts), the JIT emits JavaScript from it (jit.ts). Anything outside the subset is `K.CALL`:
 * both call the instruction's closure (decode.ts and ops-*.ts, the reference semantics).
 *
 * Operands: d, a, b are register pair indices (2*r); d is 64, the scratch pair, when rd is x0 and
 * the op must still run (loads may trap, jumps still jump). Pure ops writing x0 are `K.NOP`.
 */
import { expandCompressed } from "./compressed.js";
import { immB, immJ, immS } from "./decode.js";
import type { Op } from "./ops-int.js";

/** A block's instructions as both tiers take them. */
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

/** Op kinds, dense from 0 so V8 compiles the switch to a jump table. */
export const enum K {
  CALL, NEXT, NOP, LUI, AUIPC, JAL, JALR,
  BEQ, BNE, BLT, BGE, BLTU, BGEU,
  LB, LH, LW, LD, LBU, LHU, LWU,
  SB, SH, SW, SD,
  ADDI, SLTI, SLTIU, XORI, ORI, ANDI, SLLI, SRLI, SRAI,
  ADDIW, SLLIW, SRLIW, SRAIW,
  ADD, SUB, SLL, SLT, SLTU, XOR, SRL, SRA, OR, AND, MUL,
  ADDW, SUBW, SLLW, SRLW, SRAW, MULW,
}

/**
 * One pre-decoded op: kind, operands, and two words whose meaning depends on the kind: w1 is the
 * immediate (for branches and JAL the target's offset from the block's pc, for NEXT the
 * fall-through length), w2 the offset of the next instruction (the link of JAL and JALR) or, for
 * AUIPC, the instruction's own offset. Branches leave w2 0: untaken, they run on to the next op.
 */
export type Entry = [kind: K, d: number, a: number, b: number, w1: number, w2: number];

/** Access size in bytes of each load and store kind. */
export const SIZES: Partial<Record<K, number>> = {
  [K.LB]: 1, [K.LH]: 2, [K.LW]: 4, [K.LD]: 8, [K.LBU]: 1, [K.LHU]: 2, [K.LWU]: 4,
  [K.SB]: 1, [K.SH]: 2, [K.SW]: 4, [K.SD]: 8,
};
const LOADS = [K.LB, K.LH, K.LW, K.LD, K.LBU, K.LHU, K.LWU] as const;
const STORES = [K.SB, K.SH, K.SW, K.SD] as const;
const BRANCHES: Record<number, K | undefined> = { 0: K.BEQ, 1: K.BNE, 4: K.BLT, 5: K.BGE, 6: K.BLTU, 7: K.BGEU };
const OP_IMM = [K.ADDI, K.SLLI, K.SLTI, K.SLTIU, K.XORI, K.SRLI, K.ORI, K.ANDI] as const;
const OP = [K.ADD, K.SLL, K.SLT, K.SLTU, K.XOR, K.SRL, K.OR, K.AND] as const;
const OP_32: Record<string, K | undefined> = { "0:0": K.ADDW, "32:0": K.SUBW, "0:1": K.SLLW, "0:5": K.SRLW, "32:5": K.SRAW, "1:0": K.MULW };

/** Classify one 32-bit instruction `len` bytes long at `off` in its block. */
function classify(inst: number, len: number, off: number): Entry | null {
  const opcode = inst & 0x7f;
  const rd = (inst >>> 7) & 31;
  const d = rd === 0 ? 64 : rd * 2;
  const f3 = (inst >>> 12) & 7;
  const a = ((inst >>> 15) & 31) * 2;
  const b = ((inst >>> 20) & 31) * 2;
  const f7 = inst >>> 25;
  const immI = inst >> 20;
  // An instruction whose only effect is writing rd does nothing when rd is x0 (hints, chapter 2.9).
  const pure = (k: K, w1 = 0, bb = 0): Entry => (rd === 0 ? [K.NOP, 0, 0, 0, 0, 0] : [k, d, a, bb, w1, 0]);
  switch (opcode) {
    case 0x37:
      return pure(K.LUI, inst & 0xfffff000);
    case 0x17:
      return rd === 0 ? pure(K.NOP) : [K.AUIPC, d, 0, 0, inst & 0xfffff000, off];
    case 0x6f:
      return [K.JAL, d, 0, 0, off + immJ(inst), off + len];
    case 0x67:
      return f3 === 0 ? [K.JALR, d, a, 0, immI, off + len] : null;
    case 0x63: {
      const k = BRANCHES[f3];
      return k === undefined ? null : [k, 0, a, b, off + immB(inst), 0];
    }
    case 0x03: {
      const k = LOADS[f3];
      return k === undefined ? null : [k, d, a, 0, immI, 0];
    }
    case 0x23: {
      const k = STORES[f3];
      return k === undefined ? null : [k, 0, a, b, immS(inst), 0];
    }
    case 0x13: {
      const sh = (inst >>> 20) & 63;
      // A shift by 0 is a move (ADDI 0): the shift cases then never shift a word by 32.
      if (f3 === 1) return inst >>> 26 === 0 ? pure(sh === 0 ? K.ADDI : K.SLLI, sh) : null;
      if (f3 === 5) {
        const f6 = inst >>> 26;
        if (f6 !== 0 && f6 !== 0x10) return null;
        return pure(sh === 0 ? K.ADDI : f6 === 0 ? K.SRLI : K.SRAI, sh);
      }
      return pure(OP_IMM[f3]!, immI);
    }
    case 0x1b: {
      const sh = (inst >>> 20) & 31;
      if (f3 === 0) return pure(K.ADDIW, immI);
      if (f3 === 1 && f7 === 0) return pure(K.SLLIW, sh);
      if (f3 === 5 && f7 === 0) return pure(K.SRLIW, sh);
      if (f3 === 5 && f7 === 0x20) return pure(K.SRAIW, sh);
      return null;
    }
    case 0x33:
      if (f7 === 1) return f3 === 0 ? pure(K.MUL, 0, b) : null;
      if (f7 === 0x20) return f3 === 0 ? pure(K.SUB, 0, b) : f3 === 5 ? pure(K.SRA, 0, b) : null;
      return f7 === 0 ? pure(OP[f3]!, 0, b) : null;
    case 0x3b: {
      const k = OP_32[`${f7}:${f3}`];
      return k === undefined ? null : pure(k, 0, b);
    }
    case 0x0f: // FENCE: a sequentially consistent machine has nothing to do (FENCE.I: closure)
      return f3 === 0 ? [K.NOP, 0, 0, 0, 0, 0] : null;
  }
  return null;
}

/** Instruction k of a block as a 32-bit encoding (compressed ones expanded; -1 if reserved). */
export function instAt(b: CompileInput, k: number): number {
  const raw = b.raws[k]!;
  return (raw & 3) !== 3 ? expandCompressed(raw & 0xffff) : raw;
}

const CALL: Entry = [K.CALL, 0, 0, 0, 0, 0];

/** Op k of a block, classified: its fall-through op (k === n) is `K.NEXT`. */
export function classifyAt(b: CompileInput, k: number): Entry {
  if (k === b.n) return [K.NEXT, 0, 0, 0, b.offs[k]!, 0];
  const inst = instAt(b, k);
  return (inst === -1 ? null : classify(inst, (b.raws[k]! & 3) !== 3 ? 2 : 4, b.offs[k]!)) ?? CALL;
}
