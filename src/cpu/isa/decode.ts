/**
 * Decoding: one instruction into its kind and operands (kinds.ts, the one table every tier
 * switches on) and the closure that executes it, the reference semantics (ops-*.ts).
 * Compressed instructions are expanded first (compressed.ts). Decoding happens once per
 * instruction per cached block (engine/exec.ts), never on the hot path.
 */
import { Exc, MS_FS } from "./defs.js";
import { decodeFp } from "../fpu/index.js";
import { expandCompressed } from "./compressed.js";
import { amoDouble, amoFunct5, classify, endsBlock, ILLEGAL, K, type AtomicKind, type Entry } from "./kinds.js";
import * as I from "./ops-int.js";
import type { Op } from "./ops-int.js";
import * as M from "./ops-mem.js";
import * as S from "./ops-sys.js";
import { amoShared } from "./ops-atomic.js";
import { PAUSE, THREADS } from "./threaded.js";

export interface Decoded {
  /** Kind and operands. */
  entry: Entry;
  op: Op;
  /**
   * True when the instruction always leaves its block: it transfers control or changes state the
   * block loop must see. Conditional branches do not: they leave only when taken.
   */
  ends: boolean;
}

/**
 * Decode the instruction `raw` (a 32-bit word, or a 16-bit parcel when `len` is 2) found `off`
 * bytes into its block, after `index` other instructions of it.
 */
export function decode(raw: number, len: 2 | 4, off: number, index = 0): Decoded {
  const entry = decodeEntry(raw, len, off);
  return { entry, op: decodeOp(entry, raw, len, off, index), ends: endsBlock(entry[0]) };
}

/**
 * The kind and operands of `raw` alone (see `decode`), without its closure: blocks are built
 * from entries, and a closure is made only for a kind a tier calls (engine/exec.ts Block.op).
 */
export function decodeEntry(raw: number, len: 2 | 4, off: number): Entry {
  const inst = len === 2 ? expandCompressed(raw) : raw;
  if (inst === -1) return ILLEGAL;
  const entry = classify(inst, len, off);
  // An OP-FP encoding the FPU does not implement.
  if (entry[0] === K.FP && !decodeFp(inst)) return ILLEGAL;
  return entry;
}

/** The closure of `entry`, decoded by `decodeEntry` from the same `raw`, `len` and `off`. */
export function decodeOp(entry: Entry, raw: number, len: 2 | 4, off: number, index = 0): Op {
  const inst = len === 2 ? expandCompressed(raw) : raw;
  return closure(entry, inst, raw, off, index) ?? S.illegal(raw);
}

