// Guest RAM as devices see it: bounds-checked access, and every way a device writes (write, fill,
// a DMA view) drops the code cached from the pages it touches, so a disk read over a page of
// cached code cannot leave stale blocks behind (exec.ts keys blocks by RAM page).
import { test } from "node:test";
import assert from "node:assert/strict";
import { GuestMemoryError, GuestRam, RAM_BASE } from "./memory.js";

function ramWithCode(pages: number[]): { ram: GuestRam; dropped: number[] } {
  const ram = new GuestRam(16 * 4096);
  const dropped: number[] = [];
  for (const p of pages) ram.codePages[p] = 1;
  ram.onCodeWrite = (p) => dropped.push(p);
  return { ram, dropped };
}

test("a DMA view drops the cached code of each page it covers, and only those", () => {
  const { ram, dropped } = ramWithCode([2, 3, 5, 9]);
  // Bytes 0x2ff0..0x5010: pages 2 to 5 (page 4 holds no code).
  const view = ram.dmaTarget(RAM_BASE + 0x2ff0, 0x2020);
  assert.deepEqual(dropped, [2, 3, 5]);
  view.fill(0xab);
  assert.equal(ram.u8[0x2ff0], 0xab);
  assert.equal(ram.u8[0x500f], 0xab);
  assert.equal(ram.u8[0x5010], 0);
  assert.equal(ram.u8[0x2fef], 0);
});

test("write and fill drop cached code as a DMA view does", () => {
  const { ram, dropped } = ramWithCode([1, 7]);
  ram.write(RAM_BASE + 0x1ffe, Uint8Array.of(1, 2, 3));
  ram.fill(RAM_BASE + 0x7000, 1, 0);
  ram.fill(RAM_BASE + 0x8000, 4096, 0);
  assert.deepEqual(dropped, [1, 7]);
});

test("ranges outside guest RAM are refused before anything is touched", () => {
  const { ram, dropped } = ramWithCode([15]);
  for (const [gpa, len] of [
    [RAM_BASE + 15 * 4096, 4097],
    [RAM_BASE - 1, 2],
    [0, 16],
    [RAM_BASE + 0.5, 1],
  ] as const) {
    assert.throws(() => ram.dmaTarget(gpa, len), GuestMemoryError);
    assert.throws(() => ram.write(gpa, new Uint8Array(len)), GuestMemoryError);
  }
  assert.deepEqual(dropped, []);
});
