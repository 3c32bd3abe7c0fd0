/**
 * The instruction kinds: the one table every part of the CPU switches on. An instruction word is
 * decoded once, here, into a kind and its operands (`classify`); decode.ts binds the kind to its
 * closure (the reference semantics, ops-*.ts), and every tier reads the same kind: the
 * interpreter runs it from a table (engine/interp.ts), the JavaScript JIT emits source from it
 * (engine/jit.ts), the wasm tier emits code from it (wasm/emit.ts). No tier reads instruction
 * bits. A kind a tier does not run inline calls its closure there. As in v86's instruction table
 * (gen/x86_table.js), adding an instruction is one row here, one closure, and a case in each
 * tier's switch, which TypeScript checks for exhaustiveness.
 *
 * Operands: d, a, b are register pair indices (2*r); d is 64, the scratch pair, when rd is x0 and
 * the op must still run (loads may trap, jumps still jump). Pure ops writing x0 are `K.NOP`.
 */
import { PAUSE, THREADS } from "./threaded.js";
import type { Op } from "./ops-int.js";

/**
 * Instruction kinds, dense from 0 so V8 compiles each tier's switch to a jump table. The first
 * group (through MULW) is the fast subset, inline in every tier; the loads precede the stores
 * (the interpreter tells them apart by order).
 */
export const enum K {
  /** The fall-through op that ends a block without a jump: not an instruction. */
  NEXT,
  NOP,
  LUI,
  AUIPC,
  JAL,
  JALR,
  BEQ,
  BNE,
  BLT,
  BGE,
  BLTU,
  BGEU,
  LB,
  LH,
  LW,
  LD,
  LBU,
  LHU,
  LWU,
  SB,
  SH,
  SW,
  SD,
  ADDI,
  SLTI,
  SLTIU,
  XORI,
  ORI,
  ANDI,
  SLLI,
  SRLI,
  SRAI,
  ADDIW,
  SLLIW,
  SRLIW,
  SRAIW,
  ADD,
  SUB,
  SLL,
  SLT,
  SLTU,
  XOR,
  SRL,
  SRA,
  OR,
  AND,
  MUL,
  ADDW,
  SUBW,
  SLLW,
  SRLW,
  SRAW,
  MULW,
  /** M (unprivileged spec, the "M" extension) beyond MUL and MULW. */
  MULH,
  MULHSU,
  MULHU,
  DIV,
  DIVU,
  REM,
  REMU,
  DIVW,
  DIVUW,
  REMW,
  REMUW,
  /** A (chapter 8), word forms then doubleword forms, each in AMO_FUNCT5's order. */
  LR_W,
  SC_W,
  AMOSWAP_W,
  AMOADD_W,
  AMOXOR_W,
  AMOAND_W,
  AMOOR_W,
  AMOMIN_W,
  AMOMAX_W,
  AMOMINU_W,
  AMOMAXU_W,
  LR_D,
  SC_D,
  AMOSWAP_D,
  AMOADD_D,
  AMOXOR_D,
  AMOAND_D,
  AMOOR_D,
  AMOMIN_D,
  AMOMAX_D,
  AMOMINU_D,
  AMOMAXU_D,
  /** F and D: loads and stores, and every OP-FP and fused multiply-add (fpu/decode.ts). */
  FLW,
  FLD,
  FSW,
  FSD,
  FP,
  /** Zicsr. */
  CSRRW,
  CSRRS,
  CSRRC,
  CSRRWI,
  CSRRSI,
  CSRRCI,
  /** Zifencei and the privileged instructions. */
  FENCE_I,
  ECALL,
  EBREAK,
  SRET,
  MRET,
  WFI,
  SFENCE_VMA,
  /** Reserved or unimplemented encodings: the closure raises the illegal-instruction trap. */
  ILLEGAL,
}
/** Number of kinds. */
export const KINDS = K.ILLEGAL + 1;
/** Whether kind `k` is NEXT or of the fast subset (InlineKind): the kinds before MULH. */
export const isInline = (k: K): boolean => k < K.MULH;

