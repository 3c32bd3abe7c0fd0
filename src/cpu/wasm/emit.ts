/**
 * The wasm tier's code generator: one block's instructions as the body of a WebAssembly function
 * (tier.ts compiles and runs them).
 *
 * Why WebAssembly, when the JavaScript tier (engine/jit.ts) exists: kernel code is thousands of
 * blocks that each run tens of thousands of times. A JavaScript function starts in V8's bytecode
 * interpreter and is optimized only after many calls, into several KiB of machine code, so the
 * JIT paid off late on such code (docs/benchmarks.md, sixth session). WebAssembly is compiled at
 * once by V8's baseline compiler (Liftoff), has native i64 arithmetic for the 64-bit registers
 * instead of int32 pairs, and reads registers, TLB and RAM as plain loads from the machine's
 * linear memory (layout.ts).
 *
 * What is emitted: the switch in Emitter.op is on the instruction kinds (isa/kinds.ts, decoded
 * once for every tier): the fast subset inline, and the M extension, AMOs, LR/SC and sstatus's
 * interrupt-enable accesses inline with a closure fallback; every other kind calls its closure
 * through the `call` service (isa/decode.ts and isa/ops-*.ts, the reference semantics). Loads and stores probe the hart's current TLB arrays (their
 * offsets are in the hart's area, written by Hart.updateContexts) exactly as Hart.lw and friends
 * do, and take the hart's own slow paths through services on a miss. Registers live in locals
 * within a pass through the block (Emitter). The semantics must equal the closures':
 * engine/tiers.test.ts runs random blocks through the closures and every tier and compares, and
 * the ISA suite runs with every block compiled.
 */
import { THREADS } from "../isa/threaded.js";
import { entryAt, K, SIZES, type AtomicKind, type ClosureKind, type CompileInput, type Entry } from "../isa/kinds.js";
import { Code, Hint, Op, T } from "./encoder.js";
import { ALIGN, L, S_LOAD, S_STORE, type HeldRegs } from "./emitter.js";
import { type MulDivKind } from "./emit-ext.js";
import { FpEmitter, fpAccessTlb, fpHeld, fpIntRegs } from "./emit-fp.js";
import { branchShape, guardedStore } from "./emit-select.js";
import { HartArea, RAM_OFFSET } from "./layout.js";

/** Loads by kind: the fast-path opcode, and how the slow path's int32 becomes the value. */
const LOADS: Partial<Record<K, [op: Op, slow: Op | null]>> = {
  [K.LB]: [Op.I64Load8S, Op.I64ExtendI32S],
  [K.LH]: [Op.I64Load16S, Op.I64ExtendI32S],
  [K.LW]: [Op.I64Load32S, Op.I64ExtendI32S],
  [K.LD]: [Op.I64Load, null],
  [K.LBU]: [Op.I64Load8U, Op.I64ExtendI32U],
  [K.LHU]: [Op.I64Load16U, Op.I64ExtendI32U],
  [K.LWU]: [Op.I64Load32U, Op.I64ExtendI32U],
};
const STORES: Partial<Record<K, Op>> = {
  [K.SB]: Op.I64Store8,
  [K.SH]: Op.I64Store16,
  [K.SW]: Op.I64Store32,
  [K.SD]: Op.I64Store,
};
/** Narrow slow-path results: the bits that are the value (loadSlow returns 1 and 2 bytes unsigned). */
const SIGN_BITS: Partial<Record<K, number>> = { [K.LB]: 24, [K.LH]: 16 };

const BR: Record<K.BEQ | K.BNE | K.BLT | K.BGE | K.BLTU | K.BGEU, Op> = {
  [K.BEQ]: Op.I64Eq,
  [K.BNE]: Op.I64Ne,
  [K.BLT]: Op.I64LtS,
  [K.BGE]: Op.I64GeS,
  [K.BLTU]: Op.I64LtU,
  [K.BGEU]: Op.I64GeU,
};
const ALU: Record<
  | K.ADD
  | K.SUB
  | K.XOR
  | K.OR
  | K.AND
  | K.MUL
  | K.SLL
  | K.SRL
  | K.SRA
  | K.ADDI
  | K.XORI
  | K.ORI
  | K.ANDI
  | K.SLLI
  | K.SRLI
  | K.SRAI,
  Op
