import { test } from "node:test";
import assert from "node:assert/strict";
import { makeRam, MockDriver, MockIrq } from "./testing/mock-driver.js";
import { fuzzDevice } from "./testing/fuzz.js";
import { VirtioMmioTransport } from "./transport-mmio.js";
import { VirtioRng } from "./rng.js";
import { DeviceId } from "./spec.js";

function setup() {
  const ram = makeRam();
  const irq = new MockIrq();
  const t = new VirtioMmioTransport({ device: new VirtioRng(), memory: ram, irq, irqNumber: 1 });
  const drv = new MockDriver(ram, t, irq);
  drv.init();
  return drv;
}

test("virtio-rng fills the driver's buffers with host entropy", () => {
  const drv = setup();
  assert.equal(drv.reg(0x008), DeviceId.ENTROPY);
  const a = drv.request(0, [], [64, 64]);
  const b = drv.request(0, [], [128], true);
  assert.equal(a.used?.len, 128);
  assert.equal(b.used?.len, 128);
  const all = new Uint8Array([...a.writable[0]!, ...a.writable[1]!]);
  // The mock pre-fills writable buffers with 0xee; random data is neither that nor equal twice.
  assert.notDeepEqual(all, new Uint8Array(128).fill(0xee));
  assert.notDeepEqual(all, b.writable[0]);
  const distinct = new Set(all).size;
  assert.ok(distinct > 32, `only ${distinct} distinct byte values in 128 random bytes`);
});

test("virtio-rng survives 2000 randomized malformed descriptor tables", () => {
  const r = fuzzDevice({ device: new VirtioRng(), queues: [0] }, 0x5eed_0001, 2000);
  assert.equal(r.cases, 2000);
  assert.ok(r.completed > 0 && r.needsReset > 0, JSON.stringify(r));
});
