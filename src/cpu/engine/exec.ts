/**
 * The execution engine: a cache of decoded blocks and the loop that runs them.
 *
 * A block is a run of instructions from one physical page, ending at the first jump or
 * instruction that changes machine state (see decode.ts), at the page end, or at MAX_BLOCK.
 * Conditional branches do not end it: they are side exits, taken or run through (a superblock).
 * Most kernel branches are not taken (65 % in a dd read, 69 % in a fork loop), and ending blocks at
 * them made an average block six instructions long, every boundary a trip through the run loop.
 * Blocks are keyed by the RAM offset of their first instruction, so one block serves every virtual
 * mapping of that code. While a block runs, `h.pc` holds the virtual address of its first
 * instruction; each op knows its own offset, and the op that leaves the block sets the next pc.
 *
 * A block first runs through the interpreter (interp.ts: a table of pre-decoded ops, with
 * closures for the uncommon instructions); once hot (CodeCache.hot runs), the wasm tier
 * (wasm/tier.ts, `Block.wx`) or the JavaScript JIT (jit.ts, `Block.run`) compiles it
 * and the loop calls that instead.
 *
 * Self-modifying code (and DMA into code pages) is handled precisely: a page holding cached blocks
 * is marked in `GuestRam.codePages` and kept out of every write TLB, so every store to it takes
 * the slow path, which drops the blocks it overwrites, or the page's blocks (code-writes.ts; QEMU
 * does the same with its TB invalidation).
 */
import type { GuestRam } from "../../machine/memory.js";
import { decodeEntry, decodeOp } from "../isa/decode.js";
import { endsBlock, entryAt, isInline, K, pack, WORDS, type Entry } from "../isa/kinds.js";
import { interpret, OpTables } from "./interp.js";
import { compileBlock, continues, type Compiled } from "./jit.js";
import { TRAP, type Hart } from "../hart/hart.js";
import { WasmTier, wasmReady } from "../wasm/tier.js";
import type { Op } from "../isa/ops-int.js";
import { CodeWrites, overlaps } from "./code-writes.js";
import { loopOf, warmNeighbours } from "./loops.js";

export const MAX_BLOCK = 128;
/** An unset link's distance: no two blocks of one page are this far apart. */
const NO_LINK = 1 << 30;
/**
 * The compiling tier: "wasm" (wasm/tier.ts), wherever the machine's RAM is in a wasm memory,
 * else "js" (jit.ts). CORRAL_TIER=js chooses the JavaScript JIT (for comparisons).
 */
export const TIER: "wasm" | "js" = process.env["CORRAL_TIER"] === "js" ? "js" : "wasm";
/**
 * Runs of a block before it is compiled (its threshold-th run is compiled code; 1 compiles every
 * block before it first runs); CORRAL_HOT_BLOCK overrides both.
 *
 * JavaScript JIT: 60,000. Compiling costs tens of microseconds and V8 must then warm the new
 * function up itself, so cold code never pays it; at 20,000 a 64 MiB dd read spent its time
 * compiling the per-page I/O path (0.45 s against 0.30 s).
 *
 * wasm tier: 5,000. Blocks compile straight to machine code in batches (about 130 µs a block),
 * so they are compiled much earlier; docs/benchmarks.md has the measurements behind the figure.
 */
const HOT_JS = 60_000;
const HOT_WASM = 5_000;
const HOT_OVERRIDE = process.env["CORRAL_HOT_BLOCK"];
/**
 * Runs of a block after which, if it lies on a loop of its page's blocks (loops.ts), the wasm
 * tier compiles that loop at once (CodeCache.loopMarked); CORRAL_LOOP_BLOCK overrides it, 0 turns
 * the rule off. docs/benchmarks.md ("warmup") has the measurements behind the figure.
 */
const LOOP_MARK = Number(process.env["CORRAL_LOOP_BLOCK"] ?? 500);
/** How far apart a loop's passes may be, in instructions per instruction of a pass (CodeCache.loopMarked). */
const LOOP_SPAN = Number(process.env["CORRAL_LOOP_SPAN"] ?? 2);
/**
 * Runs after which a block of a tight loop's page is compiled with the loop (loops.ts
 * warmNeighbours); CORRAL_LOOP_WARM overrides it, 0 turns it off. docs/benchmarks.md ("warmstep").
 */