> = {
  [K.ADD]: Op.I64Add,
  [K.SUB]: Op.I64Sub,
  [K.XOR]: Op.I64Xor,
  [K.OR]: Op.I64Or,
  [K.AND]: Op.I64And,
  [K.MUL]: Op.I64Mul,
  [K.SLL]: Op.I64Shl,
  [K.SRL]: Op.I64ShrU,
  [K.SRA]: Op.I64ShrS,
  [K.ADDI]: Op.I64Add,
  [K.XORI]: Op.I64Xor,
  [K.ORI]: Op.I64Or,
  [K.ANDI]: Op.I64And,
  [K.SLLI]: Op.I64Shl,
  [K.SRLI]: Op.I64ShrU,
  [K.SRAI]: Op.I64ShrS,
};
/** The W forms as i32 operations on the low words, sign-extended (unprivileged spec 5.3). */
const ALU_W: Record<K.ADDW | K.SUBW | K.MULW | K.SLLW | K.SRLW | K.SRAW | K.ADDIW | K.SLLIW | K.SRLIW | K.SRAIW, Op> = {
  [K.ADDW]: Op.I32Add,
  [K.SUBW]: Op.I32Sub,
  [K.MULW]: Op.I32Mul,
  [K.SLLW]: Op.I32Shl,
  [K.SRLW]: Op.I32ShrU,
  [K.SRAW]: Op.I32ShrS,
  [K.ADDIW]: Op.I32Add,
  [K.SLLIW]: Op.I32Shl,
  [K.SRLIW]: Op.I32ShrU,
  [K.SRAIW]: Op.I32ShrS,
};
const IMM_KINDS = new Set<K>([
  K.ADDI,
  K.XORI,
  K.ORI,
  K.ANDI,
  K.SLLI,
  K.SRLI,
  K.SRAI,
  K.SLTI,
  K.SLTIU,
  K.ADDIW,
  K.SLLIW,
  K.SRLIW,
  K.SRAIW,
]);

/** Emits a block: the fast subset inline, and the switch on every instruction kind. */
class BlockEmitter extends FpEmitter {
  load(kind: K, d: number, a: number, imm: number, k: number): void {
    const [fast, widen] = LOADS[kind]!;
    const size = SIZES[kind]!;
    const c = this.c;
    const loadFast = (): void => {
      c.mem(fast, ALIGN[size]!, RAM_OFFSET).set(L.V);
    };
    const loadSlow = (): void => {
      this.flush(false);
      this.service(S_LOAD, k, () => this.addrWords());
      const bits = SIGN_BITS[kind];
      if (bits !== undefined) c.i32(bits).op(Op.I32Shl).i32(bits).op(Op.I32ShrS); // sign-extend the narrow value
      if (widen === null) {
        // 64 bits: the low word returned, the high word left in the hiOut slot.
        c.op(Op.I64ExtendI32U).get(L.HB).mem(Op.I64Load32U, 2, HartArea.hiOut).i64(32).op(Op.I64Shl).op(Op.I64Or);
      } else c.op(widen);
      c.set(L.V);
    };
    this.access(a, imm, size, L.RT, loadFast, loadSlow);
    this.setReg(d, () => c.get(L.V));
  }

  store(kind: K, a: number, b: number, imm: number, k: number): void {
    const size = SIZES[kind]!;
    const c = this.c;
    const storeFast = (): void => {
      this.reg(b);
      c.mem(STORES[kind]!, ALIGN[size]!, RAM_OFFSET);
    };
    const storeSlow = (): void => {
      this.flush(false);
      this.service(S_STORE, k, () => {
        this.addrWords();
        this.reg(b);
        c.op(Op.I32WrapI64);
        this.reg(b);
        c.i64(32).op(Op.I64ShrU).op(Op.I32WrapI64);
      });
    };
    this.touch(b);
    if (this.guard !== null) {
      this.touch(a);
      const value = (): void => this.reg(b);
      guardedStore(this, a, imm, size, STORES[kind]!, this.pageCache(a, L.WT)!, value, storeFast, storeSlow);
      return;
    }
    this.access(a, imm, size, L.WT, storeFast, storeSlow);
  }

