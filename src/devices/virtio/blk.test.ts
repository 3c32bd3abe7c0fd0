import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { BLK_CONFIG, BlkFeature, BlkStatus, BlkType, VirtioBlk } from "./blk.js";
import { RawDisk } from "../../disk/raw.js";
import { blkHeader, blkRig, dwzSegments } from "./testing/blk-driver.js";
import { fuzzDevice } from "./testing/fuzz.js";
import { Reg } from "./transport-mmio.js";
import { feature } from "./spec.js";

function image(bytes: number): { dir: string; path: string; content: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), "corral-blk-"));
  const path = join(dir, "disk.img");
  const content = randomBytes(bytes);
  writeFileSync(path, content);
  return { dir, path, content };
}

test("virtio-blk config: capacity in sectors, blk_size, seg_max, limits; features", (t) => {
  const img = image(1 << 20);
  t.after(() => rmSync(img.dir, { recursive: true }));
  const rig = blkRig(RawDisk.open(img.path));
  t.after(() => rig.transport.close());
  const cfg = (off: number) => rig.transport.read(Reg.CONFIG + off, 4);
  assert.equal(cfg(BLK_CONFIG.capacity), 2048);
  assert.equal(cfg(BLK_CONFIG.capacity + 4), 0);
  assert.equal(cfg(BLK_CONFIG.blkSize), 512);
  assert.equal(cfg(BLK_CONFIG.segMax), 254);
  assert.ok(cfg(BLK_CONFIG.maxDiscardSectors) > 0);
  assert.ok(cfg(BLK_CONFIG.maxWriteZeroesSeg) > 0);
  const f = rig.drv.deviceFeatures();
  for (const b of [
    BlkFeature.SEG_MAX,
    BlkFeature.BLK_SIZE,
    BlkFeature.FLUSH,
    BlkFeature.DISCARD,
    BlkFeature.WRITE_ZEROES,
  ])
    assert.ok(f & feature(b), `bit ${b}`);
  assert.equal(f & feature(BlkFeature.RO), 0n);
});

test("IN and OUT move sectors between guest RAM and the image file", (t) => {
  const img = image(1 << 20);
  t.after(() => rmSync(img.dir, { recursive: true }));
  const rig = blkRig(RawDisk.open(img.path));
  const r = rig.read(3, 4);
  assert.equal(r.status, BlkStatus.OK);
  assert.equal(r.len, 4 * 512 + 1);
  assert.deepEqual(Buffer.from(r.data), img.content.subarray(3 * 512, 7 * 512));
  const r2 = rig.read(2047, 1, true);
  assert.deepEqual(Buffer.from(r2.data), img.content.subarray(2047 * 512));
  const data = randomBytes(8 * 512);
  assert.equal(rig.write(100, data), BlkStatus.OK);
  assert.equal(rig.write(200, data.subarray(0, 512), true), BlkStatus.OK);
  assert.equal(rig.raw([blkHeader(BlkType.FLUSH, 0)], [1]).status, BlkStatus.OK);
  const onDisk = readFileSync(img.path);
  assert.deepEqual(onDisk.subarray(100 * 512, 108 * 512), data);
  assert.deepEqual(onDisk.subarray(200 * 512, 201 * 512), data.subarray(0, 512));
  assert.deepEqual(onDisk.subarray(0, 100 * 512), img.content.subarray(0, 100 * 512));
  rig.transport.close();
});

test("a request split across many descriptors at odd boundaries is one byte stream (§2.6.4)", (t) => {
  const img = image(64 * 1024);
  t.after(() => rmSync(img.dir, { recursive: true }));
  const rig = blkRig(RawDisk.open(img.path));
  t.after(() => rig.transport.close());
  const hdr = blkHeader(BlkType.OUT, 5);
  const data = randomBytes(1024);
  const st = rig.raw(
    [hdr.subarray(0, 3), hdr.subarray(3), data.subarray(0, 7), data.subarray(7, 700), data.subarray(700)],
    [1],
  ).status;
  assert.equal(st, BlkStatus.OK);
  const r = rig.raw([hdr.subarray(0, 10).map((b, i) => (i === 0 ? 0 : b)), hdr.subarray(10)], [100, 924, 1]);
  assert.equal(r.status, BlkStatus.OK);
  assert.deepEqual(Buffer.concat([r.writable[0]!, r.writable[1]!, r.writable[2]!.subarray(0, 0)]), data);
});

test("GET_ID returns the serial number", (t) => {
  const img = image(4096);
  t.after(() => rmSync(img.dir, { recursive: true }));
  const rig = blkRig(RawDisk.open(img.path), { serial: "corral-serial-1234567890" });
  const r = rig.raw([blkHeader(BlkType.GET_ID, 0)], [20, 1]);
  assert.equal(r.status, BlkStatus.OK);
  assert.equal(Buffer.from(r.writable[0]!).toString(), "corral-serial-123456");
  rig.transport.close();
  const rig2 = blkRig(RawDisk.open(img.path, { readOnly: true }), { serial: "vda" });
  t.after(() => rig2.transport.close());
  const short = rig2.raw([blkHeader(BlkType.GET_ID, 0)], [20, 1]);
  assert.deepEqual([...short.writable[0]!.subarray(0, 4)], [0x76, 0x64, 0x61, 0]);
});

