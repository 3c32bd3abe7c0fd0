import { test } from "node:test";
import assert from "node:assert/strict";
import { RecordingHart } from "./recording-hart.testkit.js";
import { MIP_MEIP, MIP_SEIP, PLIC_LAYOUT, PLIC_MAX_PRIORITY, PLIC_NUM_SOURCES, Plic } from "./plic.js";

const L = PLIC_LAYOUT;

/** Register accesses as a PLIC driver (Linux irq-sifive-plic, OpenSBI) makes them. */
class Driver {
  constructor(private readonly plic: Plic) {}
  priority(src: number, p: number): void {
    this.plic.write(L.priority + 4 * src, 4, p);
  }
  enable(ctx: number, src: number, on = true): void {
    const off = L.enable + L.enableStride * ctx + 4 * (src >>> 5);
    const old = this.plic.read(off, 4);
    const bit = 1 << (src & 31);
    this.plic.write(off, 4, on ? old | bit : old & ~bit);
  }
  threshold(ctx: number, t: number): void {
    this.plic.write(L.context + L.contextStride * ctx, 4, t);
  }
  claim(ctx: number): number {
    return this.plic.read(L.context + L.contextStride * ctx + L.claim, 4);
  }
  complete(ctx: number, src: number): void {
    this.plic.write(L.context + L.contextStride * ctx + L.claim, 4, src);
  }
  pending(src: number): boolean {
    return ((this.plic.read(L.pending + 4 * (src >>> 5), 4) >>> (src & 31)) & 1) === 1;
  }
}

function setup(nHarts = 2): { harts: RecordingHart[]; plic: Plic; drv: Driver } {
  const harts = Array.from({ length: nHarts }, (_, h) => new RecordingHart(h));
  const plic = new Plic(harts);
  return { harts, plic, drv: new Driver(plic) };
}

test("layout: QEMU virt's PLIC registers and sizes", () => {
  assert.equal(L.pending, 0x1000);
  assert.equal(L.enable, 0x2000);
  assert.equal(L.enableStride, 0x80);
  assert.equal(L.context, 0x200000);
  assert.equal(L.contextStride, 0x1000);
  assert.equal(L.claim, 4);
  assert.equal(L.size, 0x600000);
  assert.equal(PLIC_NUM_SOURCES, 96);
  assert.equal(PLIC_MAX_PRIORITY, 7);
  // All priority registers fit before the pending array, all pending bits before the enables.
  assert.ok(4 * PLIC_NUM_SOURCES <= L.pending);
  assert.ok(L.pending + PLIC_NUM_SOURCES / 8 <= L.enable);
  assert.ok(PLIC_NUM_SOURCES / 8 <= L.enableStride);
});

test("a level-triggered gateway: one request per assertion, held until claimed, renewed on completion", () => {
  const { harts, plic, drv } = setup(1);
  const uart = plic.irq(10);
  drv.enable(1, 10); // hart 0, S-mode
  uart.set(true);
  assert.equal(drv.pending(10), true);
  assert.equal(harts[0]?.mip, 0, "priority 0 never interrupts");
  drv.priority(10, 1);
  assert.equal(harts[0]?.mip, MIP_SEIP);
  assert.equal(harts[0]?.wakes, 1);

  assert.equal(drv.claim(1), 10);
  assert.equal(drv.pending(10), false);
  assert.equal(harts[0]?.mip, 0);
  assert.equal(drv.claim(1), 0, "a claimed source is not offered again before completion");
  uart.set(false);
  uart.set(true); // a new assertion while claimed is held back by the gateway
  assert.equal(drv.pending(10), false);

  drv.complete(1, 10); // line still high: a new request at once
  assert.equal(drv.pending(10), true);
  assert.equal(harts[0]?.mip, MIP_SEIP);
  uart.set(false); // the device stopped asking before it was served: the request stays
  assert.equal(drv.pending(10), true);
  assert.equal(harts[0]?.mip, MIP_SEIP);
  assert.equal(drv.claim(1), 10);
  drv.complete(1, 10); // line low now: nothing new
  assert.equal(drv.pending(10), false);
  assert.equal(harts[0]?.mip, 0);
  uart.set(true); // the next assertion is a new request
  assert.equal(drv.pending(10), true);
  assert.equal(drv.claim(1), 10);
});

test("claims return the highest priority first, ties to the lowest id", () => {
  const { plic, drv } = setup(1);
  for (const [src, prio] of [
    [3, 2],
    [7, 5],
    [5, 5],
    [95, 7],
  ] as const) {
    drv.priority(src, prio);
    drv.enable(0, src);
    plic.irq(src).set(true);
  }
  const order = [drv.claim(0), drv.claim(0), drv.claim(0), drv.claim(0), drv.claim(0)];
  assert.deepEqual(order, [95, 5, 7, 3, 0]);
  assert.equal(drv.pending(95), false);
});

