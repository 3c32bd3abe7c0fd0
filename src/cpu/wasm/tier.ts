/**
 * The wasm tier at run time (its code generator is emit.ts): compiled blocks sit in one function
 * table; the run loop enters through one export, which chains from block to block inside wasm;
 * hot blocks compile 16 to a module.
 *
 * Contract with the run loop (as for a block compiled by the JavaScript tier, engine/jit.ts):
 * `h.pc` holds the block's pc on entry and the next pc on return; a block runs again in place
 * while it goes back to its own start, the budget lasts, and nothing asked the loop to look (the
 * `stop` slot: an interrupt may be pending, `h.irqCheck`, or the block's code was overwritten). Services keep
 * `h.pc` and `h.instret` exact for the closures and, before anything that may trap, record the op
 * index and the instructions retired before it (`h.faultIndex`, `faultOffs`, `faultDone`).
 */
import { entryAt, K, kindAt, SIZES, type CompileInput } from "../isa/kinds.js";
import type { Hart } from "../hart/hart.js";
import { Code, encodeModule, Hint, Op, T } from "./encoder.js";
import { THREADS } from "../isa/threaded.js";
import { blockBody, regionBody, RUN_TYPE, type Body } from "./emit.js";
import { LOCALS, MIN_PAGES, SERVICES, tlbMatch, tlbPage } from "./emitter.js";
import { HartArea, jumpCacheEntries, PAGE_CACHES, STOP_IRQ, STOP_REMOTE } from "./layout.js";

/** Whether the wasm tier can run on this hart's machine (its registers and TLBs are in the memory). */
export function wasmReady(h: Hart): boolean {
  return h.area >= 0;
}

/**
 * The wasm tier of one code cache: compiled blocks live in one function table, and the run loop
 * enters them all through one exported function (`enter`, a call_indirect). Calling each block's
 * own export from JavaScript instead went through V8's generic JS-to-wasm wrapper, the call site
 * seeing thousands of different functions: that made the tier slower than the interpreter.
 *
 * Chaining: after a block, `enter` looks the next pc up itself, in the hart's current execute
 * TLB and in a jump cache of compiled blocks kept in linear memory (layout.ts JC_*: RAM offset
 * and table index, direct-mapped like CodeCache's), and calls that block without returning to
 * JavaScript, as QEMU chains its translated blocks. It returns when the budget is spent, when
 * anything asked the run loop to look (the stop slot), or when the next block is not compiled or
 * not in the TLB. This is what runHart would do between two compiled blocks, minus its work.
 */
export class WasmTier {
  private readonly table = new WebAssembly.Table({ element: "anyfunc", initial: 1024 });
  private readonly free: number[] = [];
  private next = 0;
  private readonly enter: (idx: number, hb: number, pc: number, budget: number) => number;
  /** The jump cache as int32 pairs (RAM offset, table index), or null when another cache has it. */
  private readonly jc: Int32Array | null;
  /** Its entries less one (direct-mapped: layout.ts jumpCacheEntries). */
  private readonly jcMask: number;
  /**
   * What the services need of each compiled block, by table index. An entry outlives its block's
   * release until the slot is reused: a block killed by one of its own stores still finishes
   * the op in progress.
   */
  private readonly sites: Site[] = [];
  /** Hot blocks waiting to be compiled together (see `compile`). */
  private queue: Queued[] = [];
  /** The imports of every block module. */
  private readonly imports: WebAssembly.Imports;
  /** Counts CodeCache.trim's drops: a batch compiled off the thread across one is not installed. */
  private generation = 0;
  /** Why compiling a batch off the thread failed (a bug, as a failing `new WebAssembly.Module` is). */
  private failure: Error | null = null;
  /** The run in progress: its hart and the hart's instret on entry. */
  private h: Hart | null = null;
  private instret0 = 0;