/** The fast subset: the kinds every tier runs inline. */
export type InlineKind =
  | K.NOP
  | K.LUI
  | K.AUIPC
  | K.JAL
  | K.JALR
  | K.BEQ
  | K.BNE
  | K.BLT
  | K.BGE
  | K.BLTU
  | K.BGEU
  | K.LB
  | K.LH
  | K.LW
  | K.LD
  | K.LBU
  | K.LHU
  | K.LWU
  | K.SB
  | K.SH
  | K.SW
  | K.SD
  | K.ADDI
  | K.SLTI
  | K.SLTIU
  | K.XORI
  | K.ORI
  | K.ANDI
  | K.SLLI
  | K.SRLI
  | K.SRAI
  | K.ADDIW
  | K.SLLIW
  | K.SRLIW
  | K.SRAIW
  | K.ADD
  | K.SUB
  | K.SLL
  | K.SLT
  | K.SLTU
  | K.XOR
  | K.SRL
  | K.SRA
  | K.OR
  | K.AND
  | K.MUL
  | K.ADDW
  | K.SUBW
  | K.SLLW
  | K.SRLW
  | K.SRAW
  | K.MULW;
/**
 * Every other instruction kind: a tier that does not run it inline calls its closure. A tier's
 * switch handles the kinds it inlines case by case and ends in a default typed as the rest of
 * this set, so TypeScript rejects a switch that leaves an inline kind out.
 */
export type ClosureKind = Exclude<K, InlineKind | K.NEXT>;
/** LR, SC and the AMOs. */
export type AtomicKind =
  | K.LR_W
  | K.SC_W
  | K.AMOSWAP_W
  | K.AMOADD_W
  | K.AMOXOR_W
  | K.AMOAND_W
  | K.AMOOR_W
  | K.AMOMIN_W
  | K.AMOMAX_W
  | K.AMOMINU_W
  | K.AMOMAXU_W
  | K.LR_D
  | K.SC_D
  | K.AMOSWAP_D
  | K.AMOADD_D
  | K.AMOXOR_D
  | K.AMOAND_D
  | K.AMOOR_D
  | K.AMOMIN_D
  | K.AMOMAX_D
  | K.AMOMINU_D
  | K.AMOMAXU_D;

/**
 * Each kind's name as the ISA manual spells it (`objdump -M no-aliases` prints the same), with
 * whether it always ends its block: it transfers control or changes state the run loop must see
 * (privilege, translation, interrupt enables). Conditional branches do not: they leave only when
 * taken (a side exit, engine/exec.ts). Typed as a record of every kind, so a kind without a row
 * does not compile.
 */
