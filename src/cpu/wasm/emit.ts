/**
 * The wasm tier's code generator: one block's instructions as the body of a WebAssembly function
 * (tier.ts compiles and runs them).
 *
 * Why WebAssembly, when the JavaScript JIT (jit.ts) exists: kernel code is thousands of blocks
 * that each run tens of thousands of times. A JavaScript function starts in V8's bytecode
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
import { amoDouble, entryAt, K, SIZES, unreachable, type CompileInput, type Entry } from "../isa/kinds.js";
import { TLB_MASK } from "../hart/tlb.js";
import { Code, Op, T } from "./encoder.js";
import { Csr, MS_FS, MS_SIE, PRIV_S, SSTATUS_HI_XL, SSTATUS_MASK } from "../isa/defs.js";
import { HartArea, RAM_OFFSET, STOP_IRQ, TLB_ADD } from "./layout.js";

/**
 * The TLB probe of Hart.lw and Hart.fetchOffset, in wasm (tlb.ts: tags are page bases as doubles,
 * direct-mapped by page number). With the address in i64 local `addr` and the tag array's byte
 * offset pushed by `tags`, push an i32, non-zero when the entry of the address's page holds that
 * page; leave the entry's byte offset in `idx` and the address's low word in `low`.
 */
export function tlbMatch(c: Code, addr: number, tags: () => void, idx: number, low: number): void {
  c.get(addr).op(Op.I32WrapI64).tee(low).i32(12).op(Op.I32ShrU).i32(TLB_MASK).op(Op.I32And).i32(3).op(Op.I32Shl);
  tags();
  c.op(Op.I32Add).tee(idx).mem(Op.F64Load, 3, 0);
  c.get(addr).i64(-4096).op(Op.I64And).op(Op.F64ConvertI64S).op(Op.F64Eq);
}

/**
 * Push the RAM offset of the page whose matching TLB entry is at byte `idx` (tlbMatch). The entry
 * holds it as a double, a whole number below 2^32: adding 2^52 puts it in the low bits of the
 * double's mantissa, read as an integer. A wasm truncation checked its operand's range and
 * exactness on every access (V8 emitted a rounding, a conversion and two branches).
 */
export function tlbPage(c: Code, idx: number): void {
  c.get(idx).mem(Op.F64Load, 3, TLB_ADD).f64(2 ** 52).op(Op.F64Add).op(Op.I64ReinterpretF64).op(Op.I32WrapI64);
}

/** Parameters and locals of the block function. */
const enum L {
  /** Byte offset of the hart's area (param). */
  HB,
  /** The block's pc (param, i64). */
  PC,
  /** Instruction budget (param). */
  BUDGET,
  /**
   * Instructions retired in this entry from compiled code (param: those of the blocks chained
   * before this one, see WasmTier; the block adds its own and returns the sum).
   */
  DONE,
  /** The block's pc, i64. */
  BPC,
  /** The pc to continue at, i64. */
  NPC,
  /** Byte offsets of the current read and write tag arrays. */
  RT,
  WT,
  /** A memory access: its address, its index into the tag array (times 8), its page offset. */
  ADDR,
  IDX,
  OFF,
  /** A loaded value. */
  V,
  /** The RAM offset of the next block when the exit is a static in-page target, else -1. */
  NXT,
  /** The operands of a multiplication or division (mulDiv). */
  TA,
  TB,
}
export const LOCALS = [T.I64, T.I64, T.I32, T.I32, T.I64, T.I32, T.I32, T.I64, T.I32, T.I64, T.I64];

/**
 * The services compiled code calls: a closure, the slow load path, the slow store path. Each
 * takes the block's table index, the op's index, the instructions retired so far and the block's
 * pc (so that the run loop can attribute a trap), then its operands. They are WasmTier's
 * methods, the same functions imported by every block module.
 */
export const SERVICES = [
  { name: "call", type: { params: [T.I32, T.I32, T.I32, T.F64], results: [] } },
  { name: "load", type: { params: [T.I32, T.I32, T.I32, T.F64, T.I32, T.I32], results: [T.I32] } },
  { name: "store", type: { params: [T.I32, T.I32, T.I32, T.F64, T.I32, T.I32, T.I32, T.I32], results: [] } },
];
/** Function indices of the services in block modules (their imports). */
const S_CALL = 0;
const S_LOAD = 1;
const S_STORE = 2;