  /**
   * Set P to the condition of the branch at op `k` of `b` (taken: 1). Where it is taken and the
   * budget is spent or the stop slot set, leave at the branch as an unconverted one does, so that
   * a slice ends where it ends in every other tier (and a block whose code a store overwrote runs
   * none of its target's code from the function).
   */
  private condition(b: Emittable, k: number): void {
    const [kind, , a, r2, w1] = entryAt(b.code, k);
    const c = this.c;
    this.reg(a);
    this.reg(r2);
    c.op(BR[kind as keyof typeof BR]).set(L.P);
    c.get(L.DONE)
      .i32(k + 1)
      .op(Op.I32Add)
      .get(L.BUDGET)
      .op(Op.I32GeS)
      .get(L.HB)
      .mem(Op.I32Load, 2, HartArea.stop)
      .op(Op.I32Or)
      .i32(0)
      .get(L.P)
      .op(Op.Select)
      .open(Op.If, Hint.Unlikely);
    this.exitTo(w1);
    this.retire(k + 1);
    this.leave(false);
    this.toExit(1);
    c.op(Op.End);
  }

  /**
   * The branch at op `k` of block `b` over its ops k+1 .. to-1 (emit-select.ts, a triangle):
   * they run where it is not taken, and DONE takes back what they would have retired where it is.
   */
  triangle(b: Emittable, k: number, to: number): void {
    const c = this.c;
    this.condition(b, k);
    this.guard = false;
    for (let i = k + 1; i < to; i++) this.op(entryAt(b.code, i), i, b.n, b.offs[i]! + 4);
    this.guard = null;
    c.get(L.DONE)
      .i32(to - k - 1)
      .i32(0)
      .get(L.P)
      .op(Op.Select)
      .op(Op.I32Sub)
      .set(L.DONE);
  }

  /**
   * The branch at op `k` of block `b` to member `t` (`bt`, table index `tid`) whose ops 0 .. p-1
   * fall through into the join that b's op `end` jumps to (emit-select.ts, a diamond): both arms
   * run under their guards, the taken one named to the services as member t's ops, entered with
   * k + 1 instructions retired; then b leaves for the join with the arm's count retired.
   */
  diamond(b: Emittable, k: number, end: number, bt: Emittable, tid: number, p: number): void {
    const c = this.c;
    this.condition(b, k);
    this.guard = false;
    for (let i = k + 1; i < end; i++) this.op(entryAt(b.code, i), i, b.n, b.offs[i]! + 4);
    const was = this.site(tid, bt.off);
    this.doneBias = k + 1;
    this.guard = true;
    for (let i = 0; i < p; i++) this.op(entryAt(bt.code, i), i, bt.n, bt.offs[i]! + 4);
    this.guard = null;
    this.doneBias = 0;
    this.site(...was);
    c.get(L.DONE)
      .i32(k + 1 + p)
      .i32(b.n)
      .get(L.P)
      .op(Op.Select)
      .op(Op.I32Add)
      .set(L.DONE);
    this.exitTo(entryAt(b.code, end)[4]);
  }