test("a context is notified only above its threshold", () => {
  const { harts, plic, drv } = setup(1);
  drv.priority(1, 5);
  drv.enable(0, 1); // M-mode context of hart 0
  drv.threshold(0, 5);
  plic.irq(1).set(true);
  assert.equal(harts[0]?.mip, 0, "priority must exceed the threshold, not equal it");
  assert.equal(drv.claim(0), 0);
  drv.priority(1, 6);
  assert.equal(harts[0]?.mip, MIP_MEIP);
  drv.threshold(0, 7);
  assert.equal(harts[0]?.mip, 0);
  drv.threshold(0, 0);
  assert.equal(harts[0]?.mip, MIP_MEIP);
  assert.equal(drv.claim(0), 1);
  assert.equal(harts[0]?.mip, 0);
});

test("two harts: contexts 2h and 2h+1 drive MEIP and SEIP of hart h; the first claim wins", () => {
  const { harts, plic, drv } = setup(2);
  const disk = plic.irq(1);
  const net = plic.irq(2);
  drv.priority(1, 1);
  drv.priority(2, 1);
  drv.enable(1, 1); // hart 0 S
  drv.enable(3, 1); // hart 1 S
  drv.enable(2, 2); // hart 1 M
  disk.set(true);
  assert.deepEqual(
    harts.map((h) => h.mip),
    [MIP_SEIP, MIP_SEIP],
  );
  net.set(true);
  assert.deepEqual(
    harts.map((h) => h.mip),
    [MIP_SEIP, MIP_SEIP | MIP_MEIP],
  );
  assert.equal(drv.claim(3), 1); // hart 1 takes the disk interrupt ...
  assert.deepEqual(
    harts.map((h) => h.mip),
    [0, MIP_MEIP],
  );
  assert.equal(drv.claim(1), 0); // ... so hart 0 finds nothing
  assert.equal(drv.claim(2), 2);
  assert.deepEqual(
    harts.map((h) => h.mip),
    [0, 0],
  );
  // A different context may complete: the PLIC does not check who claimed (spec, "Interrupt
  // Completion"), only that the source is enabled for the completing context.
  drv.complete(0, 1); // not enabled for context 0: ignored
  assert.equal(drv.pending(1), false);
  drv.complete(1, 1);
  assert.equal(drv.pending(1), true);
  assert.deepEqual(
    harts.map((h) => h.mip),
    [MIP_SEIP, MIP_SEIP],
  );
});

test("disabling a source in a context withdraws that context's notification", () => {
  const { harts, plic, drv } = setup(1);
  drv.priority(4, 3);
  drv.enable(1, 4);
  plic.irq(4).set(true);
  assert.equal(harts[0]?.mip, MIP_SEIP);
  drv.enable(1, 4, false);
  assert.equal(harts[0]?.mip, 0);
  assert.equal(drv.pending(4), true);
});

test("WARL fields and read-only bits hold what the hardware implements", () => {
  const { plic, drv } = setup(1);
  drv.priority(9, 0xffffffff);
  assert.equal(plic.read(L.priority + 4 * 9, 4), PLIC_MAX_PRIORITY);
  drv.priority(0, 3); // source 0 does not exist
  assert.equal(plic.read(L.priority, 4), 0);
  plic.write(L.enable + L.enableStride, 4, 0xffffffff);
  assert.equal(plic.read(L.enable + L.enableStride, 4), 0xfffffffe, "enable bit of source 0 is hardwired to 0");
  drv.threshold(1, 0x1f);
  assert.equal(plic.read(L.context + L.contextStride, 4), PLIC_MAX_PRIORITY);
  plic.write(L.pending, 4, 0xffffffff);
  assert.equal(plic.read(L.pending, 4), 0, "pending bits are read-only");
  // Contexts and sources beyond the ones that exist read as zero and ignore writes.
  plic.write(L.enable + 2 * L.enableStride, 4, 0xffffffff);
  assert.equal(plic.read(L.enable + 2 * L.enableStride, 4), 0);
  plic.write(L.priority + 4 * PLIC_NUM_SOURCES, 4, 1);
  assert.equal(plic.read(L.priority + 4 * PLIC_NUM_SOURCES, 4), 0);
  assert.equal(plic.read(L.context + 2 * L.contextStride + L.claim, 4), 0);
  assert.throws(() => plic.irq(0), RangeError);
  assert.throws(() => plic.irq(PLIC_NUM_SOURCES), RangeError);
});
