/**
 * The PCIe host bridge and its functions as a guest's PCI core sees them: ECAM decoding, the
 * capability lists a driver walks, BAR sizing and placement, the command register, INTx routing,
 * and what a hostile guest may write (nonsense, BARs on RAM or on each other).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { PCIE_IRQ_BASE, PCIE_MEMMAP, PciHostBridge } from "./host-bridge.js";
import { PciFunction, type BarRegion } from "./function.js";
import {
  CapId,
  Command,
  ExtCapId,
  MSIX_CAP,
  PCIE_CAP,
  TYPE0_HEADER,
  VIRTIO_PCI_COMMON,
  VIRTIO_PCI_CAP,
} from "./layout.js";
import { Msix } from "./msix.js";
import type { IrqLine } from "../device.js";
import { Prng } from "../virtio/testing/prng.js";

class Line implements IrqLine {
  level = false;
  set(l: boolean): void {
    this.level = l;
  }
}

function board(): { bridge: PciHostBridge; lines: Line[] } {
  const lines = [new Line(), new Line(), new Line(), new Line()];
  return { bridge: new PciHostBridge({ intx: lines, ramEnd: 0x8000_0000 + 512 * 2 ** 20 }), lines };
}

/** A BAR region that remembers what was written. */
class Scratch implements BarRegion {
  readonly bytes = new Map<number, number>();
  read(offset: number): number {
    return this.bytes.get(offset) ?? 0;
  }
  write(offset: number, _size: number, value: number): void {
    this.bytes.set(offset, value);
  }
}

const ids = {
  vendorId: 0x1af4,
  deviceId: 0x1041,
  classCode: 0x020000,
  revisionId: 1,
  subsystemVendorId: 0x1af4,
  subsystemId: 0x1100,
  interruptPin: 1,
};
const ecam = (dev: number, fn: number, reg: number): number => (dev << 15) | (fn << 12) | reg;

test("layouts have the sizes the specs give", () => {
  assert.equal(TYPE0_HEADER.size, 64);
  assert.equal(TYPE0_HEADER.fields.interruptPin.offset, 0x3d);
  assert.equal(PCIE_CAP.size, 60);
  assert.equal(MSIX_CAP.size, 12);
  assert.equal(VIRTIO_PCI_CAP.size, 16);
  assert.equal(VIRTIO_PCI_COMMON.size, 0x3c);
  assert.equal(VIRTIO_PCI_COMMON.fields.queueReset.offset, 0x3a);
});

test("ECAM: present functions answer, absent ones and other buses read all ones, writes to them vanish", () => {
  const { bridge } = board();
  bridge.attach(1, 0, new PciFunction("f", ids));
  const e = bridge.ecam;
  assert.equal(e.read(ecam(0, 0, 0), 4), 0x0008_1b36, "the host bridge function at 00:00.0");
  assert.equal(e.read(ecam(1, 0, 0), 4), 0x1041_1af4);
  assert.equal(e.read(ecam(1, 0, 2), 2), 0x1041);
  assert.equal(e.read(ecam(2, 0, 0), 4), 0xffffffff);
  assert.equal(e.read(ecam(1, 1, 0), 2), 0xffff);
  assert.equal(e.read((1 << 20) | ecam(1, 0, 0), 4), 0xffffffff, "bus 1 is empty");
  e.write(ecam(2, 0, 4), 2, 0xffff);
  assert.equal(e.read(ecam(2, 0, 0), 4), 0xffffffff);
  // Misaligned: all ones, ignored.
  assert.equal(e.read(ecam(1, 0, 1), 2), 0xffff);
});