  /** The memory is shared between threads (machine/threads/): modules import it as shared. */
  private readonly shared: boolean;
  /**
   * Compile batches on V8's background threads (flush's offThread). Only where the caller's loop
   * returns to its event loop between slices, which installs them: a hart's worker thread
   * (machine/threads/hart-worker.ts) runs one synchronous loop, so it compiles in place.
   */
  compileOffThread = true;
  /** Instructions retired in compiled code so far (the SMP tests check a hart's thread runs it). */
  retired = 0;
  /**
   * Hart threads: told of every batch this tier compiled, so the other harts' tiers can take its
   * functions (adopt; machine/threads/code-share.ts). `idxs[j]` is block j's slot, `fn[j]` its
   * function's export (`f${fn[j]}`).
   */
  onBatch:
    | ((module: WebAssembly.Module, blocks: readonly Queued[], idxs: readonly number[], fn: readonly number[]) => void)
    | null = null;
  /** Modules of other tiers adopted here: this tier's instance, and the other tier's slots mapped to this one's. */
  private readonly adopted = new WeakMap<WebAssembly.Module, { exports: WebAssembly.Exports; map: number[] }>();
  private readonly memory: WebAssembly.Memory;

  constructor(memory: WebAssembly.Memory, jcAt: number) {
    const entries = jumpCacheEntries(jcAt);
    this.jcMask = entries - 1;
    this.jc = jcAt >= 0 ? new Int32Array(memory.buffer, jcAt, 2 * entries).fill(-1) : null;
    this.shared = memory.buffer instanceof SharedArrayBuffer;
    this.memory = memory;
    const bytes = encodeModule({
      imports: [],
      memoryPages: MIN_PAGES,
      sharedMemory: this.shared,
      table: true,
      types: [RUN_TYPE],
      funcs: [
        {
          type: { params: [T.I32, T.I32, T.F64, T.I32], results: [T.I32] },
          locals: [T.I32, T.I64, T.I32, T.I32],
          code: hub(jcAt, this.jcMask),
          export: "enter",
        },
      ],
    });
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { i: { m: memory, t: this.table } });
    this.enter = (inst.exports as { enter: WasmTier["enter"] }).enter;
    this.imports = { i: { m: memory, call: this.call, load: this.load, store: this.store } };
  }

  /**
   * Block `b` is hot. Hot blocks are compiled BATCH at a time, into one module: V8's cost per
   * module (chiefly the import wrappers it compiles for each) was most of a block's compile
   * time, 475 µs a block compiled alone against about 100-130 in a batch (docs/benchmarks.md).
   * A block waits in the interpreter meanwhile; one that runs another `hot` times before its
   * batch is full compiles the batch as it is. Returns whether `b` was compiled (Block.wx set).
   */
  compile(b: Queued, hot: number): boolean {
    if (this.failure !== null) throw this.failure;
    if (b.compiling) return false;
    if (!b.queued) {
      b.queued = true;
      this.queue.push(b);
      // With every block compiled before it runs (hot 1, the ISA suite's mode) there is no batch.
      if (this.queue.length < BATCH && hot > 1) return false;
    } else if (b.hits < 2 * hot) return false;
    this.flush(hot > 1 && this.compileOffThread);
    return b.wx >= 0;
  }

  /**
   * Compile the blocks of a loop (engine/loops.ts) at once, with anything queued, on this thread:
   * the loop runs compiled from its next pass, where a batch compiled off the thread would be
   * installed only at the machine's next yield to the event loop. Members compiled already or
   * in a batch being compiled stay as they are.
   */
  compileLoop(blocks: readonly Queued[]): void {
    if (this.failure !== null) throw this.failure;
    let added = false;
    for (const b of blocks)
      if (!b.queued && !b.compiling && b.wx < 0 && !b.dead) {
        b.queued = true;
        this.queue.push(b);
        added = true;
      }
    if (added) this.flush(false);
  }

  /** Compile block `b` at once (with anything queued); returns its table index. */
  compileNow(b: Queued): number {
    this.compile(b, 1);
    return b.wx;
  }

  /**
   * Compile every queued block that is still alive, in one module. `offThread`: V8 compiles the
   * module on a background thread (WebAssembly.compile) while the blocks go on in the
   * interpreter; the machine's loop yields to the event loop between slices (machine.ts), where
   * the batch is installed. `new WebAssembly.Module` compiled on the vCPU's thread: 3 % of a
   * boot's samples (docs/benchmarks.md).
   */
  flush(offThread = false): void {
    // A block may have taken another hart's code meanwhile (adopt).
    const blocks = this.queue.filter((b) => !b.dead && b.wx < 0);
    for (const b of this.queue) b.queued = false;
    this.queue = [];
    if (blocks.length === 0) return;
    const idxs = blocks.map(() => this.slot());
    // One function per region (the batch's blocks of one physical page) or per block; fn[j]
    // names block j's.
    const bodies: Body[] = [];
    const fn: number[] = [];
    for (const group of regions(blocks)) {
      const region =
        group.length > 1
          ? regionBody(
              group.map((j) => blocks[j]!),
              group.map((j) => idxs[j]!),
            )
          : null;
      if (region !== null) {
        for (const j of group) fn[j] = bodies.length;
        bodies.push(region);
      } else
        for (const j of group) {
          fn[j] = bodies.length;
          bodies.push(blockBody(blocks[j]!, idxs[j]!));
        }
    }
    const bytes = encodeModule({
      imports: SERVICES,
      memoryPages: MIN_PAGES,
      sharedMemory: this.shared,
      funcs: bodies.map(({ code, regLocals }, f) => ({
        type: RUN_TYPE,
        locals: [...LOCALS, ...regLocals],
        code,
        export: `f${f}`,
      })),
    });
    if (!offThread) {
      this.install(blocks, idxs, fn, new WebAssembly.Module(bytes));
      return;
    }
    for (const b of blocks) b.compiling = true;
    const gen = this.generation;
    WebAssembly.compile(bytes).then(
      (module) => {
        for (const b of blocks) b.compiling = false;
        // Blocks dropped meanwhile (CodeCache.trim): their slots were forgotten with them.
        if (gen === this.generation) this.install(blocks, idxs, fn, module);
      },
      (e: unknown) => {
        for (const b of blocks) b.compiling = false;
        this.failure = e instanceof Error ? e : new Error(String(e));
      },
    );
  }

  /**
   * Put a compiled batch in the table: block j's function is export `f${fn[j]}`, in slot idxs[j].
   * A block killed while its batch compiled (its page was rewritten: every block of a region
   * goes with it) gives its slot back instead.
   */
  private install(
    blocks: readonly Queued[],
    idxs: readonly number[],
    fn: readonly number[],
    module: WebAssembly.Module,
  ): void {
    const exports = new WebAssembly.Instance(module, this.imports).exports;
    blocks.forEach((b, j) => {
      const idx = idxs[j]!;
      if (b.dead) {
        this.free.push(idx);
        return;
      }
      this.place(b, idx, exports[`f${fn[j]}`]);
    });
    this.onBatch?.(module, blocks, idxs, fn);
  }

  /** A free slot of the table. */
  private slot(): number {
    let idx = this.free.pop();
    if (idx === undefined) {
      idx = this.next++;
      if (idx >= this.table.length) this.table.grow(this.table.length);
    }
    return idx;
  }

  /** Block `b` runs function `f`, in slot `idx`. */
  private place(b: Queued, idx: number, f: WebAssembly.ExportValue | undefined): void {
    this.table.set(idx, f);
    this.sites[idx] = {
      b,
      sizes: Array.from({ length: b.count }, (_, k) => SIZES[kindAt(b.code, k)] ?? 0) as (1 | 2 | 4 | 8)[],
      last: b.n - 1,
    };
    // A block whose instruction straddles two pages stays out of the jump cache, as it stays
    // out of CodeCache's.
    if (this.jc !== null && b.hi < 0) {
      const e = 2 * ((b.off >>> 1) & this.jcMask);
      this.jc[e] = b.off;
      this.jc[e + 1] = idx;
    }
    b.wx = idx;
  }

  /**
   * Run export `name` of `module`, which another hart's tier compiled (onBatch) for blocks whose
   * decoded code equals that of `blocks` (the caller checked: the function is then exactly what
   * this tier would compile for them), as those blocks. The function names its blocks to the
   * services by the other tier's slots, `ids`: this tier's instance of the module maps them to
   * its own, so the two tables need not agree.
   */
  adopt(module: WebAssembly.Module, name: string, blocks: readonly Queued[], ids: readonly number[]): void {
    let inst = this.adopted.get(module);
    if (inst === undefined) {
      const map: number[] = [];
      const imports = {
        i: {
          m: this.memory,
          call: (id: number, k: number, done: number, pc: number) => this.call(map[id]!, k, done, pc),
          load: (id: number, k: number, done: number, pc: number, lo: number, hi: number) =>
            this.load(map[id]!, k, done, pc, lo, hi),
          store: (id: number, k: number, done: number, pc: number, lo: number, hi: number, vlo: number, vhi: number) =>
            this.store(map[id]!, k, done, pc, lo, hi, vlo, vhi),
        },
      };
      inst = { exports: new WebAssembly.Instance(module, imports).exports, map };
      this.adopted.set(module, inst);
    }
    const f = inst.exports[name];
    blocks.forEach((b, j) => {
      const idx = this.slot();
      inst.map[ids[j]!] = idx;
      this.place(b, idx, f);
    });
  }

  /** Whether table entries `a` and `b` hold the same function (one region's blocks). */
  sameFunction(a: number, b: number): boolean {
    return this.table.get(a) === this.table.get(b);
  }

  /** Forget the function at `idx`, the block at RAM offset `off` (it is dead); the slot is reused. */
  release(idx: number, off: number): void {
    const jc = this.jc;
    if (jc !== null) {
      const e = 2 * ((off >>> 1) & this.jcMask);
      if (jc[e] === off && jc[e + 1] === idx) jc[e] = -1;
    }
    this.table.set(idx, null);
    this.free.push(idx);
  }

  /**
   * Every block was released (CodeCache.trim, between runs, so no block is mid-op): drop what
   * the slots still remember of them, so the dead blocks and their modules can be collected.
   */
  forgetAll(): void {
    this.generation++;
    for (const b of this.queue) b.queued = false;
    this.queue = [];
    this.sites.length = 0;
    this.free.length = 0;
    this.next = 0;
  }

  /** Run the block at `idx` on hart `hart` (the JIT's Compiled contract, see the file comment). */
  run(hart: Hart, idx: number, budget: number): number {
    if (this.h !== hart) this.h = hart;
    const i0 = hart.instret;
    this.instret0 = i0;
    const s = hart.slots;
    // The entry's store would overwrite a STOP_REMOTE that another hart's thread set since the
    // worker last looked at its requests (threads/hart-slots.ts sets the requests, then the stop
    // bit). Storing first and then reading the requests, both sequentially consistent, cannot
    // miss one: either the store came after the other thread's, so the requests are seen here,
    // or before it, so the stop bit stands.
    // On one thread nobody else writes the slot: a plain store.
    if (THREADS.on) {
      Atomics.store(s, HartArea.stop >>> 2, hart.irqCheck ? 1 : 0);
      if (Atomics.load(s, HartArea.requests >>> 2) !== 0) Atomics.or(s, HartArea.stop >>> 2, STOP_REMOTE);
    } else s[HartArea.stop >>> 2] = hart.irqCheck ? 1 : 0;
    // Outside compiled code anything may have changed the TLBs: no page cache holds a page.
    forgetPages(s);
    const done = this.enter(idx, hart.area, hart.pc, budget);
    const stop = s[HartArea.stop >>> 2]!;
    if (stop & STOP_IRQ) hart.irqCheck = true;
    if (stop & STOP_REMOTE) {
      // Another hart left requests (machine/threads/): back to the worker's loop to serve them.
      hart.irqCheck = true;
      hart.yieldNow = true;
    }
    hart.instret = i0 + done;
    this.retired += done;
    hart.pc = address(s[HartArea.pc >>> 2]!, s[(HartArea.pc >>> 2) + 1]!);
    return done;
  }

  // The services (SERVICES). Before anything that may trap or read instret, `at` makes instret
  // exact and names the op and block (the run loop's trap path reads these); after it, `stopCheck`
  // asks compiled code to return if an interrupt may be pending or the block was overwritten.

  private at(h: Hart, site: Site, k: number, done: number, pc: number): void {
    // The service may change the TLBs (a closure may flush them, a slow path fills them).
    forgetPages(h.slots);
    h.pc = pc;
    h.instret = this.instret0 + done;
    h.faultIndex = k;
    h.faultOffs = site.b.offs;
    h.faultDone = done;
  }

  private stopCheck(h: Hart, site: Site): void {
    if (h.irqCheck || site.b.dead) h.slots[HartArea.stop >>> 2] = 1;
  }

  private readonly call = (id: number, k: number, done: number, pc: number): void => {
    const h = this.h!;
    const site = this.sites[id]!;
    this.at(h, site, k, done, pc);
    site.b.op(k)(h);
    // A closure ending the block set the pc itself (xRET, ECALL, WFI...): compiled code leaves it.
    if (k === site.last) setPc(h, h.pc);
    this.stopCheck(h, site);
  };

  private readonly load = (id: number, k: number, done: number, pc: number, lo: number, hi: number): number => {
    const h = this.h!;
    const site = this.sites[id]!;
    this.at(h, site, k, done, pc);
    const size = site.sizes[k]!;
    const v = h.loadSlow(address(lo, hi), size);
    if (size === 8) h.slots[HartArea.hiOut >>> 2] = h.hiOut;
    this.stopCheck(h, site);
    return v;
  };

  private readonly store = (
    id: number,
    k: number,
    done: number,
    pc: number,
    lo: number,
    hi: number,
    vlo: number,
    vhi: number,
  ): void => {
    const h = this.h!;
    const site = this.sites[id]!;
    this.at(h, site, k, done, pc);
    h.storeSlow(address(lo, hi), site.sizes[k]!, vlo, vhi);
    this.stopCheck(h, site);
  };
}

