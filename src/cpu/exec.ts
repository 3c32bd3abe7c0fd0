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

export const MAX_BLOCK = 128;

export interface Block {
  /** The instructions' closures, plus a final "next pc" op when the block falls through. */
  readonly ops: Op[];
  /** Byte offset of each op from the block start (for trap pcs). */
  readonly offs: Int32Array;
  /** Number of guest instructions (the fall-through op is not one). */
  readonly n: number;
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

  invalidatePage(page: number): void {
    this.pages[page] = undefined;
    this.ram.codePages[page] = 0;
  }

  invalidateAll(): void {
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
    return { block: { ops, offs: Int32Array.from(offs), n }, cacheable };
  }
}

/**
 * Run `h` for about `budget` instructions (whole blocks), delivering interrupts between blocks.
 * Returns the number of instructions retired. Stops early when the hart sleeps (WFI) or stops.
 */
export function runHart(h: Hart, cache: CodeCache, budget: number): number {
  let done = 0;
  while (done < budget) {
    if (h.irqCheck) h.pollInterrupts();
    if (h.sleeping || h.state !== 0) break;
    let b: Block | null = null;
    let i = 0;
    try {
      b = cache.lookup(h);
      const ops = b.ops;
      const n = ops.length;
      for (; i < n; i++) ops[i]!(h);
      done += b.n;
      h.instret += b.n;
    } catch (e) {
      if (e !== TRAP) throw e;
      if (b !== null) {
        h.pc += b.offs[i]!;
        done += i;
        h.instret += i;
      }
      h.enterTrap(h.trapCause, h.trapTval, false);
    }
  }
  return done;
}