/** Memory pages the modules declare as their minimum: any machine's memory is larger. */
export const MIN_PAGES = 1;

const ALIGN: Record<number, number> = { 1: 0, 2: 1, 4: 2, 8: 3 };
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
const STORES: Partial<Record<K, Op>> = { [K.SB]: Op.I64Store8, [K.SH]: Op.I64Store16, [K.SW]: Op.I64Store32, [K.SD]: Op.I64Store };
/** Narrow slow-path results: the bits that are the value (loadSlow returns 1 and 2 bytes unsigned). */
const SIGN_BITS: Partial<Record<K, number>> = { [K.LB]: 24, [K.LH]: 16 };

const BR: Record<K.BEQ | K.BNE | K.BLT | K.BGE | K.BLTU | K.BGEU, Op> = {
  [K.BEQ]: Op.I64Eq, [K.BNE]: Op.I64Ne, [K.BLT]: Op.I64LtS, [K.BGE]: Op.I64GeS, [K.BLTU]: Op.I64LtU, [K.BGEU]: Op.I64GeU,
};
const ALU: Record<
  K.ADD | K.SUB | K.XOR | K.OR | K.AND | K.MUL | K.SLL | K.SRL | K.SRA | K.ADDI | K.XORI | K.ORI | K.ANDI | K.SLLI | K.SRLI | K.SRAI,
  Op
> = {
  [K.ADD]: Op.I64Add, [K.SUB]: Op.I64Sub, [K.XOR]: Op.I64Xor, [K.OR]: Op.I64Or, [K.AND]: Op.I64And, [K.MUL]: Op.I64Mul,
  [K.SLL]: Op.I64Shl, [K.SRL]: Op.I64ShrU, [K.SRA]: Op.I64ShrS,
  [K.ADDI]: Op.I64Add, [K.XORI]: Op.I64Xor, [K.ORI]: Op.I64Or, [K.ANDI]: Op.I64And,
  [K.SLLI]: Op.I64Shl, [K.SRLI]: Op.I64ShrU, [K.SRAI]: Op.I64ShrS,
};
/** The W forms as i32 operations on the low words, sign-extended (unprivileged spec 5.3). */
const ALU_W: Record<K.ADDW | K.SUBW | K.MULW | K.SLLW | K.SRLW | K.SRAW | K.ADDIW | K.SLLIW | K.SRLIW | K.SRAIW, Op> = {
  [K.ADDW]: Op.I32Add, [K.SUBW]: Op.I32Sub, [K.MULW]: Op.I32Mul, [K.SLLW]: Op.I32Shl, [K.SRLW]: Op.I32ShrU, [K.SRAW]: Op.I32ShrS,
  [K.ADDIW]: Op.I32Add, [K.SLLIW]: Op.I32Shl, [K.SRLIW]: Op.I32ShrU, [K.SRAIW]: Op.I32ShrS,
};
/**
 * AMOs by kind (chapter 8): the wasm op combining old and rs2, or for min/max a comparison
 * choosing old (`select`); W forms as i32, D forms as i64.
 */
type AmoOp = readonly [op: Op | "swap", pickOld?: Op];
type AmoKind = Exclude<AtomicKind, K.LR_W | K.SC_W | K.LR_D | K.SC_D>;
type AtomicKind =
  | K.LR_W | K.SC_W | K.AMOSWAP_W | K.AMOADD_W | K.AMOXOR_W | K.AMOAND_W | K.AMOOR_W | K.AMOMIN_W | K.AMOMAX_W | K.AMOMINU_W | K.AMOMAXU_W
  | K.LR_D | K.SC_D | K.AMOSWAP_D | K.AMOADD_D | K.AMOXOR_D | K.AMOAND_D | K.AMOOR_D | K.AMOMIN_D | K.AMOMAX_D | K.AMOMINU_D | K.AMOMAXU_D;