/** Blocks compiled per module (WasmTier.compile). */
const BATCH = 16;

/**
 * The batch's regions (emit.ts regionBody): blocks of one physical page that can reach each
 * other through static in-page exits (a loop over several blocks), as indices into `blocks`;
 * every other block alone. A region's entry loads every register its members use, so blocks
 * that merely share a page, entered for one pass each as most kernel code is, stay apart. A
 * block whose instruction straddles two pages stays alone too: its upper half's translation is
 * checked on every entry (engine/exec.ts CodeCache.blockAt), which a transition inside a region
 * would skip.
 */
function regions(blocks: readonly Queued[]): number[][] {
  const n = blocks.length;
  const at = new Map<number, number>();
  blocks.forEach((b, j) => {
    if (b.hi < 0) at.set(b.off, j);
  });
  // reach[i][j]: block j can run after block i, within the page, without leaving the batch.
  const reach = blocks.map(() => new Array<boolean>(n).fill(false));
  blocks.forEach((b, i) => {
    if (b.hi >= 0) return;
    for (const t of staticTargets(b)) {
      const j = at.get(t);
      if (j !== undefined) reach[i]![j] = true;
    }
  });
  for (let k = 0; k < n; k++)
    for (let i = 0; i < n; i++) if (reach[i]![k]) for (let j = 0; j < n; j++) if (reach[k]![j]) reach[i]![j] = true;
  const out: number[][] = [];
  const taken = new Array<boolean>(n).fill(false);
  for (let i = 0; i < n; i++) {
    if (taken[i]) continue;
    const group = [i];
    for (let j = i + 1; j < n; j++) if (!taken[j] && reach[i]![j] && reach[j]![i]) group.push(j);
    for (const j of group) taken[j] = true;
    out.push(group);
  }
  return out;
}