const LOOP_WARM = Number(process.env["CORRAL_LOOP_WARM"] ?? 64);
/** At most this many blocks compiled at a loop's mark, the loop's and its warm neighbours (wasm/tier.ts BATCH). */
const LOOP_BATCH = 16;

export class Block {
  // Field order is the object's layout (V8 lays fields out in the order they are first set): the
  // fields the run loop reads on every block transition come first, so that they share the
  // object's first two cache lines. runHart and CodeCache.next spend most of their time waiting
  // for the next block's fields to arrive from memory (perf annotate: the loads of its map and
  // `dead`), and the exec path runs thousands of different blocks, each a few times an exec
  // (docs/benchmarks.md, "execpath").
  /** RAM byte offset of the first instruction: the block's identity. */
  readonly off: number;
  /** Set when the page's code was overwritten: the block must never run again. */
  dead = false;
  /** Its index in the wasm tier's table once compiled there (WasmTier.compile), else -1. */
  wx = -1;
  /** The compiled form once hot (jit.ts); it counts its own instructions into h.instret. */
  run: Compiled | null = null;
  /** Times the block ran in the interpreter; at CodeCache.hot it is compiled (CodeCache.compile). */
  hits = 0;
  /**
   * Successor links (see runHart): two blocks of the same physical page that ran after this one,
   * each with the distance of its virtual pc from this block's. Null/NO_LINK when unset. The
   * distances are small integers (within a page), kept so: a NaN or any double would make V8 box
   * the fields, and loading the box was a sixth of runHart's samples (perf annotate).
   */
  l0: Block | null = null;
  d0 = NO_LINK;
  l1: Block | null = null;
  d1 = NO_LINK;
  /** Ends in a jump or falls through: nothing in it changes translation or privilege. */
  readonly linkable: boolean;
  /** Where its interpreter table starts in `CodeCache.tables` (interp.ts). */
  readonly tbase: number;
  /** Number of ops, the fall-through op included. */
  readonly count: number;
  /**
   * The ops' closures, plus a final "next pc" op when the block falls through. Only the kinds
   * the interpreter calls are made when the block is built; the rest (isa/kinds.ts isInline) on
   * first use (`op`). A closure per instruction was most of what a boot allocated and kept.
   */
  private readonly closures: (Op | undefined)[];
  /**
   * For a block whose one instruction straddles two pages: the RAM offset its upper half was
   * fetched from. That page's translation is checked on every lookup (CodeCache.blockAt). -1 for
   * every other block.
   */
  hi = -1;
  /**
   * One instruction, always reached through the execute TLB's slow path (Hart.soloBlock: an
   * execute trigger is armed, or PMP splits the page): never linked or compiled.
   */
  readonly solo: boolean;
  /** Waiting to be compiled with its batch (WasmTier.compile). */
  queued = false;
  /** Its batch is being compiled off the thread (WasmTier.flush). */
  compiling = false;
  /** RAM offset just past its last byte in its own page (CodeCache.codeWritten). */
  end = 0;
  /**
   * The building hart's instret when the block was built, modulo 2^30 (a small integer, see
   * l0): the loop rule (CodeCache.loopMarked) asks whether its passes ran back to back.
   */
  born = 0;
  /** Each instruction as fetched (a 16-bit parcel or a 32-bit word), to make its closure. */
  private readonly raws: Int32Array;
  /** Byte offset of each op from the block start (for trap pcs). */
  readonly offs: Int32Array;
  /** Every op decoded: kind and operands (isa/kinds.ts), the table every tier reads. */
  readonly code: Int32Array;
  /** Number of guest instructions (the fall-through op is not one). */
  readonly n: number;

