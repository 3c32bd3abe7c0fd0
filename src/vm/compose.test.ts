// The composition step and the device registry: every kind opens and closes on real host
// resources (an image file with its flock, a switch's socket in a scratch home), devices close
// in the reverse order of opening, and a failure halfway (a device, or the machine itself)
// closes what was opened.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { DEVICE_KINDS, type DeviceKindName } from "../devices/registry.js";
import type { DeviceKind } from "../devices/kinds/kind.js";
import { openDisk } from "../disk/open.js";
import { DeviceId } from "../devices/virtio/spec.js";
import { composeVm, openDevices } from "./compose.js";
import { parseVmSpec, type DeviceSpec } from "./spec.js";

const home = mkdtempSync(join(tmpdir(), "corral-compose-"));
after(() => rmSync(home, { recursive: true, force: true }));
const image = join(home, "disk.img");
writeFileSync(image, Buffer.alloc(1 << 20));

/** One entry per kind: a kind added to the registry without one here does not type-check. */
const SAMPLES: Record<DeviceKindName, DeviceSpec> = {
  blk: { kind: "blk", path: image },
  net: { kind: "net", backend: { type: "switch", switch: "composetest" } },
  console: { kind: "console", ports: ["org.corral.agent"] },
  balloon: { kind: "balloon" },
  rng: { kind: "rng" },
  vsock: { kind: "vsock", path: join(home, "vsock.sock") },
  fs: { kind: "fs", path: home, tag: "home" },
};
const IDS: Record<DeviceKindName, number> = {
  blk: DeviceId.BLOCK,
  net: DeviceId.NET,
  console: DeviceId.CONSOLE,
  balloon: DeviceId.BALLOON,
  rng: DeviceId.ENTROPY,
  vsock: DeviceId.SOCKET,
  fs: DeviceId.FS,
};

/** The image is open read-write by a device: a second writer is refused (its flock). */
function imageInUse(): boolean {
  try {
    openDisk({ path: image }).close();
    return false;
  } catch (e) {
    if ((e as { code?: string }).code === "DISK_IN_USE") return true;
    throw e;
  }
}

/** The registry with every open and close recorded in `log`. */
function recording(log: string[]): Record<string, DeviceKind> {
  const kinds: Record<string, DeviceKind> = {};
  for (const [kind, k] of Object.entries(DEVICE_KINDS) as [string, DeviceKind][]) {
    kinds[kind] = {
      ...k,
      async open(s, ctx) {
        const opened = await k.open(s, ctx);
        const d = opened.device;
        const close = d.close.bind(d);
        d.close = () => {
          log.push(`close ${d.name}`);
          close();
        };
        log.push(`open ${d.name}`);
        return opened;
      },
    };
  }
  return kinds;
}

test("every kind in the registry opens (the device it names, on real host resources) and closes", async () => {
  const specs = Object.values(SAMPLES);
  const parsed = parseVmSpec({ devices: specs }).devices;
  const opened = await openDevices(parsed, { home });
  assert.deepEqual(
    opened.devices.map((d) => d.deviceId),
    Object.keys(SAMPLES).map((k) => IDS[k as DeviceKindName]),
  );
  assert.deepEqual(
    opened.devices.map((d) => d.name),
    ["vda", "eth0", "console0", "balloon0", "rng0", "vsock0", "fs0"],
  );
  assert.deepEqual(opened.cmdline, ["ip=dhcp"], "a first NIC on a switch asks for DHCP");
  assert.ok(imageInUse());
  const switchDir = join(home, "run", "switch", "composetest");
  assert.ok(
    readdirSync(switchDir).some((f) => f.endsWith(".sock")),
    "the NIC's port on the switch",
  );
  assert.ok(existsSync(join(home, "vsock.sock")), "the vsock device's socket");
  opened.close();
  assert.ok(!existsSync(join(home, "vsock.sock")), "the vsock socket was removed");
  assert.ok(!imageInUse(), "the disk was closed");
  assert.ok(
    !existsSync(switchDir) || !readdirSync(switchDir).some((f) => f.endsWith(".sock")),
    "the NIC left the switch",
  );
});

test("devices close in the reverse order of opening", async () => {
  const log: string[] = [];
  const opened = await openDevices(
    parseVmSpec({ devices: [SAMPLES.blk, SAMPLES.rng, SAMPLES.console, SAMPLES.balloon] }).devices,
    { home, kinds: recording(log) },
  );
  opened.close();
  assert.deepEqual(log, [
    "open vda",
    "open rng0",
    "open console0",
    "open balloon0",
    "close balloon0",
    "close console0",
    "close rng0",
    "close vda",
  ]);
});

test("a device failing to open halfway: those opened are closed, last first, and its error is thrown", async () => {
  const log: string[] = [];
  const specs = parseVmSpec({
    devices: [SAMPLES.blk, SAMPLES.rng, { kind: "blk", path: join(home, "missing.img") }, SAMPLES.balloon],
  }).devices;
  await assert.rejects(openDevices(specs, { home, kinds: recording(log) }), /missing\.img/);
  assert.deepEqual(log, ["open vda", "open rng0", "close rng0", "close vda"]);
  assert.ok(!imageInUse());
});

test("a machine that cannot be built closes the devices opened for it", async () => {
  // A valid RISC-V Image header (Linux Documentation/arch/riscv/boot-image-header.rst) whose
  // image size is more than the guest's memory: the builder refuses it after the devices opened.
  const kernel = join(home, "Image");
  const hdr = Buffer.alloc(4096);
  hdr.writeBigUInt64LE(0x200000n, 8);
  hdr.writeBigUInt64LE(BigInt(64 * 2 ** 20), 16);
  hdr.write("RISCV\0\0\0", 0x30, "latin1");
  hdr.write("RSC\x05", 0x38, "latin1");
  writeFileSync(kernel, hdr);
  const spec = parseVmSpec({ memory: "32M", boot: { kernel }, devices: [SAMPLES.blk, SAMPLES.rng] });
  await assert.rejects(composeVm(spec, { console: () => {}, home }), { code: "IMAGE_TOO_LARGE" });
  assert.ok(!imageInUse(), "the disk was closed");
});

test(
  "a boot image that is a FIFO or a directory is refused at once (never waits for a writer), its file closed",
  { timeout: 30_000 },
  async () => {
    const fifo = join(home, "kernel.fifo");
    assert.equal(spawnSync("mkfifo", [fifo]).status, 0, "mkfifo");
    // What this process's descriptors point at (one may close between the listing and its readlink).
    const open = (): string[] =>
      readdirSync("/proc/self/fd").flatMap((fd) => {
        try {
          return [readlinkSync(`/proc/self/fd/${fd}`)];
        } catch {
          return [];
        }
      });
    for (const kernel of [fifo, home]) {
      const spec = parseVmSpec({ memory: "32M", boot: { kernel }, devices: [] });
      await assert.rejects(composeVm(spec, { console: () => {}, home }), { code: "NOT_A_FILE" });
    }
    const left = open().filter((l) => l === fifo || l === home);
    assert.deepEqual(left, [], "no image file left open");
  },
);
