/**
 * virtio-pci (virtio 1.2 §4.1) driven as Linux's virtio_pci_modern does, through the bridge's
 * ECAM and windows (testing/driver-view.ts): requests complete, INTx follows the ISR status,
 * MSI-X vectors carry each queue's interrupts, and the fuzz suite every device runs over
 * virtio-mmio runs over PCI too. Random writes to the common configuration and the other
 * structures never throw, and the device still works after a reset.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { makeRam, MockDriver, MockIrq } from "../virtio/testing/mock-driver.js";
import { fuzzDevice } from "../virtio/testing/fuzz.js";
import { Prng } from "../virtio/testing/prng.js";
import { VirtioRng } from "../virtio/rng.js";
import { VirtioConsole } from "../virtio/console.js";
import { DeviceId, Status } from "../virtio/spec.js";
import { PciDriverView } from "./testing/driver-view.js";
import { MSIX_ENTRY, VIRTIO_MSI_NO_VECTOR, VIRTIO_PCI_COMMON } from "./layout.js";

const C = VIRTIO_PCI_COMMON.fields;
const pciTransport = (
  d: ConstructorParameters<typeof PciDriverView>[0],
  ram: ReturnType<typeof makeRam>,
  irq: MockIrq,
): PciDriverView => new PciDriverView(d, ram, irq);

test("virtio-rng over PCI: IDs, a request completes, INTx rises and reading the ISR lowers it", () => {
  const ram = makeRam();
  const irq = new MockIrq();
  const view = new PciDriverView(new VirtioRng(), ram, irq);
  const e = view.bridge.ecam;
  assert.equal(e.read(1 << 15, 4), 0x1044_1af4, "vendor 0x1af4, device 0x1040 + 4");
  assert.equal(e.read((1 << 15) | 8, 4) >>> 8, 0x00ff00);
  assert.equal(e.read((1 << 15) | 0x3d, 1), 1, "INTA#");
  const drv = new MockDriver(ram, view, irq);
  drv.init();
  assert.equal(view.read(0x008, 4), DeviceId.ENTROPY);
  assert.equal(view.load(view.at.common + C.numQueues.offset, 2), 1);
  const r = drv.request(0, [], [64]);
  assert.equal(r.used?.len, 64);
  assert.equal(irq.level, true);
  assert.equal(view.load(view.at.isr, 1), 1, "used-buffer interrupt");
  assert.equal(irq.level, false, "the read cleared it");
  assert.equal(view.load(view.at.isr, 1), 0);
});

test("MSI-X: each queue's vector goes out as a write of its data to its address; INTx stays low", () => {
  const ram = makeRam();
  const irq = new MockIrq();
  const sent: [number, number][] = [];
  const view = new PciDriverView(new VirtioRng(), ram, irq, (a, d) => sent.push([a, d]));
  const e = view.bridge.ecam;
  // Find the MSI-X capability and the table's BAR (1) as a driver does, then program two vectors.
  let cap = e.read((1 << 15) | 0x34, 1);
  while (e.read((1 << 15) | cap, 1) !== 0x11) cap = e.read((1 << 15) | (cap + 1), 1);
  assert.equal(e.read((1 << 15) | (cap + 2), 2) & 0x7ff, 1, "two vectors: config and queue 0");
  const table = view.bridge.mmio.busBase + (e.read((1 << 15) | 0x14, 4) & ~0xf) - view.bridge.mmio.busBase;
  for (const v of [0, 1]) {
    view.store(table + v * MSIX_ENTRY.size, 4, 0x2800_0000 + 0x1000 * v);
    view.store(table + v * MSIX_ENTRY.size + 4, 4, 0);
    view.store(table + v * MSIX_ENTRY.size + 8, 4, 0x40 + v);
    view.store(table + v * MSIX_ENTRY.size + 12, 4, 0);
  }
  e.write((1 << 15) | (cap + 2), 2, 0x8000);
  const drv = new MockDriver(ram, view, irq);
  drv.init();
  view.store(view.at.common + C.configMsixVector.offset, 2, 0);
  view.store(view.at.common + C.queueSelect.offset, 2, 0);
  view.store(view.at.common + C.queueMsixVector.offset, 2, 1);
  assert.equal(view.load(view.at.common + C.queueMsixVector.offset, 2), 1);
  view.store(view.at.common + C.queueMsixVector.offset, 2, 7);
  assert.equal(view.load(view.at.common + C.queueMsixVector.offset, 2), VIRTIO_MSI_NO_VECTOR, "no such vector");
  view.store(view.at.common + C.queueMsixVector.offset, 2, 1);
  drv.request(0, [], [32]);
  assert.deepEqual(sent, [[0x2800_1000, 0x41]]);
  assert.equal(irq.raised, 0, "no INTx with MSI-X on");
});

test("without Bus Master Enable a notification is ignored (the function may not touch memory)", () => {
  const ram = makeRam();
  const irq = new MockIrq();
  const view = new PciDriverView(new VirtioRng(), ram, irq);
  const drv = new MockDriver(ram, view, irq);
  drv.init();
  view.bridge.ecam.write((1 << 15) | 4, 2, 2); // memory only
  const a = drv.add(0, [], [16]);
  drv.kick(0);
  assert.deepEqual(drv.reap(0), []);
  view.bridge.ecam.write((1 << 15) | 4, 2, 6);
  drv.kick(0);
  assert.deepEqual(drv.reap(0), [{ id: a.head, len: 16 }]);
});

test("virtio-rng over PCI survives 1000 randomized malformed descriptor tables", () => {
  const r = fuzzDevice({ device: new VirtioRng(), queues: [0], transport: pciTransport }, 0x5eed_0018, 1000);
  assert.ok(r.completed > 0 && r.needsReset > 0, JSON.stringify(r));
});

test("virtio-console over PCI survives 1000 randomized malformed descriptor tables", () => {
  const con = new VirtioConsole({ ports: [{ name: "a" }], queueSize: 16 });
  const r = fuzzDevice({ device: con, queues: [1, 3, 5], transport: pciTransport }, 0xc0_50_18, 1000);
  assert.ok(r.completed > 200, JSON.stringify(r));
});

test("random writes to the common configuration, ISR, notify, device config and config space never throw; a reset recovers", () => {
  const ram = makeRam();
  const irq = new MockIrq();
  const view = new PciDriverView(new VirtioRng(), ram, irq);
  const rnd = new Prng(0x18_c0);
  const sizes = [1, 2, 4] as const;
  const bases = [view.at.common, view.at.isr, view.at.notify, view.at.device];
  for (let i = 0; i < 30000; i++) {
    const size = sizes[rnd.int(3)]!;
    const off = rnd.int(0x40) & ~(size - 1);
    const base = bases[rnd.int(bases.length)]!;
    // Mostly plausible values (small numbers: queue selectors, status bits, sizes), some wild.
    const value = rnd.chance(0.7) ? rnd.int(0x110) : rnd.u32();
    if (rnd.chance(0.5)) view.store(base + off, size, value);
    else view.load(base + off, size);
    // Configuration space too, but not the BARs: moved, the driver here would lose the device.
    const reg = rnd.int(0x100) & ~3;
    if (rnd.chance(0.01) && (reg < 0x10 || reg >= 0x28)) view.bridge.ecam.write((1 << 15) | reg, 4, rnd.u32());
  }
  // Whatever state that left, the driver resets the device (and restores its command register) and it works.
  view.bridge.ecam.write((1 << 15) | 4, 2, 6);
  const drv = new MockDriver(ram, view, irq);
  drv.init();
  assert.equal(drv.status & Status.DEVICE_NEEDS_RESET, 0);
  assert.equal(drv.request(0, [], [16]).used?.len, 16);
});