const AMO: Record<AmoKind, AmoOp> = {
  [K.AMOADD_W]: [Op.I32Add], [K.AMOSWAP_W]: ["swap"], [K.AMOXOR_W]: [Op.I32Xor], [K.AMOOR_W]: [Op.I32Or], [K.AMOAND_W]: [Op.I32And],
  [K.AMOMIN_W]: [Op.Select, Op.I32LtS], [K.AMOMAX_W]: [Op.Select, Op.I32GtS], [K.AMOMINU_W]: [Op.Select, Op.I32LtU], [K.AMOMAXU_W]: [Op.Select, Op.I32GtU],
  [K.AMOADD_D]: [Op.I64Add], [K.AMOSWAP_D]: ["swap"], [K.AMOXOR_D]: [Op.I64Xor], [K.AMOOR_D]: [Op.I64Or], [K.AMOAND_D]: [Op.I64And],
  [K.AMOMIN_D]: [Op.Select, Op.I64LtS], [K.AMOMAX_D]: [Op.Select, Op.I64GtS], [K.AMOMINU_D]: [Op.Select, Op.I64LtU], [K.AMOMAXU_D]: [Op.Select, Op.I64GtU],
};
/** The M extension's kinds beyond MUL and MULW, emitted by mulDiv. */
type MulDivKind = K.MULH | K.MULHSU | K.MULHU | K.DIV | K.DIVU | K.REM | K.REMU | K.DIVW | K.DIVUW | K.REMW | K.REMUW;
const IMM_KINDS = new Set<K>([K.ADDI, K.XORI, K.ORI, K.ANDI, K.SLLI, K.SRLI, K.SRAI, K.SLTI, K.SLTIU, K.ADDIW, K.SLLIW, K.SRLIW, K.SRAIW]);

/** Emits one block's function body. */
class Emitter {
  readonly c = new Code();
  /**
   * `id`: the block's index in the function table (the services' first argument); `off`: its RAM
   * offset.
   */
  constructor(
    private readonly id: number,
    private readonly off: number,
  ) {}

  /**
   * Leave for the block's pc plus `rel`: NPC, and NXT, the target's RAM offset when it lies in the
   * block's own page (so in the same physical page: nothing in a block changes the translation
   * before its end), which spares the hub its TLB probe (tier.ts).
   */
  exitTo(rel: number): void {
    this.pcRel(rel);
    this.c.set(L.NPC);
    const inPage = (this.off & 0xfff) + rel;
    this.c.i32(inPage >= 0 && inPage < 4096 ? this.off + rel : -1).set(L.NXT);
  }

  /** Call service `slot` (S_*) for op `k`: pushes its leading arguments; `args` pushes the rest. */
  service(slot: number, k: number, args: () => void = () => {}): void {
    this.c.i32(this.id).i32(k).get(L.DONE).get(L.BPC).op(Op.F64ConvertI64S);
    args();
    this.c.call(slot);
  }

  // Registers are cached in locals within one pass through the block: loaded on first use,
  // stored back when written ("dirty") only where memory must be right: before a closure (which
  // reads and writes the register file; every cached value is forgotten after it), before a slow
  // path (it may trap, and the trap unwinds the locals), and at every exit. Without the cache
  // every instruction loaded its sources from memory and stored its result there.
  /** Pair index -> its local, for every register given one. */
  private readonly localOf = new Map<number, number>();
  /** Registers whose local holds the current value, and those of them not yet stored back. */
  private readonly cached = new Set<number>();
  private readonly dirty = new Set<number>();
  /** Locals given to registers so far (they follow LOCALS). */
  regLocals = 0;

  private local(p: number): number {
    let l = this.localOf.get(p);
    if (l === undefined) {
      l = L.TB + 1 + this.regLocals++;
      this.localOf.set(p, l);
    }
    return l;
  }
  /**
   * Make register pair `p` cached. Must not be first done inside one arm of an if: the other
   * arm would not have loaded it. Ops touch their sources before opening one.
   */
  touch(p: number): void {
    if (p === 0 || p === 64 || this.cached.has(p)) return;
    this.c.get(L.HB).mem(Op.I64Load, 3, HartArea.x + 4 * p).set(this.local(p));
    this.cached.add(p);
  }
  /** Push register pair `p` (2*r) as an i64; x0 is 0. */
  reg(p: number): void {
    if (p === 0) this.c.i64(0);
    else {
      this.touch(p);
      this.c.get(this.local(p));
    }
  }
  /** Set register pair `d` to the i64 `value` pushes (for the scratch pair, rd = x0, drop it). */
  setReg(d: number, value: () => void): void {
    value();
    if (d === 64) {
      this.c.op(Op.Drop);
      return;
    }
    this.c.set(this.local(d));
    this.cached.add(d);
    this.dirty.add(d);
  }
  /** Store registers `regs` (by default the dirty ones) back; `clean`: they are then clean. */
  flush(clean: boolean, regs: ReadonlySet<number> = this.dirty): void {
    for (const p of regs) this.c.get(L.HB).get(this.local(p)).mem(Op.I64Store, 3, HartArea.x + 4 * p);
    if (clean) this.dirty.clear();
  }
  /** After a closure: memory holds the registers; no local may be trusted. */
  forget(): void {
    this.cached.clear();
    this.dirty.clear();
  }
  /** Reload the current TLB arrays' offsets (a closure may have switched contexts). */
  tlbBases(): void {
    this.c.get(L.HB).mem(Op.I32Load, 2, HartArea.rtag).set(L.RT);
    this.c.get(L.HB).mem(Op.I32Load, 2, HartArea.wtag).set(L.WT);
  }
  /** pc-relative value: the block's pc plus `rel`. */
  pcRel(rel: number): void {
    this.c.get(L.BPC).i64(rel).op(Op.I64Add);
  }
  /** Retire `n` instructions: DONE += n. */
  retire(n: number): void {
    this.c.get(L.DONE).i32(n).op(Op.I32Add).set(L.DONE);
  }