  /**
   * Op `k` of a block of `n` instructions, `next` bytes from the block's pc to the instruction
   * after it. Returns "exit" when it ends the block with NPC set (jumps, the fall-through, an
   * inline sstatus access), "call" after a closure, or null.
   */
  op(entry: Entry, k: number, n: number, next: number): "exit" | "call" | null {
    const [kind, d, a, b, w1, w2] = entry;
    const c = this.c;
    switch (kind) {
      case K.LB:
      case K.LH:
      case K.LW:
      case K.LD:
      case K.LBU:
      case K.LHU:
      case K.LWU:
        this.load(kind, d, a, w1, k);
        return null;
      case K.SB:
      case K.SH:
      case K.SW:
      case K.SD:
        this.store(kind, a, b, w1, k);
        return null;
      case K.BEQ:
      case K.BNE:
      case K.BLT:
      case K.BGE:
      case K.BLTU:
      case K.BGEU:
        // A side exit: taken, the pc moves to the target and this op retires with those before it.
        this.reg(a);
        this.reg(b);
        c.op(BR[kind]).open(Op.If);
        this.exitTo(w1);
        this.retire(k + 1);
        this.leave(false);
        this.toExit(1); // out of the if and the $exit block
        c.op(Op.End);
        return null;
      case K.ADD:
      case K.SUB:
      case K.XOR:
      case K.OR:
      case K.AND:
      case K.MUL:
      case K.SLL:
      case K.SRL:
      case K.SRA:
      case K.ADDI:
      case K.XORI:
      case K.ORI:
      case K.ANDI:
      case K.SLLI:
      case K.SRLI:
      case K.SRAI: {
        const alu = ALU[kind];
        this.setReg(d, () => {
          this.reg(a);
          if (IMM_KINDS.has(kind)) c.i64(w1);
          else this.reg(b);
          c.op(alu);
        });
        return null;
      }
      case K.ADDW:
      case K.SUBW:
      case K.MULW:
      case K.SLLW:
      case K.SRLW:
      case K.SRAW:
      case K.ADDIW:
      case K.SLLIW:
      case K.SRLIW:
      case K.SRAIW: {
        const w = ALU_W[kind];
        this.setReg(d, () => {
          this.reg(a);
          c.op(Op.I32WrapI64);
          if (IMM_KINDS.has(kind)) c.i32(w1);
          else {
            this.reg(b);
            c.op(Op.I32WrapI64);
          }
          c.op(w).op(Op.I64ExtendI32S);
        });
        return null;
      }
      case K.SLT:
      case K.SLTU:
      case K.SLTI:
      case K.SLTIU:
        this.setReg(d, () => {
          this.reg(a);
          if (kind === K.SLTI || kind === K.SLTIU) c.i64(w1);
          else this.reg(b);
          c.op(kind === K.SLT || kind === K.SLTI ? Op.I64LtS : Op.I64LtU).op(Op.I64ExtendI32U);
        });
        return null;
      case K.NOP:
        return null;
      case K.NEXT:
        this.exitTo(w1);
        this.retire(n);
        return "exit";
      case K.LUI:
        this.setReg(d, () => c.i64(w1));
        return null;
      case K.AUIPC:
        this.setReg(d, () => this.pcRel(w2 + w1));
        return null;
      case K.JAL:
        if (d !== 64) this.setReg(d, () => this.pcRel(w2));
        this.exitTo(w1);
        this.retire(n);
        return "exit";
      case K.JALR:
        this.reg(a);
        c.i64(w1).op(Op.I64Add).i64(-2).op(Op.I64And).set(L.NPC);
        c.i32(-1).set(L.NXT);
        if (d !== 64) this.setReg(d, () => this.pcRel(w2));
        this.retire(n);
        return "exit";
      case K.MULH:
      case K.MULHSU:
      case K.MULHU:
      case K.DIV:
      case K.DIVU:
      case K.REM:
      case K.REMU:
      case K.DIVW:
      case K.DIVUW:
      case K.REMW:
      case K.REMUW:
        this.mulDiv(kind, d, a, b);
        return null;
      case K.LR_W:
      case K.SC_W:
      case K.LR_D:
      case K.SC_D:
        // On harts with threads of their own the closures do them with host atomics (ops-atomic.ts).
        if (THREADS.on) return this.call(k);
        this.lrsc(kind, d, a, b, k);
        return null;
      case K.AMOSWAP_W:
      case K.AMOADD_W:
      case K.AMOXOR_W:
      case K.AMOAND_W:
      case K.AMOOR_W:
      case K.AMOMIN_W:
      case K.AMOMAX_W:
      case K.AMOMINU_W:
      case K.AMOMAXU_W:
      case K.AMOSWAP_D:
      case K.AMOADD_D:
      case K.AMOXOR_D:
      case K.AMOAND_D:
      case K.AMOOR_D:
      case K.AMOMIN_D:
      case K.AMOMAX_D:
      case K.AMOMINU_D:
      case K.AMOMAXU_D:
        if (THREADS.on) return this.call(k);
        this.amo(kind, d, a, b, k);
        return null;
      case K.CSRRS:
      case K.CSRRC:
      case K.CSRRSI:
      case K.CSRRCI:
        return this.sstatus(entry, k, n, next) ? "exit" : this.call(k);
      case K.FLW:
      case K.FLD:
      case K.FSW:
      case K.FSD:
      case K.FP:
        return this.fp(entry, k) ? null : this.call(k);
      default: {
        // Every other kind calls its closure (the type says no inline kind was left out).
        const _closure: Exclude<
          ClosureKind,
          MulDivKind | AtomicKind | K.CSRRS | K.CSRRC | K.CSRRSI | K.CSRRCI | K.FLW | K.FLD | K.FSW | K.FSD | K.FP
        > = kind;
        return this.call(k);
      }
    }
  }
}