test("DISCARD and WRITE_ZEROES zero the ranges in the file; flags are checked", (t) => {
  const img = image(1 << 20);
  t.after(() => rmSync(img.dir, { recursive: true }));
  const rig = blkRig(RawDisk.open(img.path));
  t.after(() => rig.transport.close());
  assert.equal(
    rig.raw(
      [
        blkHeader(BlkType.WRITE_ZEROES, 0),
        dwzSegments([
          { sector: 8, count: 16, flags: 1 },
          { sector: 100, count: 3 },
        ]),
      ],
      [1],
    ).status,
    BlkStatus.OK,
  );
  assert.equal(
    rig.raw([blkHeader(BlkType.DISCARD, 0), dwzSegments([{ sector: 512, count: 512 }])], [1]).status,
    BlkStatus.OK,
  );
  assert.equal(
    rig.raw([blkHeader(BlkType.DISCARD, 0), dwzSegments([{ sector: 0, count: 8, flags: 1 }])], [1]).status,
    BlkStatus.UNSUPP,
  );
  assert.equal(
    rig.raw([blkHeader(BlkType.WRITE_ZEROES, 0), dwzSegments([{ sector: 2040, count: 16 }])], [1]).status,
    BlkStatus.IOERR,
  );
  assert.equal(rig.raw([blkHeader(BlkType.WRITE_ZEROES, 0)], [1]).status, BlkStatus.IOERR, "no segment");
  const f = readFileSync(img.path);
  const zero = (a: number, n: number) => f.subarray(a * 512, (a + n) * 512).every((b) => b === 0);
  assert.ok(zero(8, 16) && zero(100, 3) && zero(512, 512));
  assert.deepEqual(f.subarray(0, 8 * 512), img.content.subarray(0, 8 * 512));
  assert.deepEqual(f.subarray(103 * 512, 512 * 512), img.content.subarray(103 * 512, 512 * 512));
  assert.equal(statSync(img.path).size, 1 << 20, "discard keeps the file size");
});

test("malformed requests fail with IOERR or UNSUPP and the device carries on", (t) => {
  const img = image(64 * 1024);
  t.after(() => rmSync(img.dir, { recursive: true }));
  const rig = blkRig(RawDisk.open(img.path));
  t.after(() => rig.transport.close());
  const cases: [string, Uint8Array[], number[], number][] = [
    ["header too short", [blkHeader(BlkType.IN, 0).subarray(0, 12)], [512, 1], BlkStatus.IOERR],
    ["IN with readable data", [blkHeader(BlkType.IN, 0), new Uint8Array(512)], [512, 1], BlkStatus.IOERR],
    ["IN not whole sectors", [blkHeader(BlkType.IN, 0)], [500, 1], BlkStatus.IOERR],
    ["IN past the end", [blkHeader(BlkType.IN, 127)], [1024, 1], BlkStatus.IOERR],
    ["IN at a huge sector", [blkHeader(BlkType.IN, 1n << 62n)], [512, 1], BlkStatus.IOERR],
    ["OUT with writable data", [blkHeader(BlkType.OUT, 0), new Uint8Array(512)], [512, 1], BlkStatus.IOERR],
    ["OUT not whole sectors", [blkHeader(BlkType.OUT, 0), new Uint8Array(100)], [1], BlkStatus.IOERR],
    ["unknown type", [blkHeader(99, 0)], [1], BlkStatus.UNSUPP],
    ["GET_LIFETIME", [blkHeader(BlkType.GET_LIFETIME, 0)], [16, 1], BlkStatus.UNSUPP],
  ];
  for (const [what, out, inLens, want] of cases) {
    const r = rig.raw(out, inLens);
    assert.equal(r.status, want, what);
  }
  // No writable byte: nowhere to put a status; returned with length 0.
  assert.equal(rig.raw([blkHeader(BlkType.FLUSH, 0)], []).len, 0);
  assert.equal(rig.read(0, 1).status, BlkStatus.OK);
  assert.deepEqual(readFileSync(img.path), img.content, "no failed request changed the image");
  assert.ok(rig.blk.stats.errors >= cases.length);
});

test("a read-only disk offers F_RO and refuses writes with IOERR", (t) => {
  const img = image(64 * 1024);
  t.after(() => rmSync(img.dir, { recursive: true }));
  const rig = blkRig(RawDisk.open(img.path, { readOnly: true }));
  t.after(() => rig.transport.close());
  assert.ok(rig.drv.deviceFeatures() & feature(BlkFeature.RO));
  assert.equal(rig.write(0, new Uint8Array(512)), BlkStatus.IOERR);
  assert.equal(
    rig.raw([blkHeader(BlkType.WRITE_ZEROES, 0), dwzSegments([{ sector: 0, count: 1 }])], [1]).status,
    BlkStatus.IOERR,
  );
  assert.equal(rig.read(0, 1).status, BlkStatus.OK);
  assert.deepEqual(readFileSync(img.path), img.content);
});

test("virtio-blk survives 2000 randomized malformed descriptor tables", (t) => {
  const img = image(256 * 1024);
  t.after(() => rmSync(img.dir, { recursive: true }));
  const blk = new VirtioBlk({ disk: RawDisk.open(img.path), queueSize: 16 });
  t.after(() => blk.close());
  const types = [BlkType.IN, BlkType.OUT, BlkType.FLUSH, BlkType.GET_ID, BlkType.DISCARD, BlkType.WRITE_ZEROES, 7];
  const r = fuzzDevice(
    {
      device: blk,
      queues: [0],
      request: (rng) => {
        const h = blkHeader(rng.pick(types), rng.chance(0.8) ? rng.int(600) : rng.u32());
        return rng.chance(0.5)
          ? h
          : new Uint8Array([...h, ...dwzSegments([{ sector: rng.int(600), count: rng.int(64), flags: rng.int(3) }])]);
      },
    },
    0xb1c0_0002,
    2000,
  );
  assert.ok(r.completed > 500, JSON.stringify(r));
  assert.ok(blk.stats.requests > 300 && blk.stats.errors > 0, JSON.stringify(blk.stats));
});
