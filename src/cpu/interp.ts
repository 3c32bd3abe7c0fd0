/**
 * The first tier: a block's common instructions pre-decoded into a table of small integers and
 * run by one switch, instead of one closure call per instruction.
 *
 * Why: kernel I/O paths run most of their instructions in blocks that never get hot enough to
 * compile (a 64 MiB `dd` read: 88 % of its guest instructions ran in blocks below the JIT's
 * threshold), and a closure per instruction is a call through V8's generic Call builtin each
 * time. One interpreter function is warmed up and optimized by V8 once, and then serves every
 * cold block: no per-block compile, no per-instruction call.
 *
 * The instructions handled here are the ones jit.ts emits inline (RV64I ALU, W forms, MUL,
 * LUI/AUIPC, loads and stores through the hart's TLB fast paths, branches, JAL/JALR); everything
 * else (M divisions, A, F/D, CSR and system instructions) calls its closure (`K.CALL`). The
 * semantics must equal the closures' (ops-*.ts): jit.test.ts runs random blocks through the
 * closures, this interpreter and the JIT and compares them.
 *
 * Table layout, four int32 words per op (the fall-through op included):
 *   [0] kind | d << 8 | a << 16 | b << 24   (d, a, b: register pair indices 2*r; d is 64, the
 *                                            scratch pair, when rd is x0 and the op still runs)
 *   [1] immediate (or branch/JAL target offset from the block's pc, or fall-through length)
 *   [2] offset of the next instruction from the block's pc (links, untaken branches) or, for
 *       AUIPC, the instruction's own offset
 *   [3] access size in bytes for loads and stores
 */
import { immB, immJ, immS } from "./decode.js";
import type { Hart } from "./hart.js";
import { instAt, type CompileInput } from "./jit.js";
import { mulLow, sll, sra, srl, type Op } from "./ops-int.js";
import { TLB_MASK } from "./tlb.js";

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

const TWO32 = 4294967296;

/** One pre-decoded op: kind and operands, or null when it must call its closure. */
type Entry = [kind: K, d: number, a: number, b: number, w1: number, w2: number];

const SIZES: Partial<Record<K, number>> = {
  [K.LB]: 1, [K.LH]: 2, [K.LW]: 4, [K.LD]: 8, [K.LBU]: 1, [K.LHU]: 2, [K.LWU]: 4,
  [K.SB]: 1, [K.SH]: 2, [K.SW]: 4, [K.SD]: 8,
};
const LOADS = [K.LB, K.LH, K.LW, K.LD, K.LBU, K.LHU, K.LWU] as const;
const STORES = [K.SB, K.SH, K.SW, K.SD] as const;
const BRANCHES: Record<number, K | undefined> = { 0: K.BEQ, 1: K.BNE, 4: K.BLT, 5: K.BGE, 6: K.BLTU, 7: K.BGEU };
const OP_IMM = [K.ADDI, K.SLLI, K.SLTI, K.SLTIU, K.XORI, K.SRLI, K.ORI, K.ANDI] as const;
const OP = [K.ADD, K.SLL, K.SLT, K.SLTU, K.XOR, K.SRL, K.OR, K.AND] as const;
const OP_32: Record<string, K | undefined> = { "0:0": K.ADDW, "32:0": K.SUBW, "0:1": K.SLLW, "0:5": K.SRLW, "32:5": K.SRAW, "1:0": K.MULW };

/** Classify one 32-bit instruction `len` bytes long at `off` in its block (see the table layout). */
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
      return k === undefined ? null : [k, 0, a, b, off + immB(inst), off + len];
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

/**
 * The tables of all cached blocks, appended to one Int32Array. A table per block would be an
 * object of its own with its own backing store: two dependent cache misses before a block's first
 * op, seen as the interpreter's hottest instructions in `perf annotate`. Dead blocks' tables stay
 * until the space is full; the code cache is then flushed and the space reused (as QEMU flushes
 * its translation buffer when full).
 */
