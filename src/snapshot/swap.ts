/**
 * Swap a snapshot's RAM into a machine that already ran (a warm pool process's machine,
 * src/vm/pool-process.ts), keeping the code it cached where the code is the same.
 *
 * The code cache keys blocks by RAM offset (src/cpu/engine/exec.ts), so a block stays right for
 * as long as its page's bytes are the ones it was decoded from. Before the new RAM is mapped, the
 * new bytes of every page that holds cached code are read from the snapshot's file (pread, a few
 * dozen calls for the ~600 pages, changedPages) and compared with the old RAM, still mapped; a page whose bytes
 * differ loses its blocks. Then the file is mapped copy-on-write over the old RAM
 * (GuestRam.loadFrom: no read, no copy). Two snapshots of one image share the kernel's text, so a
 * restore into a warm machine starts with the kernel's hot paths already decoded and compiled.
 * Reading the file rather than the new mapping spares a host page fault per code page (16 to 90
 * us each on this project's hosts, themselves VMs; docs/benchmarks.md, "Fork in 100 ms"): a
 * cached block never reads its page again, so most of those pages are never touched at all.
 *
 * The pages the old RAM had written are faulted in writable again right after: the warm-up ran
 * what a restore runs (the clock, execs) from a snapshot of the same kind, so the restored guest's
 * first exec writes mostly the same pages (its kernel stacks, page tables, slab and free pages).
 * Each first write to a page of the new copy-on-write mapping is a host page fault;
 * madvise(MADV_POPULATE_WRITE) copies the same pages at about 2.5 us each. The pages it only read
 * (about 4,000, against about 300 written) are left to fault in: populating them too cost 10 to
 * 30 ms more and did not lower the first exec's faults (docs/benchmarks.md, "Restore to its first
 * exec"). A pool process finds the written pages while it waits (`written`), not once taken.
 */
import { readSync } from "node:fs";
import type { Machine } from "../machine/machine.js";
import { PAGE_SIZE } from "../machine/memory.js";
import { markFileData } from "../sys/mem.js";

export interface SwapResult {
  /** Pages that held cached code. */
  codePages: number;
  /** Of those, the pages whose bytes the new RAM changed (their blocks dropped). */
  dropped: number;
  how: "mapped" | "copied";
  /** Pages the old RAM had written, and how many of them were faulted in writable again. */
  written: number;
  populated: number;
  /** Host time of the comparison (reading the file's code pages), of the mapping, and of faulting the written pages in. */
  compareMs: number;
  mapMs: number;
  populateMs: number;
}

/**
 * Make `m`'s RAM the contents of `fd` (a snapshot's RAM file, exactly RAM's size). Call while
 * the machine is paused; its harts' and devices' state is restored after (restore.ts).
 * `written`: the RAM pages the machine wrote since its RAM was last mapped (GuestRam.residentPages),
 * when the caller found them ahead of time; found now otherwise. `overlay`: a later fork's pages
 * written since its first (format.ts ramOverlay), laid over `fd`'s.
 */
export function swapRam(m: Machine, fd: number, written?: readonly number[], overlay?: number): SwapResult {
  const ram = m.ram;
  const t0 = performance.now();
  const pages = codePages(ram.codePages);
  // RAM as a Buffer: Buffer.compare of a page takes a microsecond; a typed array's element loop
  // or set() from a subarray of the wasm memory took 20 (measured: 570 pages, 13 ms of CPU).
  const old = Buffer.from(ram.buffer, ram.byteOffset, ram.size);
  let over: Uint8Array | undefined;
  if (overlay !== undefined) markFileData(overlay, (over = new Uint8Array(ram.size / PAGE_SIZE)), PAGE_SIZE);
  const changed = changedPages(
    fd,
    pages,
    old,
    overlay !== undefined && over ? { fd: overlay, pages: over } : undefined,
  );
  const toPopulate = written ?? ram.residentPages().written;
  const t1 = performance.now();
  const how = ram.loadFrom(fd, overlay);
  const t2 = performance.now();
  const populated = how === "mapped" ? ram.populate(toPopulate, true) : 0;
  const t3 = performance.now();
  for (const p of changed) m.cache.invalidatePage(p);
  return {
    codePages: pages.length,
    dropped: changed.length,
    how,
    written: toPopulate.length,
    populated,
    compareMs: t1 - t0,
    mapMs: t2 - t1,
    populateMs: t3 - t2,
  };
}

/**
 * How the file's code pages are read: a span of at most SPAN pages per pread, taking in the pages
 * between two code pages when fewer than GAP lie between them. A system call costs 12 to 30 us on
 * this project's hosts (themselves VMs: 600 one-page preads took 7 to 18 ms), copying a page
 * about 0.3 us, so reading a gap of up to 32 pages is cheaper than a call more.
 */
const SPAN = 64;
const GAP = 32;

let spanBuffer: Buffer | undefined;
/**
 * The buffer the file's code pages are read into, made (and its pages touched: a fresh buffer's
 * first touch is a host page fault per page) once per process; a pool process makes it while
 * it waits (pool-process.ts).
 */
export function swapBuffer(): Buffer {
  return (spanBuffer ??= Buffer.alloc(SPAN * PAGE_SIZE));
}

/**
 * The pages of `pages` (ascending) whose bytes in the file `fd` differ from `old`'s (RAM now),
 * one pread per span of nearby pages; a page `overlay` marks is read from its file instead (a
 * later fork's: few pages). A page the file cannot give whole counts as changed.
 */
function changedPages(
  fd: number,
  pages: readonly number[],
  old: Buffer,
  overlay?: { fd: number; pages: Uint8Array },
): number[] {
  const buf = swapBuffer();
  const changed: number[] = [];
  for (let i = 0; i < pages.length;) {
    const first = pages[i]!;
    let j = i + 1;
    while (j < pages.length && pages[j]! - pages[j - 1]! <= GAP && pages[j]! < first + SPAN) j++;
    const len = (pages[j - 1]! + 1 - first) * PAGE_SIZE;
    let got = 0;
    while (got < len) {
      const n = readSync(fd, buf, got, len - got, first * PAGE_SIZE + got);
      if (n <= 0) break;
      got += n;
    }
    for (let k = i; k < j; k++) {
      const p = pages[k]!;
      const o = (p - first) * PAGE_SIZE;
      if (
        overlay?.pages[p] &&
        o + PAGE_SIZE <= got &&
        readSync(overlay.fd, buf, o, PAGE_SIZE, p * PAGE_SIZE) !== PAGE_SIZE
      ) {
        changed.push(p);
        continue;
      }
      if (o + PAGE_SIZE > got || buf.compare(old, p * PAGE_SIZE, (p + 1) * PAGE_SIZE, o, o + PAGE_SIZE) !== 0)
        changed.push(p);
    }
    i = j;
  }
  return changed;
}

/** The pages marked in `marks` (GuestRam.codePages), four marks at a time: most are unmarked. */
function codePages(marks: Uint8Array): number[] {
  const pages: number[] = [];
  const whole = marks.byteOffset % 4 === 0 ? marks.length >>> 2 : 0;
  const words = new Uint32Array(marks.buffer, marks.byteOffset, whole);
  for (let w = 0; w < whole; w++)
    if (words[w] !== 0) for (let p = w * 4; p < w * 4 + 4; p++) if (marks[p]) pages.push(p);
  for (let p = whole * 4; p < marks.length; p++) if (marks[p]) pages.push(p);
  return pages;
}