  /**
   * The TLB probe of Hart.lw and friends: leaves an i32 condition "the entry matches and the
   * access stays in its page", with ADDR, IDX and OFF set. Tags are page bases as doubles.
   */
  probe(a: number, imm: number, size: number, tags: L.RT | L.WT): void {
    const c = this.c;
    this.reg(a);
    c.i64(imm).op(Op.I64Add).set(L.ADDR);
    tlbMatch(c, L.ADDR, () => c.get(tags), L.IDX, L.OFF);
    c.get(L.OFF).i32(0xfff).op(Op.I32And).tee(L.OFF).i32(4096 - size).op(Op.I32LeU).op(Op.I32And);
  }
  /** The guest RAM byte the probed access reaches, as an i32 address in the memory (less RAM_OFFSET). */
  ramAddr(): void {
    tlbPage(this.c, L.IDX);
    this.c.get(L.OFF).op(Op.I32Add);
  }
  /** The address as the slow paths take it: low and high words. */
  addrWords(): void {
    this.c.get(L.ADDR).op(Op.I32WrapI64).get(L.ADDR).i64(32).op(Op.I64ShrU).op(Op.I32WrapI64);
  }

  load(kind: K, d: number, a: number, imm: number, k: number): void {
    const [fast, widen] = LOADS[kind]!;
    const size = SIZES[kind]!;
    const c = this.c;
    this.probe(a, imm, size, L.RT);
    c.open(Op.If);
    this.ramAddr();
    c.mem(fast, ALIGN[size]!, RAM_OFFSET).set(L.V);
    c.op(Op.Else);
    this.flush(false);
    this.service(S_LOAD, k, () => this.addrWords());
    const bits = SIGN_BITS[kind];
    if (bits !== undefined) c.i32(bits).op(Op.I32Shl).i32(bits).op(Op.I32ShrS); // sign-extend the narrow value
    if (widen === null) {
      // 64 bits: the low word returned, the high word left in the hiOut slot.
      c.op(Op.I64ExtendI32U).get(L.HB).mem(Op.I64Load32U, 2, HartArea.hiOut).i64(32).op(Op.I64Shl).op(Op.I64Or);
    } else c.op(widen);
    c.set(L.V);
    c.op(Op.End);
    this.setReg(d, () => c.get(L.V));
  }

  store(kind: K, a: number, b: number, imm: number, k: number): void {
    const size = SIZES[kind]!;
    const c = this.c;
    this.touch(b);
    this.probe(a, imm, size, L.WT);
    c.open(Op.If);
    this.ramAddr();
    this.reg(b);
    c.mem(STORES[kind]!, ALIGN[size]!, RAM_OFFSET);
    c.op(Op.Else);
    this.flush(false);
    this.service(S_STORE, k, () => {
      this.addrWords();
      this.reg(b);
      c.op(Op.I32WrapI64);
      this.reg(b);
      c.i64(32).op(Op.I64ShrU).op(Op.I32WrapI64);
    });
    c.op(Op.End);
  }

  /** An AMO, LR or SC's access size; sets ADDR to rs1 (chapter 8: no offset). */
  atomicOperands(kind: AtomicKind, a: number): 4 | 8 {
    this.reg(a);
    this.c.set(L.ADDR);
    return amoDouble(kind) ? 8 : 4;
  }

