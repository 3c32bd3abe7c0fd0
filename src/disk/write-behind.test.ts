// Write-behind (write-behind.ts) on real files with its real worker thread: reads see every
// completed write, flush and close leave them in the file, a write the worker could not store is
// reported by the next flush, and close leaves no thread behind.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RawDisk } from "./raw.js";
import { WriteBehindDisk } from "./write-behind.js";
import { SLOT_BYTES } from "./write-ring.js";
import { Prng } from "../devices/virtio/testing/prng.js";
import { scratchDir, smallTmpfs } from "../devices/virtio/testing/scratch-fs.js";

test("write-behind: reads see every completed write; flush and close leave them in the file", (t) => {
  const path = join(scratchDir(t, "wb"), "raw.img");
  const size = 8 << 20;
  writeFileSync(path, new Uint8Array(size));
  const model = new Uint8Array(size);
  const d = new WriteBehindDisk(RawDisk.open(path));
  const p = new Prng(7);
  const r = (): number => p.u32();
  for (let n = 0; n < 300; n++) {
    // Mostly writes of 1-64 sectors split in up to 4 buffers, a few larger than a slot (written
    // at once), each followed now and then by a read of an overlapping range.
    const sectors = n % 50 === 49 ? SLOT_BYTES / 512 + 8 : 1 + (r() % 64);
    const at = 512 * (r() % (size / 512 - sectors));
    const data = new Uint8Array(sectors * 512).map(() => r() & 0xff);
    const cuts = [
      0,
      ...Array.from({ length: r() % 4 }, () => 512 * (r() % sectors)).sort((a, b) => a - b),
      data.length,
    ];
    d.writev(
      at,
      cuts.slice(1).map((end, i) => data.subarray(cuts[i], end)),
    );
    model.set(data, at);
    if (r() % 3 === 0) {
      const from = Math.max(0, at - 4096);
      const got = new Uint8Array(Math.min(size - from, data.length + 8192));
      d.readv(from, [got.subarray(0, 1000), got.subarray(1000)]);
      assert.deepEqual(got, model.subarray(from, from + got.length), `read after write ${n}`);
    }
  }
  d.flush();
  assert.deepEqual(new Uint8Array(readFileSync(path)), model, "flushed writes are in the file");
  d.write(0, new Uint8Array(512).fill(0x5a));
  model.fill(0x5a, 0, 512);
  d.close();
  assert.equal(d.running, false);
  assert.deepEqual(new Uint8Array(readFileSync(path)), model, "close stores what was queued");
  d.close(); // idempotent
});

test("write-behind: every other operation waits for the queued writes (a worker slowed on purpose)", (t) => {
  const path = join(scratchDir(t, "wb"), "raw.img");
  const fill = (at: number, len: number, v: number): void => d.write(at, new Uint8Array(len).fill(v));
  const file = (): Uint8Array => new Uint8Array(readFileSync(path));
  writeFileSync(path, new Uint8Array(4 << 20).fill(1));
  // The worker sleeps 20 ms before each write: an operation that did not wait sees old bytes,
  // or is overtaken by a write queued before it.
  const d = new WriteBehindDisk(RawDisk.open(path), { workerDelayMs: 20 });
  t.after(() => d.close());
  fill(0, 4096, 2);
  const b = new Uint8Array(4096);
  d.read(0, b);
  assert.ok(
    b.every((x) => x === 2),
    "read",
  );
  fill(0, 65536, 3);
  d.writeZeroes(4096, 8192);
  fill(65536, 65536, 4);
  d.discard(65536, 4096); // punches a hole: reads as zeros
  fill(0, 512, 5);
  d.write(0, new Uint8Array(SLOT_BYTES + 4096).fill(6)); // larger than a slot: written at once
  fill(2 << 20, 4096, 7);
  d.flush();
  const f = file();
  assert.ok(
    f.subarray(0, SLOT_BYTES + 4096).every((x) => x === 6),
    "a large write after queued ones",
  );
  assert.ok(
    f.subarray(2 << 20, (2 << 20) + 4096).every((x) => x === 7),
    "flush",
  );
  fill(3 << 20, 4096, 8);
  d.close();
  assert.ok(
    file()
      .subarray(3 << 20, (3 << 20) + 4096)
      .every((x) => x === 8),
    "close",
  );
});

test("write-behind: discard and write-zeroes are not overtaken by queued writes", (t) => {
  const path = join(scratchDir(t, "wb"), "raw.img");
  writeFileSync(path, new Uint8Array(1 << 20).fill(1));
  const d = new WriteBehindDisk(RawDisk.open(path), { workerDelayMs: 20 });
  t.after(() => d.close());
  d.write(0, new Uint8Array(65536).fill(2));
  d.writeZeroes(4096, 8192);
  d.write(131072, new Uint8Array(65536).fill(3));
  d.discard(131072, 4096);
  d.flush();
  const f = new Uint8Array(readFileSync(path));
  assert.ok(f.subarray(0, 4096).every((x) => x === 2));
  assert.ok(
    f.subarray(4096, 12288).every((x) => x === 0),
    "write-zeroes",
  );
  assert.ok(f.subarray(12288, 65536).every((x) => x === 2));
  assert.ok(
    f.subarray(131072, 135168).every((x) => x === 0),
    "discard",
  );
  assert.ok(f.subarray(135168, 196608).every((x) => x === 3));
});

test("write-behind: a write the worker cannot store (full host disk) fails the next flush with the host's error", (t) => {
  const mnt = smallTmpfs(t, "256k");
  if (mnt === null) return;
  const path = join(mnt, "sparse.img");
  writeFileSync(path, "");
  truncateSync(path, 4 << 20);
  const d = new WriteBehindDisk(RawDisk.open(path));
  try {
    // The writes complete (a volatile cache); storing them runs out of space in the worker.
    assert.throws(
      () => {
        for (let at = 0; at < 4 << 20; at += 65536) d.write(at, new Uint8Array(65536).fill(3));
        d.flush();
      },
      { code: "ENOSPC" },
    );
    // Writes still queued when that was reported may have failed too: the next flush says so.
    try {
      d.flush();
    } catch (e) {
      assert.equal((e as { code?: string }).code, "ENOSPC");
    }
    // Each failure is reported once; the disk goes on serving what fits.
    d.write(0, new Uint8Array(512).fill(4));
    d.flush();
    const b = new Uint8Array(512);
    d.read(0, b);
    assert.ok(b.every((x) => x === 4));
  } finally {
    d.close(); // before the unmount
  }
});
