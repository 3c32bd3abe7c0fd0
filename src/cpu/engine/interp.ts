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
 * The switch is on the instruction kinds of isa/kinds.ts, the table every tier reads: the fast
 * subset runs inline; every other kind (M divisions, A, F/D, CSR and system instructions) calls
 * its closure. The semantics must equal the closures' (isa/ops-*.ts): tiers.test.ts runs random
 * blocks through the closures, this interpreter and the compiling tiers and compares them.
 *
 * A block's table is its decoded ops (Block.code, isa/kinds.ts WORDS), copied into one space;
 * four int32 words per op (the fall-through op included):
 *   [0] kind | d << 8 | a << 16 | b << 24   (d, a, b: register pair indices 2*r; d is 64, the
 *                                            scratch pair, when rd is x0 and the op still runs)
 *   [1] immediate (or branch/JAL target offset from the block's pc, or fall-through length)
 *   [2] offset of the next instruction from the block's pc (links) or, for AUIPC, the
 *       instruction's own offset
 *   [3] access size in bytes for loads and stores
 */
import { K, type ClosureKind, type CompileInput } from "../isa/kinds.js";
import type { Hart } from "../hart/hart.js";
import { TWO32 } from "../isa/int64.js";
import { mulLow, sll, sltPair as slt, sltuPair as sltu, sra, srl, type Op } from "../isa/ops-int.js";
import { TLB_MASK } from "../hart/tlb.js";

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
    const words = b.code.length;
    if (this.top + words > this.t.length) {
      const next = new Int32Array(Math.min(this.max, Math.max(this.t.length * 2, this.top + words)));
      next.set(this.t.subarray(0, this.top));
      this.t = next;
    }
    const base = this.top;
    this.t.set(b.code, base);
    this.top += words;
    return base;
  }

  /**
   * Forget every table (the code cache was flushed: no live block refers to one); `shrink` also
   * gives the grown space back (CodeCache.trim), the next blocks start in a small one.
   */
  reset(shrink = false): void {
    this.top = 0;
    if (shrink) this.t = new Int32Array(1 << 16);
    this.resets++;
  }
}

/** A taken branch at word `p`: the pc moves to its target; returns the instructions retired. */
function taken(h: Hart, target: number, p: number, base: number): number {
  h.pc += target;
  return ((p - base) >>> 2) + 1;
}

/**
 * Run one block from its table, at word `base` of `t`: `count` ops (the fall-through op included),
 * `ops` the closures of the kinds not run inline (engine/exec.ts Block.called). `h.pc` holds the block's virtual pc on
 * entry and the next pc on return. Returns the instructions retired: all of the block's, or fewer
 * when a taken branch left it early. A trap unwinds with `h.faultIndex` naming the op that raised it.
 */
export function interpret(
  h: Hart,
  t: Int32Array,
  base: number,
  count: number,
  ops: readonly (Op | undefined)[],
): number {
  const x = h.x;
  const end = base + 4 * count;
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
      const kind = (w & 0xff) as K;
      switch (kind) {
        case K.NEXT:
          // The fall-through op, always last; it is not an instruction.
          h.pc += imm;
          return (p - base) >>> 2;
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
        // Branches are side exits: taken, the block ends here (this op retires too); untaken,
        // the next op runs.
        case K.BEQ:
          if (al === bl && ah === bh) return taken(h, imm, p, base);
          break;
        case K.BNE:
          if (al !== bl || ah !== bh) return taken(h, imm, p, base);
          break;
        case K.BLT:
          if (slt(ah, al, bh, bl)) return taken(h, imm, p, base);
          break;
        case K.BGE:
          if (!slt(ah, al, bh, bl)) return taken(h, imm, p, base);
          break;
        case K.BLTU:
          if (sltu(ah, al, bh, bl)) return taken(h, imm, p, base);
          break;
        case K.BGEU:
          if (!sltu(ah, al, bh, bl)) return taken(h, imm, p, base);
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
            // The same sum as `at` (IEEE addition commutes), written so that V8 does not merge the
            // two: when the load's and the store's slow calls shared one value, V8 boxed it (a
            // heap number) where both paths meet, before the TLB probe, on every load and store
            // to an address outside the small-integer range, as kernel addresses are: most of
            // what a boot allocated (docs/benchmarks.md). Each call now boxes its own, on its
            // slow path.
            v = h.loadSlow(imm + (ah * TWO32 + (al >>> 0)), size);
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
        default: {
          // Every other kind runs its closure (the type says no inline kind was left out).
          const _closure: ClosureKind = kind;
          ops[(p - base) >>> 2]!(h);
          break;
        }
      }
    }
  } catch (e) {
    h.faultIndex = (p - base) >>> 2;
    throw e;
  }
  return count;
}