  /**
   * For AMOs, LR and SC (ADDR set): open an `if` taken when the access is aligned and the page is
   * in the TLB `tags` (as Hart.amoOffset's fast path), with OFF the RAM offset inside it.
   */
  atomicProbe(size: number, tags: L.RT | L.WT): void {
    const c = this.c;
    c.get(L.ADDR).op(Op.I32WrapI64).i32(size - 1).op(Op.I32And).op(Op.I32Eqz);
    tlbMatch(c, L.ADDR, () => c.get(tags), L.IDX, L.OFF);
    c.op(Op.I32And);
    c.open(Op.If);
    c.get(L.OFF).i32(0xfff).op(Op.I32And).set(L.OFF);
    this.ramAddr();
    c.set(L.OFF);
  }

  /**
   * Close atomicProbe's `if` with the other arm: op `k`'s closure. It reads its operands from
   * memory and writes rd there: store what was dirty before the fast arm (not rd, set only in
   * that arm), then take rd back.
   */
  atomicFallback(k: number, d: number, dirtyBefore: ReadonlySet<number>): void {
    const c = this.c;
    c.op(Op.Else);
    this.flush(false, dirtyBefore);
    this.service(S_CALL, k);
    if (d !== 64) c.get(L.HB).mem(Op.I64Load, 3, HartArea.x + 4 * d).set(this.local(d));
    c.op(Op.End);
  }

  /**
   * An AMO (unprivileged spec chapter 8) inline: aligned and in a page the write TLB holds (as
   * Hart.amoOffset's fast path), the read, the operation and the write happen here; otherwise the
   * instruction's closure runs it (and raises its faults). LR and SC stay closures (they keep
   * the reservation, see lrsc). The kernel's page reference counts are AMOs: a quarter of a
   * direct-I/O read's closure calls were.
   */
  amo(kind: AmoKind, d: number, a: number, b: number, k: number): void {
    const c = this.c;
    const size = this.atomicOperands(kind, a);
    this.touch(b);
    const dirtyBefore = new Set(this.dirty);
    this.atomicProbe(size, L.WT);
    c.get(L.OFF).mem(size === 4 ? Op.I64Load32S : Op.I64Load, ALIGN[size]!, RAM_OFFSET).set(L.V);
    c.get(L.OFF);
    // The new value from the old one and rs2: W forms on the low words (i32), D forms on i64.
    const old = (): void => {
      c.get(L.V);
      if (size === 4) c.op(Op.I32WrapI64);
    };
    const src = (): void => {
      this.reg(b);
      if (size === 4) c.op(Op.I32WrapI64);
    };
    const [op, cmp] = AMO[kind];
    if (op === "swap") src();
    else if (cmp === undefined) {
      old();
      src();
      c.op(op);
    } else {
      old();
      src();
      old();
      src();
      c.op(cmp).op(Op.Select);
    }
    c.mem(size === 4 ? Op.I32Store : Op.I64Store, ALIGN[size]!, RAM_OFFSET);
    if (d !== 64) this.setReg(d, () => c.get(L.V));
    this.atomicFallback(k, d, dirtyBefore);
  }

  /**
   * LR and SC (unprivileged spec 8.2) inline, as the closures do them (ops-mem.ts) when the
   * address is aligned and the page is in the read (LR) or write (SC) TLB: LR loads and reserves
   * the RAM offset, SC stores only if the reservation is that offset, and either clears it. The
   * reservation is the hart's slot (Hart.reservation). Otherwise the closure runs. Linux's
   * cmpxchg loops are LR/SC: about one pair per page of a disk read.
   */
  lrsc(kind: K.LR_W | K.SC_W | K.LR_D | K.SC_D, d: number, a: number, b: number, k: number): void {
    const lr = kind === K.LR_W || kind === K.LR_D;
    const c = this.c;
    const size = this.atomicOperands(kind, a);
    if (!lr) this.touch(b);
    const dirtyBefore = new Set(this.dirty);
    this.atomicProbe(size, lr ? L.RT : L.WT);
    if (lr) {
      c.get(L.OFF).mem(size === 4 ? Op.I64Load32S : Op.I64Load, ALIGN[size]!, RAM_OFFSET).set(L.V);
      c.get(L.HB).get(L.OFF).mem(Op.I32Store, 2, HartArea.reservation);
    } else {
      // V = 1 (failure) unless the reservation is this offset; then store rs2 and V = 0.
      c.i64(1).set(L.V);
      c.get(L.HB).mem(Op.I32Load, 2, HartArea.reservation).get(L.OFF).op(Op.I32Eq).open(Op.If);
      c.get(L.OFF);
      this.reg(b);
      if (size === 4) c.op(Op.I32WrapI64).mem(Op.I32Store, 2, RAM_OFFSET);
      else c.mem(Op.I64Store, 3, RAM_OFFSET);
      c.i64(0).set(L.V);
      c.op(Op.End);
      c.get(L.HB).i32(-1).mem(Op.I32Store, 2, HartArea.reservation);
    }
    if (d !== 64) this.setReg(d, () => c.get(L.V));
    this.atomicFallback(k, d, dirtyBefore);
  }

