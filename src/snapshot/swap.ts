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
 */
import type { Machine } from "../machine/machine.js";
import { PAGE_SIZE } from "../machine/memory.js";

export interface SwapResult {
  /** Pages that held cached code. */
  codePages: number;
  /** Of those, the pages whose bytes the new RAM changed (their blocks dropped). */
  dropped: number;
  how: "mapped" | "copied";
  /** Host time of the mapping, and of the comparison after it. */
  mapMs: number;
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
  const t0 = performance.now();
  const how = ram.loadFrom(fd);
  const mapMs = performance.now() - t0;
  const now = bytes();
  let dropped = 0;
  pages.forEach((p, i) => {
    if (now.compare(before, i * PAGE_SIZE, (i + 1) * PAGE_SIZE, p * PAGE_SIZE, (p + 1) * PAGE_SIZE) !== 0) {
      m.cache.invalidatePage(p);
      dropped++;
    }
  });
  return { codePages: pages.length, dropped, how, mapMs, compareMs: performance.now() - t0 - mapMs };
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
