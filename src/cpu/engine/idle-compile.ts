/**
 * Warm blocks, compiled while the machine idles.
 *
 * The wasm tier compiles a block once it has run CodeCache.hot (5,000) times in the interpreter:
 * below that, compiling (about 130 µs a block) costs more than it saves on the critical path.
 * But a VM that serves execs runs the same kernel and busybox paths a few to a few hundred times
 * an exec, and stays interpreted there for good: 53 % of a steady `exec true`'s guest
 * instructions (docs/benchmarks.md, "Where a steady `exec true` goes"). Between two execs its
 * harts wait in WFI and the host thread has nothing to do. So a block that reaches a lower mark
 * (WARM runs) is remembered here, and when every hart idles the machine (machine.ts idle) hands
 * the most recently warmed ones to the wasm tier's background compile, a chunk at a time, giving
 * the event loop a turn between chunks so that a request that arrives meanwhile waits for one
 * chunk's code generation at most.
 *
 * Bounded: each block is queued once (when its count passes the mark), and a credit of blocks
 * (CREDIT, refilled at REFILL_PER_S) caps the work over time, so that a guest whose idle path
 * keeps running new code cannot make an idle VM busy compiling.
 */
import type { Block } from "./exec.js";
import type { WasmTier } from "../wasm/tier.js";

/**
 * Interpreted runs that make a block warm. CORRAL_WARM_BLOCK overrides it (0: never). After 20
 * steady execs, blocks run 50 times or more held 95 % of the interpreter's instructions.
 */
export const WARM = Number(process.env["CORRAL_WARM_BLOCK"] ?? 100);
/** Blocks queued per idle step (one module, compiled off the thread). */
const CHUNK = Number(process.env["CORRAL_WARM_CHUNK"] ?? 32);
/** The most blocks compiled in a burst, and the rate the credit comes back at (about 1 % of a core). */
const CREDIT = 8192;
const REFILL_PER_S = 64;
/** Warm blocks remembered at most; the oldest go first (they ran least recently). */
const MAX_WARM = 16384;

export class WarmBlocks {
  private list: Block[] = [];
  private credit = CREDIT;
  private last = performance.now();
  /** Blocks handed to the wasm tier so far (the tests read it). */
  compiled = 0;

  add(b: Block): void {
    if (this.list.length >= MAX_WARM) this.list = this.list.slice(MAX_WARM >>> 1);
    this.list.push(b);
  }

  /** Forget every block (CodeCache.trim dropped them). */
  clear(): void {
    this.list = [];
  }

  get waiting(): number {
    return this.list.length;
  }

  /**
   * Queue up to CHUNK warm blocks that are still interpreted, the most recent first, and start
   * their compile. Returns how many were queued (0: nothing to do, or no credit left).
   */
  compileSome(tier: WasmTier): number {
    const now = performance.now();
    this.credit = Math.min(CREDIT, this.credit + ((now - this.last) * REFILL_PER_S) / 1000);
    this.last = now;
    // Solo blocks stay interpreted (CodeCache.compile); compiled or queued ones need nothing.
    this.list = this.list.filter((b) => !(b.dead || b.solo || b.wx >= 0 || b.run !== null || b.queued || b.compiling));
    // The most run first: they save the most per run to come.
    this.list.sort((a, b) => a.hits - b.hits);
    const n = Math.min(CHUNK, this.list.length, Math.floor(this.credit));
    if (n <= 0) return 0;
    for (const b of this.list.splice(this.list.length - n)) tier.enqueue(b);
    tier.flush(tier.compileOffThread);
    this.credit -= n;
    this.compiled += n;
    this.ms += performance.now() - now;
    return n;
  }
  ms = 0;
}