/** The block functions' signature: (hart area, pc, budget, retired before) -> retired after. */
export const RUN_TYPE = { params: [T.I32, T.I64, T.I32, T.I32], results: [T.I32] };

/** A block as the code generator takes it: its decoded ops and its RAM offset. */
export type Emittable = CompileInput & { readonly off: number };

/** A function body and the types of the locals its registers need (after LOCALS). */
export interface Body {
  code: Code;
  regLocals: readonly T[];
}

/**
 * The body of block `b`'s function, `id` being its table index (the services' first argument).
 *
 * A block that jumps or branches back to its own start (a loop that fits one block: memset,
 * memcpy, __clear_user) runs its passes inside one call (the loop check in emitBody). Its
 * registers are then held in locals across the passes: loaded once before the loop and stored
 * once after it, instead of loaded and stored on every pass (Emitter.held). That needs every
 * register it may write known before the first op (they are stored before every service, which
 * may trap), and no closure before its end (a closure reads and writes the register file): a
 * block that breaks either rule is emitted again without held registers.
 */
export function blockBody(b: Emittable, id: number): Body {
  const held = loopsToStart(b) ? heldRegs([b]) : null;
  return (held && emitBody([b], [id], held)) ?? emitBody([b], [id], null)!;
}

/**
 * One function for blocks `bs` of one physical page (table indices `ids`), or null when they
 * cannot share one (a closure before a block's end). Each block's table entry is this function;
 * it finds the block it was entered for by the pc's page offset. A block that leaves for a static
 * target in the page that is another member continues there inside the function (as runHart's
 * in-page links do: the page's translation cannot change before a block's end, and a store that
 * kills the page's blocks sets the stop slot), with the registers held in locals across all of
 * them. The CPU-bound program's loop is two blocks that branch to each other, each pass a trip
 * through the hub before (docs/benchmarks.md, "Regions").
 */
export function regionBody(bs: readonly Emittable[], ids: readonly number[]): Body | null {
  return emitBody(bs, ids, heldRegs(bs));
}

/**
 * The base registers and TLBs of blocks `bs`'s loads and stores, each of which gets its page
 * cache (Emitter.cachedAccess; the slots outlive the function, so even one access may hit a page
 * an earlier block found). Stores only on harts of one thread (see Emitter's page caches).
 */
function cachedBases(bs: readonly CompileInput[]): [number, L.RT | L.WT][] {
  const uses = new Set<number>();
  for (const b of bs)
    for (let k = 0; k < b.count; k++) {
      const [kind, , a] = entryAt(b.code, k);
      const fp = fpAccessTlb(kind);
      const tags =
        LOADS[kind] !== undefined || fp === L.RT
          ? L.RT
          : (STORES[kind] !== undefined || fp === L.WT) && !THREADS.on
            ? L.WT
            : null;
      if (tags === null) continue;
      uses.add(tags === L.WT ? -1 - a : a);
    }
  const out: [number, L.RT | L.WT][] = [];
  for (const key of uses) out.push(key < 0 ? [-1 - key, L.WT] : [key, L.RT]);
  return out;
}

