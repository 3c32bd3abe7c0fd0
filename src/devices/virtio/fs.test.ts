// virtio-fs through the virtio-mmio transport and the mock driver: the configuration space, a
// FUSE exchange on the request queue, the shared fuzz suite, and a seeded random stream of FUSE
// requests against a real directory that must never throw nor touch anything outside it.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { FS_CONFIG, VirtioFs } from "./fs.js";
import { FuseServer } from "./fuse/server.js";
import * as P from "./fuse/protocol.js";
import { DeviceId } from "./spec.js";
import { makeRam, MockDriver, MockIrq } from "./testing/mock-driver.js";
import { fuzzDevice } from "./testing/fuzz.js";
import { Prng } from "./testing/prng.js";
import { VirtioMmioTransport } from "./transport-mmio.js";

const scratch = mkdtempSync(join(tmpdir(), "corral-virtiofs-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

function tree(name: string): { dir: string; outside: string } {
  const dir = join(scratch, name, "share");
  const outside = join(scratch, name, "outside");
  mkdirSync(join(dir, "sub"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(dir, "a"), "alpha");
  writeFileSync(join(outside, "secret"), "secret");
  symlinkSync(outside, join(dir, "out"));
  symlinkSync(join(outside, "secret"), join(dir, "sec"));
  return { dir, outside };
}

function request(op: number, nodeid: bigint, body: Uint8Array, unique = 7n): Uint8Array {
  const h = Buffer.alloc(P.IN_HEADER.size);
  h.writeUInt32LE(h.length + body.length, P.IN_HEADER.len);
  h.writeUInt32LE(op, P.IN_HEADER.opcode);
  h.writeBigUInt64LE(unique, P.IN_HEADER.unique);
  h.writeBigUInt64LE(nodeid, P.IN_HEADER.nodeid);
  return Buffer.concat([h, body]);
}

function initBody(): Uint8Array {
  const b = Buffer.alloc(P.INIT_IN.size);
  b.writeUInt32LE(7, 0);
  b.writeUInt32LE(38, 4);
  return b;
}

test("virtio-fs: device id 26, the tag and one request queue in its configuration; a FUSE exchange", () => {
  const { dir } = tree("config");
  const ram = makeRam();
  const irq = new MockIrq();
  const dev = new VirtioFs({ root: dir, tag: "hostshare" });
  const t = new VirtioMmioTransport({ device: dev, memory: ram, irq, irqNumber: 1 });
  const drv = new MockDriver(ram, t, irq);
  drv.init();
  assert.equal(drv.reg(0x008), DeviceId.FS);
  const tag = Buffer.alloc(FS_CONFIG.tagSize);
  for (let i = 0; i < FS_CONFIG.tagSize; i++) tag[i] = t.read(0x100 + i, 1);
  assert.equal(tag.toString("utf8").replace(/\0+$/, ""), "hostshare");
  assert.equal(t.read(0x100 + FS_CONFIG.numRequestQueues, 4), 1);
  // INIT split over two descriptors and its reply over two (§2.6.4: no assumption on framing).
  const init = request(P.Op.INIT, 0n, initBody(), 42n);
  const r = drv.request(1, [init.subarray(0, 20), init.subarray(20)], [8, 200]);
  const reply = Buffer.concat(r.writable);
  assert.equal(r.used?.len, P.OUT_HEADER.size + P.INIT_OUT.size);
  assert.equal(reply.readInt32LE(P.OUT_HEADER.error), 0);
  assert.equal(reply.readBigUInt64LE(P.OUT_HEADER.unique), 42n);
  assert.equal(reply.readUInt32LE(P.OUT_HEADER.size + P.INIT_OUT.major), 7);
  const look = drv.request(1, [request(P.Op.LOOKUP, 1n, Buffer.from("a\0"))], [P.OUT_HEADER.size + P.ENTRY_OUT.size]);
  const e = Buffer.from(look.writable[0]!);
  assert.equal(e.readInt32LE(P.OUT_HEADER.error), 0);
  assert.equal(e.readBigUInt64LE(P.OUT_HEADER.size + P.ENTRY_OUT.attr + P.ATTR.size_), 5n);
  // FORGET on the high-priority queue completes with no reply.
  const nodeid = e.readBigUInt64LE(P.OUT_HEADER.size);
  const f = drv.request(0, [request(P.Op.FORGET, nodeid, Buffer.from(new BigUint64Array([1n]).buffer))], []);
  assert.equal(f.used?.len, 0);
  assert.equal(dev.server.nodeCount, 1);
  dev.close();
});

test("a bad tag is refused", () => {
  const { dir } = tree("tag");
  assert.throws(() => new VirtioFs({ root: dir, tag: "" }), RangeError);
  assert.throws(() => new VirtioFs({ root: dir, tag: "x".repeat(37) }), RangeError);
});

/** Random FUSE requests: every opcode (and unknown ones), node ids and names both valid and hostile. */
function randomRequest(rng: Prng): Uint8Array {
  const ops = [...Object.values(P.Op), 0, 7, 31, 39, 47, 51, 4096, 0xffffffff];
  const op = rng.chance(0.1) ? P.Op.INIT : rng.pick(ops);
  const names = ["a", "sub", "out", "sec", "new", "..", ".", "a/b", "", "x".repeat(300), "\xff\xfe"];
  const parts: Uint8Array[] = [];
  if (op === P.Op.INIT) parts.push(initBody());
  else {
    const fixed = Buffer.from(rng.bytes(rng.pick([0, 8, 16, 24, 40, 88, 128])));
    // Small handles and node ids, so that requests hit real ones.
    if (fixed.length >= 8 && rng.chance(0.7)) fixed.writeBigUInt64LE(BigInt(rng.int(6)), 0);
    if (fixed.length >= 16 && rng.chance(0.5)) fixed.writeBigUInt64LE(BigInt(rng.int(1 << 20)), 8);
    if (fixed.length >= 20 && rng.chance(0.7)) fixed.writeUInt32LE(rng.int(8192), 16);
    parts.push(fixed);
    for (let i = rng.int(3); i > 0; i--) parts.push(Buffer.from(`${rng.pick(names)}\0`, "latin1"));
  }
  const nodeid = rng.chance(0.8) ? BigInt(rng.int(6)) : BigInt(rng.u32()) << 20n;
  const req = Buffer.from(request(op, nodeid, Buffer.concat(parts)));
  if (rng.chance(0.05)) req.writeUInt32LE(rng.u32(), P.IN_HEADER.len);
  if (rng.chance(0.05)) req.writeUInt16LE(rng.int(4), P.IN_HEADER.totalExtlen);
  return req;
}

test("virtio-fs survives 2000 randomized malformed descriptor tables", () => {
  const { dir, outside } = tree("fuzz");
  const dev = new VirtioFs({ root: dir, tag: "fuzz", queueSize: 16 });
  const r = fuzzDevice({ device: dev, queues: [0, 1], request: randomRequest }, 0xf5_0026, 2000);
  assert.ok(r.completed > 500, JSON.stringify(r));
  assert.deepEqual(readdirSync(outside), ["secret"]);
  assert.equal(readFileSync(join(outside, "secret"), "utf8"), "secret");
  dev.close();
});

test("20000 random FUSE requests: each answered, nothing outside the share touched, fds bounded and closed", () => {
  const { dir, outside } = tree("stream");
  const fds = readdirSync("/proc/self/fd").length;
  const srv = new FuseServer({ root: dir, maxNodes: 64, maxHandles: 16 });
  const rng = new Prng(0x5eed_f5);
  srv.handle(request(P.Op.INIT, 0n, initBody()), 4096);
  for (let i = 0; i < 20000; i++) {
    const req = randomRequest(rng);
    const reply = srv.handle(req, rng.pick([0, 16, 100, 4096, 1 << 17]));
    if (reply === null) continue;
    const v = Buffer.from(reply);
    assert.equal(v.readUInt32LE(P.OUT_HEADER.len), v.length);
    assert.equal(v.readBigUInt64LE(P.OUT_HEADER.unique), Buffer.from(req).readBigUInt64LE(P.IN_HEADER.unique));
    assert.ok(srv.nodeCount <= 64 && srv.handleCount <= 16);
  }
  assert.deepEqual(readdirSync(outside), ["secret"]);
  assert.equal(readFileSync(join(outside, "secret"), "utf8"), "secret");
  srv.close();
  assert.equal(readdirSync("/proc/self/fd").length, fds, "every host fd closed");
});
