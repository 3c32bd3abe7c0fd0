/**
 * The execution engine: a cache of decoded blocks and the loop that runs them.
 *
 * A block is a run of instructions from one physical page, ending at the first instruction that
 * transfers control or changes machine state (see decode.ts), at the page end, or at MAX_BLOCK.
 * Blocks are keyed by the RAM offset of their first instruction, so one block serves every virtual
 * mapping of that code. While a block runs, `h.pc` holds the virtual address of its first
 * instruction; each op knows its own offset, and the last op sets the next pc.
 *
 * `Block.run` is the seam for a JIT: today every block runs through `interpret`; a compiler can
 * replace `run` with generated code for hot blocks without changing the loop.
 *
 * Self-modifying code (and DMA into code pages) is handled precisely: a page holding cached blocks
 * is marked in `GuestRam.codePages` and kept out of every write TLB, so the first store to it takes
 * the slow path, which drops the page's blocks (QEMU does the same with its TB invalidation).
 */
import type { GuestRam } from "../machine/memory.js";
import { decode } from "./decode.js";
import { TRAP, type Hart } from "./hart.js";
import type { Op } from "./ops-int.js";
import type { TlbSet } from "./tlb.js";

export const MAX_BLOCK = 128;
/** Runs after which a block is compiled. Compiling costs tens of microseconds; cold code never pays it. */
export const HOT_BLOCK = Number(process.env["CORRAL_HOT_BLOCK"] ?? 500);

/**
 * The first tier of the JIT: turn a block's ops into one function that calls each op directly.
 * Every call site in it then always calls the same closure, so V8 can inline the ops into the
 * block (the interpreter's `ops[i](h)` loop is one megamorphic call site that it never can).
 * The index of the op that is running is kept in a local so a trap can still name its pc.
 * A later tier can emit the instructions' semantics inline instead of calling the closures.
 */
export function compileBlock(b: Block): (h: Hart) => void {
  const names = b.ops.map((_, k) => `o${k}`);
  const body = names.map((n, k) => (k === 0 ? `${n}(h);` : `i = ${k}; ${n}(h);`)).join("\n    ");
  const src = `const [${names.join(", ")}] = ops;
return function block(h) {
  let i = 0;
  try {
    ${body}
  } catch (e) {
    h.faultIndex = i;
    throw e;
  }
};`;
  return new Function("ops", src)(b.ops) as (h: Hart) => void;
}

export class Block {
  /** Set when the page's code was overwritten: the block must never run again. */
  dead = false;
  /** Times the block ran; at HOT_BLOCK it is compiled (see compileBlock). */
  hits = 0;
  /** The compiled form, once hot: the same ops as straight-line direct calls. */
  run: ((h: Hart) => void) | null = null;
  // Two chain slots (a branch has two successors): the block that followed, for which pc, under
  // which exec TLB and generation. Following a chain skips the TLB and the cache lookup.
  c0: Block | null = null;
  pc0 = 0;
  s0: TlbSet | null = null;
  g0 = 0;
  c1: Block | null = null;
  pc1 = 0;
  s1: TlbSet | null = null;
  g1 = 0;
  constructor(
    /** The instructions' closures, plus a final "next pc" op when the block falls through. */
    readonly ops: Op[],
    /** Byte offset of each op from the block start (for trap pcs). */
    readonly offs: Int32Array,
    /** Number of guest instructions (the fall-through op is not one). */
    readonly n: number,
  ) {}
}

export class CodeCache {
  private readonly pages: (Map<number, Block> | undefined)[];
  constructor(
    private readonly ram: GuestRam,
    private readonly harts: () => readonly Hart[],
  ) {
    this.pages = new Array<Map<number, Block> | undefined>(ram.size >>> 12);
    ram.onCodeWrite = (p) => this.invalidatePage(p);
  }

  /** The block at the hart's pc; raises the fetch fault when the pc cannot be fetched. */
  lookup(h: Hart): Block {
    const pc = h.pc;
    const off = h.fetchOffset(pc);
    const page = off >>> 12;
    let m = this.pages[page];
    const hit = m?.get(off);
    if (hit) return hit;
    const built = this.build(h, off);
    if (built.cacheable) {
      if (!m) {
        m = new Map();
        this.pages[page] = m;
        this.ram.codePages[page] = 1;
        for (const other of this.harts()) other.protectCodePage(page);
      }
      m.set(off, built.block);
    }
    return built.block;
  }

