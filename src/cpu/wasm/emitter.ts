/**
 * The wasm tier's emitter core: the block function's locals and services, the TLB probe, and
 * the cache of guest registers in locals. emit-ext.ts (the M and A extensions, sstatus) and
 * emit.ts (the fast subset, the switch on instruction kinds, the block function) build on it.
 */
import { TLB_MASK } from "../hart/tlb.js";
import { Code, Hint, Op, T } from "./encoder.js";
import { HartArea, PAGE_CACHES, TLB_ADD } from "./layout.js";
import { CAREFUL_IMPORTS } from "./careful-fp.js";

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
  /** The pc of the function's first block, i64 (a region's members follow at fixed distances). */
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
  /** An if-converted branch's condition, i32 0 or 1 (emit-select.ts). */
  P,
}
export const LOCALS = [T.I64, T.I64, T.I32, T.I32, T.I64, T.I32, T.I32, T.I64, T.I32, T.I64, T.I64, T.I32, T.I32];

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
  // The careful arms of the inline D arithmetic, wasm functions of their own (careful-fp.ts).
  ...CAREFUL_IMPORTS,
];
/** Function indices of the services in block modules (their imports). */
export const S_CALL = 0;
export const S_LOAD = 1;
export const S_STORE = 2;
/** The first careful function's index (careful-fp.ts carefulIndex gives the rest). */
export const S_CAREFUL = 3;

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

/**
 * The byte offset in the hart's area of the page cache for base register pair `a` (2r) and TLB
 * `tags`: slot r for reads, 32 + r for writes (PAGE_CACHES), the same in every compiled function.
 */
export function pageSlot(a: number, tags: L.RT | L.WT): number {
  return HartArea.pages + 16 * ((a >>> 1) + (tags === L.WT ? PAGE_CACHES / 2 : 0));
}

