import { test } from "node:test";
import assert from "node:assert/strict";
import {
  VIRTQ_AVAIL,
  VIRTQ_DESC,
  VIRTQ_USED,
  VIRTQ_USED_ELEM,
  VSOCK_CONFIG,
  VSOCK_HDR,
  availEventOffset,
  ringSizes,
  usedEventOffset,
} from "./layout.js";
import type { Layout } from "./layout.js";

/** Fields are in order, do not overlap, and end within the structure. */
function assertPacked<K extends string>(l: Layout<K>): void {
  let end = 0;
  for (const f of Object.values<{ offset: number; size: number }>(l.fields)) {
    assert.ok(f.offset >= end, `field at ${f.offset} overlaps the previous one`);
    end = f.offset + f.size;
  }
  assert.ok(end <= l.size);
}

test("split virtqueue structures have the sizes of virtio 1.2 §2.7", () => {
  assert.equal(VIRTQ_DESC.size, 16);
  assert.deepEqual(VIRTQ_DESC.fields, {
    addr: { offset: 0, size: 8 },
    len: { offset: 8, size: 4 },
    flags: { offset: 12, size: 2 },
    next: { offset: 14, size: 2 },
  });
  assert.equal(VIRTQ_USED_ELEM.size, 8);
  assert.equal(VIRTQ_AVAIL.fields.ring.offset, 4);
  assert.equal(VIRTQ_USED.fields.ring.offset, 4);
  const all: Layout<string>[] = [VIRTQ_DESC, VIRTQ_AVAIL, VIRTQ_USED, VIRTQ_USED_ELEM];
  for (const l of all) assertPacked(l);
});

test("ring part sizes match the spec's formulas (§2.7: 16*n, 6+2*n, 6+8*n)", () => {
  for (const n of [1, 2, 256, 32768]) {
    assert.deepEqual(ringSizes(n), { desc: 16 * n, avail: 6 + 2 * n, used: 6 + 8 * n });
    assert.equal(usedEventOffset(n), 4 + 2 * n);
    assert.equal(availEventOffset(n), 4 + 8 * n);
  }
});

test("the vsock header is the packed 44-byte struct virtio_vsock_hdr of virtio 1.2 §5.10.6", () => {
  assert.equal(VSOCK_HDR.size, 44);
  const f = VSOCK_HDR.fields;
  assert.deepEqual(
    [f.srcCid, f.dstCid, f.srcPort, f.dstPort, f.len, f.type, f.op, f.flags, f.bufAlloc, f.fwdCnt].map((x) => [
      x.offset,
      x.size,
    ]),
    [
      [0, 8],
      [8, 8],
      [16, 4],
      [20, 4],
      [24, 4],
      [28, 2],
      [30, 2],
      [32, 4],
      [36, 4],
      [40, 4],
    ],
  );
  assertPacked(VSOCK_HDR);
  // Packed: the last field ends exactly at the end (no padding, unlike a naturally aligned C struct's 48).
  assert.equal(f.fwdCnt.offset + f.fwdCnt.size, VSOCK_HDR.size);
  assert.deepEqual(VSOCK_CONFIG.fields.guestCid, { offset: 0, size: 8 });
  assertPacked(VSOCK_CONFIG);
});