export const KIND_INFO: Readonly<Record<K, readonly [name: string, ends: boolean]>> = {
  [K.NEXT]: ["(fall-through)", true],
  [K.NOP]: ["(nop)", false],
  [K.LUI]: ["lui", false],
  [K.AUIPC]: ["auipc", false],
  [K.JAL]: ["jal", true],
  [K.JALR]: ["jalr", true],
  [K.BEQ]: ["beq", false],
  [K.BNE]: ["bne", false],
  [K.BLT]: ["blt", false],
  [K.BGE]: ["bge", false],
  [K.BLTU]: ["bltu", false],
  [K.BGEU]: ["bgeu", false],
  [K.LB]: ["lb", false],
  [K.LH]: ["lh", false],
  [K.LW]: ["lw", false],
  [K.LD]: ["ld", false],
  [K.LBU]: ["lbu", false],
  [K.LHU]: ["lhu", false],
  [K.LWU]: ["lwu", false],
  [K.SB]: ["sb", false],
  [K.SH]: ["sh", false],
  [K.SW]: ["sw", false],
  [K.SD]: ["sd", false],
  [K.ADDI]: ["addi", false],
  [K.SLTI]: ["slti", false],
  [K.SLTIU]: ["sltiu", false],
  [K.XORI]: ["xori", false],
  [K.ORI]: ["ori", false],
  [K.ANDI]: ["andi", false],
  [K.SLLI]: ["slli", false],
  [K.SRLI]: ["srli", false],
  [K.SRAI]: ["srai", false],
  [K.ADDIW]: ["addiw", false],
  [K.SLLIW]: ["slliw", false],
  [K.SRLIW]: ["srliw", false],
  [K.SRAIW]: ["sraiw", false],
  [K.ADD]: ["add", false],
  [K.SUB]: ["sub", false],
  [K.SLL]: ["sll", false],
  [K.SLT]: ["slt", false],
  [K.SLTU]: ["sltu", false],
  [K.XOR]: ["xor", false],
  [K.SRL]: ["srl", false],
  [K.SRA]: ["sra", false],
  [K.OR]: ["or", false],
  [K.AND]: ["and", false],
  [K.MUL]: ["mul", false],
  [K.ADDW]: ["addw", false],
  [K.SUBW]: ["subw", false],
  [K.SLLW]: ["sllw", false],
  [K.SRLW]: ["srlw", false],
  [K.SRAW]: ["sraw", false],
  [K.MULW]: ["mulw", false],
  [K.MULH]: ["mulh", false],
  [K.MULHSU]: ["mulhsu", false],
  [K.MULHU]: ["mulhu", false],
  [K.DIV]: ["div", false],
  [K.DIVU]: ["divu", false],
  [K.REM]: ["rem", false],
  [K.REMU]: ["remu", false],
  [K.DIVW]: ["divw", false],
  [K.DIVUW]: ["divuw", false],
  [K.REMW]: ["remw", false],
  [K.REMUW]: ["remuw", false],
  [K.LR_W]: ["lr.w", false],
  [K.SC_W]: ["sc.w", false],
  [K.AMOSWAP_W]: ["amoswap.w", false],
  [K.AMOADD_W]: ["amoadd.w", false],
  [K.AMOXOR_W]: ["amoxor.w", false],
  [K.AMOAND_W]: ["amoand.w", false],
  [K.AMOOR_W]: ["amoor.w", false],
  [K.AMOMIN_W]: ["amomin.w", false],
  [K.AMOMAX_W]: ["amomax.w", false],
  [K.AMOMINU_W]: ["amominu.w", false],
  [K.AMOMAXU_W]: ["amomaxu.w", false],
  [K.LR_D]: ["lr.d", false],
  [K.SC_D]: ["sc.d", false],
  [K.AMOSWAP_D]: ["amoswap.d", false],
  [K.AMOADD_D]: ["amoadd.d", false],
  [K.AMOXOR_D]: ["amoxor.d", false],
  [K.AMOAND_D]: ["amoand.d", false],
  [K.AMOOR_D]: ["amoor.d", false],
  [K.AMOMIN_D]: ["amomin.d", false],
  [K.AMOMAX_D]: ["amomax.d", false],
  [K.AMOMINU_D]: ["amominu.d", false],
  [K.AMOMAXU_D]: ["amomaxu.d", false],
  [K.FLW]: ["flw", false],
  [K.FLD]: ["fld", false],
  [K.FSW]: ["fsw", false],
  [K.FSD]: ["fsd", false],
  [K.FP]: ["(op-fp)", false],
  [K.CSRRW]: ["csrrw", true],
  [K.CSRRS]: ["csrrs", true],
  [K.CSRRC]: ["csrrc", true],
  [K.CSRRWI]: ["csrrwi", true],
  [K.CSRRSI]: ["csrrsi", true],
  [K.CSRRCI]: ["csrrci", true],
  [K.FENCE_I]: ["fence.i", true],
  [K.ECALL]: ["ecall", true],
  [K.EBREAK]: ["ebreak", true],
  [K.SRET]: ["sret", true],
  [K.MRET]: ["mret", true],
  [K.WFI]: ["wfi", true],
  [K.SFENCE_VMA]: ["sfence.vma", true],
  [K.ILLEGAL]: ["(illegal)", true],
};

/** Whether an instruction of kind `k` always ends its block (KIND_INFO). */
export const endsBlock = (k: K): boolean => KIND_INFO[k][1];

/**
 * One decoded instruction: kind, operands, and two words whose meaning depends on the kind: w1 is
 * the immediate (for branches and JAL the target's offset from the block's pc, for NEXT the
 * fall-through length, for CSR ops the CSR number), w2 the offset of the next instruction (the
 * link of JAL and JALR) or, for AUIPC, the instruction's own offset, or for the immediate CSR
 * forms the uimm. Branches leave w2 0: untaken, they run on to the next op.
 *
 * Kinds of the F and D extension name f registers: d is 2*rd of FLW/FLD, b 2*rs2 of FSW/FSD (f0
 * is a register like any other, so never the scratch pair).
 */
export type Entry = [kind: K, d: number, a: number, b: number, w1: number, w2: number];

/** Access size in bytes of each load and store kind. */
export const SIZES: Partial<Record<K, 1 | 2 | 4 | 8>> = {
  [K.LB]: 1,
  [K.LH]: 2,
  [K.LW]: 4,
  [K.LD]: 8,
  [K.LBU]: 1,
  [K.LHU]: 2,
  [K.LWU]: 4,
  [K.SB]: 1,
  [K.SH]: 2,
  [K.SW]: 4,
  [K.SD]: 8,
};