test("capability list: PCIe (an integrated endpoint), then MSI-X; the extended list links too", () => {
  const f = new PciFunction("f", ids);
  const msix = new Msix(f, { vectors: 3, bar: 1, pbaOffset: 0x800, send: () => {} });
  const ext1 = f.addExtCapability(ExtCapId.SRIOV, 1, 0x40);
  const ext2 = f.addExtCapability(0x0b, 1, 8);
  assert.ok(f.readConfig(6, 2) & 0x10, "status: capabilities list");
  const seen: number[] = [];
  for (let at = f.readConfig(0x34, 1); at !== 0; at = f.readConfig(at + 1, 1)) seen.push(f.readConfig(at, 1));
  assert.deepEqual(seen, [CapId.PCIE, CapId.MSIX]);
  const pcie = f.readConfig(0x34, 1);
  assert.equal(f.readConfig(pcie + 2, 2), 0x92, "version 2, Root Complex Integrated Endpoint");
  const mx = f.readConfig(pcie + 1, 1);
  assert.equal(f.readConfig(mx + 2, 2) & 0x7ff, 2, "table size - 1");
  assert.equal(f.readConfig(mx + 8, 4), 0x801, "PBA at 0x800 of BAR 1");
  assert.equal(msix.vectors, 3);
  assert.equal(f.readConfig(ext1, 4), ExtCapId.SRIOV | (1 << 16) | (ext2 << 20));
  assert.equal(f.readConfig(ext2, 4) >>> 20, 0, "end of the extended list");
});

test("BAR sizing and placement: all ones reads the size mask, the placed BAR decodes once memory is enabled", () => {
  const { bridge } = board();
  const f = new PciFunction("f", ids);
  const r32 = new Scratch();
  const r64 = new Scratch();
  f.setBar(1, { kind: "mem32", size: 0x1000, region: r32 });
  f.setBar(4, { kind: "mem64", size: 0x4000, prefetchable: true, region: r64 });
  bridge.attach(3, 0, f);
  const e = bridge.ecam;
  e.write(ecam(3, 0, 0x14), 4, 0xffffffff);
  assert.equal(e.read(ecam(3, 0, 0x14), 4), 0xfffff000);
  e.write(ecam(3, 0, 0x20), 4, 0xffffffff);
  e.write(ecam(3, 0, 0x24), 4, 0xffffffff);
  assert.equal(e.read(ecam(3, 0, 0x20), 4), 0xffffc00c, "64-bit prefetchable, 16 KiB");
  assert.equal(e.read(ecam(3, 0, 0x24), 4), 0xffffffff);
  assert.equal(e.read(ecam(3, 0, 0x10), 4), 0, "BAR 0 is not implemented: reads 0 whatever is written");
  e.write(ecam(3, 0, 0x10), 4, 0xffffffff);
  assert.equal(e.read(ecam(3, 0, 0x10), 4), 0);
  e.write(ecam(3, 0, 0x14), 4, 0x4000_2000);
  e.write(ecam(3, 0, 0x20), 4, 0);
  e.write(ecam(3, 0, 0x24), 4, 4);
  // Memory decoding is off: the window reads all ones.
  assert.equal(bridge.mmio.read(0x2000, 4), 0xffffffff);
  e.write(ecam(3, 0, 4), 2, Command.MEMORY);
  bridge.mmio.write(0x2008, 4, 7);
  assert.equal(r32.bytes.get(8), 7);
  bridge.mmioHigh.write(0x10, 4, 9);
  assert.equal(r64.bytes.get(0x10), 9);
  assert.equal(bridge.mmioHigh.busBase, 0x4_0000_0000, "QEMU's 64-bit window for 512 MiB of RAM");
  e.write(ecam(3, 0, 4), 2, 0);
  bridge.mmio.write(0x2008, 4, 8);
  assert.equal(r32.bytes.get(8), 7, "memory decoding off again");
});

test("overlapping BARs decode to the lower function; a BAR placed on RAM decodes nothing", () => {
  const { bridge } = board();
  const a = new Scratch();
  const b = new Scratch();
  for (const [dev, r] of [
    [1, a],
    [2, b],
  ] as const) {
    const f = new PciFunction(`f${dev}`, ids);
    f.setBar(1, { kind: "mem32", size: 0x1000, region: r });
    bridge.attach(dev, 0, f);
    bridge.ecam.write(ecam(dev, 0, 0x14), 4, 0x4000_0000);
    bridge.ecam.write(ecam(dev, 0, 4), 2, Command.MEMORY);
  }
  bridge.mmio.write(0x10, 4, 1);
  assert.equal(a.bytes.get(0x10), 1);
  assert.equal(b.bytes.size, 0);
  // Guest RAM is at 0x8000_0000: a BAR there is outside every window and never reached.
  bridge.ecam.write(ecam(2, 0, 0x14), 4, 0x8000_0000);
  assert.equal(bridge.covers(0x8000_0000), false);
  assert.equal(bridge.covers(PCIE_MEMMAP.mmio.base), true);
});

