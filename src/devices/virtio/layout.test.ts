import { test } from "node:test";
import assert from "node:assert/strict";
import { VIRTQ_AVAIL, VIRTQ_DESC, VIRTQ_USED, VIRTQ_USED_ELEM, availEventOffset, ringSizes, usedEventOffset } from "./layout.js";
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
  assert.deepEqual(VIRTQ_DESC.fields, { addr: { offset: 0, size: 8 }, len: { offset: 8, size: 4 }, flags: { offset: 12, size: 2 }, next: { offset: 14, size: 2 } });
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