/** funct5 of LR, SC and each AMO (chapter 8), in the order of their kinds from K.LR_W and K.LR_D. */
export const AMO_FUNCT5 = [0x02, 0x03, 0x01, 0x00, 0x04, 0x0c, 0x08, 0x10, 0x14, 0x18, 0x1c] as const;
/** Whether an LR, SC or AMO kind is a doubleword form. */
export const amoDouble = (k: K): boolean => k >= K.LR_D;
/** The funct5 of an LR, SC or AMO kind. */
export const amoFunct5 = (k: K): number => AMO_FUNCT5[k - (amoDouble(k) ? K.LR_D : K.LR_W)]!;

// Immediates of the S, B and J formats (unprivileged spec 2.3, "Immediate Encoding Variants").
const immS = (inst: number): number => ((inst >> 25) << 5) | ((inst >>> 7) & 31);
const immB = (inst: number): number =>
  ((inst >> 31) << 12) | (((inst >>> 25) & 0x3f) << 5) | (((inst >>> 8) & 15) << 1) | (((inst >>> 7) & 1) << 11);
const immJ = (inst: number): number =>
  ((inst >> 31) << 20) | (((inst >>> 21) & 0x3ff) << 1) | (((inst >>> 20) & 1) << 11) | (((inst >>> 12) & 0xff) << 12);

const LOADS = [K.LB, K.LH, K.LW, K.LD, K.LBU, K.LHU, K.LWU] as const;
const STORES = [K.SB, K.SH, K.SW, K.SD] as const;
const BRANCHES: Record<number, K | undefined> = { 0: K.BEQ, 1: K.BNE, 4: K.BLT, 5: K.BGE, 6: K.BLTU, 7: K.BGEU };
const OP_IMM = [K.ADDI, K.SLLI, K.SLTI, K.SLTIU, K.XORI, K.SRLI, K.ORI, K.ANDI] as const;
const OP = [K.ADD, K.SLL, K.SLT, K.SLTU, K.XOR, K.SRL, K.OR, K.AND] as const;
const OP_M = [K.MUL, K.MULH, K.MULHSU, K.MULHU, K.DIV, K.DIVU, K.REM, K.REMU] as const;
/** OP-32 kinds by funct7 << 3 | funct3 (funct7 0, 1 or 0x20). */
const OP_32: Record<number, K | undefined> = {
  [(0 << 3) | 0]: K.ADDW,
  [(32 << 3) | 0]: K.SUBW,
  [(0 << 3) | 1]: K.SLLW,
  [(0 << 3) | 5]: K.SRLW,
  [(32 << 3) | 5]: K.SRAW,
  [(1 << 3) | 0]: K.MULW,
  [(1 << 3) | 4]: K.DIVW,
  [(1 << 3) | 5]: K.DIVUW,
  [(1 << 3) | 6]: K.REMW,
  [(1 << 3) | 7]: K.REMUW,
};
const CSR_OPS: Record<number, K | undefined> = {
  1: K.CSRRW,
  2: K.CSRRS,
  3: K.CSRRC,
  5: K.CSRRWI,
  6: K.CSRRSI,
  7: K.CSRRCI,
};
/** SYSTEM instructions with funct3 0, rd and rs1 x0, by funct12 (privileged spec 2.2, table 2.3 and chapter 3.3). */
const PRIV_OPS: Record<number, K | undefined> = {
  0x000: K.ECALL,
  0x001: K.EBREAK,
  0x102: K.SRET,
  0x302: K.MRET,
  0x105: K.WFI,
};

export const ILLEGAL: Entry = [K.ILLEGAL, 0, 0, 0, 0, 0];

/** The entry of an instruction whose only effect is writing rd: a NOP when rd is x0. */
function pureEntry(rd: number, k: K, d: number, a: number, b: number, w1: number): Entry {
  return rd === 0 ? [K.NOP, 0, 0, 0, 0, 0] : [k, d, a, b, w1, 0];
}

/**
 * Decode one 32-bit instruction `len` bytes long (2 when it was expanded from a compressed one)
 * at byte `off` of its block: unprivileged spec chapter 24, "RV32/64G Instruction Set Listings".
 * OP-FP and the fused multiply-adds are `K.FP` here, w1 the instruction; fpu/decode.ts checks their fields.
 */
