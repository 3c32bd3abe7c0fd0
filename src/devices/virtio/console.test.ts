import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CONSOLE_CONFIG,
  CONSOLE_CONTROL,
  CONTROL_LIMIT,
  ConsoleEvent,
  ConsoleFeature,
  VirtioConsole,
  type ConsoleOptions,
} from "./console.js";
import { makeRam, MockDriver, MockIrq } from "./testing/mock-driver.js";
import { fuzzDevice } from "./testing/fuzz.js";
import { Reg, VirtioMmioTransport } from "./transport-mmio.js";
import { feature } from "./spec.js";

const text = (b: Uint8Array): string => Buffer.from(b).toString();

/** A device and a mock driver; `multiport: false` for a driver that does not take MULTIPORT. */
function rig(opts: ConsoleOptions, multiport = true) {
  const ram = makeRam();
  const irq = new MockIrq();
  const con = new VirtioConsole(opts);
  const t = new VirtioMmioTransport({ device: con, memory: ram, irq, irqNumber: 1 });
  const drv = new MockDriver(ram, t, irq);
  const offered = drv.deviceFeatures();
  drv.init({ want: multiport ? offered : offered & ~feature(ConsoleFeature.MULTIPORT) });
  return { con, t, drv, irq };
}

function ctrl(id: number, event: number, value: number): Uint8Array {
  const b = new Uint8Array(CONSOLE_CONTROL.size);
  const v = new DataView(b.buffer);
  v.setUint32(CONSOLE_CONTROL.id, id, true);
  v.setUint16(CONSOLE_CONTROL.event, event, true);
  v.setUint16(CONSOLE_CONTROL.value, value, true);
  return b;
}

test("hvc0 without MULTIPORT: guest output reaches the callback, host input fills posted receive buffers", () => {
  const out: string[] = [];
  const { con, drv, irq } = rig({ onOutput: (b) => out.push(text(b)) }, false);
  assert.equal(drv.reg(Reg.DEVICE_ID), 3);
  assert.ok(drv.deviceFeatures() & feature(ConsoleFeature.MULTIPORT), "offered even without named ports");
  assert.equal(drv.features & feature(ConsoleFeature.MULTIPORT), 0n);
  drv.request(1, [new TextEncoder().encode("hello "), new TextEncoder().encode("world\n")], []);
  assert.deepEqual(out, ["hello world\n"]);
  con.pushInput(new TextEncoder().encode("typed early"));
  const a = drv.add(0, [], [4]);
  const b = drv.add(0, [], [64]);
  drv.armUsedEvent(0);
  drv.kick(0);
  const used = drv.reap(0);
  assert.deepEqual(used, [
    { id: a.head, len: 4 },
    { id: b.head, len: 7 },
  ]);
  assert.equal(text(drv.readBuf(a.writable[0]!)), "type");
  assert.equal(text(drv.readBuf(b.writable[0]!).subarray(0, 7)), "d early");
  drv.ackInterrupt();
  const c = drv.add(0, [], [64]);
  drv.kick(0);
  assert.equal(drv.reap(0).length, 0, "a receive buffer is held until there is input");
  drv.armUsedEvent(0);
  con.pushInput(new TextEncoder().encode("ls\n"));
  assert.deepEqual(drv.reap(0), [{ id: c.head, len: 3 }]);
  assert.equal(irq.level, true, "input raised an interrupt");
});

test("emergency write prints one character before any queue exists", () => {
  const out: string[] = [];
  const { t } = rig({ onOutput: (b) => out.push(text(b)) });
  t.write(Reg.CONFIG + CONSOLE_CONFIG.emergWr, 4, 0x21);
  assert.deepEqual(out, ["!"]);
});

