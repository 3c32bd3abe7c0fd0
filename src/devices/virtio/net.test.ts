import { test } from "node:test";
import assert from "node:assert/strict";
import { NET_CONFIG, NET_HDR, NetFeature, VirtioNet, parseMac, type NetBackend } from "./net.js";
import { makeRam, MockDriver, MockIrq } from "./testing/mock-driver.js";
import { fuzzDevice } from "./testing/fuzz.js";
import { Reg, VirtioMmioTransport } from "./transport-mmio.js";
import { feature } from "./spec.js";
import { encodeOffload, NetGso, segmentTcp, type NetOffload } from "./net-offload.js";

/** Two backends joined back to back: what one NIC sends, the other receives. */
function wire(): [NetBackend, NetBackend] {
  const cbs: ((f: Uint8Array) => void)[] = [() => {}, () => {}];
  const end = (me: number): NetBackend => ({ send: (f) => cbs[1 - me]!(f), onReceive: (cb) => void (cbs[me] = cb) });
  return [end(0), end(1)];
}

function nic(backend: NetBackend, mac: string, refuse = 0n) {
  const ram = makeRam();
  const irq = new MockIrq();
  const dev = new VirtioNet({ backend, mac, queueSize: 32 });
  const t = new VirtioMmioTransport({ device: dev, memory: ram, irq, irqNumber: 1 });
  const drv = new MockDriver(ram, t, irq);
  drv.init({ want: drv.deviceFeatures() & ~refuse });
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

test("MRG_RXBUF: a frame spreads over as many buffers as it needs, the first header counts them", () => {
  const [wa, wb] = wire();
  const A = nic(wa, "52:54:00:00:00:01");
  const B = nic(wb, "52:54:00:00:00:02");
  assert.ok(B.drv.features & feature(NetFeature.MRG_RXBUF));
  const f = frame(parseMac("52:54:00:00:00:02"), parseMac("52:54:00:00:00:01"), "merged"); // 60 bytes
  const send = (): void => void A.drv.request(1, [new Uint8Array(NET_HDR.size), f], []);
  // 12 + 60 bytes into 40-byte buffers: the first one alone is not enough, so the device waits.
  const b1 = B.drv.add(0, [], [40]);
  B.drv.kick(0);
  send();
  assert.deepEqual(B.drv.reap(0), []);
  const b2 = B.drv.add(0, [], [40]);
  const b3 = B.drv.add(0, [], [40]);
  B.drv.kick(0);
  assert.deepEqual(B.drv.reap(0), [
    { id: b1.head, len: 40 },
    { id: b2.head, len: 32 },
  ]);
  const got = new Uint8Array([...B.drv.readBuf(b1.writable[0]!), ...B.drv.readBuf(b2.writable[0]!).subarray(0, 32)]);
  assert.equal(new DataView(got.buffer).getUint16(NET_HDR.numBuffers, true), 2);
  assert.deepEqual(got.subarray(NET_HDR.size), f);
  // The third buffer was left on the ring; a buffer shorter than the header comes back empty.
  const tiny = B.drv.add(0, [], [8]);
  const b5 = B.drv.add(0, [], [100]);
  B.drv.kick(0);
  send();
  // The short one is returned as soon as it is seen; the packet's buffers stay consecutive.
  assert.deepEqual(B.drv.reap(0), [
    { id: tiny.head, len: 0 },
    { id: b3.head, len: 40 },
    { id: b5.head, len: 32 },
  ]);
  assert.equal(B.dev.stats.rxFrames, 2);
  assert.equal(B.dev.stats.rxDropped, 0);
});

test("MRG_RXBUF: a frame no ring could hold is dropped; without the feature a short buffer drops the frame", () => {
  const [wa, wb] = wire();
  const A = nic(wa, "52:54:00:00:00:01");
  const B = nic(wb, "52:54:00:00:00:02");
  const f = frame(parseMac("52:54:00:00:00:02"), parseMac("52:54:00:00:00:01"), "x".repeat(1400));
  // 32 buffers (the whole ring) of 16 bytes hold 512 bytes: the 1426-byte packet can never fit.
  for (let i = 0; i < 32; i++) B.drv.add(0, [], [16]);
  B.drv.kick(0);
  A.drv.request(1, [new Uint8Array(NET_HDR.size), f], []);
  assert.equal(B.dev.stats.rxDropped, 1);
  // The held buffers serve the next frame that fits them.
  const small = frame(parseMac("52:54:00:00:00:02"), parseMac("52:54:00:00:00:01"), "small");
  A.drv.request(1, [new Uint8Array(NET_HDR.size), small], []);
  const used = B.drv.reap(0);
  assert.equal(used.length, Math.ceil((NET_HDR.size + small.length) / 16));
  assert.equal(B.dev.stats.rxFrames, 1);

  const [wc, wd] = wire();
  const C = nic(wc, "52:54:00:00:00:03");
  const D = nic(wd, "52:54:00:00:00:04", feature(NetFeature.MRG_RXBUF));
  const d1 = D.drv.add(0, [], [40]);
  D.drv.kick(0);
  C.drv.request(1, [new Uint8Array(NET_HDR.size), small], []);
  assert.deepEqual(D.drv.reap(0), [{ id: d1.head, len: 0 }]);
  assert.equal(D.dev.stats.rxDropped, 1);
});

test("MRG_RXBUF: chains of several descriptors that fill the ring and still cannot hold a frame drop it", () => {
  const [wa, wb] = wire();
  const A = nic(wa, "52:54:00:00:00:01");
  const B = nic(wb, "52:54:00:00:00:02");
  // 16 chains of two 16-byte descriptors: all 32 descriptors of the ring, 512 bytes in all.
  for (let i = 0; i < 16; i++) B.drv.add(0, [], [16, 16]);
  B.drv.kick(0);
  const big = frame(parseMac("52:54:00:00:00:02"), parseMac("52:54:00:00:00:01"), "x".repeat(1400));
  A.drv.request(1, [new Uint8Array(NET_HDR.size), big], []);
  assert.equal(B.dev.stats.rxDropped, 1);
  const small = frame(parseMac("52:54:00:00:00:02"), parseMac("52:54:00:00:00:01"), "small");
  A.drv.request(1, [new Uint8Array(NET_HDR.size), small], []);
  assert.equal(B.drv.reap(0).length, Math.ceil((NET_HDR.size + small.length) / 32));
  assert.equal(B.dev.stats.rxFrames, 1);
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
  const r = fuzzDevice(
    { device: new VirtioNet({ backend: a, mac: "52:54:00:00:00:04", queueSize: 16 }), queues: [1] },
    0x4e7_0005,
    2000,
  );
  assert.ok(r.completed > 500, JSON.stringify(r));
});

/** A TCPv4 segment of `n` payload bytes as a TSO driver hands it over (IP checksum done, TCP's left). */
function tsoFrame(n: number): { frame: Uint8Array; off: NetOffload } {
  const f = new Uint8Array(14 + 20 + 20 + n);
  f.set([0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1, 0x08, 0x00]);
  f.set([0x45, 0, (40 + n) >>> 8, (40 + n) & 0xff, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 2, 15, 10, 0, 2, 16], 14);
  f.set([0x9c, 0x40, 0x13, 0x88, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xfa, 0xf0], 34);
  for (let i = 0; i < n; i++) f[54 + i] = i & 0xff;
  return {
    frame: f,
    off: { flags: 1, gsoType: NetGso.TCPV4, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOffset: 16 },
  };
}

test("offloads: offered only over a backend that carries them; TSO frames pass through to a guest that takes them", () => {
  const got: { f: Uint8Array; o: NetOffload | undefined }[] = [];
  const plain = nic({ send: () => {}, onReceive: () => {} }, "52:54:00:00:00:05");
  assert.equal(plain.drv.features & feature(NetFeature.HOST_TSO4), 0n, "a TAP-like backend gets no offloads");
  let deliver: (f: Uint8Array, o?: NetOffload) => void = () => {};
  const A = nic(
    { offloads: true, send: (f, o) => got.push({ f: f.slice(), o }), onReceive: (cb) => void (deliver = cb) },
    "52:54:00:00:00:01",
  );
  assert.notEqual(A.drv.features & feature(NetFeature.HOST_TSO4), 0n);
  const { frame, off } = tsoFrame(20_000);
  const hdr = new Uint8Array(NET_HDR.size);
  encodeOffload(off, hdr, 0);
  A.drv.request(1, [hdr, frame], []);
  assert.equal(got.length, 1);
  assert.deepEqual(got[0]!.o, off);
  assert.deepEqual(got[0]!.f, frame);
  // Received whole into a big buffer, its header saying what is left to do (§5.1.6.4).
  const rx = A.drv.add(0, [], [NET_HDR.size + 65_600]);
  A.drv.kick(0);
  deliver(frame, off);
  const used = A.drv.reap(0);
  assert.deepEqual(used, [{ id: rx.head, len: NET_HDR.size + frame.length }]);
  const b = A.drv.readBuf(rx.writable[0]!);
  assert.deepEqual([...b.subarray(0, 2)], [1, NetGso.TCPV4]);
});

test("offloads: a guest without GUEST_TSO4/GUEST_CSUM gets MSS-sized complete frames; bad offload headers are dropped", () => {
  let deliver: (f: Uint8Array, o?: NetOffload) => void = () => {};
  const sent: Uint8Array[] = [];
  const B = nic(
    { offloads: true, send: (f) => sent.push(f), onReceive: (cb) => void (deliver = cb) },
    "52:54:00:00:00:02",
    feature(NetFeature.GUEST_TSO4) | feature(NetFeature.GUEST_CSUM) | feature(NetFeature.HOST_TSO4),
  );
  const bufs = Array.from({ length: 16 }, () => B.drv.add(0, [], [NET_HDR.size + 1514]));
  B.drv.kick(0);
  const { frame, off } = tsoFrame(10_000);
  deliver(frame, off);
  const used = B.drv.reap(0);
  const expect = segmentTcp(frame, off);
  assert.equal(used.length, expect.length);
  used.forEach((u, k) => {
    const b = B.drv.readBuf(bufs.find((p) => p.head === u.id)!.writable[0]!);
    assert.deepEqual([...b.subarray(0, 2)], [0, 0], "no offload left in the header");
    assert.deepEqual(b.subarray(NET_HDR.size, u.len), expect[k]);
  });
  // HOST_TSO4 was not negotiated: a TSO header from this guest is refused.
  const hdr = new Uint8Array(NET_HDR.size);
  encodeOffload(off, hdr, 0);
  B.drv.request(1, [hdr, frame], []);
  assert.equal(sent.length, 0);
  assert.equal(B.dev.stats.txDropped, 1);
});

test("blockSource: frames from that MAC are dropped, others still leave", () => {
  const sent: Uint8Array[] = [];
  const backend: NetBackend = { send: (f) => void sent.push(f), onReceive: () => {} };
  const { dev, drv } = nic(backend, "52:54:00:00:00:09");
  const old = parseMac("52:54:00:00:00:01");
  const own = parseMac("52:54:00:00:00:09");
  const dst = parseMac("52:54:00:00:00:02");
  dev.blockSource("52:54:00:00:00:01");
  drv.request(1, [new Uint8Array(NET_HDR.size), frame(dst, old, "from the parent's MAC")], []);
  drv.request(1, [new Uint8Array(NET_HDR.size), frame(dst, own, "from its own")], []);
  assert.equal(sent.length, 1);
  assert.deepEqual(sent[0]!.subarray(6, 12), own);
  assert.equal(dev.stats.txDropped, 1);
});
