import { test } from "node:test";
import assert from "node:assert/strict";
import { VMGENID_SIZE, VmGenId } from "./vmgenid.js";
import { Plic, PLIC_LAYOUT } from "./plic.js";
import type { InterruptTarget } from "./device.js";

test("vmgenid: the GUID reads as bytes in order; a new generation changes it and raises one PLIC request", () => {
  const levels: boolean[] = [];
  const hart: InterruptTarget = { hartId: 0, setPending: (_m, l) => void levels.push(l), wake: () => {} };
  const plic = new Plic([hart]);
  const dev = new VmGenId({ irq: plic.irq(12), irqSource: 12 });
  const read = (): Uint8Array => Uint8Array.from({ length: VMGENID_SIZE }, (_, i) => dev.read(i, 1));
  const first = read();
  assert.deepEqual(first, dev.generation);
  const word = dev.read(4, 4);
  assert.equal(word, (first[4]! | (first[5]! << 8) | (first[6]! << 16) | (first[7]! << 24)) >>> 0);
  assert.equal(dev.read(VMGENID_SIZE, 4), 0, "beyond the GUID reads zero");
  // Source 12 enabled for the S-mode context of hart 0 with priority 1.
  plic.write(PLIC_LAYOUT.priority + 4 * 12, 4, 1);
  plic.write(PLIC_LAYOUT.enable + PLIC_LAYOUT.enableStride, 4, 1 << 12);
  dev.newGeneration();
  assert.notDeepEqual(read(), first);
  assert.equal(plic.read(PLIC_LAYOUT.pending, 4) & (1 << 12), 1 << 12, "the pulse left the request pending");
  assert.equal(plic.read(PLIC_LAYOUT.context + PLIC_LAYOUT.contextStride + PLIC_LAYOUT.claim, 4), 12);
  plic.write(PLIC_LAYOUT.context + PLIC_LAYOUT.contextStride + PLIC_LAYOUT.claim, 4, 12);
  assert.equal(plic.read(PLIC_LAYOUT.pending, 4) & (1 << 12), 0, "no second request: the line is low");
  const saved = dev.saveState();
  const other = new VmGenId({ irq: plic.irq(12), irqSource: 12 });
  other.restoreState(saved);
  assert.deepEqual(other.generation, dev.generation);
  assert.ok(levels.includes(true));
});
