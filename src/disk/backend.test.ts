import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { preadvFull, pwritevFull } from "./backend.js";
import { RawDisk } from "./raw.js";
import { OverlayDisk } from "./overlay.js";
import { IOV_MAX } from "../sys/layout.js";
import { scratchDir } from "../devices/virtio/testing/scratch-fs.js";

/** Bytes that differ at every position of a file, so a misplaced buffer shows. */
function pattern(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = (i * 31 + (i >>> 8) * 7 + seed) & 0xff;
  return out;
}

/**
 * Buffers as a request's segments look: views scattered over a wasm memory (guest RAM), in an
 * order unrelated to their addresses, of mixed sizes, with a few from another ArrayBuffer and an
 * empty one, more of them than one preadv takes.
 */
function scatteredViews(count: number): Uint8Array[] {
  const mem = new WebAssembly.Memory({ initial: 160 }); // 10 MiB
  const other = new ArrayBuffer(Math.ceil(count / 97) * 4096);
  const views: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const len = 512 * (1 + (i % 8));
    if (i % 97 === 5) views.push(new Uint8Array(other, Math.floor(i / 97) * 4096, Math.min(len, 4096)));
    else if (i === 7) views.push(new Uint8Array(mem.buffer, 0, 0));
    else views.push(new Uint8Array(mem.buffer, ((i * 7919) % count) * 4096 + 4096, len));
  }
  return views;
}

const total = (bufs: readonly Uint8Array[]): number => bufs.reduce((n, b) => n + b.length, 0);

test("vectored reads and writes put every buffer in its place, beyond IOV_MAX buffers", (t) => {
  const path = join(scratchDir(t, "vec"), "raw.img");
  const views = scatteredViews(IOV_MAX + 700);
  const len = total(views);
  const image = pattern(len + 8192, 3);
  writeFileSync(path, image);
  const d = RawDisk.open(path);
  t.after(() => d.close());

  d.readv(4096, views);
  let at = 4096;
  for (const [i, v] of views.entries()) {
    assert.deepEqual(v, image.subarray(at, at + v.length), `buffer ${i}`);
    at += v.length;
  }

  const data = pattern(len, 99);
  at = 0;
  for (const v of views) {
    v.set(data.subarray(at, at + v.length));
    at += v.length;
  }
  d.writev(512, views);
  const after = new Uint8Array(readFileSync(path));
  assert.deepEqual(after.subarray(512, 512 + len), data);
  assert.deepEqual(after.subarray(0, 512), image.subarray(0, 512), "bytes before the write unchanged");
  assert.deepEqual(after.subarray(512 + len), image.subarray(512 + len), "bytes after the write unchanged");
});

test("a vectored read past the end of the file fills the rest with zeros", (t) => {
  const path = join(scratchDir(t, "vec"), "short.img");
  const image = pattern(5000, 1);
  writeFileSync(path, image);
  const fd = openSync(path, "r");
  t.after(() => closeSync(fd));
  const bufs = [new Uint8Array(4096).fill(0xee), new Uint8Array(4096).fill(0xee), new Uint8Array(4096).fill(0xee)];
  preadvFull(fd, bufs, 0);
  assert.deepEqual(bufs[0], image.subarray(0, 4096));
  assert.deepEqual(bufs[1]!.subarray(0, 904), image.subarray(4096));
  assert.ok(bufs[1]!.subarray(904).every((x) => x === 0));
  assert.ok(bufs[2]!.every((x) => x === 0));
});

test("vectored I/O on a file not open for it throws the host's error code", (t) => {
  const path = join(scratchDir(t, "vec"), "ro.img");
  writeFileSync(path, new Uint8Array(8192));
  const fd = openSync(path, "r");
  t.after(() => closeSync(fd));
  assert.throws(() => pwritevFull(fd, [new Uint8Array(512), new Uint8Array(512)], 0), { code: "EBADF" });
  assert.deepEqual(new Uint8Array(readFileSync(path)), new Uint8Array(8192));
});

test("an overlay's vectored reads and writes match its single-buffer ones", (t) => {
  const dir = scratchDir(t, "vec");
  const base = join(dir, "base.img");
  writeFileSync(base, pattern(1 << 20, 5));
  const ov = join(dir, "ov.qcow");
  OverlayDisk.create(ov, base);
  const d = OverlayDisk.open(ov);
  t.after(() => d.close());
  const views = scatteredViews(200);
  const data = pattern(total(views), 42);
  let at = 0;
  for (const v of views) {
    v.set(data.subarray(at, at + v.length));
    at += v.length;
  }
  d.writev(70_000, views);
  const whole = new Uint8Array(total(views) + 1024);
  d.read(70_000 - 512, whole);
  assert.deepEqual(whole.subarray(512, 512 + data.length), data);
  assert.deepEqual(whole.subarray(0, 512), pattern(1 << 20, 5).subarray(70_000 - 512, 70_000));
  for (const v of views) v.fill(0);
  d.readv(70_000, views);
  at = 0;
  for (const v of views) {
    assert.deepEqual(v, data.subarray(at, at + v.length));
    at += v.length;
  }
});