export function classify(inst: number, len: number, off: number): Entry {
  const opcode = inst & 0x7f;
  const rd = (inst >>> 7) & 31;
  const d = rd === 0 ? 64 : rd * 2;
  const f3 = (inst >>> 12) & 7;
  const r1 = (inst >>> 15) & 31;
  const a = r1 * 2;
  const b = ((inst >>> 20) & 31) * 2;
  const f7 = inst >>> 25;
  const immI = inst >> 20;
  // An instruction whose only effect is writing rd does nothing when rd is x0 (hints, chapter 2.9).
  // (No closures or string keys here: classify runs for every instruction of every block built,
  // and they were a sixth of a boot's allocations.)
  switch (opcode) {
    case 0x37:
      return pureEntry(rd, K.LUI, d, a, 0, inst & 0xfffff000);
    case 0x17:
      return rd === 0 ? pureEntry(rd, K.NOP, d, a, 0, 0) : [K.AUIPC, d, 0, 0, inst & 0xfffff000, off];
    case 0x6f:
      return [K.JAL, d, 0, 0, off + immJ(inst), off + len];
    case 0x67:
      return f3 === 0 ? [K.JALR, d, a, 0, immI, off + len] : ILLEGAL;
    case 0x63: {
      const k = BRANCHES[f3];
      return k === undefined ? ILLEGAL : [k, 0, a, b, off + immB(inst), 0];
    }
    case 0x03: {
      const k = LOADS[f3];
      return k === undefined ? ILLEGAL : [k, d, a, 0, immI, 0];
    }
    case 0x23: {
      const k = STORES[f3];
      return k === undefined ? ILLEGAL : [k, 0, a, b, immS(inst), 0];
    }
    case 0x07:
      return f3 === 2 || f3 === 3 ? [f3 === 2 ? K.FLW : K.FLD, rd * 2, a, 0, immI, 0] : ILLEGAL;
    case 0x27:
      return f3 === 2 || f3 === 3 ? [f3 === 2 ? K.FSW : K.FSD, 0, a, b, immS(inst), 0] : ILLEGAL;
    case 0x13: {
      const sh = (inst >>> 20) & 63;
      // A shift by 0 is a move (ADDI 0): the shift cases then never shift a word by 32.
      if (f3 === 1) return inst >>> 26 === 0 ? pureEntry(rd, sh === 0 ? K.ADDI : K.SLLI, d, a, 0, sh) : ILLEGAL;
      if (f3 === 5) {
        const f6 = inst >>> 26;
        if (f6 !== 0 && f6 !== 0x10) return ILLEGAL;
        return pureEntry(rd, sh === 0 ? K.ADDI : f6 === 0 ? K.SRLI : K.SRAI, d, a, 0, sh);
      }
      return pureEntry(rd, OP_IMM[f3]!, d, a, 0, immI);
    }
    case 0x1b: {
      const sh = (inst >>> 20) & 31;
      if (f3 === 0) return pureEntry(rd, K.ADDIW, d, a, 0, immI);
      if (f3 === 1 && f7 === 0) return pureEntry(rd, K.SLLIW, d, a, 0, sh);
      if (f3 === 5 && f7 === 0) return pureEntry(rd, K.SRLIW, d, a, 0, sh);
      if (f3 === 5 && f7 === 0x20) return pureEntry(rd, K.SRAIW, d, a, 0, sh);
      return ILLEGAL;
    }
    case 0x33:
      // MUL is pure (inline everywhere); the other M ops keep rd x0 as the scratch pair.
      if (f7 === 1) return f3 === 0 ? pureEntry(rd, K.MUL, d, a, b, 0) : [OP_M[f3]!, d, a, b, 0, 0];
      if (f7 === 0x20)
        return f3 === 0 ? pureEntry(rd, K.SUB, d, a, b, 0) : f3 === 5 ? pureEntry(rd, K.SRA, d, a, b, 0) : ILLEGAL;
      return f7 === 0 ? pureEntry(rd, OP[f3]!, d, a, b, 0) : ILLEGAL;
    case 0x3b: {
      const k = f7 === 0 || f7 === 1 || f7 === 0x20 ? OP_32[(f7 << 3) | f3] : undefined;
      if (k === undefined) return ILLEGAL;
      return f7 === 1 && f3 !== 0 ? [k, d, a, b, 0, 0] : pureEntry(rd, k, d, a, b, 0);
    }
    case 0x2f: {
      const i = AMO_FUNCT5.indexOf((inst >>> 27) as (typeof AMO_FUNCT5)[number]);
      if ((f3 !== 2 && f3 !== 3) || i < 0) return ILLEGAL;
      return [((f3 === 2 ? K.LR_W : K.LR_D) + i) as K, d, a, b, 0, 0];
    }
    case 0x0f:
      // FENCE (and FENCE.TSO): one thread is sequentially consistent, nothing to do. Harts on
      // threads run on a TSO host, which orders everything but a store before a later load: a
      // FENCE whose predecessor set has W and successor set R (RVWMO, chapter 17, e.g. Linux's
      // smp_mb) becomes the FENCE.I op, which issues a full barrier there (ops-sys.ts fenceI).
      // PAUSE is the FENCE.I op on every hart (decode.ts tells them apart): a spin loop's hint,
      // which ends the block so the scheduler can hand the host over (ops-sys.ts pause).
      if (f3 === 0)
        return inst === PAUSE || (THREADS.on && (inst >>> 24) & 1 && (inst >>> 21) & 1)
          ? [K.FENCE_I, 0, 0, 0, 0, off + 4]
          : [K.NOP, 0, 0, 0, 0, 0];
      return f3 === 1 ? [K.FENCE_I, 0, 0, 0, 0, off + 4] : ILLEGAL;
    case 0x73: {
      const csr = CSR_OPS[f3];
      if (csr !== undefined) return f3 < 4 ? [csr, d, a, 0, inst >>> 20, 0] : [csr, d, 0, 0, inst >>> 20, r1];
      if (f3 !== 0 || rd !== 0) return ILLEGAL;
      if (f7 === 0x09) return [K.SFENCE_VMA, 0, a, b, 0, off + 4];
      const k = r1 === 0 ? PRIV_OPS[inst >>> 20] : undefined;
      return k === undefined ? ILLEGAL : [k, 0, 0, 0, 0, off + 4];
    }
    case 0x53:
    case 0x43:
    case 0x47:
    case 0x4b:
    case 0x4f:
      return [K.FP, 0, 0, 0, inst, 0]; // the word itself: the wasm tier decodes it (emit-fp.ts)
  }
  return ILLEGAL;
}