/** Whether a branch or JAL of block `b` targets the block's own start. */
function loopsToStart(b: CompileInput): boolean {
  for (let k = 0; k < b.n; k++) {
    const [kind, , , , w1] = entryAt(b.code, k);
    if (w1 === 0 && (kind === K.JAL || (kind >= K.BEQ && kind <= K.BGEU))) return true;
  }
  return false;
}

/**
 * The registers blocks `bs` may read or write, from their entries' operand fields (which name
 * register pairs, isa/kinds.ts), and those they may write (rd). A field of a kind that holds
 * something else only adds a needless load; emitBody checks that every register written is among
 * `written`.
 */
function heldRegs(bs: readonly CompileInput[]): HeldRegs {
  const regs = new Set<number>();
  const written = new Set<number>();
  const isReg = (p: number): boolean => p >= 2 && p <= 62 && (p & 1) === 0;
  for (const b of bs)
    for (let k = 0; k < b.count; k++) {
      const entry = entryAt(b.code, k);
      const [kind, d0, a0, b0, w1] = entry;
      // F/D kinds name f registers (held as emit-fp.ts fpair), and OP-FP x registers only in its
      // word (emit-fp.ts).
      const fp = fpHeld(entry, regs, written);
      const { d, a } = kind === K.FP ? fpIntRegs(w1) : { d: fp ? 0 : d0, a: a0 };
      const r2 = fp ? 0 : b0;
      if (isReg(d)) {
        written.add(d);
        regs.add(d);
      }
      if (isReg(a)) regs.add(a);
      if (isReg(r2)) regs.add(r2);
    }
  return { regs, written };
}

/**
 * The member of the function that starts at member `b`'s op `k` (an instruction after its first,
 * in its own page) and whose ops are b's from k on, the same number to the same end; or -1.
 * emitBody then goes on in that member instead of emitting the rest of `b` again.
 */
function cutAt(bs: readonly Emittable[], members: ReadonlyMap<number, number>, b: Emittable, k: number): number {
  if (k === 0 || k >= b.n || (b.off & 0xfff) + b.offs[k]! >= 4096) return -1;
  const m = members.get(b.off + b.offs[k]!);
  if (m === undefined) return -1;
  const t = bs[m]!;
  return t.n === b.n - k && t.count === b.count - k ? m : -1;
}

/**
 * The function body for blocks `bs` (one, or a region's members), registers `held` across
 * passes and members or not; null when `held` cannot be.
 *
 *   loop $top
 *     block $exit
 *       block $m(n-1) ... block $m0
 *         br_table CUR                  (a region only)
 *       end  member 0's ops; br $exit
 *       ...
 *       end  member n-1's ops
 *     end                               (NPC, NXT and DONE set)
 *     continue at a member while the budget lasts and nothing asked to stop
 *   end
 */
