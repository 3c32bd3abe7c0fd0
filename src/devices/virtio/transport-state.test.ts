/**
 * Snapshots of a virtio-mmio transport (src/snapshot/state.ts): a console saved mid-stream and
 * restored into a new transport and device over the same guest RAM continues where it was, as
 * after `corral restore`: the driver's rings, registers and ring indices carry on, input that was
 * waiting is delivered, a receive buffer posted before the snapshot is filled after it. A device
 * that cannot save its state refuses, naming itself.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { VirtioConsole, ConsoleFeature } from "./console.js";
import { makeRam, MockDriver, MockIrq } from "./testing/mock-driver.js";
import { Reg, VirtioMmioTransport } from "./transport-mmio.js";
import { feature } from "./spec.js";
import type { VirtioDevice } from "./device.js";
import { VirtioRng } from "./rng.js";
import { NET_HDR, VirtioNet, parseMac, type NetBackend } from "./net.js";

const text = (b: Uint8Array): string => Buffer.from(b).toString();
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

test("a console restored from its saved state delivers waiting input and fills the buffers posted before", () => {
  const ram = makeRam();
  const irq = new MockIrq();
  const out: string[] = [];
  const con = new VirtioConsole({ onOutput: (b) => out.push(text(b)) });
  const t = new VirtioMmioTransport({ device: con, memory: ram, irq, irqNumber: 1 });
  const drv = new MockDriver(ram, t, irq);
  drv.init({ want: drv.deviceFeatures() & ~feature(ConsoleFeature.MULTIPORT) });
  drv.request(1, [bytes("before\n")], []);
  con.pushInput(bytes("early"));
  const a = drv.add(0, [], [5]);
  drv.kick(0);
  assert.deepEqual(drv.reap(0), [{ id: a.head, len: 5 }]);
  con.pushInput(bytes("waiting"));
  // JSON, as it travels in the snapshot's state file.
  const saved = JSON.parse(JSON.stringify(t.saveState())) as ReturnType<typeof t.saveState>;

  const out2: string[] = [];
  const con2 = new VirtioConsole({ onOutput: (b) => out2.push(text(b)) });
  const t2 = new VirtioMmioTransport({ device: con2, memory: ram, irq, irqNumber: 1 });
  t2.restoreState(saved);
  assert.equal(t2.read(Reg.STATUS, 4), t.read(Reg.STATUS, 4));
  t2.write(Reg.QUEUE_SEL, 4, 0);
  assert.equal(t2.read(Reg.QUEUE_READY, 4), 1);
  // The driver keeps its rings; only the device behind them is new, as across a restore.
  Object.assign(drv, { dev: t2 });
  const b = drv.add(0, [], [64]);
  drv.kick(0);
  const used = drv.reap(0);
  assert.deepEqual(used, [{ id: b.head, len: 7 }], "used ring index carried on");
  assert.equal(text(drv.readBuf(b.writable[0]!).subarray(0, 7)), "waiting");
  const c = drv.add(0, [], [64]);
  drv.kick(0);
  con2.pushInput(bytes("after"));
  assert.deepEqual(drv.reap(0), [{ id: c.head, len: 5 }]);
  drv.request(1, [bytes("output\n")], []);
  assert.deepEqual(out, ["before\n"]);
  assert.deepEqual(out2, ["output\n"]);
});

test("a transport whose device cannot save its state refuses the snapshot by name", () => {
  const ram = makeRam();
  const rng = new VirtioRng({ name: "live0" });
  const live: VirtioDevice = {
    name: "live0",
    deviceId: rng.deviceId,
    features: 0n,
    queueMaxSizes: [8],
    configSize: 0,
    readConfig: () => 0,
    writeConfig: () => {},
    activate: () => {},
    notify: () => {},
    reset: () => {},
    close: () => {},
  };
  const t = new VirtioMmioTransport({ device: live, memory: ram, irq: new MockIrq(), irqNumber: 1 });
  assert.throws(() => t.saveState(), { code: "SNAPSHOT_UNSUPPORTED", message: /device live0 .* cannot be saved/ });
});

test("a NIC restored from its saved state keeps its MAC, the frame waiting and the receive buffer it held", () => {
  const ram = makeRam();
  const irq = new MockIrq();
  let deliver: (f: Uint8Array) => void = () => {};
  const backend = (): NetBackend => ({ send: () => {}, onReceive: (cb) => void (deliver = cb) });
  const nic = new VirtioNet({ backend: backend(), mac: "52:54:00:ab:cd:ef", queueSize: 32 });
  const t = new VirtioMmioTransport({ device: nic, memory: ram, irq, irqNumber: 1 });
  const drv = new MockDriver(ram, t, irq);
  drv.init({ want: drv.deviceFeatures() });
  // A buffer too small for the frame: with MRG_RXBUF the device takes it and waits for more.
  const small = drv.add(0, [], [NET_HDR.size + 20]);
  drv.kick(0);
  const f = new Uint8Array([
    ...parseMac("52:54:00:ab:cd:ef"),
    ...parseMac("52:54:00:00:00:01"),
    0x88,
    0xb5,
    ...new Uint8Array(60).fill(7),
  ]);
  deliver(f);
  assert.equal(drv.reap(0).length, 0);
  const saved = JSON.parse(JSON.stringify(t.saveState())) as ReturnType<typeof t.saveState>;
  assert.equal(nic.mac, "52:54:00:ab:cd:ef");

  const nic2 = new VirtioNet({ backend: backend(), mac: nic.mac, queueSize: 32 });
  const t2 = new VirtioMmioTransport({ device: nic2, memory: ram, irq, irqNumber: 1 });
  t2.restoreState(saved);
  Object.assign(drv, { dev: t2 });
  const big = drv.add(0, [], [2048]);
  drv.kick(0);
  const used = drv.reap(0);
  assert.deepEqual(
    used.map((u) => u.id),
    [small.head, big.head],
    "the held buffer goes out first, with the frame that waited",
  );
  assert.equal(used[0]!.len + used[1]!.len, NET_HDR.size + f.length);
});