/** A page cache's key: the base register pair and the TLB. */
function pageKey(a: number, tags: L.RT | L.WT): number {
  return tags === L.WT ? 256 + a : a;
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
  /** The RAM offset of the function's first block, whose pc BPC holds. */
  private readonly base: number;
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
    this.base = off;
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
    if (this.held === null) return;
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
    const next = inPage >= 0 && inPage < 4096 ? this.off + rel : -1;
    this.c.i32(next).set(L.NXT);
    this.pendingMember = this.members.get(next) ?? -1;
  }

  /**
   * The function's blocks by RAM offset (emit.ts emitBody): a static exit to one of them goes on
   * there inside the function (toExit), while the budget lasts and nothing asked to stop.
   */
  members: ReadonlyMap<number, number> = new Map();
  /** The function has more than one block (a region): CUR names the one running. */
  region = false;
  /** The member the last exitTo names, or -1: the next toExit may continue there. */
  private pendingMember = -1;

  /**
   * Call service `slot` (S_*) for op `k`: pushes its leading arguments; `args` pushes the rest.
   * A service may change the TLBs (a closure may flush them, a slow path fills them): it forgets
   * every page cache first (WasmTier.at).
   */
  service(slot: number, k: number, args: () => void = () => {}): void {
    const c = this.c;
    c.i32(this.id).i32(k).get(L.DONE);
    if (this.doneBias !== 0) c.i32(this.doneBias).op(Op.I32Add);
    this.pcRel(0);
    c.op(Op.F64ConvertI64S);
    args();
    c.call(slot);
  }

  // Page caches: the last page a load (or a store) through one base register found in the TLB,
  // the page's virtual base and what to add to an address in it to make its RAM offset, in a
  // slot of the hart's area per base register and TLB (HartArea.pages). An access whose address
  // is in that page and aligned to its size is that page's again and cannot cross it: one AND and
  // one compare, where the TLB probe is a shift, a mask, a load of the tag as a double, a
  // conversion of the page base to a double and their comparison, and the in-page check
  // (docs/benchmarks.md, fourteenth session). Every compiled function shares the slots, so a page
  // found by one block hits in the next (the stack pointer's, an interpreter's bytecode and
  // frame pointers; branch blockcost). The caches hold exactly what the TLB holds: the TLB arrays
  // change only in services and outside compiled code, and WasmTier forgets every slot at each
  // entry (`run`) and at the start of every service (`at`); with harts on threads, another hart
  // may drop this one's write entries (code-sync.ts): stores do not use one then (emit.ts).
  /** Base register pair and TLB (pageKey) -> the byte offset of its page cache in the hart's area. */
  private readonly pages = new Map<number, number>();

  /** Give the loads or stores through base register pair `a` (TLB `tags`) their page cache. */
  cachePages(a: number, tags: L.RT | L.WT): void {
    this.pages.set(pageKey(a, tags), pageSlot(a, tags));
  }
  /** The page cache for accesses through `a` in TLB `tags`, if it has one. */
  pageCache(a: number, tags: L.RT | L.WT): number | undefined {
    return this.pages.get(pageKey(a, tags));
  }

  /**
   * An access of `size` bytes at rs1 pair `a` + `imm` in TLB `tags`: through its page cache if it
   * has one, else the TLB probe; `fast` and `slow` as cachedAccess takes them.
   */
  access(a: number, imm: number, size: number, tags: L.RT | L.WT, fast: () => void, slow: () => void): void {
    const cache = this.pageCache(a, tags);
    if (cache !== undefined) {
      this.address(a, imm);
      this.cachedAccess(cache, size, tags, fast, slow);
      return;
    }
    const c = this.c;
    this.probe(a, imm, size, tags);
    c.open(Op.If, Hint.Likely);
    this.ramAddr();
    fast();
    c.op(Op.Else);
    slow();
    c.op(Op.End);
  }

  /**
   * An access of `size` bytes at ADDR through page cache `cache`: `fast` runs with the access's
   * address in the memory pushed, `slow` (the service) when neither the cache nor the TLB `tags`
   * has the page, with `fast`'s effect left to it.
   */
  cachedAccess(cache: number, size: number, tags: L.RT | L.WT, fast: () => void, slow: () => void): void {
    const c = this.c;
    c.open(Op.Block); // $done
    c.open(Op.Block); // $hit
    c.get(L.ADDR)
      .i64(-4096 | (size - 1))
      .op(Op.I64And)
      .get(L.HB)
      .mem(Op.I64Load, 3, cache)
      .op(Op.I64Eq)
      .br(Op.BrIf, 0, Hint.Likely);
    this.probeAddr(size, tags);
    c.open(Op.If, Hint.Likely);
    // The TLB has it: the cache takes it (a misaligned address too: the next aligned one hits).
    c.get(L.HB).get(L.ADDR).i64(-4096).op(Op.I64And).mem(Op.I64Store, 3, cache);
    c.get(L.HB);
    tlbPage(c, L.IDX);
    c.get(L.ADDR)
      .op(Op.I32WrapI64)
      .i32(-4096)
      .op(Op.I32And)
      .op(Op.I32Sub)
      .mem(Op.I32Store, 2, cache + 8);
    c.br(Op.Br, 1); // to $hit
    c.op(Op.End);
    slow();
    c.br(Op.Br, 1); // to $done
    c.op(Op.End); // $hit
    c.get(L.ADDR)
      .op(Op.I32WrapI64)
      .get(L.HB)
      .mem(Op.I32Load, 2, cache + 8)
      .op(Op.I32Add);
    fast();
    c.op(Op.End); // $done
  }

  // Registers are cached in locals within one pass through the block: loaded on first use,
  // stored back when written ("dirty") only where memory must be right: before a closure (which
  // reads and writes the register file; every cached value is forgotten after it), before a slow
  // path (it may trap, and the trap unwinds the locals), and at every exit. Without the cache
  // every instruction loaded its sources from memory and stored its result there.
  /** Pair index -> its local, for every register given one. */
  private readonly localOf = new Map<number, number>();
  // If-conversion (emit-select.ts): the ops of a branch's arm run under a guard, P or its
  // negation, each taking effect only where it holds; an arm that is another member's code
  // names that member to the services (`site`) with the instructions retired before it.
  /** Whether the ops emitted take effect where P is non-zero (true), zero (false), or always (null). */
  guard: boolean | null = null;
  /** Added to DONE in a service's arguments: the instructions retired before the arm's member. */
  doneBias = 0;
  /** Push the guard as an i32, non-zero where it holds. */
  pushGuard(): void {
    this.c.get(L.P);
    if (this.guard === false) this.c.op(Op.I32Eqz);
  }
  /** Name block `id` at RAM offset `off` to the services from now on; returns the former pair. */
  site(id: number, off: number): [number, number] {
    const was: [number, number] = [this.id, this.off];
    this.id = id;
    this.off = off;
    return was;
  }

  /** Registers whose local holds the current value, and those of them not yet stored back. */
  private readonly cached = new Set<number>();
  protected readonly dirty = new Set<number>();
  /** The types of the locals given to registers so far (they follow LOCALS). */
  readonly regLocals: T[] = [];
  /** Every register pair the code sets (setReg): with `held`, it must be one of held.written. */
  readonly written = new Set<number>();

  protected local(p: number): number {
    let l = this.localOf.get(p);
    if (l === undefined) {
      l = L.P + 1 + this.regLocals.length;
      this.regLocals.push(this.localType(p));
      this.localOf.set(p, l);
    }
    return l;
  }
  /**
   * The type of pair `p`'s local: i64 for the x registers; emit-fp.ts gives the f registers (and
   * its scratch doubles) f64 locals, so V8 keeps them in vector registers without moving each
   * value to a general register and back at every use and every merge.
   */
  protected localType(_p: number): T {
    return T.I64;
  }
  /** Push register pair `p`'s value from the hart's area, in its local's type. */
  private loadPair(p: number): void {
    const f = this.localType(p) === T.F64;
    this.c.get(L.HB).mem(f ? Op.F64Load : Op.I64Load, 3, HartArea.x + 4 * p);
  }
  /** Reload register pair `p`'s local from the hart's area (after a closure wrote it). */
  protected reload(p: number): void {
    this.loadPair(p);
    this.c.set(this.local(p));
  }
  /**
   * Make register pair `p` cached. Must not be first done inside one arm of an if: the other
   * arm would not have loaded it. Ops touch their sources before opening one.
   */
  touch(p: number): void {
    if (p === 0 || p === 64 || this.cached.has(p)) return;
    this.reload(p);
    this.cached.add(p);
  }
  /** Push register pair `p` (2*r) as an i64 (an f register's pair: in its local's type); x0 is 0. */
  reg(p: number): void {
    if (p === 0) this.c.i64(0);
    else {
      this.touch(p);
      this.c.get(this.local(p));
    }
  }
  /**
   * Set register pair `d` to the i64 `value` pushes (for the scratch pair, rd = x0, drop it).
   * Under a guard (emit-select.ts), the new value only where the guard holds, the old elsewhere.
   */
  setReg(d: number, value: () => void): void {
    value();
    if (d === 64) {
      this.c.op(Op.Drop);
      return;
    }
    if (this.guard !== null) {
      this.reg(d);
      this.pushGuard();
      this.c.op(Op.Select);
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
  /**
   * Branch from the block's top level to the end of `$exit`, `inner` blocks or ifs deeper. When
   * the exit (exitTo) names a block of this function, first continue there at once while the
   * budget lasts and the stop slot is clear: the check emitBody makes after `$exit`, done here
   * with the target known, so a loop's back-edge neither sets NPC and NXT nor tests them against
   * every member (docs/benchmarks.md, fourteenth session). `unlessTaken`: see below.
   */
  toExit(inner: number, unlessTaken = false): void {
    const j = this.pendingMember;
    this.pendingMember = -1;
    const c = this.c;
    if (j >= 0) {
      c.open(Op.Block);
      if (unlessTaken) {
        // After an if-converted diamond (emit-select.ts): where its branch was taken (P), the
        // unconverted code tested the budget and the stop slot at the branch, then ran the
        // taken arm's member through the join without a test; so does this (its test at the
        // branch is the condition's, emit.ts).
        c.i32(0);
        c.get(L.DONE).get(L.BUDGET).op(Op.I32GeS).get(L.HB).mem(Op.I32Load, 2, HartArea.stop).op(Op.I32Or);
        c.get(L.P).op(Op.Select).br(Op.BrIf, 0, Hint.Unlikely);
      } else {
        c.get(L.DONE).get(L.BUDGET).op(Op.I32GeS).br(Op.BrIf, 0, Hint.Unlikely);
        c.get(L.HB).mem(Op.I32Load, 2, HartArea.stop).br(Op.BrIf, 0, Hint.Unlikely);
      }
      if (this.region) c.i32(j).set(L.CUR);
      c.br(Op.Br, inner + this.exitDepth + 2); // the loop at the function's top
      c.op(Op.End);
    }
    if (inner + this.exitDepth > 0) c.br(Op.Br, inner + this.exitDepth);
  }
  /**
   * From the block's top level, go on at member `j` of this function at once: no budget or stop
   * test, as the block itself would have run on into the same instructions (emit.ts cutAt).
   */
  continueAt(j: number): void {
    if (this.region) this.c.i32(j).set(L.CUR);
    this.c.br(Op.Br, this.exitDepth + 1); // the loop at the function's top
  }
  /** Before the loop: load the held registers. */
  loadHeld(): void {
    for (const p of this.held?.regs ?? []) this.reload(p);
  }
  /** After the loop: store the held registers the block may have written. */
  storeHeld(): void {
    if (this.held !== null) this.flush(false, this.held.written);
  }
  /** Store registers `regs` (by default the dirty ones) back; `clean`: they are then clean. */
  flush(clean: boolean, regs: ReadonlySet<number> = this.dirty): void {
    for (const p of regs) {
      const f = this.localType(p) === T.F64;
      this.c
        .get(L.HB)
        .get(this.local(p))
        .mem(f ? Op.F64Store : Op.I64Store, 3, HartArea.x + 4 * p);
    }
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
  /**
   * pc-relative value: the block's pc plus `rel`. BPC holds the pc of the function's first block,
   * so that it stays the same across a region's members (all in one page, at fixed distances).
   */
  pcRel(rel: number): void {
    this.c
      .get(L.BPC)
      .i64(this.off - this.base + rel)
      .op(Op.I64Add);
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
    this.address(a, imm);
    this.probeAddr(size, tags);
  }
  /** ADDR = register pair `a` + imm. */
  address(a: number, imm: number): void {
    this.reg(a);
    this.c.i64(imm).op(Op.I64Add).set(L.ADDR);
  }
  /** probe with ADDR set. */
  probeAddr(size: number, tags: L.RT | L.WT): void {
    const c = this.c;
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
