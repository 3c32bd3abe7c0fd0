/**
 * Compiled code shared between the harts' threads (issue 17 item 2). Each hart's thread has a code
 * cache and a wasm tier of its own (hart-worker.ts), so without this a boot on 4 harts decoded and
 * compiled the kernel's hot code 4 times. Now every batch a hart's tier compiles
 * (WasmTier.onBatch) is posted, as its WebAssembly.Module (structured clone shares V8's compiled
 * code between threads, it is not compiled again), to every other hart's thread, which takes it
 * between slices (receiveMessageOnPort: a hart's loop never returns to its event loop).
 *
 * A hart runs another hart's function only as its own blocks (CodeCache.blockFor: built from RAM
 * as they are now, its page marked as holding this hart's code) whose decoded code is the same as
 * the code the function was compiled from: the function is then exactly what this hart's tier
 * would compile for them (the emitter reads nothing else of a block but its RAM offset). So
 * invalidation stays each hart's own and stays exact (code-sync.ts): a write to the page by any
 * hart or device kills this hart's blocks, their functions with them, at this hart's next FENCE.I
 * at the latest (Zifencei; SBI remote_fence_i for the others), as for code it compiled itself.
 * Code written after the other hart compiled and before this hart built its blocks does not
 * match, and this hart compiles its own.
 */
import { receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import { MAX_BLOCK, type Block, type CodeCache } from "../../cpu/engine/exec.js";
import type { Hart } from "../../cpu/hart/hart.js";
import type { Queued } from "../../cpu/wasm/tier.js";

/** One function of a shared batch: its export and its blocks (one, or a region's members). */
interface SharedFn {
  readonly name: string;
  /** Each block's RAM offset, slot in the compiling tier, decoded code and op offsets. */
  readonly offs: number[];
  readonly ids: number[];
  readonly codes: Int32Array[];
  readonly opOffs: Int32Array[];
}

/** What a hart's thread posts for each batch it compiled. */
interface SharedBatch {
  readonly module: WebAssembly.Module;
  readonly fns: SharedFn[];
}

interface Pending {
  readonly module: WebAssembly.Module;
  readonly fn: SharedFn;
}

export class CodeShare {
  /** Functions other harts compiled, by the RAM offset of each of their blocks (the latest wins). */
  private readonly pending = new Map<number, Pending>();
  /** Adopting (blockFor builds blocks, which asks adopt again). */
  private busy = false;
  /** Functions this hart took from others, and blocks they run. */
  adopted = 0;
  adoptedBlocks = 0;

  constructor(
    /** One port to each other hart's thread. */
    private readonly ports: readonly MessagePort[],
    private readonly cache: CodeCache,
    private readonly h: Hart,
  ) {
    const wasm = cache.wasm;
    if (wasm === null) return;
    wasm.onBatch = (module, blocks, idxs, fn) => this.publish(module, blocks, idxs, fn);
    cache.adopt = (b) => this.adoptAt(b);
  }

  /** Post a batch this hart compiled to the others. */
  private publish(
    module: WebAssembly.Module,
    blocks: readonly Queued[],
    idxs: readonly number[],
    fn: readonly number[],
  ): void {
    const byFn = new Map<number, number[]>();
    blocks.forEach((_, j) => {
      const f = fn[j]!;
      const js = byFn.get(f);
      if (js === undefined) byFn.set(f, [j]);
      else js.push(j);
    });
    const fns: SharedFn[] = [];
    for (const [f, js] of byFn) {
      // A block killed while its batch compiled, or one whose instruction straddles two pages
      // (its upper half's page is this hart's translation), stays this hart's.
      if (js.some((j) => blocks[j]!.dead || blocks[j]!.hi >= 0 || (blocks[j]!.off & 0xfff) === 0xffe)) continue;
      fns.push({
        name: `f${f}`,
        offs: js.map((j) => blocks[j]!.off),
        ids: js.map((j) => idxs[j]!),
        codes: js.map((j) => blocks[j]!.code),
        opOffs: js.map((j) => blocks[j]!.offs),
      });
    }
    if (fns.length === 0) return;
    const batch: SharedBatch = { module, fns };
    for (const p of this.ports) p.postMessage(batch);
  }

  /** Take what the other harts posted; adopt at once the functions of blocks this hart has. */
  poll(): void {
    for (const port of this.ports)
      for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
        const { module, fns } = m.message as SharedBatch;
        for (const fn of fns) {
          const p: Pending = { module, fn };
          for (const off of fn.offs) this.pending.set(off, p);
          if (fn.offs.some((off) => this.cache.cached(off) !== undefined)) this.take(p);
        }
      }
  }

  /** Block `b` was built or is hot: run another hart's function for it, if one matches. */
  private adoptAt(b: Block): boolean {
    const p = this.pending.get(b.off);
    return p !== undefined && this.take(p) && b.wx >= 0;
  }

  /** Adopt `p`'s function if this hart's blocks at its offsets hold the same code; forget it either way. */
  private take(p: Pending): boolean {
    if (this.busy) return false;
    const { fn } = p;
    for (const off of fn.offs) if (this.pending.get(off) === p) this.pending.delete(off);
    // Room for every block built below: a cache whose tables fill up flushes every block
    // (CodeCache.blockAt), the one the run loop is about to run among them.
    if (!this.cache.tables.fits((MAX_BLOCK + 1) * fn.offs.length)) return false;
    this.busy = true;
    try {
      const blocks: Block[] = [];
      for (let j = 0; j < fn.offs.length; j++) {
        const b = this.cache.blockFor(this.h, fn.offs[j]!);
        if (b.wx >= 0 || b.compiling || b.solo || b.hi >= 0) return false;
        if (!same(b.code, fn.codes[j]!) || !same(b.offs, fn.opOffs[j]!)) return false;
        blocks.push(b);
      }
      // Building a later block may have flushed the cache (CodeCache.blockAt, full tables).
      if (blocks.some((b) => b.dead)) return false;
      this.cache.wasm!.adopt(p.module, fn.name, blocks, fn.ids);
      this.adopted++;
      this.adoptedBlocks += blocks.length;
      return true;
    } finally {
      this.busy = false;
    }
  }
}

function same(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