  constructor(
    off: number,
    closures: (Op | undefined)[],
    raws: Int32Array,
    offs: Int32Array,
    code: Int32Array,
    n: number,
    /** The space its interpreter table is written to (CodeCache.tables). */
    tables: OpTables,
    solo = false,
  ) {
    this.off = off;
    this.closures = closures;
    this.solo = solo;
    this.raws = raws;
    this.offs = offs;
    this.code = code;
    this.n = n;
    this.count = offs.length;
    this.linkable = !solo && continues(this);
    this.tbase = tables.add(this);
  }

  /** The closures of the interpreter's kinds, by op (the interpreter's `ops`); others may be unset. */
  get called(): readonly (Op | undefined)[] {
    return this.closures;
  }

  /** Op `k`'s closure, made now if it was not. */
  op(k: number): Op {
    return this.closures[k] ?? this.makeOp(k);
  }

  /** Every op's closure (the reference semantics, for the JavaScript tier and the tests). */
  get ops(): Op[] {
    for (let k = 0; k < this.count; k++) this.op(k);
    return this.closures as Op[];
  }

  private makeOp(k: number): Op {
    let op: Op;
    if (k === this.n) {
      const len = this.offs[k]!;
      op = (hh) => {
        hh.pc += len;
      };
    } else {
      const raw = this.raws[k]!;
      const len = (raw & 3) === 3 ? 4 : 2;
      op = decodeOp(entryAt(this.code, k), raw, len, this.offs[k]!, k);
    }
    this.closures[k] = op;
    return op;
  }

  /**
   * Remember `next`, which ran after this block with its pc `d` bytes from this one's, if it is in
   * the same physical page at that same distance (the only successors runHart may follow without
   * a lookup). The second slot is overwritten when both are taken.
   */
  link(next: Block, d: number): void {
    if (next.off - this.off !== d || next.off >>> 12 !== this.off >>> 12 || next.dead || next.hi >= 0 || next.solo)
      return;
    if (this.l0 === null) {
      this.l0 = next;
      this.d0 = d | 0;
    } else {
      this.l1 = next;
      this.d1 = d | 0;
    }
  }
}

/** Entries of the jump cache (a power of two). */
const JC_SIZE = 1 << 16;
const JC_MASK = JC_SIZE - 1;

export class CodeCache {
  private readonly pages: (Map<number, Block> | undefined)[];
  /**
   * The jump cache: the last block found at each RAM offset, direct-mapped by offset. Finding the
   * next block is then one exec-TLB probe and one array load. A block is identified by where its
   * code lives in RAM, not by the virtual pc, so an entry stays right across TLB flushes and
   * address-space switches (QEMU's tb_jmp_cache is keyed by virtual pc and flushed with the TLB;
   * keying by physical offset needs no flush, only the `dead` check when code is overwritten).
   */
  private readonly jc: (Block | undefined)[] = new Array<Block | undefined>(JC_SIZE).fill(undefined);
  /** The interpreter's tables of all blocks (interp.ts). */
  readonly tables: OpTables;
  /** The wasm tier, when blocks are compiled by it (TIER, and RAM in a wasm memory). */
  readonly wasm: WasmTier | null;
  /** Runs of a block before it is compiled. */
  readonly hot: number;
  /** Runs of a block before its loop, if it is on one, is compiled (LOOP_MARK); 0 when off. */
  readonly loopMark: number;
  /** Runs after which a block of a loop's page compiles with the loop (LOOP_WARM); 0 when off. */
  readonly loopWarm: number;
  /** Where `build` packs a block's ops, offsets and instruction words before copying them out. */
  private readonly scratchCode = new Int32Array(WORDS * (MAX_BLOCK + 1));
  private readonly scratchOffs = new Int32Array(MAX_BLOCK + 1);
  private readonly scratchRaws = new Int32Array(MAX_BLOCK);
  /** Counts stores to code pages: whether one drops a page's overwritten blocks or all of them. */
  private readonly writes: CodeWrites;

