import { test } from "node:test";
import assert from "node:assert/strict";
import { RAM_BASE } from "../../machine/memory.js";
import { makeRam, MockDriver, MockIrq } from "./testing/mock-driver.js";
import { DescFlag } from "./spec.js";
import { checkQueueConfig, Virtqueue, vringNeedEvent, type QueueConfig } from "./virtqueue.js";
import type { MmioDevice } from "../device.js";

const noDevice: MmioDevice = { name: "none", size: 0x1000, read: () => 0, write: () => {} };

/** A queue placed by the mock driver's layout code, driven directly (no transport). */
function setup(size = 8, opts: Partial<QueueConfig> = {}) {
  const ram = makeRam(64 * 1024);
  const drv = new MockDriver(ram, noDevice, new MockIrq());
  const desc = drv.alloc(16 * size, 16);
  const avail = drv.alloc(6 + 2 * size, 2);
  const used = drv.alloc(6 + 8 * size, 4);
  const dq = {
    index: 0,
    size,
    desc,
    avail,
    used,
    availIdx: 0,
    lastUsed: 0,
    free: Array.from({ length: size }, (_, i) => i),
    held: new Map<number, number[]>(),
  };
  drv.queues[0] = dq;
  const cfg: QueueConfig = {
    size,
    descAddr: desc,
    driverAddr: avail,
    deviceAddr: used,
    eventIdx: false,
    indirect: true,
    ...opts,
  };
  const vq = Virtqueue.create(ram, cfg, 256);
  assert.ok(vq instanceof Virtqueue);
  const broken: string[] = [];
  vq.onBroken = (r) => broken.push(r);
  return { ram, drv, dq, vq, broken };
}

test("vring_need_event follows the spec's wrap-around rule", () => {
  assert.equal(vringNeedEvent(0, 1, 0), true);
  assert.equal(vringNeedEvent(5, 3, 0), false);
  assert.equal(vringNeedEvent(2, 3, 0), true);
  assert.equal(vringNeedEvent(0xffff, 2, 0xfffe), true);
  assert.equal(vringNeedEvent(3, 2, 0xfffe), false);
});

test("queue geometry is checked: power of two, QueueNumMax, alignment, inside RAM", () => {
  const ram = makeRam(64 * 1024);
  const ok = {
    size: 8,
    descAddr: RAM_BASE,
    driverAddr: RAM_BASE + 0x100,
    deviceAddr: RAM_BASE + 0x200,
    eventIdx: true,
    indirect: true,
  };
  assert.equal(checkQueueConfig(ram, ok, 8), undefined);
  assert.match(checkQueueConfig(ram, { ...ok, size: 6 }, 8)!, /power of two/);
  assert.match(checkQueueConfig(ram, { ...ok, size: 0 }, 8)!, /power of two/);
  assert.match(checkQueueConfig(ram, { ...ok, size: 16 }, 8)!, /QueueNumMax/);
  assert.match(checkQueueConfig(ram, { ...ok, descAddr: RAM_BASE + 8 }, 8)!, /aligned/);
  assert.match(checkQueueConfig(ram, { ...ok, deviceAddr: RAM_BASE + 64 * 1024 - 16 }, 8)!, /outside guest RAM/);
  assert.match(checkQueueConfig(ram, { ...ok, driverAddr: 0 }, 8)!, /outside guest RAM/);
});

test("a chain with NEXT is returned readable-then-writable, and push publishes it", () => {
  const { ram, drv, vq } = setup();
  const { head } = drv.add(0, [new Uint8Array([1, 2, 3])], [10, 5]);
  const chain = vq.pop();
  assert.ok(chain);
  assert.equal(chain.head, head);
  assert.deepEqual(
    chain.readable.map((s) => s.len),
    [3],
  );
  assert.deepEqual(
    chain.writable.map((s) => s.len),
    [10, 5],
  );
  assert.equal(chain.writableLen, 15);
  assert.deepEqual(ram.slice(chain.readable[0]!.addr, 3), new Uint8Array([1, 2, 3]));
  assert.equal(vq.pop(), null);
  vq.push(chain.head, 7);
  assert.deepEqual(drv.reap(0), [{ id: head, len: 7 }]);
});

test("indirect tables are followed", () => {
  const { drv, vq } = setup();
  drv.add(0, [new Uint8Array(16), new Uint8Array(4)], [1], true);
  const chain = vq.pop();
  assert.ok(chain);
  assert.deepEqual(
    chain.readable.map((s) => s.len),
    [16, 4],
  );
  assert.deepEqual(
    chain.writable.map((s) => s.len),
    [1],
  );
});

function badChain(build: (s: ReturnType<typeof setup>) => void, opts: Partial<QueueConfig> = {}) {
  const s = setup(8, opts);
  build(s);
  s.drv.publish(s.dq, 0);
  const chain = s.vq.pop();
  assert.equal(chain, null);
  assert.equal(s.vq.badChains, 1);
  assert.deepEqual(s.drv.reap(0), [{ id: 0, len: 0 }], "the request fails with length 0");
  assert.equal(s.broken.length, 0);
  return s;
}