test("MULTIPORT: the Linux handshake names the ports; named port traffic both ways", () => {
  const agentOut: string[] = [];
  const { con, drv, t } = rig({ ports: [{ name: "org.corral.agent", onOutput: (b) => agentOut.push(text(b)) }] });
  assert.ok(drv.features & feature(ConsoleFeature.MULTIPORT));
  assert.equal(t.read(Reg.CONFIG + CONSOLE_CONFIG.maxNrPorts, 4), 2);
  // virtio_console.c: fill the control receive queue, then DEVICE_READY.
  const cbufs = Array.from({ length: 8 }, () => drv.add(2, [], [64]));
  drv.kick(2);
  drv.request(3, [ctrl(0, ConsoleEvent.DEVICE_READY, 1)], []);
  const read = () =>
    drv.reap(2).map((u) => {
      const buf = drv.readBuf(cbufs.find((c) => c.head === u.id)!.writable[0]!).subarray(0, u.len);
      const v = new DataView(buf.buffer, buf.byteOffset);
      return [v.getUint32(0, true), v.getUint16(4, true), v.getUint16(6, true), text(buf.subarray(8))] as const;
    });
  assert.deepEqual(read(), [
    [0, ConsoleEvent.DEVICE_ADD, 0, ""],
    [1, ConsoleEvent.DEVICE_ADD, 0, ""],
  ]);
  drv.request(3, [ctrl(0, ConsoleEvent.PORT_READY, 1)], []);
  drv.request(3, [ctrl(1, ConsoleEvent.PORT_READY, 1)], []);
  assert.deepEqual(read(), [
    [0, ConsoleEvent.CONSOLE_PORT, 1, ""],
    [0, ConsoleEvent.PORT_OPEN, 1, ""],
    [1, ConsoleEvent.PORT_NAME, 0, "org.corral.agent"],
    [1, ConsoleEvent.PORT_OPEN, 1, ""],
  ]);
  const agent = con.port("org.corral.agent")!;
  const changes: boolean[] = [];
  agent.onGuestOpenChange = (o) => changes.push(o);
  drv.request(3, [ctrl(1, ConsoleEvent.PORT_OPEN, 1)], []);
  assert.deepEqual(changes, [true]);
  // Port 1 uses queues 4 (receive) and 5 (transmit).
  agent.write(new TextEncoder().encode('{"exec":1}'));
  const rx = drv.add(4, [], [32]);
  drv.kick(4);
  assert.equal(drv.reap(4)[0]?.len, 10);
  assert.equal(text(drv.readBuf(rx.writable[0]!).subarray(0, 10)), '{"exec":1}');
  drv.request(5, [new TextEncoder().encode("ok")], []);
  assert.deepEqual(agentOut, ["ok"]);
  drv.request(3, [ctrl(1, ConsoleEvent.PORT_OPEN, 0)], []);
  drv.request(3, [ctrl(9, ConsoleEvent.PORT_OPEN, 1)], []); // unknown port: ignored
  drv.request(3, [new Uint8Array(3)], []); // short message: ignored
  assert.deepEqual(changes, [true, false]);
});

test("MULTIPORT: input for a port, hvc0 included, waits until the guest opens it", () => {
  const { con, drv } = rig({ ports: [{ name: "org.corral.agent" }] });
  for (let i = 0; i < 8; i++) drv.add(2, [], [64]);
  drv.kick(2);
  drv.request(3, [ctrl(0, ConsoleEvent.DEVICE_READY, 1)], []);
  drv.request(3, [ctrl(0, ConsoleEvent.PORT_READY, 1)], []);
  drv.request(3, [ctrl(1, ConsoleEvent.PORT_READY, 1)], []);
  drv.reap(2); // the device's answers: DEVICE_ADD, CONSOLE_PORT, PORT_NAME, PORT_OPEN
  // Linux posts the ports' receive buffers before it has connected them (virtio_console.c
  // add_port), and discards what arrives there until then: commands piped in at boot were lost.
  const rx0 = drv.add(0, [], [64]);
  const rx1 = drv.add(4, [], [64]);
  drv.kick(0);
  drv.kick(4);
  con.pushInput(new TextEncoder().encode("echo hi\n"));
  con.port("org.corral.agent")!.write(new TextEncoder().encode("X1"));
  assert.deepEqual(drv.reap(0), [], "hvc0 input held before its PORT_OPEN");
  assert.deepEqual(drv.reap(4), [], "port 1 input held before its PORT_OPEN");
  // init_port_console sends PORT_OPEN for hvc0 once the console is set up.
  drv.request(3, [ctrl(0, ConsoleEvent.PORT_OPEN, 1)], []);
  assert.deepEqual(drv.reap(0), [{ id: rx0.head, len: 8 }]);
  assert.equal(text(drv.readBuf(rx0.writable[0]!).subarray(0, 8)), "echo hi\n");
  drv.request(3, [ctrl(1, ConsoleEvent.PORT_OPEN, 1)], []);
  assert.deepEqual(drv.reap(4), [{ id: rx1.head, len: 2 }]);
});

test("virtio-console survives 2000 randomized malformed descriptor tables", () => {
  const con = new VirtioConsole({ ports: [{ name: "a" }], queueSize: 16 });
  const events = [0, 1, 3, 4, 6, 7, 99];
  const r = fuzzDevice(
    { device: con, queues: [1, 3, 5], request: (rng) => ctrl(rng.int(4), rng.pick(events), rng.int(3)) },
    0xc0_50_1e,
    2000,
  );
  assert.ok(r.completed > 500, JSON.stringify(r));
});

test("MULTIPORT: a guest sending control messages without posting control buffers cannot grow the host's queue", () => {
  const { drv } = rig({
    ports: [
      { name: "a", onOutput: () => {} },
      { name: "b", onOutput: () => {} },
    ],
  });
  // Each DEVICE_READY queues a DEVICE_ADD per port (three), each PORT_READY two or three replies.
  for (let i = 0; i < 5000; i++)
    drv.request(3, [ctrl(0, ConsoleEvent.DEVICE_READY, 1), ctrl(1, ConsoleEvent.PORT_READY, 1)], []);
  let delivered = 0;
  for (let round = 0; round < 100; round++) {
    for (let i = 0; i < 8; i++) drv.add(2, [], [64]);
    drv.kick(2);
    const n = drv.reap(2).length;
    delivered += n;
    if (n < 8) break;
  }
  assert.equal(delivered, CONTROL_LIMIT, "the messages held were bounded");
});