  /**
   * This cache's bit in `GuestRam.codePages`: 1 for a machine's one cache; on a machine whose harts
   * run on threads each hart's cache has bit 1 << hartId (machine/threads/code-sync.ts).
   */
  codeBit = 1;
  /**
   * Set where harts on other threads have write TLBs of their own: a page that now holds code is
   * taken out of those too (machine/threads/hart-slots.ts).
   */
  protectElsewhere: ((page: number) => void) | null = null;
  /**
   * Set where harts on other threads compile code of their own (machine/threads/code-share.ts): a
   * block just built, or just hot, may run what another hart compiled for the same code. True
   * when `b` took such code (b.wx set).
   */
  adopt: ((b: Block) => boolean) | null = null;
  constructor(
    private readonly ram: GuestRam,
    private readonly harts: () => readonly Hart[],
    /** Words of table space (OpTables); the default serves real guests, tests make it small. */
    tableWords?: number,
    /** The loop mark (LOOP_MARK; 0 turns the loop rule off). */
    loopMark = LOOP_MARK,
    /** The warm mark of a loop's neighbours (LOOP_WARM; 0 turns it off). */
    loopWarm = LOOP_WARM,
  ) {
    this.tables = new OpTables(tableWords);
    this.wasm = TIER === "wasm" && ram.memory !== undefined ? new WasmTier(ram.memory, ram.claimJumpCache()) : null;
    this.hot = Number(HOT_OVERRIDE ?? (this.wasm ? HOT_WASM : HOT_JS));
    this.loopMark = this.wasm !== null && loopMark < this.hot ? loopMark : 0;
    this.loopWarm = loopWarm;
    this.pages = new Array<Map<number, Block> | undefined>(ram.size >>> 12);
    this.writes = new CodeWrites(ram.size >>> 12);
    ram.onCodeWrite = (p) => this.invalidatePage(p);
    ram.onCodeFlush = () => this.invalidateAll();
  }

  /**
   * The block at the hart's pc; raises the fetch fault when the pc cannot be fetched. The fast
   * path is the exec TLB (Hart.fetchOffset) and the jump cache.
   */
  next(h: Hart): Block {
    const off = h.fetchOffset(h.pc);
    const b = this.jc[(off >>> 1) & JC_MASK];
    if (b !== undefined && b.off === off && !b.dead) return b;
    return this.blockAt(h, off);
  }

  /** The block at the hart's pc, through its page's block map (not the jump cache). */
  lookup(h: Hart): Block {
    return this.blockAt(h, h.fetchOffset(h.pc));
  }

  /**
   * The block at RAM offset `off` (the hart's pc): from its page's map, built when missing.
   *
   * A block whose instruction straddles two pages (`hi` >= 0) is cached too: in its own page's map
   * under its offset, and in the upper half's page's map (under the same key, which lies outside
   * that page and so is never looked up there) so that a write to either page kills it. It never
   * enters the jump cache or a link, so every run comes here and checks that the upper half still
   * translates to the same RAM; QEMU likewise keys a TB that spans two pages by both. Rebuilding
   * such a block on every run instead cost a 64 MiB dd read 15,000 block builds.
   */
  private blockAt(h: Hart, off: number): Block {
    let b = this.pages[off >>> 12]?.get(off);
    if (b !== undefined && b.hi >= 0 && (b.dead || b.hi !== h.fetchOffset(h.pc + 2))) b = undefined;
    if (b === undefined) {
      // Full table space: flush every block first, so the one built below lands in fresh maps.
      if (!this.tables.fits(MAX_BLOCK + 1)) {
        this.invalidateAll();
        this.tables.reset();
      }
      b = this.build(h, off);
      this.pageMap(off >>> 12).set(off, b);
      if (b.hi >= 0) {
        this.pageMap(b.hi >>> 12).set(off, b);
        return b;
      }
      if (this.adopt !== null && !b.solo) this.adopt(b);
    } else if (b.hi >= 0) {
      return b;
    }
    this.jc[(off >>> 1) & JC_MASK] = b;
    return b;
  }

  /** The block map of RAM page `page`, created (and the page marked as holding code) if missing. */
  private pageMap(page: number): Map<number, Block> {
    let m = this.pages[page];
    if (!m) {
      m = new Map();
      this.pages[page] = m;
      this.writes.reset(page);
      Atomics.or(this.ram.codePages, page, this.codeBit);
      for (const other of this.harts()) other.protectCodePage(page);
      this.protectElsewhere?.(page);
    }
    return m;
  }