export class OpTables {
  /** The space; replaced by a larger copy as it grows, so callers read it afresh per block. */
  t = new Int32Array(1 << 16);
  /** Words in use. */
  top = 0;
  /** Times the space was reset. */
  resets = 0;

  /** `max`: at most this many words (by default 4 Mi words, 16 MiB). */
  constructor(readonly max = 1 << 22) {}

  /** Whether a block of up to `ops` ops still fits without a flush. */
  fits(ops: number): boolean {
    return this.top + 4 * ops <= this.max;
  }

  /** Append block `b`'s table (its ops, and the fall-through op if it has one); returns its base. */
  add(b: CompileInput): number {
    const words = 4 * b.ops.length;
    if (this.top + words > this.t.length) {
      const next = new Int32Array(Math.min(this.max, Math.max(this.t.length * 2, this.top + words)));
      next.set(this.t.subarray(0, this.top));
      this.t = next;
    }
    const base = this.top;
    writeTable(b, this.t, base);
    this.top += words;
    return base;
  }

  /** Forget every table (the code cache was flushed: no live block refers to one). */
  reset(): void {
    this.top = 0;
    this.resets++;
  }
}

/** Write block `b`'s table into `t` from word `base`. */
export function writeTable(b: CompileInput, t: Int32Array, base: number): void {
  for (let k = 0; k < b.ops.length; k++) {
    let e: Entry | null;
    if (k === b.n) e = [K.NEXT, 0, 0, 0, b.offs[k]!, 0];
    else {
      const inst = instAt(b, k);
      e = inst === -1 ? null : classify(inst, (b.raws[k]! & 3) !== 3 ? 2 : 4, b.offs[k]!);
    }
    const [kind, d, a, bb, w1, w2] = e ?? [K.CALL, 0, 0, 0, 0, 0];
    const q = base + 4 * k;
    t[q] = kind | (d << 8) | (a << 16) | (bb << 24);
    t[q + 1] = w1;
    t[q + 2] = w2;
    t[q + 3] = SIZES[kind] ?? 0;
  }
}

const slt = (ah: number, al: number, bh: number, bl: number): boolean => ah < bh || (ah === bh && al >>> 0 < bl >>> 0);
const sltu = (ah: number, al: number, bh: number, bl: number): boolean =>
  ah >>> 0 < bh >>> 0 || (ah === bh && al >>> 0 < bl >>> 0);

/**
 * Run one block from its table, at word `base` of `t`. `h.pc` holds the block's virtual pc on
 * entry and the next pc on return. A trap unwinds with `h.faultIndex` naming the op that raised it.
 */
