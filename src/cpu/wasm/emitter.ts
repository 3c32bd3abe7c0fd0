/**
 * The wasm tier's emitter core: the block function's locals and services, the TLB probe, and
 * the cache of guest registers in locals. emit-ext.ts (the M and A extensions, sstatus) and
 * emit.ts (the fast subset, the switch on instruction kinds, the block function) build on it.
 */
import { TLB_MASK } from "../hart/tlb.js";
import { Code, Op, T } from "./encoder.js";
import { HartArea, TLB_ADD } from "./layout.js";

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
  c.get(idx)
    .mem(Op.F64Load, 3, TLB_ADD)
    .f64(2 ** 52)
    .op(Op.F64Add)
    .op(Op.I64ReinterpretF64)
    .op(Op.I32WrapI64);
}

/** Parameters and locals of the block function. */
export const enum L {
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
  /** In a region (emit.ts regionBody): the index of the member block running. */
  CUR,
}
export const LOCALS = [T.I64, T.I64, T.I32, T.I32, T.I64, T.I32, T.I32, T.I64, T.I32, T.I64, T.I64, T.I32];

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
export const S_CALL = 0;
export const S_LOAD = 1;
export const S_STORE = 2;

/** Memory pages the modules declare as their minimum: any machine's memory is larger. */
export const MIN_PAGES = 1;

export const ALIGN: Record<number, number> = { 1: 0, 2: 1, 4: 2, 8: 3 };

/** Registers held in locals across the passes of a looping block (Emitter.held). */
export interface HeldRegs {
  /** Every register pair the block's code may read or write, loaded before its loop. */
  readonly regs: ReadonlySet<number>;
  /** Those it may write (a subset of regs), stored after its loop and before every service. */
  readonly written: ReadonlySet<number>;
}

/** Emits one block's function body: the core every instruction uses. */
export class Emitter {
  readonly c = new Code();
  /**
   * `id`: the block's index in the function table (the services' first argument); `off`: its RAM
   * offset.
   */
  /**
   * How many blocks enclose the code of the block being emitted inside its function's `$exit`
   * block: 0 for a function of one block, more for a member of a region (emit.ts regionBody).
   */
  protected exitDepth = 0;
  constructor(
    private id: number,
    private off: number,
    /**
     * For a block that loops on itself (blockBody): the registers held in locals across its
     * passes, loaded once before its loop and, those it may write, stored once after it. Null:
     * every pass loads what it reads and stores what it wrote at its exit.
     */
    protected readonly held: HeldRegs | null = null,
  ) {
    this.member(id, off, 0);
  }

  /**
   * Start emitting the block with table index `id` at RAM offset `off`, `exitDepth` blocks inside
   * `$exit`. With held registers, every block starts with all of them in their locals.
   */
  member(id: number, off: number, exitDepth: number): void {
    this.id = id;
    this.off = off;
    this.exitDepth = exitDepth;
    if (this.held === null) {
      // A member is entered from any other: nothing is in its locals yet.
      this.cached.clear();
      this.dirty.clear();
      return;
    }
    this.cached.clear();
    this.dirty.clear();
    for (const p of this.held.regs) this.cached.add(p);
    // Any register the block writes may hold a value of an earlier pass that memory lacks.
    for (const p of this.held.written) this.dirty.add(p);
  }

  /**
   * Leave for the block's pc plus `rel`: NPC, and NXT, the target's RAM offset when it lies in the
   * block's own page (so in the same physical page: nothing in a block changes the translation
   * before its end), which spares the hub its TLB probe (tier.ts).
   */
  exitTo(rel: number): void {
    this.pcRel(rel);
    this.c.set(L.NPC);
    const inPage = (this.off & 0xfff) + rel;
    if (inPage >= 0 && inPage < 4096) this.c.i32(this.off + rel).set(L.NXT);
    else if (this.cross) this.xlate(false);
    else this.c.i32(-1).set(L.NXT);
  }

  /**
   * In a region across indirect jumps (emit.ts crossBody): every exit's target is looked up as
   * the hub would, so that the function can continue at a member there.
   */
  cross = false;

  /**
   * Set NXT to the RAM offset of NPC's page as the execute TLB translates it now (Hart.fetchOffset's
   * fast path, as the hub's), or -1 on a miss. `inPage`: first, a target in the block's own virtual
   * page is in its physical page (nothing in a block changes the translation before its end).
   */
  xlate(inPage: boolean): void {
    const c = this.c;
    if (inPage) {
      c.get(L.NPC).get(L.BPC).op(Op.I64Xor).i64(-4096).op(Op.I64And).op(Op.I64Eqz).open(Op.If);
      c.get(L.NPC)
        .op(Op.I32WrapI64)
        .i32(0xfff)
        .op(Op.I32And)
        .i32(this.off & ~0xfff)
        .op(Op.I32Add)
        .set(L.NXT);
      c.op(Op.Else);
    }
    tlbMatch(c, L.NPC, () => c.get(L.HB).mem(Op.I32Load, 2, HartArea.xtag), L.IDX, L.OFF);
    c.open(Op.If);
    tlbPage(c, L.IDX);
    c.get(L.OFF).i32(0xfff).op(Op.I32And).op(Op.I32Add).set(L.NXT);
    c.op(Op.Else);
    c.i32(-1).set(L.NXT);
    c.op(Op.End);
    if (inPage) c.op(Op.End);
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
  protected readonly dirty = new Set<number>();
  /** Locals given to registers so far (they follow LOCALS). */
  regLocals = 0;
  /** Every register pair the code sets (setReg): with `held`, it must be one of held.written. */
  readonly written = new Set<number>();

  protected local(p: number): number {
    let l = this.localOf.get(p);
    if (l === undefined) {
      l = L.CUR + 1 + this.regLocals++;
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
    this.c
      .get(L.HB)
      .mem(Op.I64Load, 3, HartArea.x + 4 * p)
      .set(this.local(p));
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
    this.written.add(d);
  }
  /**
   * Where a pass leaves for the loop check (a taken branch, a jump, the fall-through): store
   * what is dirty, unless registers are held across passes (stored after the loop instead).
   */
  leave(clean: boolean): void {
    if (this.held === null) this.flush(clean);
  }
  /** Branch from the block's top level to the end of `$exit`, `inner` blocks or ifs deeper. */
  toExit(inner: number): void {
    if (inner + this.exitDepth > 0) this.c.br(Op.Br, inner + this.exitDepth);
  }
  /** Before the loop: load the held registers. */
  loadHeld(): void {
    for (const p of this.held?.regs ?? [])
      this.c
        .get(L.HB)
        .mem(Op.I64Load, 3, HartArea.x + 4 * p)
        .set(this.local(p));
  }
  /** After the loop: store the held registers the block may have written. */
  storeHeld(): void {
    if (this.held !== null) this.flush(false, this.held.written);
  }
  /** Store registers `regs` (by default the dirty ones) back; `clean`: they are then clean. */
  flush(clean: boolean, regs: ReadonlySet<number> = this.dirty): void {
    for (const p of regs)
      this.c
        .get(L.HB)
        .get(this.local(p))
        .mem(Op.I64Store, 3, HartArea.x + 4 * p);
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
    c.get(L.OFF)
      .i32(0xfff)
      .op(Op.I32And)
      .tee(L.OFF)
      .i32(4096 - size)
      .op(Op.I32LeU)
      .op(Op.I32And);
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

  /** A closure call for op `k`: registers stored before it, forgotten after it. */
  call(k: number): "call" {
    this.flush(true);
    this.service(S_CALL, k);
    this.forget();
    this.tlbBases();
    return "call";
  }
}
