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
import { Code, encodeModule, Op, T } from "./encoder.js";
import { blockBody, crossBody, regionBody, RUN_TYPE, type Body } from "./emit.js";
import { LOCALS, MIN_PAGES, SERVICES, tlbMatch, tlbPage } from "./emitter.js";
import { HartArea, jumpCacheEntries, STOP_IRQ, STOP_REMOTE } from "./layout.js";

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

  constructor(memory: WebAssembly.Memory, jcAt: number) {
    const entries = jumpCacheEntries(jcAt);
    this.jcMask = entries - 1;
    this.jc = jcAt >= 0 ? new Int32Array(memory.buffer, jcAt, 2 * entries).fill(-1) : null;
    this.shared = memory.buffer instanceof SharedArrayBuffer;
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
    this.hot = hot;
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
    // A queued block made a region's member meanwhile (`plan`) is compiled already.
    const blocks = this.queue.filter((b) => !b.dead && b.wx < 0);
    for (const b of this.queue) b.queued = false;
    this.queue = [];
    if (blocks.length === 0) return;
    const fns: RegionFn[] = [];
    const bodies: Body[] = [];
    for (const p of plan(blocks, this.hot)) {
      const slots = p.members.map(() => this.slot());
      let body: Body | null = null;
      if (p.members.length > 1) body = p.extended ? crossBody(p.members, slots) : regionBody(p.members, slots);
      if (body !== null) {
        fns.push({ members: p.members, slots, owned: p.owned, entries: 0, dead: false });
        bodies.push(body);
        continue;
      }
      // A region that cannot hold its registers: its blocks of the batch alone.
      p.members.forEach((b, j) => {
        if (!p.owned[j]) return void this.free.push(slots[j]!);
        fns.push({ members: [b], slots: [slots[j]!], owned: [true], entries: 0, dead: false });
        bodies.push(blockBody(b, slots[j]!));
      });
    }
    const bytes = encodeModule({
      imports: SERVICES,
      memoryPages: MIN_PAGES,
      sharedMemory: this.shared,
      funcs: bodies.map(({ code, regLocals }, f) => ({
        type: RUN_TYPE,
        locals: [...LOCALS, ...new Array<T>(regLocals).fill(T.I64)],
        code,
        export: `f${f}`,
      })),
    });
    if (!offThread) {
      this.install(fns, new WebAssembly.Module(bytes));
      return;
    }
    for (const b of blocks) b.compiling = true;
    const gen = this.generation;
    WebAssembly.compile(bytes).then(
      (module) => {
        for (const b of blocks) b.compiling = false;
        // Blocks dropped meanwhile (CodeCache.trim): their slots were forgotten with them.
        if (gen === this.generation) this.install(fns, module);
      },
      (e: unknown) => {
        for (const b of blocks) b.compiling = false;
        this.failure = e instanceof Error ? e : new Error(String(e));
      },
    );
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

  /** Runs of a block before it is compiled, as the code cache last said (`compile`). */
  private hot = 1;

  /**
   * Put a compiled batch in the table: function f is export `f${f}`, one slot per member. A
   * function any of whose members was killed while the batch compiled (its code was rewritten) is
   * never installed: its slots are given back, and its blocks of the batch stay interpreted (and
   * queue again). A member becomes the function's entry for its block (Block.wx, the jump cache)
   * when it is of the batch or not compiled yet; a member compiled elsewhere keeps its own entry,
   * and is only a copy here, reached from the other members.
   */
  private install(fns: readonly RegionFn[], module: WebAssembly.Module): void {
    const exports = new WebAssembly.Instance(module, this.imports).exports;
    fns.forEach((fn, f) => {
      if (fn.members.some((b) => b.dead)) {
        for (const idx of fn.slots) this.free.push(idx);
        fn.dead = true;
        return;
      }
      const func = exports[`f${f}`];
      fn.members.forEach((b, j) => {
        const idx = fn.slots[j]!;
        this.table.set(idx, func);
        this.sites[idx] = {
          b,
          fn,
          sizes: Array.from({ length: b.count }, (_, k) => SIZES[kindAt(b.code, k)] ?? 0) as (1 | 2 | 4 | 8)[],
          last: b.n - 1,
        };
        b.fns = b.fns === null ? [fn] : [...b.fns.filter((g) => !g.dead), fn];
        if (fn.owned[j] || b.wx < 0) this.own(b, idx, fn);
      });
    });
  }

  /** Make slot `idx` of function `fn` block `b`'s entry, instead of any it had. */
  private own(b: Queued, idx: number, fn: RegionFn): void {
    if (b.wx >= 0) {
      const old = this.sites[b.wx]?.fn;
      if (old !== undefined && --old.entries === 0) this.drop(old);
    }
    fn.entries++;
    // A block whose instruction straddles two pages stays out of the jump cache, as it stays
    // out of CodeCache's.
    if (this.jc !== null && b.hi < 0) {
      const e = 2 * ((b.off >>> 1) & this.jcMask);
      this.jc[e] = b.off;
      this.jc[e + 1] = idx;
    }
    b.wx = idx;
  }

  /** Whether table entries `a` and `b` hold the same function (one region's blocks). */
  sameFunction(a: number, b: number): boolean {
    return this.table.get(a) === this.table.get(b);
  }

  /** Whether the function at table entry `idx` runs block `b`'s code (a region's member, or a copy of it). */
  holds(idx: number, b: Queued): boolean {
    const fn = this.sites[idx]?.fn;
    return fn !== undefined && !fn.dead && fn.members.includes(b);
  }

  /**
   * Block `b` is dead (its code was overwritten): give back every function holding its code. Their
   * other members' entries go with them (those blocks run interpreted until compiled again); a
   * function running one of them stops at its next block boundary (the stop slot, `stopCheck`).
   */
  release(b: Queued): void {
    for (const fn of b.fns ?? []) if (!fn.dead) this.drop(fn);
    b.fns = null;
    b.wx = -1;
  }

  /** Give back function `fn`: its members' entries into it and its slots. */
  private drop(fn: RegionFn): void {
    fn.dead = true;
    const jc = this.jc;
    fn.members.forEach((m, j) => {
      const idx = fn.slots[j]!;
      if (m.wx === idx) {
        m.wx = -1;
        if (jc !== null) {
          const e = 2 * ((m.off >>> 1) & this.jcMask);
          if (jc[e] === m.off && jc[e + 1] === idx) jc[e] = -1;
        }
      }
      this.table.set(idx, null);
      this.free.push(idx);
    });
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
    s[HartArea.stop >>> 2] = hart.irqCheck ? 1 : 0;
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
    h.pc = pc;
    h.instret = this.instret0 + done;
    h.faultIndex = k;
    h.faultOffs = site.b.offs;
    h.faultDone = done;
  }

  private stopCheck(h: Hart, site: Site): void {
    if (h.irqCheck || site.b.dead || site.fn.dead) h.slots[HartArea.stop >>> 2] = 1;
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
function staticTargets(b: Queued): number[] {
  const out: number[] = [];
  for (let k = 0; k < b.count; k++) {
    const [kind, , , , w1] = entryAt(b.code, k);
    if (kind !== K.JAL && kind !== K.NEXT && (kind < K.BEQ || kind > K.BGEU)) continue;
    const inPage = (b.off & 0xfff) + w1;
    if (inPage >= 0 && inPage < 4096) out.push(b.off + w1);
  }
  return out;
}

/**
 * One function of the table: the blocks whose code it holds (`members`, one slot each, every
 * slot's table entry the function) and how many of them enter by it (their Block.wx is its slot).
 * Dead once any member's code was overwritten, or when no block enters by it any more.
 */
export interface RegionFn {
  readonly members: readonly Queued[];
  readonly slots: readonly number[];
  /** Members of the batch that compiled it (their entry is this function). */
  readonly owned: readonly boolean[];
  entries: number;
  dead: boolean;
}

/**
 * Whether batches grow into regions across indirect jumps and pages (`plan`), and blocks record
 * the successors that needs (engine/exec.ts Block.succ): CORRAL_JALR_REGIONS=1. Off by default:
 * on Debian's python3 bench it saved no CPU measurable on this machine (docs/benchmarks.md,
 * "Regions across indirect jumps"). `copies`: most blocks from outside a batch (compiled
 * elsewhere, or hot and not yet compiled) compiled again with it as members
 * (CORRAL_REGION_COPIES, 0 by default): 16 a batch cost 1.1-1.5x the run's CPU (compiling, on
 * V8's threads). Tests turn both on.
 */
export const JALR_REGIONS = {
  on: process.env["CORRAL_JALR_REGIONS"] === "1",
  copies: Number(process.env["CORRAL_REGION_COPIES"] ?? 0),
};

/** Most blocks in one function of a region across indirect jumps (`plan`). */
const MAX_MEMBERS = 32;

/** A function to emit: its members, whether each is of the batch, and whether it grew past the batch's static region. */
interface Planned {
  members: Queued[];
  owned: boolean[];
  extended: boolean;
}

/**
 * The batch's functions. Blocks of the batch that reach each other, statically in a page
 * (`regions`) or through the successors they recorded while interpreted (Block.succ, l0, l1: the
 * targets of indirect jumps, a bytecode dispatch or a return, and of exits to other pages), share
 * one function; hot successors from outside the batch (compiled already, queued, or run at least
 * half the compile threshold) join it too, as copies when compiled elsewhere. Such a function
 * (emit.ts crossBody) finds the RAM offset of every exit's target through the execute TLB, as the
 * hub does, and continues at a member there without the hub. Members' page offsets differ: the
 * entry finds its member by the pc's (emit.ts).
 */
function plan(batch: readonly Queued[], hot: number): Planned[] {
  if (!JALR_REGIONS.on)
    return regions(batch).map((g) => ({ members: g.map((j) => batch[j]!), owned: g.map(() => true), extended: false }));
  const index = new Map<Queued, number>(batch.map((b, j) => [b, j]));
  const up = batch.map((_, j) => j);
  const root = (j: number): number => {
    while (up[j] !== j) j = up[j] = up[up[j]!]!;
    return j;
  };
  const join = (a: number, b: number): void => void (up[root(a)] = root(b));
  const groups = regions(batch);
  for (const g of groups) for (const j of g) join(j, g[0]!);
  const successors = (b: Queued): Queued[] => [b.l0, b.l1, ...(b.succ ?? [])].filter((t) => t !== null);
  batch.forEach((b, j) => {
    for (const t of successors(b)) {
      const k = index.get(t);
      if (k !== undefined) join(j, k);
    }
  });
  const comps = new Map<number, number[]>();
  batch.forEach((_, j) => {
    const r = root(j);
    const c = comps.get(r);
    if (c === undefined) comps.set(r, [j]);
    else c.push(j);
  });
  const out: Planned[] = [];
  let copies = 0;
  for (const comp of comps.values()) {
    // A component that is one static region (or one block) and reaches nothing else hot stays as before.
    const members: Queued[] = [];
    const pageOffs = new Set<number>();
    for (const j of comp) {
      const b = batch[j]!;
      if (b.hi >= 0 || members.length >= MAX_MEMBERS || pageOffs.has(b.off & 0xfff))
        out.push({ members: [b], owned: [true], extended: false });
      else {
        members.push(b);
        pageOffs.add(b.off & 0xfff);
      }
    }
    const owned = members.map(() => true);
    const seeds = members.length;
    for (let i = 0; i < seeds && copies < JALR_REGIONS.copies; i++)
      for (const t of successors(members[i]!)) {
        if (members.length >= MAX_MEMBERS || copies >= JALR_REGIONS.copies) break;
        if (index.has(t) || members.includes(t) || t.dead || t.hi >= 0 || t.solo || pageOffs.has(t.off & 0xfff))
          continue;
        if (!(t.wx >= 0 || t.queued || t.compiling || t.hits >= hot >> 1)) continue;
        members.push(t);
        owned.push(false);
        pageOffs.add(t.off & 0xfff);
        copies++;
      }
    const oneRegion = groups.some((g) => g.length === members.length && g.every((j) => members.includes(batch[j]!)));
    out.push({ members, owned, extended: !oneRegion });
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
  /** Never linked or compiled (engine/exec.ts). */
  readonly solo: boolean;
  /** Its successor profile (engine/exec.ts Block.succ, l0, l1). */
  readonly succ: readonly Queued[] | null;
  readonly l0: Queued | null;
  readonly l1: Queued | null;
  /** The functions holding a copy of its code, kept by the tier. */
  fns: RegionFn[] | null;
}

/** A compiled block as the services see it: its ops, access sizes and last instruction's index. */
interface Site {
  readonly b: Queued;
  /** The function its code is in: dead, the function must stop at its next block boundary. */
  readonly fn: RegionFn;
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
    c.get(H.DONE).get(H.BUDGET).op(Op.I32GeS).br(Op.BrIf, 0);
    c.get(H.HB).mem(Op.I32Load, 2, HartArea.stop).br(Op.BrIf, 0);
    // The next pc's RAM offset: given by the block for a static in-page exit (emitter.ts exitTo),
    // else through the execute TLB (Hart.fetchOffset's fast path).
    c.get(H.HB).mem(Op.I64Load, 3, HartArea.pc).set(H.NPC);
    c.get(H.HB).mem(Op.I32Load, 2, HartArea.next).tee(H.OFF).i32(0).op(Op.I32LtS).open(Op.If);
    tlbMatch(c, H.NPC, () => c.get(H.HB).mem(Op.I32Load, 2, HartArea.xtag), H.T, H.OFF);
    c.op(Op.I32Eqz).br(Op.BrIf, 1);
    tlbPage(c, H.T);
    c.get(H.OFF).i32(0xfff).op(Op.I32And).op(Op.I32Add).set(H.OFF);
    c.op(Op.End);
    // Its compiled block, if any.
    c.get(H.OFF);
    c.i32(1).op(Op.I32ShrU).i32(jcMask).op(Op.I32And).i32(3).op(Op.I32Shl).tee(H.T);
    c.mem(Op.I32Load, 2, jcAt).get(H.OFF).op(Op.I32Ne).br(Op.BrIf, 0);
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