  /**
   * Block `b` has run `loopMark` times on hart `h` (runHart): if it lies on a loop of its page's
   * blocks (loops.ts) whose passes ran back to back (at most LOOP_SPAN times the loop's
   * instructions retired on `h` since `b` was built: a tight loop, not code called now and then),
   * the wasm tier compiles the loop at once, with the page's blocks that have run `loopWarm` times
   * (loops.ts warmNeighbours: the code around the loop); other blocks wait for `hot`. A boot's loops
   * are mostly of the second kind (docs/benchmarks.md, "warmup" and "warmstep").
   */
  loopMarked(b: Block, h: Hart): void {
    if (b.solo || this.wasm === null || b.queued || b.compiling || !this.harts().every(wasmReady)) return;
    const loop = loopOf(b, (off) => this.pages[b.off >>> 12]?.get(off));
    if (loop.length === 0) return;
    const since = (h.instret - b.born) % SPAN_MOD;
    if (since > LOOP_SPAN * b.hits * loop.reduce((n, x) => n + x.n, 0)) return;
    // The page's warm blocks come too: the code around the loop runs nearly as often.
    const page = this.pages[b.off >>> 12]!;
    const all = [...loop, ...warmNeighbours(loop, page.values(), this.loopWarm, LOOP_BATCH)];
    // Another hart's code for them, where harts run on threads (adopt sets wx).
    if (this.adopt !== null) for (const x of all) this.adopt(x);
    this.wasm.compileLoop(all);
  }

  /**
   * Block `b` is hot: the wasm tier queues it for its batch (wasm/tier.ts); where the wasm tier
   * cannot run, the JavaScript tier compiles it (jit.ts), so that a block that branches back to
   * itself loops inside host code.
   */
  compile(b: Block): void {
    if (b.solo) {
      b.hits = -(1 << 30); // stays interpreted: compiled code would chain past the checks
      return;
    }
    if (this.adopt?.(b)) return;
    if (this.wasm !== null && this.harts().every(wasmReady)) this.wasm.compile(b, this.hot);
    else b.run = compileBlock(b);
  }

  /**
   * The CPU stored `size` bytes at offset `inPage` of RAM page `page`, which holds code: drop the
   * blocks holding those bytes, or every block of the page (code-writes.ts says when). Only blocks
   * the interpreter runs are dropped alone: a compiled block may be a member of a wasm region
   * (wasm/tier.ts), whose function runs its page's other members without looking them up, so
   * overwriting one drops the page as before.
   */
  codeWritten(page: number, inPage: number, size: number): void {
    const m = this.pages[page];
    if (m === undefined || this.writes.wholePage(page, inPage, size)) return this.invalidatePage(page);
    const lo = page * 4096 + inPage;
    const hi = lo + size;
    for (const b of m.values()) if (overlaps(b, lo, hi) && (b.wx >= 0 || b.compiling)) return this.invalidatePage(page);
    for (const [key, b] of m)
      if (overlaps(b, lo, hi)) {
        this.kill(b);
        m.delete(key);
      }
    if (m.size === 0) this.invalidatePage(page);
  }

  invalidatePage(page: number): void {
    const m = this.pages[page];
    if (m) for (const b of m.values()) this.kill(b);
    this.pages[page] = undefined;
    Atomics.and(this.ram.codePages, page, ~this.codeBit);
  }

  /** Mark `b` dead, and give its wasm function's slot back. */
  private kill(b: Block): void {
    b.dead = true;
    if (b.wx >= 0) {
      this.wasm?.release(b.wx, b.off);
      b.wx = -1;
    }
  }

  invalidateAll(): void {
    const shared = this.ram.shared;
    const pages = this.pages;
    for (let p = 0; p < pages.length; p++) {
      const m = pages[p];
      if (!m) continue;
      for (const b of m.values()) this.kill(b);
      if (shared) Atomics.and(this.ram.codePages, p, ~this.codeBit);
    }
    pages.fill(undefined);
    if (!shared) this.ram.codePages.fill(0);
  }

