// The wasm memory map (layout.ts): the slots and TLB sets of a hart's area fit and do not
// overlap, and a real machine's harts, TLBs and RAM are where the map says, seen through an
// independent view of the memory (what compiled wasm code reads).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Machine } from "../../machine/machine.js";
import { GuestRam, RAM_BASE } from "../../machine/memory.js";
import { TLB_SETS_USED, TLB_SIZE } from "../hart/tlb.js";
import {
  HART_AREA,
  HART_JC_ENTRIES,
  HART_SLOTS,
  HartArea,
  JC_ENTRIES,
  JC_OFFSET,
  MAX_LINEAR,
  RAM_OFFSET,
  TLB_ADD,
  TLB_SET,
  TLB_SETS,
} from "./layout.js";

test("a hart's area holds its registers, slots and every TLB set (M, global shadow, ASID banks) without overlap", () => {
  const spans: [string, number, number][] = [
    ["x", HartArea.x, 66 * 4],
    ["pc", HartArea.pc, 8],
    ["hiOut", HartArea.hiOut, 4],
    ["stop", HartArea.stop, 4],
    ["rtag", HartArea.rtag, 4],
    ["wtag", HartArea.wtag, 4],
    ["xtag", HartArea.xtag, 4],
    ["reservation", HartArea.reservation, 4],
    ["next", HartArea.next, 4],
    ["priv", HartArea.priv, 4],
    ["mstatus", HartArea.mstatus, 4],
    ["tlb", HartArea.tlb, TLB_SETS * TLB_SET],
    ["jc", HartArea.jc, HART_JC_ENTRIES * 8],
  ];
  spans.sort((a, b) => a[1] - b[1]);
  for (let i = 1; i < spans.length; i++) {
    const [pn, pa, pl] = spans[i - 1]!;
    assert.ok(pa + pl <= spans[i]![1], `${pn} overlaps ${spans[i]![0]}`);
  }
  const [, la, ll] = spans[spans.length - 1]!;
  assert.ok(la + ll <= HART_AREA);
  assert.equal(TLB_SETS, TLB_SETS_USED, "the map holds the sets tlb.ts uses");
  assert.equal(HART_AREA % 65536, 0);
  assert.equal(TLB_SET, 2 * TLB_ADD);
  assert.equal(TLB_ADD, TLB_SIZE * 8);
  assert.equal(JC_OFFSET, HART_SLOTS * HART_AREA);
  assert.equal(RAM_OFFSET, JC_OFFSET + JC_ENTRIES * 8);
  assert.equal(HartArea.pc % 8, 0, "the pc is an aligned i64");
  assert.equal(HART_JC_ENTRIES & (HART_JC_ENTRIES - 1), 0, "a hart's jump cache is direct-mapped by a mask");
});

test("a machine's harts, TLBs and RAM live in one wasm memory, where the map says", () => {
  const m = new Machine(new GuestRam(1 << 20), 2, () => {});
  const mem = m.ram.memory;
  assert.ok(mem, "RAM this small gets a wasm memory");
  const dv = new DataView(mem.buffer);
  m.harts.forEach((h, i) => {
    assert.equal(h.area, i * HART_AREA);
    h.x[2 * 7] = 0x89abcdef | 0;
    h.x[2 * 7 + 1] = 0x01234567;
    assert.equal(
      dv.getBigUint64(h.area + HartArea.x + 8 * 7, true),
      0x0123456789abcdefn,
      "a register pair is a little-endian i64",
    );
    // The current read and write tag arrays are named in the slots, and are the hart's own.
    assert.equal(dv.getInt32(h.area + HartArea.rtag, true), h.rtag.byteOffset);
    assert.equal(dv.getInt32(h.area + HartArea.wtag, true), h.wtag.byteOffset);
    assert.equal(dv.getInt32(h.area + HartArea.xtag, true), h.xtag.byteOffset);
    assert.ok(h.rtag.byteOffset >= h.area + HartArea.tlb && h.rtag.byteOffset < h.area + HART_AREA);
    assert.equal(h.radd.byteOffset, h.rtag.byteOffset + TLB_ADD);
  });
  m.ram.writeU32(RAM_BASE + 0x40, 0xdeadbeef);
  assert.equal(dv.getUint32(RAM_OFFSET + 0x40, true), 0xdeadbeef);
  // A privilege change re-points the slots at another context's arrays.
  const h = m.harts[0]!;
  const before = h.slots[HartArea.rtag >>> 2];
  h.setPriv(1);
  assert.notEqual(h.slots[HartArea.rtag >>> 2], before);
  assert.equal(h.slots[HartArea.rtag >>> 2], h.rtag.byteOffset);
});

test("the largest RAM that fits takes the whole wasm memory; one page more falls back to a buffer", () => {
  // Both are reserved address space only: nothing is touched, so nothing becomes resident.
  const fits = new GuestRam(MAX_LINEAR - RAM_OFFSET);
  assert.equal(fits.memory?.buffer.byteLength, MAX_LINEAR);
  assert.equal(fits.byteOffset, RAM_OFFSET);
  assert.equal(fits.allocHartArea(), 0);
  const over = new GuestRam(MAX_LINEAR - RAM_OFFSET + 4096);
  assert.equal(over.memory, undefined);
  assert.equal(over.byteOffset, 0);
  assert.equal(over.allocHartArea(), -1, "without a wasm memory a hart has no area");
});

test("hart areas run out after the eighth; the jump cache goes to the first claim only", () => {
  const ram = new GuestRam(4096);
  const areas = Array.from({ length: HART_SLOTS + 1 }, () => ram.allocHartArea());
  assert.deepEqual(areas, [...Array.from({ length: HART_SLOTS }, (_, i) => i * HART_AREA), -1]);
  assert.equal(ram.claimJumpCache(), JC_OFFSET);
  assert.equal(ram.claimJumpCache(), -1);
});
