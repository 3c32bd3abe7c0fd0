/**
 * Stores to pages holding decoded code (engine/exec.ts CodeCache.codeWritten): which of them may
 * drop only the blocks whose bytes they overwrite, and which drop the whole page.
 *
 * Why not always the whole page: Debian's kernel patches its own text while it boots (ftrace's
 * call sites, static keys, alternatives: `copy_to_kernel_nofault` through the text-patching
 * fixmap), one instruction at a time, into pages whose other functions already ran. Dropping the
 * page on each patch threw away 4,400 blocks a boot to /init, 2,250 of which were then built and
 * interpreted again (docs/benchmarks.md, "Code-page writes").
 *
 * Why not always only the overwritten blocks: a page that stays marked as code stays out of the
 * write TLBs, so every store to it takes the slow path. A page being filled (memset over freed
 * init code, a copy into a reused page) would pay that for every word. So a page falls back to
 * the whole-page drop once it has seen MAX_WRITES stores since it became code, or a run of
 * contiguous stores of FILL_RUN bytes: after that the page is data until code is built in it again.
 */
export const MAX_WRITES = 256;
export const FILL_RUN = 64;

export class CodeWrites {
  /** Stores seen per RAM page since its blocks were last dropped. */
  private readonly writes: Uint16Array;
  /** Per page: where the last store ended (in-page offset), and the bytes of the run it ended. */
  private readonly runEnd: Int16Array;
  private readonly runBytes: Uint16Array;

  constructor(pages: number) {
    this.writes = new Uint16Array(pages);
    this.runEnd = new Int16Array(pages).fill(-1);
    this.runBytes = new Uint16Array(pages);
  }

  /** Page `page` was dropped or is new code: start counting afresh. */
  reset(page: number): void {
    this.writes[page] = 0;
    this.runEnd[page] = -1;
    this.runBytes[page] = 0;
  }

  /** Count a store of `size` bytes at in-page offset `inPage`; true when the whole page should go. */
  wholePage(page: number, inPage: number, size: number): boolean {
    const n = this.writes[page]! + 1;
    this.writes[page] = n;
    const run = this.runEnd[page] === inPage ? this.runBytes[page]! + size : size;
    this.runBytes[page] = Math.min(run, FILL_RUN);
    this.runEnd[page] = inPage + size;
    return n >= MAX_WRITES || run >= FILL_RUN;
  }
}

/** What overlap needs of a block (engine/exec.ts Block). */
export interface Span {
  readonly off: number;
  /** RAM offset just past its last byte in its own page (past the page end when it straddles). */
  readonly end: number;
  /** For an instruction straddling two pages: the RAM offset of its upper half, else -1. */
  readonly hi: number;
}

/** Whether RAM bytes [lo, hi) hold any of block `b`'s bytes. */
export function overlaps(b: Span, lo: number, hi: number): boolean {
  return (b.off < hi && lo < b.end) || (b.hi >= 0 && b.hi < hi && lo < b.hi + 2);
}