function emitBody(bs: readonly Emittable[], ids: readonly number[], held: HeldRegs | null): Body | null {
  const n = bs.length;
  const e = new BlockEmitter(ids[0]!, bs[0]!.off, held);
  const c = e.c;
  e.members = new Map(bs.map((b, j) => [b.off, j]));
  e.region = n > 1;
  for (const [a, tags] of cachedBases(bs)) e.cachePages(a, tags);
  // Prologue.
  c.get(L.PC).set(L.BPC);
  e.tlbBases();
  e.loadHeld();
  if (n > 1) {
    // The member the hub entered: the one at the pc's page offset (all share one page).
    c.i32(0).set(L.CUR);
    for (let j = 1; j < n; j++) {
      c.get(L.PC)
        .op(Op.I32WrapI64)
        .i32(0xfff)
        .op(Op.I32And)
        .i32(bs[j]!.off & 0xfff)
        .op(Op.I32Eq)
        .open(Op.If);
      c.i32(j).set(L.CUR);
      c.get(L.PC)
        .i64(bs[j]!.off - bs[0]!.off)
        .op(Op.I64Sub)
        .set(L.BPC);
      c.op(Op.End);
    }
  }
  c.open(Op.Loop);
  c.open(Op.Block);
  if (n > 1) {
    for (let j = 0; j < n; j++) c.open(Op.Block);
    c.get(L.CUR).brTable(
      bs.map((_, j) => j),
      n - 1,
    );
  }
  for (let j = 0; j < n; j++) {
    const b = bs[j]!;
    if (n > 1) c.op(Op.End); // member j's code follows the end of its block
    e.member(ids[j]!, b.off, n - 1 - j);
    e.carefulFor(b); // FP's careful arms inline or out of line (emit-fp.ts)
    let ended = false;
    const storable = (a: number): boolean => e.pageCache(a, L.WT) !== undefined;
    for (let k = 0; k < b.count && !ended; k++) {
      const m = cutAt(bs, e.members, b, k);
      if (m >= 0) {
        // Op k starts member m, whose ops are exactly b's from k on: run them there instead of
        // a copy of them. A block runs on past its not-taken branches, so a loop's head block
        // held a whole copy of the loop body (the fp bench's n-body region had its pair loop
        // three times: 90 KB of wasm, TurboFan 155 ms; docs/benchmarks.md, branch fp6). The
        // budget and stop tests stay where they were: at b's (now m's) exits.
        e.retire(k);
        e.leave(true);
        e.continueAt(m);
        ended = true;
        continue;
      }
      const shape = branchShape(bs, j, k, e.members, storable);
      if (shape?.kind === "triangle") {
        e.triangle(b, k, shape.to);
        k = shape.to - 1;
        continue;
      }
      if (shape?.kind === "diamond") {
        e.diamond(b, k, shape.end, bs[shape.t]!, ids[shape.t]!, shape.p);
        e.leave(true);
        e.toExit(0, true);
        ended = true;
        continue;
      }
      const r = e.op(entryAt(b.code, k), k, b.n, b.offs[k]! + 4);
      if (r === "exit") {
        e.leave(true);
        e.toExit(0);
        ended = true;
      }
      const last = k === b.n - 1 && b.count === b.n;
      if (r === "call" && held !== null && !last) return null;
      if (r === "call" && last) {
        // Ends in a closure that set the pc itself (xRET, ECALL, WFI...): it left the pc in the
        // slot. Registers are in memory: the call stored every dirty one, held ones included.
        e.retire(b.n);
        c.get(L.HB).i32(-1).mem(Op.I32Store, 2, HartArea.next);
        c.get(L.DONE).op(Op.Return);
        ended = true;
      }
    }
    if (!ended) throw new Error("wasm tier: a block that neither jumps, falls through nor ends in a closure");
  }
  if (held !== null) for (const p of e.written) if (!held.written.has(p)) return null;
  c.op(Op.End); // $exit: NPC, NXT and DONE are set
  // Run on while the budget lasts and nothing asked to stop: again when the block goes back to
  // its own start, at the member a static in-page exit names in a region. Taken branches come
  // here too, also in a block that ends in a closure (a copy loop followed by `csrc sstatus`, as
  // Linux's __clear_user is): without that, each round of such a loop was a trip through the
  // run loop.
  c.get(L.DONE).get(L.BUDGET).op(Op.I32LtS);
  c.get(L.HB).mem(Op.I32Load, 2, HartArea.stop).op(Op.I32Eqz).op(Op.I32And);
  c.open(Op.If, Hint.Likely);
  // A static exit to a member continued there already (Emitter.toExit); a block's jalr back
  // to its own start does here.
  if (n === 1) c.get(L.NPC).get(L.BPC).op(Op.I64Eq).br(Op.BrIf, 1);
  c.op(Op.End);
  c.op(Op.End); // loop
  e.storeHeld();
  c.get(L.HB).get(L.NPC).mem(Op.I64Store, 3, HartArea.pc);
  c.get(L.HB).get(L.NXT).mem(Op.I32Store, 2, HartArea.next);
  c.get(L.DONE);
  return { code: c, regLocals: e.regLocals };
}