/** The closure of `entry`, decoded from `inst` (expanded; `raw` as fetched, the tval of its traps). */
function closure(entry: Entry, inst: number, raw: number, off: number, index: number): Op | null {
  // Indexed, not destructured: destructuring runs the array iterator (garbage per instruction).
  const kind = entry[0];
  const d = entry[1];
  const a = entry[2];
  const b = entry[3];
  const w1 = entry[4];
  const w2 = entry[5];
  switch (kind) {
    case K.NEXT:
      throw new Error("decode: NEXT is not an instruction");
    case K.NOP:
      return () => {};
    case K.LUI:
      return I.lui(d, w1);
    case K.AUIPC:
      return I.auipc(d, w2, w1);
    case K.JAL:
      return S.jal(d, w1, w2);
    case K.JALR:
      return S.jalr(d, a, w1, w2);
    case K.BEQ:
    case K.BNE:
    case K.BLT:
    case K.BGE:
    case K.BLTU:
    case K.BGEU:
      return S.branch(kind, a, b, w1);
    case K.LB:
    case K.LH:
    case K.LW:
    case K.LD:
      return M.load(kind - K.LB, false, d, a, w1);
    case K.LBU:
    case K.LHU:
    case K.LWU:
      return M.load(kind - K.LBU, true, d, a, w1);
    case K.SB:
    case K.SH:
    case K.SW:
    case K.SD:
      return M.store(kind - K.SB, a, b, w1);
    case K.ADDI:
      return I.addi(d, a, w1);
    case K.SLTI:
    case K.SLTIU:
      return I.slti(d, a, w1, kind === K.SLTIU);
    case K.XORI:
      return I.logicImm("xor", d, a, w1);
    case K.ORI:
      return I.logicImm("or", d, a, w1);
    case K.ANDI:
      return I.logicImm("and", d, a, w1);
    case K.SLLI:
    case K.SRLI:
    case K.SRAI:
      return I.shiftImm((kind - K.SLLI) as 0 | 1 | 2, d, a, w1);
    case K.ADDIW:
      return I.addiw(d, a, w1);
    case K.SLLIW:
    case K.SRLIW:
    case K.SRAIW:
      return I.shiftImmW((kind - K.SLLIW) as 0 | 1 | 2, d, a, w1);
    case K.ADD:
      return I.add(d, a, b);
    case K.SUB:
      return I.sub(d, a, b);
    case K.SLL:
      return I.shift(0, d, a, b);
    case K.SRL:
      return I.shift(1, d, a, b);
    case K.SRA:
      return I.shift(2, d, a, b);
    case K.SLT:
    case K.SLTU:
      return I.slt(d, a, b, kind === K.SLTU);
    case K.XOR:
      return I.logic("xor", d, a, b);
    case K.OR:
      return I.logic("or", d, a, b);
    case K.AND:
      return I.logic("and", d, a, b);
    case K.MUL:
      return I.mul(d, a, b);
    case K.ADDW:
      return I.opW("add", d, a, b);
    case K.SUBW:
      return I.opW("sub", d, a, b);
    case K.SLLW:
      return I.opW("sll", d, a, b);
    case K.SRLW:
      return I.opW("srl", d, a, b);
    case K.SRAW:
      return I.opW("sra", d, a, b);
    case K.MULW:
      return I.opW("mul", d, a, b);
    case K.MULH:
      return I.mulh("ss", d, a, b);
    case K.MULHSU:
      return I.mulh("su", d, a, b);
    case K.MULHU:
      return I.mulh("uu", d, a, b);
    case K.DIV:
    case K.DIVU:
    case K.REM:
    case K.REMU:
      return I.div(kind === K.DIV || kind === K.REM, kind >= K.REM, d, a, b);
    case K.DIVW:
    case K.DIVUW:
    case K.REMW:
    case K.REMUW:
      return I.divW(kind === K.DIVW || kind === K.REMW, kind >= K.REMW, d, a, b);
    case K.FLW:
    case K.FLD:
      return M.fpLoad(kind === K.FLD, d, a, w1, raw);
    case K.FSW:
    case K.FSD:
      return M.fpStore(kind === K.FSD, a, b, w1, raw);
    case K.FP: {
      const exec = decodeFp(inst);
      if (!exec) return null;
      return (h) => {
        if (!(h.mstatus & MS_FS) || !exec(h)) h.raise(Exc.Illegal, raw >>> 0);
      };
    }
    case K.CSRRW:
    case K.CSRRS:
    case K.CSRRC:
      return S.csrOp(kind - K.CSRRW + 1, w1, d, a >>> 1, off, raw, index);
    case K.CSRRWI:
    case K.CSRRSI:
    case K.CSRRCI:
      return S.csrOp(kind - K.CSRRWI + 5, w1, d, w2, off, raw, index);
    case K.FENCE_I:
      return inst === PAUSE ? S.pause(off) : S.fenceI(off);
    case K.ECALL:
      return S.ecall(off);
    case K.EBREAK:
      return S.ebreak(off);
    case K.SRET:
      return S.sret(raw);
    case K.MRET:
      return S.mret(raw);
    case K.WFI:
      return S.wfi(off, raw);
    case K.SFENCE_VMA:
      return S.sfenceVma(a, b, off, raw);
    case K.ILLEGAL:
      return S.illegal(raw);
    default: {
      // LR, SC and the AMOs (the type says no other kind was left out).
      const atomic: AtomicKind = kind;
      return (THREADS.on ? amoShared : M.amo)(amoFunct5(atomic), amoDouble(atomic), d, a, b);
    }
  }
}