export function interpret(h: Hart, t: Int32Array, base: number, ops: readonly Op[]): void {
  const x = h.x;
  const end = base + 4 * ops.length;
  let p = base;
  try {
    for (; p < end; p += 4) {
      const w = t[p]!;
      const imm = t[p + 1]!;
      const d = (w >>> 8) & 0xff;
      const a = (w >>> 16) & 0xff;
      const b = w >>> 24;
      const al = x[a]!;
      const ah = x[a + 1]!;
      const bl = x[b]!;
      const bh = x[b + 1]!;
      switch (w & 0xff) {
        case K.CALL:
          ops[(p - base) >>> 2]!(h);
          break;
        case K.NEXT:
          h.pc += imm;
          break;
        case K.NOP:
          break;
        case K.LUI:
          x[d] = imm;
          x[d + 1] = imm >> 31;
          break;
        case K.AUIPC: {
          const v = h.pc + t[p + 2]! + imm;
          x[d] = v | 0;
          x[d + 1] = Math.floor(v / TWO32) | 0;
          break;
        }
        case K.JAL: {
          const v = h.pc + t[p + 2]!;
          x[d] = v | 0;
          x[d + 1] = Math.floor(v / TWO32) | 0;
          h.pc += imm;
          break;
        }
        case K.JALR: {
          // Operands swapped against the loads' address (the sum is the same: IEEE addition
          // commutes; the grouping is not changed, which would round differently), so V8 does not
          // merge the two and hoist the arithmetic above the switch, where every op would pay.
          const target = (al >>> 0) + ah * TWO32 + imm;
          const v = h.pc + t[p + 2]!;
          x[d] = v | 0;
          x[d + 1] = Math.floor(v / TWO32) | 0;
          h.pc = target - (target & 1);
          break;
        }
        case K.BEQ:
          h.pc += al === bl && ah === bh ? imm : t[p + 2]!;
          break;
        case K.BNE:
          h.pc += al !== bl || ah !== bh ? imm : t[p + 2]!;
          break;
        case K.BLT:
          h.pc += slt(ah, al, bh, bl) ? imm : t[p + 2]!;
          break;
        case K.BGE:
          h.pc += slt(ah, al, bh, bl) ? t[p + 2]! : imm;
          break;
        case K.BLTU:
          h.pc += sltu(ah, al, bh, bl) ? imm : t[p + 2]!;
          break;
        case K.BGEU:
          h.pc += sltu(ah, al, bh, bl) ? t[p + 2]! : imm;
          break;
        // Loads and stores probe the hart's TLB here rather than through Hart.lw and friends
        // (the JIT's path, which V8 inlines into small compiled blocks): V8 inlines few of them
        // into a function this large, and an out-of-line call boxes the address. Same tags and
        // the same slow paths, so translation still has one definition (hart.ts, tlb.ts).
        case K.LB:
        case K.LH:
        case K.LW:
        case K.LD:
        case K.LBU:
        case K.LHU:
        case K.LWU:
        case K.SB:
        case K.SH:
        case K.SW:
        case K.SD: {
          const lo = (al + imm) | 0;
          const off = lo & 0xfff;
          const i = (lo >>> 12) & TLB_MASK;
          const at = ah * TWO32 + (al >>> 0) + imm;
          const size = t[p + 3]! as 1 | 2 | 4 | 8;
          const m = h.view;
          const kind = w & 0xff;
          if (kind >= K.SB) {
            // A store (the stores follow the loads in K).
            if (h.wtag[i] === at - off && off <= 4096 - size) {
              const r = h.wadd[i]! + off;
              if (size === 1) h.u8[r] = bl;
              else if (size === 2) m.setInt16(r, bl, true);
              else {
                m.setInt32(r, bl, true);
                if (size === 8) m.setInt32(r + 4, bh, true);
              }
            } else h.storeSlow(at, size, bl, size === 8 ? bh : 0);
            break;
          }
          let v: number;
          let vh = 0;
          if (h.rtag[i] === at - off && off <= 4096 - size) {
            const r = h.radd[i]! + off;
            if (size === 1) v = h.u8[r]!;
            else if (size === 2) v = m.getUint16(r, true);
            else {
              v = m.getInt32(r, true);
              if (size === 8) vh = m.getInt32(r + 4, true);
            }
          } else {
            v = h.loadSlow(at, size);
            if (size === 8) vh = h.hiOut;
          }
          switch (kind) {
            case K.LB:
              v = (v << 24) >> 24;
              vh = v >> 31;
              break;
            case K.LH:
              v = (v << 16) >> 16;
              vh = v >> 31;
              break;
            case K.LW:
              vh = v >> 31;
              break;
            case K.LBU:
              v &= 0xff;
              break;
            case K.LHU:
              v &= 0xffff;
              break;
          }
          x[d] = v;
          x[d + 1] = vh;
          break;
        }
        case K.ADDI: {
          const s = (al >>> 0) + (imm >>> 0);
          x[d + 1] = (ah + (imm >> 31) + (s > 4294967295 ? 1 : 0)) | 0;
          x[d] = s | 0;
          break;
        }
        case K.SLTI:
          x[d] = slt(ah, al, imm >> 31, imm) ? 1 : 0;
          x[d + 1] = 0;
          break;
        case K.SLTIU:
          x[d] = sltu(ah, al, imm >> 31, imm) ? 1 : 0;
          x[d + 1] = 0;
          break;
        case K.XORI:
          x[d] = al ^ imm;
          x[d + 1] = ah ^ (imm >> 31);
          break;
        case K.ORI:
          x[d] = al | imm;
          x[d + 1] = ah | (imm >> 31);
          break;
        case K.ANDI:
          x[d] = al & imm;
          x[d + 1] = ah & (imm >> 31);
          break;
        // Shifts by 1..63 (0 was decoded as a move), inline: a call would box its operands.
        case K.SLLI:
          if (imm < 32) {
            x[d + 1] = (ah << imm) | (al >>> (32 - imm));
            x[d] = al << imm;
          } else {
            x[d + 1] = al << (imm - 32);
            x[d] = 0;
          }
          break;
        case K.SRLI:
          if (imm < 32) {
            x[d] = (al >>> imm) | (ah << (32 - imm));
            x[d + 1] = ah >>> imm;
          } else {
            x[d] = ah >>> (imm - 32);
            x[d + 1] = 0;
          }
          break;
        case K.SRAI:
          if (imm < 32) {
            x[d] = (al >>> imm) | (ah << (32 - imm));
            x[d + 1] = ah >> imm;
          } else {
            x[d] = ah >> (imm - 32);
            x[d + 1] = ah >> 31;
          }
          break;
        case K.ADDIW: {
          const v = (al + imm) | 0;
          x[d] = v;
          x[d + 1] = v >> 31;
          break;
        }
        case K.SLLIW: {
          const v = al << imm;
          x[d] = v;
          x[d + 1] = v >> 31;
          break;
        }
        case K.SRLIW: {
          const v = (al >>> imm) | 0;
          x[d] = v;
          x[d + 1] = v >> 31;
          break;
        }
        case K.SRAIW: {
          const v = al >> imm;
          x[d] = v;
          x[d + 1] = v >> 31;
          break;
        }
        case K.ADD: {
          const s = (al >>> 0) + (bl >>> 0);
          x[d + 1] = (ah + bh + (s > 4294967295 ? 1 : 0)) | 0;
          x[d] = s | 0;
          break;
        }
        case K.SUB: {
          const s = (al >>> 0) - (bl >>> 0);
          x[d + 1] = (ah - bh - (s < 0 ? 1 : 0)) | 0;
          x[d] = s | 0;
          break;
        }
        case K.SLL:
          sll(x, d, al, ah, bl & 63);
          break;
        case K.SLT:
          x[d] = slt(ah, al, bh, bl) ? 1 : 0;
          x[d + 1] = 0;
          break;
        case K.SLTU:
          x[d] = sltu(ah, al, bh, bl) ? 1 : 0;
          x[d + 1] = 0;
          break;
        case K.XOR:
          x[d] = al ^ bl;
          x[d + 1] = ah ^ bh;
          break;
        case K.SRL:
          srl(x, d, al, ah, bl & 63);
          break;
        case K.SRA:
          sra(x, d, al, ah, bl & 63);
          break;
        case K.OR:
          x[d] = al | bl;
          x[d + 1] = ah | bh;
          break;
        case K.AND:
          x[d] = al & bl;
          x[d + 1] = ah & bh;
          break;
        case K.MUL:
          mulLow(x, d, al, ah, bl, bh);
          break;
        case K.ADDW: {
          const v = (al + bl) | 0;
          x[d] = v;
          x[d + 1] = v >> 31;
          break;
        }
        case K.SUBW: {
          const v = (al - bl) | 0;
          x[d] = v;
          x[d + 1] = v >> 31;
          break;
        }
        case K.SLLW: {
          const v = al << (bl & 31);
          x[d] = v;
          x[d + 1] = v >> 31;
          break;
        }
        case K.SRLW: {
          const v = (al >>> (bl & 31)) | 0;
          x[d] = v;
          x[d + 1] = v >> 31;
          break;
        }
        case K.SRAW: {
          const v = al >> (bl & 31);
          x[d] = v;
          x[d + 1] = v >> 31;
          break;
        }
        case K.MULW: {
          const v = Math.imul(al, bl);
          x[d] = v;
          x[d + 1] = v >> 31;
          break;
        }
      }
    }
  } catch (e) {
    h.faultIndex = (p - base) >>> 2;
    throw e;
  }
}
