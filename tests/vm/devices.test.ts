// One device set for one spec (issue 15): a VM started by `corral run` and one started through the
// TypeScript API (a detached VM process) get the same virtio devices, in the same order, as the
// real Debian guest's kernel sees them in /sys/bus/virtio/devices: the disk given, the default
// user-mode NIC, then the agent's virtio-console, the balloon and virtio-rng. Before, only a
// detached VM had virtio-rng.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Corral } from "../../src/api/index.js";
import { DeviceId } from "../../src/devices/virtio/spec.js";

const CORRAL = fileURLToPath(new URL("../../../bin/corral.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "corral-devices-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The virtio device IDs of the guest's devices in board order (virtio0, virtio1, ...). */
const LIST = "for d in $(ls /sys/bus/virtio/devices | sort -V); do cat /sys/bus/virtio/devices/$d/device; done";
const EXPECTED = [DeviceId.BLOCK, DeviceId.NET, DeviceId.CONSOLE, DeviceId.BALLOON, DeviceId.ENTROPY];

function ids(out: string): number[] {
  return out
    .split("\n")
    .filter((l) => /^0x[0-9a-f]+\r?$/.test(l))
    .map((l) => parseInt(l, 16));
}

test("corral run and Corral.start build the same devices for the same spec", async () => {
  const a = join(dir, "a.img");
  const b = join(dir, "b.img");
  writeFileSync(a, Buffer.alloc(1 << 20));
  writeFileSync(b, Buffer.alloc(1 << 20));
  const cli = spawnSync(process.execPath, [CORRAL, "run", "--memory", "256M", "--disk", a, "--", "sh", "-c", LIST], {
    encoding: "utf8",
    timeout: 600_000,
  });
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual(ids(cli.stdout), EXPECTED, cli.stdout);

  const vm = await Corral.start({ name: `t-devices-${process.pid}`, memory: "256M", disks: [b] });
  try {
    const r = await vm.exec(["sh", "-c", LIST]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(ids(r.stdout), EXPECTED, r.stdout);
  } finally {
    await vm.remove({ force: true });
  }
});