test("malformed chains fail their request and nothing else", () => {
  const buf = RAM_BASE + 0x8000;
  // A loop: 0 -> 1 -> 0.
  badChain(({ drv, dq }) => {
    drv.writeDesc(dq.desc, 0, { addr: buf, len: 4, flags: DescFlag.NEXT, next: 1 });
    drv.writeDesc(dq.desc, 1, { addr: buf, len: 4, flags: DescFlag.NEXT, next: 0 });
  });
  // A buffer outside guest RAM, and one straddling its end.
  badChain(({ drv, dq }) => drv.writeDesc(dq.desc, 0, { addr: 0x1000, len: 4, flags: 0, next: 0 }));
  badChain(({ drv, dq, ram }) => drv.writeDesc(dq.desc, 0, { addr: ram.end - 2, len: 4, flags: 0, next: 0 }));
  badChain(({ drv, dq }) => drv.writeDesc(dq.desc, 0, { addr: 1n << 63n, len: 4, flags: 0, next: 0 }));
  // Readable after writable.
  badChain(({ drv, dq }) => {
    drv.writeDesc(dq.desc, 0, { addr: buf, len: 4, flags: DescFlag.WRITE | DescFlag.NEXT, next: 1 });
    drv.writeDesc(dq.desc, 1, { addr: buf, len: 4, flags: 0, next: 0 });
  });
  // next outside the table.
  badChain(({ drv, dq }) => drv.writeDesc(dq.desc, 0, { addr: buf, len: 4, flags: DescFlag.NEXT, next: 8 }));
  // Indirect: not negotiated, empty, not a multiple of 16, nested, with NEXT, larger than the queue.
  const ind = (len: number, flags: number = DescFlag.INDIRECT) => ({ addr: buf, len, flags, next: 0 });
  badChain(({ drv, dq }) => drv.writeDesc(dq.desc, 0, ind(16)), { indirect: false });
  badChain(({ drv, dq }) => drv.writeDesc(dq.desc, 0, ind(0)));
  badChain(({ drv, dq }) => drv.writeDesc(dq.desc, 0, ind(24)));
  badChain(({ drv, dq }) => drv.writeDesc(dq.desc, 0, ind(16, DescFlag.INDIRECT | DescFlag.NEXT)));
  badChain(({ drv, dq }) => drv.writeDesc(dq.desc, 0, ind(16 * 9)));
  badChain(({ drv, dq }) => {
    drv.writeDesc(dq.desc, 0, ind(32));
    drv.writeDesc(buf, 0, { addr: buf + 0x100, len: 16, flags: DescFlag.INDIRECT, next: 0 });
  });
  // A loop inside an indirect table.
  badChain(({ drv, dq }) => {
    drv.writeDesc(dq.desc, 0, ind(32));
    drv.writeDesc(buf, 0, { addr: buf + 0x100, len: 1, flags: DescFlag.NEXT, next: 1 });
    drv.writeDesc(buf, 1, { addr: buf + 0x100, len: 1, flags: DescFlag.NEXT, next: 0 });
  });
});

test("a head index >= size or an avail index running ahead breaks the queue", () => {
  const a = setup();
  a.drv.publish(a.dq, 8);
  assert.equal(a.vq.pop(), null);
  assert.match(a.broken[0]!, /descriptor 8/);
  assert.ok(a.vq.broken);
  const b = setup();
  b.ram.writeU16(b.dq.avail + 2, 9);
  assert.equal(b.vq.pop(), null);
  assert.match(b.broken[0]!, /ahead/);
  assert.equal(b.broken.length, 1);
  assert.equal(b.vq.pop(), null);
  assert.equal(b.broken.length, 1, "onBroken fires once");
});

test("EVENT_IDX: avail_event tracks consumption and used_event gates interrupts", () => {
  const { ram, drv, dq, vq } = setup(8, { eventIdx: true });
  drv.add(0, [new Uint8Array(1)], []);
  drv.add(0, [new Uint8Array(1)], []);
  const c1 = vq.pop()!;
  assert.equal(ram.readU16(dq.used + 4 + 8 * 8), 1, "avail_event = next slot the device reads");
  vq.pop();
  assert.equal(ram.readU16(dq.used + 4 + 8 * 8), 2);
  // used_event = 1: the driver wants an interrupt once the used index passes 1.
  ram.writeU16(dq.avail + 4 + 2 * 8, 1);
  vq.push(c1.head, 0);
  assert.equal(vq.needsInterrupt(), false, "used idx 1 has not passed used_event 1");
  vq.push(c1.head, 0);
  assert.equal(vq.needsInterrupt(), true);
  assert.equal(vq.needsInterrupt(), false, "nothing new since the last decision");
});

test("without EVENT_IDX, VRING_AVAIL_F_NO_INTERRUPT suppresses interrupts and NO_NOTIFY can be set", () => {
  const { ram, dq, vq } = setup();
  ram.writeU16(dq.avail, 1);
  vq.push(0, 0);
  assert.equal(vq.needsInterrupt(), false);
  ram.writeU16(dq.avail, 0);
  vq.push(0, 0);
  assert.equal(vq.needsInterrupt(), true);
  vq.setNotifications(false);
  assert.equal(ram.readU16(dq.used), 1);
  vq.setNotifications(true);
  assert.equal(ram.readU16(dq.used), 0);
});