/**
 * Words per op in a decoded block: the interpreter's table format (engine/interp.ts), kept by
 * the block (Block.code) and read by the compiling tiers (entryAt):
 *   [0] kind | d << 8 | a << 16 | b << 24
 *   [1] w1
 *   [2] w2
 *   [3] access size in bytes for loads and stores, else 0
 */
export const WORDS = 4;

/** Write entry `e` into `code` as op `k`. */
export function pack(e: Entry, code: Int32Array, k: number): void {
  // Indexed, not destructured: destructuring runs the array iterator, garbage per op built.
  const kind = e[0];
  const q = WORDS * k;
  code[q] = kind | (e[1] << 8) | (e[2] << 16) | (e[3] << 24);
  code[q + 1] = e[4];
  code[q + 2] = e[5];
  code[q + 3] = SIZES[kind] ?? 0;
}

/** The kind of op `k` of a decoded block. */
export const kindAt = (code: Int32Array, k: number): K => (code[WORDS * k]! & 0xff) as K;

/** Op `k` of a decoded block as an entry. */
export function entryAt(code: Int32Array, k: number): Entry {
  const q = WORDS * k;
  const w = code[q]!;
  return [(w & 0xff) as K, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24, code[q + 1]!, code[q + 2]!];
}

/** A block's instructions as the tiers take them (engine/exec.ts Block). */
export interface CompileInput {
  /**
   * Every op's closure (the reference semantics), including a final fall-through op when the
   * block falls through. Made on first use for the kinds every tier runs inline (engine/exec.ts
   * Block): the run loop's tiers call `op(k)` for the others.
   */
  readonly ops: readonly Op[];
  /** Op `k`'s closure. */
  op(k: number): Op;
  /** Number of ops, the fall-through op included (`ops.length`). */
  readonly count: number;
  /** Every op decoded (WORDS words each), the fall-through op (`K.NEXT`) included. */
  readonly code: Int32Array;
  /** Byte offset of each op from the block start. */
  readonly offs: Int32Array;
  /** Number of guest instructions. */
  readonly n: number;
}