  /**
   * The M extension's instructions other than MUL and MULW (unprivileged spec, the "M" extension
   * for integer multiplication and division) inline: MULH, MULHSU and MULHU from 32-bit partial
   * products (wasm has no high multiply); DIV, DIVU, REM, REMU and the W forms with RISC-V's
   * results for a zero divisor and for signed overflow (its table of division by zero and
   * overflow) where wasm would trap: the divisor becomes 1 there and the result is picked with
   * `select`. MULHU alone was millions of closure calls in a boot.
   */
  mulDiv(kind: MulDivKind, d: number, a: number, b: number): void {
    const c = this.c;
    this.reg(a);
    c.set(L.TA);
    this.reg(b);
    c.set(L.TB);
    this.setReg(d, () => {
      switch (kind) {
        case K.MULH:
        case K.MULHSU:
        case K.MULHU:
          return this.mulHigh(kind);
        case K.DIV:
        case K.DIVU:
        case K.REM:
        case K.REMU:
          return this.divide64(kind === K.DIV || kind === K.REM, kind === K.REM || kind === K.REMU);
        case K.DIVW:
        case K.DIVUW:
        case K.REMW:
        case K.REMUW:
          return this.divide32(kind === K.DIVW || kind === K.REMW, kind === K.REMW || kind === K.REMUW);
      }
    });
  }

  /** Push the high 64 bits of TA * TB: MULH, MULHSU or MULHU. */
  private mulHigh(kind: K.MULH | K.MULHSU | K.MULHU): void {
    const c = this.c;
    const lo = (l: L): void => void c.get(l).i64(0xffffffff).op(Op.I64And);
    const hi = (l: L): void => void c.get(l).i64(32).op(Op.I64ShrU);
    // Unsigned: aH*bH + (aL*bH >> 32) + (aH*bL >> 32) + the carry out of the middle column.
    lo(L.TA);
    hi(L.TB);
    c.op(Op.I64Mul).set(L.ADDR); // aL*bH
    hi(L.TA);
    lo(L.TB);
    c.op(Op.I64Mul).set(L.V); // aH*bL
    lo(L.TA);
    lo(L.TB);
    c.op(Op.I64Mul).i64(32).op(Op.I64ShrU);
    lo(L.ADDR);
    c.op(Op.I64Add);
    lo(L.V);
    c.op(Op.I64Add).i64(32).op(Op.I64ShrU);
    hi(L.TA);
    hi(L.TB);
    c.op(Op.I64Mul).op(Op.I64Add);
    hi(L.ADDR);
    c.op(Op.I64Add);
    hi(L.V);
    c.op(Op.I64Add);
    // Signed operands: a negative a (MULH, MULHSU) subtracts b; a negative b (MULH) subtracts a.
    const fix = (neg: L, other: L): void => void c.get(other).i64(0).get(neg).i64(0).op(Op.I64LtS).op(Op.Select).op(Op.I64Sub);
    if (kind !== K.MULHU) fix(L.TA, L.TB);
    if (kind === K.MULH) fix(L.TB, L.TA);
  }

  /** Push DIV, DIVU, REM or REMU (`signed`, `rem`) of TA by TB. */
  private divide64(signed: boolean, rem: boolean): void {
    const c = this.c;
    // The divisor made safe: 1 when it is zero or, signed, for the overflow MIN / -1 (which then
    // gives MIN, and REM 0, as the spec says).
    c.get(L.TA).i64(1).get(L.TB);
    c.get(L.TB).op(Op.I64Eqz);
    if (signed) {
      c.get(L.TA).i64(1).i64(63).op(Op.I64Shl).op(Op.I64Eq);
      c.get(L.TB).i64(-1).op(Op.I64Eq).op(Op.I32And).op(Op.I32Or);
    }
    c.op(Op.Select);
    c.op(rem ? (signed ? Op.I64RemS : Op.I64RemU) : signed ? Op.I64DivS : Op.I64DivU).set(L.V);
    // By zero: the quotient is all ones, the remainder the dividend.
    if (rem) c.get(L.TA);
    else c.i64(-1);
    c.get(L.V).get(L.TB).op(Op.I64Eqz).op(Op.Select);
  }

