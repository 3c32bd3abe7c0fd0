import { test } from "node:test";
import assert from "node:assert/strict";
import { NET_CONFIG, NET_HDR, NetFeature, VirtioNet, parseMac, type NetBackend } from "./net.js";
import { makeRam, MockDriver, MockIrq } from "./testing/mock-driver.js";
import { fuzzDevice } from "./testing/fuzz.js";
import { Reg, VirtioMmioTransport } from "./transport-mmio.js";
import { feature } from "./spec.js";

/** Two backends joined back to back: what one NIC sends, the other receives. */
function wire(): [NetBackend, NetBackend] {
  const cbs: ((f: Uint8Array) => void)[] = [() => {}, () => {}];
  const end = (me: number): NetBackend => ({ send: (f) => cbs[1 - me]!(f), onReceive: (cb) => void (cbs[me] = cb) });
  return [end(0), end(1)];
}

function nic(backend: NetBackend, mac: string) {
  const ram = makeRam();
  const irq = new MockIrq();
  const dev = new VirtioNet({ backend, mac, queueSize: 32 });
  const t = new VirtioMmioTransport({ device: dev, memory: ram, irq, irqNumber: 1 });
  const drv = new MockDriver(ram, t, irq);
  drv.init({ want: drv.deviceFeatures() });
  return { dev, drv, t };
}

function frame(dst: Uint8Array, src: Uint8Array, payload: string): Uint8Array {
  return new Uint8Array([...dst, ...src, 0x88, 0xb5, ...new TextEncoder().encode(payload.padEnd(46, "."))]);
}

test("MAC and link status in the config space", () => {
  const [a] = wire();
  const { drv, t } = nic(a, "52:54:00:12:34:56");
  assert.equal(drv.reg(Reg.DEVICE_ID), 1);
  assert.ok(drv.features & feature(NetFeature.MAC));
  const mac = Array.from({ length: 6 }, (_, i) => t.read(Reg.CONFIG + NET_CONFIG.mac + i, 1));
  assert.deepEqual(mac, [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
  assert.equal(t.read(Reg.CONFIG + NET_CONFIG.status, 2), 1);
  assert.throws(() => parseMac("52:54:00:12:34"), RangeError);
});

test("a frame sent by one NIC arrives at the other with a virtio_net_hdr", () => {
  const [wa, wb] = wire();
  const A = nic(wa, "52:54:00:00:00:01");
  const B = nic(wb, "52:54:00:00:00:02");
  const rx = B.drv.add(0, [], [NET_HDR.size + 1514]);
  B.drv.kick(0);
  const f = frame(parseMac("52:54:00:00:00:02"), parseMac("52:54:00:00:00:01"), "hello over the wire");
  A.drv.request(1, [new Uint8Array(NET_HDR.size), f], []);
  const used = B.drv.reap(0);
  assert.deepEqual(used, [{ id: rx.head, len: NET_HDR.size + f.length }]);
  const got = B.drv.readBuf(rx.writable[0]!);
  assert.equal(new DataView(got.buffer).getUint16(NET_HDR.numBuffers, true), 1);
  assert.deepEqual(got.subarray(NET_HDR.size, NET_HDR.size + f.length), f);
  // Frames arriving before receive buffers wait in the backlog.
  A.drv.request(1, [new Uint8Array(NET_HDR.size), f], []);
  assert.equal(B.drv.reap(0).length, 0);
  B.drv.add(0, [], [NET_HDR.size + 1514]);
  B.drv.kick(0);
  assert.equal(B.drv.reap(0).length, 1);
  assert.equal(B.dev.stats.rxFrames, 2);
});

test("invalid transmit requests are dropped: short, oversized, offload flags", () => {
  const sent: Uint8Array[] = [];
  const { drv, dev } = nic({ send: (f) => sent.push(f), onReceive: () => {} }, "52:54:00:00:00:03");
  const hdr = new Uint8Array(NET_HDR.size);
  const csum = hdr.slice();
  csum[NET_HDR.flags] = 1;
  drv.request(1, [hdr.subarray(0, 8)], []);
  drv.request(1, [hdr, new Uint8Array(2000)], []);
  drv.request(1, [csum, new Uint8Array(60)], []);
  assert.equal(sent.length, 0);
  assert.equal(dev.stats.txDropped, 3);
  drv.request(1, [hdr, new Uint8Array(60)], []);
  assert.equal(sent.length, 1);
});

test("virtio-net survives 2000 randomized malformed descriptor tables", () => {
  const [a] = wire();
  const r = fuzzDevice({ device: new VirtioNet({ backend: a, mac: "52:54:00:00:00:04", queueSize: 16 }), queues: [1] }, 0x4e7_0005, 2000);
  assert.ok(r.completed > 500, JSON.stringify(r));
});
