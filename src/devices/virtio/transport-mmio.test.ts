import { test } from "node:test";
import assert from "node:assert/strict";
import type { VirtioDevice, VirtioDeviceContext } from "./device.js";
import { ConfigSpace } from "./config-space.js";
import { makeRam, MockDriver, MockIrq } from "./testing/mock-driver.js";
import { FeatureBit, Interrupt, Status, feature } from "./spec.js";
import { Reg, VirtioMmioTransport } from "./transport-mmio.js";

/** A device that echoes readable bytes into writable buffers and records what the transport did. */
class EchoDevice implements VirtioDevice {
  readonly name = "echo0";
  readonly deviceId = 42;
  readonly features = 1n << 3n;
  readonly queueMaxSizes = [16, 8];
  readonly config = new ConfigSpace(8);
  readonly configSize = 8;
  ctx: VirtioDeviceContext | undefined;
  resets = 0;
  notified: number[] = [];
  throwOnNotify = false;
  constructor() {
    this.config.set32(0, 0x11223344);
  }
  readConfig(o: number, s: 1 | 2 | 4): number {
    return this.config.read(o, s);
  }
  writeConfig(o: number, _s: 1 | 2 | 4, v: number): void {
    if (o === 4) this.config.set32(4, v);
  }
  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }
  notify(index: number): void {
    this.notified.push(index);
    if (this.throwOnNotify) throw new Error("device bug");
    const ctx = this.ctx!;
    const vq = ctx.queue(index)!;
    for (let c = vq.pop(); c; c = vq.pop()) {
      const bytes = new Uint8Array(c.readableLen);
      let at = 0;
      for (const s of c.readable) {
        ctx.memory.read(s.addr, bytes.subarray(at, at + s.len));
        at += s.len;
      }
      const w = c.writable[0];
      const n = w ? Math.min(w.len, bytes.length) : 0;
      if (w) ctx.memory.write(w.addr, bytes.subarray(0, n));
      vq.push(c.head, n);
    }
    ctx.signalUsed(index);
  }
  reset(): void {
    this.resets++;
    this.ctx = undefined;
  }
  close(): void {}
}

function setup() {
  const ram = makeRam();
  const irq = new MockIrq();
  const device = new EchoDevice();
  const errors: string[] = [];
  const t = new VirtioMmioTransport({ device, memory: ram, irq, irqNumber: 5, onError: (m) => errors.push(m) });
  return { ram, irq, device, t, drv: new MockDriver(ram, t, irq), errors };
}

test("identification registers of virtio-mmio version 2", () => {
  const { drv } = setup();
  assert.equal(drv.reg(Reg.MAGIC_VALUE), 0x74726976);
  assert.equal(drv.reg(Reg.VERSION), 2);
  assert.equal(drv.reg(Reg.DEVICE_ID), 42);
  assert.equal(drv.reg(Reg.SHM_LEN_LOW), 0xffffffff, "no shared memory region: length -1");
  assert.equal(drv.reg(Reg.SHM_LEN_HIGH), 0xffffffff);
  const f = drv.deviceFeatures();
  assert.ok(f & feature(FeatureBit.VERSION_1));
  assert.ok(f & feature(FeatureBit.RING_INDIRECT_DESC));
  assert.ok(f & feature(FeatureBit.RING_EVENT_IDX));
  assert.equal(f & feature(FeatureBit.ACCESS_PLATFORM), 0n);
  assert.ok(f & (1n << 3n), "device-specific bits are offered");
});

test("the device tree node is the one QEMU's virt board generates", () => {
  const { t } = setup();
  const node = t.describe(0x10001000, {
    irqParent: 3,
    irqCells: (n: number) => [n],
    cpuIntcPhandles: [1],
    timebaseHz: 10_000_000,
  });
  assert.deepEqual(node, {
    name: "virtio_mmio@10001000",
    props: { compatible: "virtio,mmio", reg: [0, 0x10001000, 0, 0x1000], interrupts: [5], "interrupt-parent": [3] },
  });
});