  /** Push DIVW, DIVUW, REMW or REMUW (`signed`, `rem`) of TA by TB's low words, sign-extended. */
  private divide32(signed: boolean, rem: boolean): void {
    const c = this.c;
    c.get(L.TA).op(Op.I32WrapI64).set(L.IDX);
    c.get(L.TB).op(Op.I32WrapI64).set(L.OFF);
    c.get(L.IDX).i32(1).get(L.OFF);
    c.get(L.OFF).op(Op.I32Eqz);
    if (signed) {
      c.get(L.IDX).i32(-0x80000000).op(Op.I32Eq);
      c.get(L.OFF).i32(-1).op(Op.I32Eq).op(Op.I32And).op(Op.I32Or);
    }
    c.op(Op.Select);
    c.op(rem ? (signed ? Op.I32RemS : Op.I32RemU) : signed ? Op.I32DivS : Op.I32DivU).set(L.IDX);
    if (rem) c.get(L.TA).op(Op.I32WrapI64);
    else c.i32(-1);
    c.get(L.IDX).get(L.OFF).op(Op.I32Eqz).op(Op.Select).op(Op.I64ExtendI32S);
  }

  /**
   * A block's last op `k` when it is CSRRS or CSRRC on sstatus (or an immediate form) that only
   * reads or only touches SIE: Linux's local_irq_save, local_irq_restore, local_irq_enable and
   * local_irq_disable, a few per page of a disk read, each a closure call before. Inline when the
   * hart is in S or M mode (sstatus is an S-level CSR, privileged spec 2.1) and a register
   * operand has no bit but SIE; otherwise the closure runs (it raises the illegal-instruction
   * trap, or writes other bits). Clearing SIE needs nothing more; setting it asks the run loop
   * to look for a pending interrupt (STOP_IRQ), which it takes at the block boundary, as after
   * the closure. Reads give SSTATUS_MASK's bits, UXL and SD (csr.ts). Returns false for any
   * other CSR or operand, having emitted nothing; true after emitting the exit.
   */
  sstatus([kind, d, a, , w1, w2]: Entry, k: number, n: number, next: number): boolean {
    const imm = kind === K.CSRRSI || kind === K.CSRRCI;
    const src = imm ? w2 : a >>> 1;
    if (w1 !== Csr.sstatus || k !== n - 1) return false;
    if (imm && src !== 0 && src !== MS_SIE) return false;
    const set = kind === K.CSRRS || kind === K.CSRRSI;
    const c = this.c;
    const byReg = !imm && src !== 0;
    const dirtyBefore = new Set(this.dirty);
    // The condition, with every operand touched before the if (see `touch`).
    c.get(L.HB).mem(Op.I32Load, 2, HartArea.priv).i32(PRIV_S).op(Op.I32GeU);
    if (byReg) {
      this.reg(a);
      c.i64(~MS_SIE).op(Op.I64And).op(Op.I64Eqz).op(Op.I32And);
    }
    c.open(Op.If);
    c.get(L.HB).mem(Op.I32Load, 2, HartArea.mstatus).set(L.OFF);
    if (src !== 0) {
      c.get(L.HB);
      if (byReg) {
        this.reg(a);
        c.op(Op.I32WrapI64);
      } else c.i32(MS_SIE);
      if (set) c.get(L.OFF).op(Op.I32Or);
      else c.i32(-1).op(Op.I32Xor).get(L.OFF).op(Op.I32And);
      c.tee(L.IDX).mem(Op.I32Store, 2, HartArea.mstatus);
      if (set) {
        // SIE went from 0 to 1: stop |= STOP_IRQ.
        c.get(L.IDX).get(L.OFF).i32(-1).op(Op.I32Xor).op(Op.I32And).i32(MS_SIE).op(Op.I32And).open(Op.If);
        c.get(L.HB).get(L.HB).mem(Op.I32Load, 2, HartArea.stop).i32(STOP_IRQ).op(Op.I32Or).mem(Op.I32Store, 2, HartArea.stop);
        c.op(Op.End);
      }
    }
    // rd last: it may be the source register.
    if (d !== 64) {
      this.setReg(d, () => {
        c.get(L.OFF).i32(SSTATUS_MASK).op(Op.I32And).op(Op.I64ExtendI32U);
        c.i64(SSTATUS_HI_XL * 2 ** 32).op(Op.I64Or);
        c.get(L.OFF).i32(MS_FS).op(Op.I32And).i32(MS_FS).op(Op.I32Eq).op(Op.I64ExtendI32U).i64(63).op(Op.I64Shl).op(Op.I64Or);
      });
    }
    c.op(Op.Else);
    // The closure ends the block, leaving the pc in the slot (as a closure-ended block does).
    this.flush(false, dirtyBefore);
    this.service(S_CALL, k);
    this.retire(n);
    c.get(L.HB).i32(-1).mem(Op.I32Store, 2, HartArea.next);
    c.get(L.DONE).op(Op.Return);
    c.op(Op.End);
    this.exitTo(next);
    this.retire(n);
    return true;
  }