test("INTx: each device's INTA# goes to the swizzled PLIC line; Interrupt Disable holds it low", () => {
  const { bridge, lines } = board();
  const fs = [1, 2, 5].map((dev) => {
    const f = new PciFunction(`f${dev}`, ids);
    bridge.attach(dev, 0, f);
    return f;
  });
  fs[0]!.setIntx(true);
  assert.deepEqual(
    lines.map((l) => l.level),
    [false, true, false, false],
    `device 1 INTA is PLIC ${PCIE_IRQ_BASE + 1}`,
  );
  fs[2]!.setIntx(true); // device 5: (0 + 5) % 4 = 1, shared with device 1
  fs[0]!.setIntx(false);
  assert.equal(lines[1]!.level, true, "still held by device 5");
  fs[2]!.setIntx(false);
  assert.equal(lines[1]!.level, false);
  fs[1]!.setIntx(true);
  assert.equal(lines[2]!.level, true);
  assert.ok(fs[1]!.readConfig(6, 2) & 0x8, "Interrupt Status");
  fs[1]!.writeConfig(4, 2, Command.INTX_DISABLE);
  assert.equal(lines[2]!.level, false);
  assert.ok(fs[1]!.readConfig(6, 2) & 0x8, "the status still shows the device's request");
  fs[1]!.writeConfig(4, 2, 0);
  assert.equal(lines[2]!.level, true);
});

test("MSI-X: a message goes out when enabled, unmasked and bus master; masked ones wait in the PBA", () => {
  const sent: [number, number][] = [];
  const f = new PciFunction("f", ids);
  const msix = new Msix(f, { vectors: 2, bar: 1, pbaOffset: 0x800, send: (a, d) => sent.push([a, d]) });
  const cap = f.readConfig(f.readConfig(0x34, 1) + 1, 1);
  msix.write(16, 4, 0x2800_0000);
  msix.write(20, 4, 0);
  msix.write(24, 4, 42);
  msix.signal(1);
  assert.deepEqual(sent, [], "MSI-X is off");
  f.writeConfig(4, 2, Command.BUS_MASTER | Command.MEMORY);
  f.writeConfig(cap + 2, 2, 0x8000);
  assert.equal(msix.enabled, true);
  msix.signal(1);
  assert.deepEqual(sent, [], "vector 1 is masked from reset");
  assert.equal(msix.read(0x800, 4), 2, "pending bit");
  msix.write(28, 4, 0);
  assert.deepEqual(sent, [[0x2800_0000, 42]], "sent on unmask");
  assert.equal(msix.read(0x800, 4), 0);
  msix.signal(7);
  assert.equal(sent.length, 1, "a vector beyond the table is dropped");
});

test("random configuration writes never throw and never change read-only identity", () => {
  const { bridge } = board();
  const f = new PciFunction("f", ids);
  new Msix(f, { vectors: 4, bar: 1, pbaOffset: 0x800, send: () => {} });
  f.setBar(1, { kind: "mem32", size: 0x1000, region: new Scratch() });
  bridge.attach(1, 0, f);
  const rnd = new Prng(18);
  const sizes = [1, 2, 4] as const;
  for (let i = 0; i < 20000; i++) {
    const size = sizes[rnd.int(3)]!;
    const off = rnd.int(0x1000) & ~(size - 1);
    bridge.ecam.write(ecam(rnd.int(4), rnd.int(2), off), size, rnd.u32());
    bridge.mmio.write(rnd.int(0x10000) & ~3, 4, rnd.u32());
    bridge.ecam.read(ecam(1, 0, off), size);
  }
  assert.equal(bridge.ecam.read(ecam(1, 0, 0), 4), 0x1041_1af4);
  assert.equal(bridge.ecam.read(ecam(1, 0, 8), 4) >>> 8, 0x020000);
  assert.equal(bridge.ecam.read(ecam(0, 0, 0), 4), 0x0008_1b36);
  assert.equal(bridge.ecam.read(ecam(1, 0, 0x34), 1), 0x40, "the capability list still starts where it did");
});
