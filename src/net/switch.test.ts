// The switch with real virtio-net devices driven by the mock driver: frames go through the
// guest-side queues, the device, a SwitchPort, a real Unix socket and back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { frame, nic } from "./testing/nic.js";
import { MAX_LEARNED_MACS, SwitchPort, removeStaleSockets } from "./switch.js";

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

async function collect(n: ReturnType<typeof nic>, want: number): Promise<string[]> {
  const got: string[] = [];
  for (let i = 0; i < 100 && got.length < want; i++) {
    await settle();
    for (const f of n.received()) got.push(new TextDecoder().decode(f.subarray(14)).replace(/\.+$/, ""));
  }
  return got;
}

const MAC = ["52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"];
const BCAST = "ff:ff:ff:ff:ff:ff";

test("three NICs on a switch: broadcast floods, learned unicast goes to one port only", async () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-switch-"));
  try {
    const ports = [await SwitchPort.open(dir, 0), await SwitchPort.open(dir, 1), await SwitchPort.open(dir, 2)];
    await settle();
    for (const p of ports) assert.equal(p.peerIds.length, 2, `port ${p.id} sees both others`);
    const [a, b, c] = ports.map((p, i) => nic(p, MAC[i]!));
    a!.send(frame(BCAST, MAC[0]!, "hello all"));
    assert.deepEqual(await collect(b!, 1), ["hello all"]);
    assert.deepEqual(await collect(c!, 1), ["hello all"]);
    // b and c now know where a is; a learns b from its reply.
    b!.send(frame(MAC[0]!, MAC[1]!, "b to a"));
    assert.deepEqual(await collect(a!, 1), ["b to a"]);
    a!.send(frame(MAC[1]!, MAC[0]!, "a to b"));
    assert.deepEqual(await collect(b!, 1), ["a to b"]);
    await settle();
    assert.deepEqual(c!.received(), [], "c never sees unicast between a and b");
    assert.equal(a!.dev.stats.rxFrames, 1);
    for (const p of ports) p.close();
    assert.equal(existsSync(dir), false, "the last port removes the switch directory");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a port that leaves stops receiving; the others keep talking", async () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-switch-"));
  try {
    const ports = [await SwitchPort.open(dir, 0), await SwitchPort.open(dir, 1), await SwitchPort.open(dir, 2)];
    const [a, b] = ports.map((p, i) => nic(p, MAC[i]!));
    ports[2]!.close();
    await settle();
    assert.deepEqual(ports[0]!.peerIds, [ports[1]!.id]);
    a!.send(frame(BCAST, MAC[0]!, "still here"));
    assert.deepEqual(await collect(b!, 1), ["still here"]);
    assert.deepEqual(
      readdirSync(dir)
        .filter((f) => f.endsWith(".sock"))
        .sort(),
      [`${ports[0]!.id}.sock`, `${ports[1]!.id}.sock`].sort(),
    );
    ports[0]!.close();
    ports[1]!.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("sockets of dead processes are removed when a port joins", async () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-switch-"));
  try {
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
    // A leftover of a VM killed with SIGKILL: the file exists, nobody listens.
    writeFileSync(join(dir, `${dead}-0.sock`), "");
    assert.deepEqual(removeStaleSockets(dir), []);
    writeFileSync(join(dir, `${dead}-1.sock`), "");
    const p = await SwitchPort.open(dir, 0);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith(".sock")),
      [`${p.id}.sock`],
    );
    assert.deepEqual(p.peerIds, []);
    p.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a guest sending from made-up MACs cannot grow another port's MAC table without bound", async () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-switch-"));
  try {
    const [a, b] = [await SwitchPort.open(dir, 0), await SwitchPort.open(dir, 1)];
    await settle();
    const n = MAX_LEARNED_MACS * 2;
    for (let i = 0; i < n; i++) {
      const src = `52:54:${[(i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 1].map((x) => x.toString(16).padStart(2, "0")).join(":")}`;
      a.send(frame(BCAST, src, "spoof"));
    }
    for (let i = 0; i < 200 && b.stats.rxFrames < n; i++) await settle();
    assert.equal(b.stats.rxFrames, n, "every frame arrived");
    assert.equal(b.learnedMacs, MAX_LEARNED_MACS);
    a.close();
    b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