  /** A closure call for op `k`: registers stored before it, forgotten after it. */
  call(k: number): "call" {
    this.flush(true);
    this.service(S_CALL, k);
    this.forget();
    this.tlbBases();
    return "call";
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
        this.flush(false);
        c.br(Op.Br, 1); // out of the if and the $exit block
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
      case K.CSRRW:
      case K.CSRRWI:
      case K.FENCE_I:
      case K.ECALL:
      case K.EBREAK:
      case K.SRET:
      case K.MRET:
      case K.WFI:
      case K.SFENCE_VMA:
      case K.ILLEGAL:
        return this.call(k);
    }
    return unreachable(kind);
  }
}

/** The block functions' signature: (hart area, pc, budget, retired before) -> retired after. */
export const RUN_TYPE = { params: [T.I32, T.I64, T.I32, T.I32], results: [T.I32] };

/**
 * The body of block `b`'s function, `id` being its table index (the services' first argument),
 * and the number of i64 locals its registers need (after LOCALS).
 */
export function blockBody(b: CompileInput & { readonly off: number }, id: number): { code: Code; regLocals: number } {
  const e = new Emitter(id, b.off);
  const c = e.c;
  // Prologue.
  c.get(L.PC).set(L.BPC);
  e.tlbBases();
  // loop $top { block $exit { ops } ; loop check }
  c.open(Op.Loop);
  c.open(Op.Block);
  let ended = false;
  for (let k = 0; k < b.ops.length && !ended; k++) {
    const r = e.op(entryAt(b.code, k), k, b.n, b.offs[k]! + 4);
    if (r === "exit") {
      e.flush(true);
      ended = true;
    }
    if (r === "call" && k === b.n - 1 && b.ops.length === b.n) {
      // Ends in a closure that set the pc itself (xRET, ECALL, WFI...): it left the pc in the slot.
      e.retire(b.n);
      c.get(L.HB).i32(-1).mem(Op.I32Store, 2, HartArea.next);
      c.get(L.DONE).op(Op.Return);
      ended = true;
    }
  }
  if (!ended) throw new Error("wasm tier: a block that neither jumps, falls through nor ends in a closure");
  c.op(Op.End); // $exit: NPC and DONE are set
  // Run again while the block goes back to its own start, the budget lasts and nothing asked to
  // stop. Taken branches come here too, also in a block that ends in a closure (a copy loop
  // followed by `csrc sstatus`, as Linux's __clear_user is): without that, each round of such a
  // loop was a trip through the run loop.
  c.get(L.NPC).get(L.BPC).op(Op.I64Eq);
  c.get(L.DONE).get(L.BUDGET).op(Op.I32LtS).op(Op.I32And);
  c.get(L.HB).mem(Op.I32Load, 2, HartArea.stop).op(Op.I32Eqz).op(Op.I32And);
  c.br(Op.BrIf, 0);
  c.op(Op.End); // loop
  c.get(L.HB).get(L.NPC).mem(Op.I64Store, 3, HartArea.pc);
  c.get(L.HB).get(L.NXT).mem(Op.I32Store, 2, HartArea.next);
  c.get(L.DONE);
  return { code: c, regLocals: e.regLocals };
}