/** RAM offsets of block `b`'s static exits that stay in its page (branches, JAL, the fall-through). */
export function staticTargets(b: Queued): number[] {
  const out: number[] = [];
  for (let k = 0; k < b.count; k++) {
    const [kind, , , , w1] = entryAt(b.code, k);
    if (kind !== K.JAL && kind !== K.NEXT && (kind < K.BEQ || kind > K.BGEU)) continue;
    const inPage = (b.off & 0xfff) + w1;
    if (inPage >= 0 && inPage < 4096) out.push(b.off + w1);
  }
  return out;
}

/** A block as the tier takes it (engine/exec.ts Block). */
export interface Queued extends CompileInput {
  /** RAM offset of its first instruction. */
  readonly off: number;
  /** Set when its code was overwritten. */
  readonly dead: boolean;
  readonly hi: number;
  readonly hits: number;
  /** Waiting in the tier's queue. */
  queued: boolean;
  /** In a batch being compiled off the thread (WasmTier.flush). */
  compiling: boolean;
  /** Its table index once compiled (set by the tier), else -1. */
  wx: number;
}

/** A compiled block as the services see it: its ops, access sizes and last instruction's index. */
interface Site {
  readonly b: Queued;
  readonly sizes: readonly (1 | 2 | 4 | 8)[];
  readonly last: number;
}