test("feature negotiation refuses unknown bits and a driver without VERSION_1", () => {
  const { drv } = setup();
  drv.setReg(Reg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER);
  drv.writeFeatures(1n << 3n); // no VERSION_1: a legacy driver
  drv.setReg(Reg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
  assert.equal(drv.status & Status.FEATURES_OK, 0);
  drv.setReg(Reg.STATUS, 0);
  drv.setReg(Reg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER);
  drv.writeFeatures(feature(FeatureBit.VERSION_1) | (1n << 7n));
  drv.setReg(Reg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
  assert.equal(drv.status & Status.FEATURES_OK, 0, "bit 7 was never offered");
  drv.setReg(Reg.STATUS, 0);
  assert.equal(
    drv.init(),
    feature(FeatureBit.VERSION_1) | feature(FeatureBit.RING_INDIRECT_DESC) | feature(FeatureBit.RING_EVENT_IDX),
  );
  assert.equal(drv.status, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
});

test("requests flow through the queues, interrupts are level and acknowledged", () => {
  const { drv, irq, device } = setup();
  drv.init();
  drv.armUsedEvent(0);
  const { used, writable } = drv.request(0, [new Uint8Array([9, 8, 7])], [8]);
  assert.equal(used?.len, 3);
  assert.deepEqual(writable[0]!.subarray(0, 3), new Uint8Array([9, 8, 7]));
  assert.equal(irq.level, true);
  assert.equal(drv.ackInterrupt(), Interrupt.USED_BUFFER);
  assert.equal(irq.level, false);
  // Indirect descriptors on queue 1.
  drv.armUsedEvent(1);
  const r = drv.request(1, [new Uint8Array([1]), new Uint8Array([2])], [2], true);
  assert.equal(r.used?.len, 2);
  assert.deepEqual(r.writable[0], new Uint8Array([1, 2]));
  assert.deepEqual(device.notified, [0, 1]);
});

test("configuration space at 0x100 with any access size; generation moves on change", () => {
  const { drv, t, device } = setup();
  drv.init();
  assert.equal(t.read(Reg.CONFIG, 4), 0x11223344);
  assert.equal(t.read(Reg.CONFIG + 1, 1), 0x33);
  assert.equal(t.read(Reg.CONFIG + 2, 2), 0x1122);
  assert.equal(t.read(Reg.CONFIG + 8, 4), 0, "beyond the config space");
  t.write(Reg.CONFIG + 4, 4, 0xabcd);
  assert.equal(t.read(Reg.CONFIG + 4, 4), 0xabcd);
  const gen = drv.reg(Reg.CONFIG_GENERATION);
  device.ctx!.configChanged();
  assert.equal(drv.reg(Reg.CONFIG_GENERATION), gen + 1);
  assert.equal(drv.ackInterrupt(), Interrupt.CONFIG_CHANGE);
});

test("writing 0 to Status resets the device and its queues", () => {
  const { drv, device, irq } = setup();
  drv.init();
  device.ctx!.configChanged();
  assert.equal(irq.level, true);
  drv.setReg(Reg.STATUS, 0);
  assert.equal(drv.status, 0);
  assert.equal(irq.level, false);
  assert.ok(device.resets >= 1);
  drv.setReg(Reg.QUEUE_SEL, 0);
  assert.equal(drv.reg(Reg.QUEUE_READY), 0);
  drv.init();
  assert.equal(drv.request(0, [new Uint8Array([5])], [1]).used?.len, 1);
});

test("a bad queue size or ring address sets DEVICE_NEEDS_RESET with a config interrupt", () => {
  for (const size of [3, 32, 0]) {
    const { drv, irq, t } = setup();
    drv.init({ sizes: [size] });
    assert.ok(drv.status & Status.DEVICE_NEEDS_RESET, `size ${size}`);
    assert.equal(drv.reg(Reg.INTERRUPT_STATUS) & Interrupt.CONFIG_CHANGE, Interrupt.CONFIG_CHANGE);
    assert.equal(irq.level, true);
    assert.ok(t.lastError);
  }
  const { drv } = setup();
  drv.setReg(Reg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER);
  drv.writeFeatures(feature(FeatureBit.VERSION_1));
  drv.setReg(Reg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
  drv.setReg(Reg.QUEUE_SEL, 0);
  drv.setReg(Reg.QUEUE_NUM, 8);
  drv.setReg(Reg.QUEUE_DESC_HIGH, 0x1234);
  drv.setReg(Reg.QUEUE_READY, 1);
  assert.equal(drv.reg(Reg.QUEUE_READY), 0);
  assert.ok(drv.status & Status.DEVICE_NEEDS_RESET);
});

test("a broken ring stops the device; a device exception never escapes", () => {
  const { drv, device, errors } = setup();
  drv.init();
  drv.publish(drv.queue(0), 100);
  drv.kick(0);
  assert.ok(drv.status & Status.DEVICE_NEEDS_RESET);
  assert.match(errors[0]!, /descriptor 100/);
  drv.kick(0);
  assert.deepEqual(device.notified, [0], "no notifications forwarded after DEVICE_NEEDS_RESET");
  drv.init();
  device.throwOnNotify = true;
  assert.doesNotThrow(() => drv.kick(0));
  assert.ok(drv.status & Status.DEVICE_NEEDS_RESET);
});

test("control registers ignore narrow accesses and unknown queues", () => {
  const { t, drv } = setup();
  assert.equal(t.read(Reg.MAGIC_VALUE, 2), 0);
  drv.setReg(Reg.QUEUE_SEL, 7);
  assert.equal(drv.reg(Reg.QUEUE_NUM_MAX), 0);
  drv.setReg(Reg.QUEUE_READY, 1);
  assert.equal(drv.reg(Reg.QUEUE_READY), 0);
  drv.setReg(Reg.QUEUE_NOTIFY, 7);
});

test("EVENT_IDX end to end: the driver kicks only when avail_event asks, interrupts follow used_event", () => {
  const { drv, irq, device } = setup();
  drv.init();
  drv.armUsedEvent(0);
  drv.add(0, [new Uint8Array([1])], [1]);
  assert.equal(drv.kick(0, false), true, "first buffer: the device is waiting for it");
  assert.equal(drv.reap(0).length, 1);
  assert.equal(irq.level, true);
  drv.ackInterrupt();
  // Interrupts off until 2 more used entries (used_event = last_used + 1).
  drv.armUsedEvent(0, 1);
  drv.add(0, [new Uint8Array([2])], [1]);
  drv.kick(0, false);
  assert.equal(irq.level, false, "used_event not reached yet");
  drv.add(0, [new Uint8Array([3])], [1]);
  drv.kick(0, false);
  assert.equal(irq.level, true);
  assert.equal(drv.reap(0).length, 2);
  assert.deepEqual(device.notified, [0, 0, 0]);
});
