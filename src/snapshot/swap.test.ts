// Swapping a snapshot's RAM into a machine that already ran (swap.ts), with a real machine, real
// cached blocks and a real memory file mapped over RAM: a code page whose bytes the new RAM
// changes loses its blocks and the hart runs the new code; a code page whose bytes stay keeps its
// very blocks; every other page reads as the file; the pages given as written are faulted in;
// and RAM is a private copy of the file: writes after the swap never reach it. A later fork's
// overlay is compared and mapped together with its base.
import assert from "node:assert/strict";
import { closeSync, readSync, writeSync } from "node:fs";
import { test } from "node:test";
import { Machine } from "../machine/machine.js";
import { GuestRam, PAGE_SIZE, RAM_BASE } from "../machine/memory.js";
import { runHart } from "../cpu/engine/exec.js";
import { createMemoryFile } from "../sys/mem.js";
import { swapRam } from "./swap.js";

const ADDI = (rd: number, rs: number, imm: number): number => ((imm & 0xfff) << 20) | (rs << 15) | (rd << 7) | 0x13;
const J_SELF = 0x6f; // jal x0, 0
const SIZE = 1 << 20;
/** Two code pages, far apart (two reads of the file), and a data page. */
const CHANGED = 0x10;
const KEPT = 0xc0;
const DATA = 0x40;

/** `addi x10, x0, v; jal x0, 0` at page `p` of `u8`. */
function program(u8: Uint8Array, p: number, v: number): void {
  const view = new DataView(u8.buffer, u8.byteOffset + p * PAGE_SIZE, 8);
  view.setInt32(0, ADDI(10, 0, v), true);
  view.setInt32(4, J_SELF, true);
}

/** Run the hart from page `p` for a few instructions; x10 after. */
function runFrom(m: Machine, p: number): number {
  const h = m.harts[0]!;
  h.pc = RAM_BASE + p * PAGE_SIZE;
  runHart(h, m.cache, 50);
  return h.x[20]!;
}

/** A machine that has run code at CHANGED (x20 = 1) and KEPT (x20 = 3), and KEPT's cached block. */
function ranBoth(): { m: Machine; kept: ReturnType<Machine["cache"]["lookup"]> } {
  const m = new Machine(new GuestRam(SIZE), 1, () => {});
  m.harts[0]!.openPmp();
  program(m.ram.u8, CHANGED, 1);
  program(m.ram.u8, KEPT, 3);
  m.cache.invalidateAll();
  assert.equal(runFrom(m, CHANGED), 1);
  assert.equal(runFrom(m, KEPT), 3);
  return { m, kept: m.cache.lookup(m.harts[0]!) };
}

test("swapRam keeps the blocks of unchanged code pages, drops changed ones, and maps the file privately", () => {
  const { m, kept } = ranBoth();
  assert.ok(m.ram.codePages[CHANGED] && m.ram.codePages[KEPT], "both pages hold cached code");

  // The snapshot's RAM: the same bytes at KEPT, new code at CHANGED, data at DATA.
  const image = new Uint8Array(SIZE);
  program(image, CHANGED, 2);
  program(image, KEPT, 3);
  image.fill(0x5a, DATA * PAGE_SIZE, (DATA + 1) * PAGE_SIZE);
  const fd = createMemoryFile("swap-test", SIZE);
  try {
    writeSync(fd, image, 0, SIZE, 0);
    const r = swapRam(m, fd, [DATA, DATA + 1]);
    assert.equal(r.how, "mapped");
    assert.equal(r.codePages, 2);
    assert.equal(r.dropped, 1);
    assert.equal(r.populated, 2);
    assert.equal(Buffer.compare(Buffer.from(m.ram.u8), Buffer.from(image)), 0, "RAM reads as the file");
    assert.equal(m.ram.codePages[CHANGED], 0, "the changed page's blocks are gone");
    assert.equal(runFrom(m, CHANGED), 2, "the new code runs, not the block of the old");
    assert.equal(runFrom(m, KEPT), 3);
    assert.equal(m.cache.lookup(m.harts[0]!), kept, "the unchanged page's block is the very one cached before");

    // Copy-on-write: the guest's writes stay in this machine.
    m.ram.fill(RAM_BASE + DATA * PAGE_SIZE, 16, 0xee);
    const back = Buffer.alloc(16);
    readSync(fd, back, 0, 16, DATA * PAGE_SIZE);
    assert.deepEqual([...back], new Array<number>(16).fill(0x5a));
  } finally {
    closeSync(fd);
  }
});

// A later fork's snapshot (src/snapshot/write.ts): the base file, and an overlay of the pages the
// parent wrote since. A code page is compared against what the two make together: the base alone
// keeps CHANGED and changes KEPT, the overlay changes CHANGED and puts KEPT back.
test("swapRam with a later fork's overlay compares and maps the base and the overlay together", () => {
  const { m, kept } = ranBoth();

  const base = new Uint8Array(SIZE);
  program(base, CHANGED, 1);
  program(base, KEPT, 5);
  base.fill(0x5a, DATA * PAGE_SIZE, (DATA + 2) * PAGE_SIZE);
  const want = Uint8Array.from(base);
  program(want, CHANGED, 2);
  program(want, KEPT, 3);
  want.fill(0x77, (DATA + 1) * PAGE_SIZE, (DATA + 2) * PAGE_SIZE);
  const fd = createMemoryFile("swap-test-base", SIZE);
  const overlay = createMemoryFile("swap-test-overlay", SIZE);
  try {
    writeSync(fd, base, 0, SIZE, 0);
    for (const p of [CHANGED, KEPT, DATA + 1]) writeSync(overlay, want, p * PAGE_SIZE, PAGE_SIZE, p * PAGE_SIZE);
    const r = swapRam(m, fd, [], overlay);
    assert.equal(r.how, "mapped");
    assert.equal(r.dropped, 1);
    assert.equal(Buffer.compare(Buffer.from(m.ram.u8), Buffer.from(want)), 0, "RAM reads as base and overlay");
    assert.equal(runFrom(m, CHANGED), 2, "the overlay's code runs");
    assert.equal(runFrom(m, KEPT), 3);
    assert.equal(m.cache.lookup(m.harts[0]!), kept, "the page the overlay put back keeps its block");
    // Writes after the swap reach neither file.
    m.ram.fill(RAM_BASE + (DATA + 1) * PAGE_SIZE, 16, 0xee);
    const back = Buffer.alloc(16);
    readSync(overlay, back, 0, 16, (DATA + 1) * PAGE_SIZE);
    assert.deepEqual([...back], new Array<number>(16).fill(0x77));
  } finally {
    closeSync(fd);
    closeSync(overlay);
  }
});