/** Locals of `enter` (after its parameters idx, hb, pc, budget). */
const enum H {
  IDX,
  HB,
  PC,
  BUDGET,
  DONE,
  NPC,
  /** The execute TLB entry's address, then the jump cache entry's. */
  T,
  /** The next block's RAM offset. */
  OFF,
}

/** The body of `enter(idx, hb, pc, budget)`: run block idx, then chain (WasmTier) unless `jcAt` < 0. */
function hub(jcAt: number, jcMask: number): Code {
  const c = new Code();
  // Blocks take the pc as an i64: converted once here, not in every block's prologue.
  c.get(H.PC).op(Op.I64TruncF64S).set(H.NPC);
  c.open(Op.Loop);
  c.get(H.HB).get(H.NPC).get(H.BUDGET).get(H.DONE).get(H.IDX).op(Op.CallIndirect, 0, 0).set(H.DONE); // type 0, table 0
  if (jcAt >= 0) {
    c.open(Op.Block);
    c.get(H.DONE).get(H.BUDGET).op(Op.I32GeS).br(Op.BrIf, 0, Hint.Unlikely);
    c.get(H.HB).mem(Op.I32Load, 2, HartArea.stop).br(Op.BrIf, 0, Hint.Unlikely);
    // The next pc's RAM offset: given by the block for a static in-page exit (emitter.ts exitTo),
    // else through the execute TLB (Hart.fetchOffset's fast path).
    c.get(H.HB).mem(Op.I64Load, 3, HartArea.pc).set(H.NPC);
    c.get(H.HB).mem(Op.I32Load, 2, HartArea.next).tee(H.OFF).i32(0).op(Op.I32LtS).open(Op.If);
    tlbMatch(c, H.NPC, () => c.get(H.HB).mem(Op.I32Load, 2, HartArea.xtag), H.T, H.OFF);
    c.op(Op.I32Eqz).br(Op.BrIf, 1, Hint.Unlikely);
    tlbPage(c, H.T);
    c.get(H.OFF).i32(0xfff).op(Op.I32And).op(Op.I32Add).set(H.OFF);
    c.op(Op.End);
    // Its compiled block, if any.
    c.get(H.OFF);
    c.i32(1).op(Op.I32ShrU).i32(jcMask).op(Op.I32And).i32(3).op(Op.I32Shl).tee(H.T);
    c.mem(Op.I32Load, 2, jcAt).get(H.OFF).op(Op.I32Ne).br(Op.BrIf, 0, Hint.Unlikely);
    c.get(H.T)
      .mem(Op.I32Load, 2, jcAt + 4)
      .set(H.IDX);
    c.br(Op.Br, 1);
    c.op(Op.End);
  }
  c.op(Op.End);
  c.get(H.DONE);
  return c;
}

/**
 * Empty every page cache in the hart area whose slots `s` views (emitter.ts): a base no aligned
 * address has (every bit set, with offset bits).
 */
function forgetPages(s: Int32Array): void {
  s.fill(-1, HartArea.pages >>> 2, (HartArea.pages >>> 2) + 4 * PAGE_CACHES);
}

/** A virtual address from its low and high words, as the hart holds addresses (hart.ts). */
function address(lo: number, hi: number): number {
  return hi * 4294967296 + (lo >>> 0);
}

/** Write `pc` into the hart's pc slot (as compiled code leaves it). */
function setPc(h: Hart, pc: number): void {
  const s = h.slots;
  s[HartArea.pc >>> 2] = pc | 0;
  s[(HartArea.pc >>> 2) + 1] = Math.floor(pc / 4294967296) | 0;
}