  /**
   * The live block at RAM offset `off`, built now if missing (its page then holds code), for a
   * hart whose pc is elsewhere (threads/code-share.ts). `off` must not be a page's last two bytes:
   * blockAt translates the upper half of an instruction straddling two pages through the hart's pc.
   */
  blockFor(h: Hart, off: number): Block {
    return this.blockAt(h, off);
  }

  /** The block cached at RAM offset `off`, if any. */
  cached(off: number): Block | undefined {
    return this.pages[off >>> 12]?.get(off);
  }

  /** Whether RAM page `page` holds blocks of this cache. */
  holds(page: number): boolean {
    return this.pages[page] !== undefined;
  }

  /**
   * Drop every block, compiled or not, and the memory they hold: their closures and tables, the
   * jump cache's references, the wasm tier's slots. The daemon calls this once the guest has
   * booted (src/vm/daemon.ts): most of the tens of thousands of blocks a boot builds (kernel init
   * code, the initramfs's scripts) never run again, and they were most of an idle VM's V8 heap
   * (docs/benchmarks.md, "Lean VMs"). Call it between runs only (Machine.trimCode), never from
   * inside a block. Returns the number of blocks dropped.
   */
  trim(): number {
    let n = 0;
    for (const m of this.pages) if (m) n += m.size;
    this.invalidateAll();
    this.jc.fill(undefined);
    this.tables.reset(true);
    this.wasm?.forgetAll();
    return n;
  }

  /**
   * Build the block at RAM offset `start`. Ops are packed straight into scratch arrays and copied
   * out at the end; closures are made only for the kinds the interpreter calls (Block.op).
   */
  private build(h: Hart, start: number): Block {
    const u8 = this.ram.u8;
    const code = this.scratchCode;
    const offs = this.scratchOffs;
    const raws = this.scratchRaws;
    const closures: (Op | undefined)[] = [];
    const pageEnd = (start | 0xfff) + 1;
    let p = start;
    let ended = false;
    let hi = -1;
    let n = 0;
    const solo = h.soloBlock(start);
    const max = solo ? 1 : MAX_BLOCK;
    while (n < max && p < pageEnd) {
      const lo = u8[p]! | (u8[p + 1]! << 8);
      let raw: number;
      let len: 2 | 4;
      if ((lo & 3) !== 3) {
        raw = lo;
        len = 2;
      } else if (p + 4 <= pageEnd) {
        raw = lo | (u8[p + 2]! << 16) | (u8[p + 3]! << 24);
        len = 4;
      } else {
        // A 32-bit instruction straddling two pages is a block of its own: its upper half may
        // live in any RAM page, which blockAt checks on every run.
        if (n > 0) break;
        hi = h.fetchOffset(h.pc + 2);
        raw = lo | (u8[hi]! << 16) | (u8[hi + 1]! << 24);
        len = 4;
      }
      const at = p - start;
      const entry = decodeEntry(raw, len, at);
      pack(entry, code, n);
      offs[n] = at;
      raws[n] = raw;
      closures.push(isInline(entry[0]) ? undefined : decodeOp(entry, raw, len, at, n));
      p += len;
      n++;
      if (endsBlock(entry[0])) {
        ended = true;
        break;
      }
    }
    let count = n;
    if (!ended) {
      // The fall-through op; its closure is made on first use (Block.op).
      const len = p - start;
      pack(NEXT_ENTRY, code, n);
      code[WORDS * n + 1] = len;
      offs[n] = len;
      closures.push(undefined);
      count++;
    }
    const block = new Block(
      start,
      closures,
      raws.slice(0, n),
      offs.slice(0, count),
      code.slice(0, WORDS * count),
      n,
      this.tables,
      solo,
    );
    block.hi = hi;
    block.end = Math.min(p, pageEnd);
    block.born = (h.instret % SPAN_MOD) | 0;
    return block;
  }
}

/** Block.born's modulus. */
const SPAN_MOD = 1 << 30;

/** The fall-through op's entry; its length (w1) is written after packing. */
const NEXT_ENTRY: Entry = [K.NEXT, 0, 0, 0, 0, 0];

