/**
 * Swap a snapshot's RAM into a machine that already ran (a warm pool process's machine,
 * src/vm/pool-process.ts), keeping the code it cached where the code is the same.
 *
 * The code cache keys blocks by RAM offset (src/cpu/engine/exec.ts), so a block stays right for
 * as long as its page's bytes are the ones it was decoded from. The new RAM is mapped
 * copy-on-write from the snapshot's file over the old (GuestRam.loadFrom: no read, no copy); a
 * page that held cached code is compared before and after, and dropped from the cache only if
 * its bytes changed. Two snapshots of one image share the kernel's text, so a restore into a
 * warm machine starts with the kernel's hot paths already decoded and compiled.
 *
 * The pages the old RAM had written are faulted in writable again right after: the warm-up ran
 * what a restore runs (the clock, execs) from a snapshot of the same kind, so the restored guest's
 * first exec writes mostly the same pages (its kernel stacks, page tables, slab and free pages).
 * Each first write to a page of the new copy-on-write mapping is a host page fault, which on this
 * project's hosts (themselves VMs) costs 16 to 90 us; madvise(MADV_POPULATE_WRITE) copies the same
 * pages at about 2.5 us each. The pages it only read (about 4,000, against about 260 written) are
 * left to fault in: populating them too cost 10 to 30 ms more here and did not lower the first
 * exec's faults (docs/benchmarks.md, "Restore to its first exec").
 */
import type { Machine } from "../machine/machine.js";
import { PAGE_SIZE } from "../machine/memory.js";

export interface SwapResult {
  /** Pages that held cached code. */
  codePages: number;
  /** Of those, the pages whose bytes the new RAM changed (their blocks dropped). */
  dropped: number;
  how: "mapped" | "copied";
  /** Pages the old RAM had written, and how many of them were faulted in writable again. */
  written: number;
  populated: number;
  /** Host time of the mapping, of faulting the written pages in, and of the comparison after it. */
  mapMs: number;
  populateMs: number;
  compareMs: number;
}

/**
 * Make `m`'s RAM the contents of `fd` (a snapshot's RAM file, exactly RAM's size). Call while
 * the machine is paused; its harts' and devices' state is restored after (restore.ts).
 */
export function swapRam(m: Machine, fd: number): SwapResult {
  const ram = m.ram;
  const pages = codePages(ram.codePages);
  // RAM as a Buffer: Buffer.copy and Buffer.compare of a page take a microsecond; a typed
  // array's set() from a subarray of the wasm memory took 20 (measured: 570 pages, 13 ms of CPU).
  const bytes = (): Buffer => Buffer.from(ram.buffer, ram.byteOffset, ram.size);
  // The old bytes of the code pages only: a few MiB at most, not RAM.
  const before = Buffer.allocUnsafe(pages.length * PAGE_SIZE);
  const old = bytes();
  pages.forEach((p, i) => old.copy(before, i * PAGE_SIZE, p * PAGE_SIZE, (p + 1) * PAGE_SIZE));
  const written = ram.residentPages().written;
  const t0 = performance.now();
  const how = ram.loadFrom(fd);
  const t1 = performance.now();
  const populated = how === "mapped" ? ram.populate(written, true) : 0;
  const t2 = performance.now();
  const now = bytes();
  let dropped = 0;
  pages.forEach((p, i) => {
    if (now.compare(before, i * PAGE_SIZE, (i + 1) * PAGE_SIZE, p * PAGE_SIZE, (p + 1) * PAGE_SIZE) !== 0) {
      m.cache.invalidatePage(p);
      dropped++;
    }
  });
  return {
    codePages: pages.length,
    dropped,
    how,
    written: written.length,
    populated,
    mapMs: t1 - t0,
    populateMs: t2 - t1,
    compareMs: performance.now() - t2,
  };
}

/** The pages marked in `marks` (GuestRam.codePages), eight marks at a time: most are unmarked. */
function codePages(marks: Uint8Array): number[] {
  const pages: number[] = [];
  const whole = marks.byteOffset % 8 === 0 ? marks.length >>> 3 : 0;
  const words = new BigUint64Array(marks.buffer, marks.byteOffset, whole);
  for (let w = 0; w < whole; w++)
    if (words[w] !== 0n) for (let p = w * 8; p < w * 8 + 8; p++) if (marks[p]) pages.push(p);
  for (let p = whole * 8; p < marks.length; p++) if (marks[p]) pages.push(p);
  return pages;
}