  /** The block that runs after `prev` at the hart's pc: through prev's chain when still valid. */
  next(h: Hart, prev: Block | null): Block {
    if (prev === null) return this.lookup(h);
    const pc = h.pc;
    const xs = h.xset;
    let c = prev.c0;
    if (c !== null && prev.pc0 === pc && prev.s0 === xs && prev.g0 === xs.gen && !c.dead) return c;
    c = prev.c1;
    if (c !== null && prev.pc1 === pc && prev.s1 === xs && prev.g1 === xs.gen && !c.dead) return c;
    const b = this.lookup(h);
    // lookup may have filled the TLB but never flushes it, so the generation read above still holds.
    if (prev.c0 === null || prev.g0 !== xs.gen || prev.s0 !== xs) {
      prev.c0 = b;
      prev.pc0 = pc;
      prev.s0 = xs;
      prev.g0 = xs.gen;
    } else {
      prev.c1 = b;
      prev.pc1 = pc;
      prev.s1 = xs;
      prev.g1 = xs.gen;
    }
    return b;
  }

  invalidatePage(page: number): void {
    const m = this.pages[page];
    if (m) for (const b of m.values()) b.dead = true;
    this.pages[page] = undefined;
    this.ram.codePages[page] = 0;
  }

  invalidateAll(): void {
    for (const m of this.pages) if (m) for (const b of m.values()) b.dead = true;
    this.pages.fill(undefined);
    this.ram.codePages.fill(0);
  }

  private build(h: Hart, start: number): { block: Block; cacheable: boolean } {
    const u8 = this.ram.u8;
    const ops: Op[] = [];
    const offs: number[] = [];
    const pageEnd = (start | 0xfff) + 1;
    let p = start;
    let ended = false;
    let cacheable = true;
    while (ops.length < MAX_BLOCK && p < pageEnd) {
      const lo = u8[p]! | (u8[p + 1]! << 8);
      let dec;
      if ((lo & 3) !== 3) {
        dec = decode(lo, 2, p - start);
        offs.push(p - start);
        p += 2;
      } else if (p + 4 <= pageEnd) {
        dec = decode(lo | (u8[p + 2]! << 16) | (u8[p + 3]! << 24), 4, p - start);
        offs.push(p - start);
        p += 4;
      } else {
        // A 32-bit instruction straddling two pages: its upper half may live anywhere, so such a
        // block is decoded afresh each time and never cached.
        if (ops.length > 0) break;
        const hiOff = h.fetchOffset(h.pc + 2);
        const word = lo | (u8[hiOff]! << 16) | (u8[hiOff + 1]! << 24);
        dec = decode(word, 4, 0);
        offs.push(0);
        p += 4;
        cacheable = false;
      }
      ops.push(dec.op);
      if (dec.ends) {
        ended = true;
        break;
      }
    }
    const n = ops.length;
    if (!ended) {
      const len = p - start;
      ops.push((hh) => {
        hh.pc += len;
      });
      offs.push(len);
    }
    const block = new Block(ops, Int32Array.from(offs), n);
    // An uncached block is never chained to: nothing would mark it dead when its code changes.
    block.dead = !cacheable;
    return { block, cacheable };
  }
}

/**
 * Run `h` for about `budget` instructions (whole blocks), delivering interrupts between blocks.
 * Returns the number of instructions retired. Stops early when the hart sleeps (WFI) or stops.
 */
export function runHart(h: Hart, cache: CodeCache, budget: number): number {
  let done = 0;
  let b: Block | null = null;
  let i = 0;
  for (;;) {
    try {
      for (;;) {
        if (h.irqCheck) {
          if (h.pollInterrupts()) b = null;
          if (h.sleeping || h.state !== 0) return done;
        }
        if (done >= budget) return done;
        const prev = b;
        b = null; // a fetch fault below belongs to no block
        b = cache.next(h, prev);
        const run = b.run;
        if (run !== null) {
          run(h);
        } else {
          const ops = b.ops;
          const n = ops.length;
          for (i = 0; i < n; i++) ops[i]!(h);
          if (++b.hits === HOT_BLOCK && !b.dead) b.run = compileBlock(b);
        }
        done += b.n;
        h.instret += b.n;
      }
    } catch (e) {
      if (e !== TRAP) throw e;
      if (b !== null) {
        const k = b.run !== null ? h.faultIndex : i;
        h.pc += b.offs[k]!;
        done += k;
        h.instret += k;
      }
      b = null;
      h.enterTrap(h.trapCause, h.trapTval, false);
    }
  }
}