/**
 * Run `h` for about `budget` instructions (whole blocks), delivering interrupts between blocks.
 * Returns the number of instructions retired. Stops early when the hart sleeps (WFI) or stops.
 *
 * Every trap, exception or interrupt, spends one unit of the budget, though it retires nothing:
 * a trap whose handler cannot be fetched or faults on its first instruction (mtvec = 0, outside
 * RAM, an illegal instruction) traps again at once, forever, and must still hand the thread back
 * to the machine's loop, which serves signals, the console's Ctrl-A X and the control socket
 * between slices.
 *
 * `slow` bounds what the slice may spend outside compiled code: it ends once it has interpreted
 * that many instructions or taken that many traps, whatever is left of `budget`. The machine's
 * loop gives a hart running compiled code a long budget (Machine.sliceFor); cold code then ends
 * the slice as soon as a slice of `slow` instructions would have.
 */
export function runHart(h: Hart, cache: CodeCache, budget: number, slow = budget): number {
  let done = 0;
  let b: Block | null = null;
  // The block that ran last, if it may link to its successor, and the virtual pc it started at.
  let prev: Block | null = null;
  let start = 0;
  let compiled = false;
  for (;;) {
    try {
      for (;;) {
        if (h.irqCheck) {
          if (h.trapPending) {
            // An ECALL ended the last block (isa/ops-sys.ts ecall): its trap, taken as the catch
            // below takes a thrown one; the block counted the ECALL, which does not retire.
            h.trapPending = false;
            prev = null;
            done--;
            h.instret--;
            budget--;
            h.enterTrap(h.trapCause, h.trapTval, false);
            if (--slow <= 0) budget = done;
          }
          if (h.pollInterrupts()) {
            prev = null;
            budget--;
          }
          if (h.sleeping || h.state !== 0 || h.yieldNow) return done;
        }
        if (done >= budget) return done;
        b = null; // a fetch fault below belongs to no block
        if (prev !== null) {
          // In-page links: the successor lives in the same physical page as `prev`, at the same
          // distance as the pcs, so no TLB probe or jump-cache lookup is needed. The page's
          // translation cannot have changed since `prev` was fetched (it ends in a branch, a
          // jump or a fall-through), and a dead successor means the page was rewritten.
          const d = h.pc - start;
          b = d === prev.d0 ? prev.l0 : d === prev.d1 ? prev.l1 : null;
          if (b === null || b.dead) {
            b = null; // a dead successor's offsets must not place a fetch fault of next()'s
            b = cache.next(h);
            prev.link(b, d);
          }
        } else {
          b = cache.next(h);
        }
        start = h.pc;
        // One compare more than `hot` alone on the interpreter's path: the loop mark's.
        if (b.run === null && b.wx < 0 && (++b.hits >= cache.hot || b.hits === cache.loopMark) && !b.dead) {
          if (b.hits >= cache.hot) cache.compile(b);
          else cache.loopMarked(b, h);
        }
        const run = b.run;
        // Whether compiled code runs the block (kept: a block may be killed during its own run).
        compiled = b.wx >= 0 || run !== null;
        if (b.wx >= 0) {
          done += cache.wasm!.run(h, b.wx, budget - done);
        } else if (run !== null) {
          done += run(h, budget - done);
        } else {
          const n = interpret(h, cache.tables.t, b.tbase, b.count, b.called);
          done += n;
          h.instret += n;
          if ((slow -= n) <= 0) budget = done;
        }
        // After compiled wasm code the hart may be several chained blocks further on (WasmTier).
        prev = b.linkable && b.wx < 0 ? b : null;
      }
    } catch (e) {
      if (e !== TRAP) throw e;
      prev = null;
      budget--;
      if (b !== null) {
        // Every tier reports the op that trapped; compiled code also reports the member block
        // and what it retired before it.
        const k = h.faultIndex;
        let offs = b.offs;
        if (compiled) {
          offs = h.faultOffs;
          done += h.faultDone;
        }
        h.pc += offs[k]!;
        done += k;
        h.instret += k;
      }
      b = null;
      h.enterTrap(h.trapCause, h.trapTval, false);
      if (--slow <= 0) budget = done;
    }
  }
}
