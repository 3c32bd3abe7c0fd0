/**
 * Corral's virtio-pci functions against QEMU 7.2's modern ones (`-device virtio-*-pci,
 * disable-legacy=on`), as QEMU's monitor lists them (`info pci`): vendor and device IDs, class,
 * subsystem, interrupt pin, and each BAR's type and size (ours sized through ECAM as a guest
 * does). The host bridge function too.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { PciHostBridge } from "./host-bridge.js";
import { VirtioPciFunction } from "./virtio-pci.js";
import { makeRam } from "../virtio/testing/mock-driver.js";
import { DeviceId } from "../virtio/spec.js";
import type { VirtioDevice } from "../virtio/device.js";

let qemu: string | undefined;
try {
  execFileSync("qemu-system-riscv64", ["--version"], { stdio: "ignore" });
  qemu = "qemu-system-riscv64";
} catch {
  qemu = undefined;
}

/** QEMU's devices, in slot order, and the virtio type each is. */
const DEVICES: [string, number][] = [
  ["virtio-blk-pci,drive=d0", DeviceId.BLOCK],
  ["virtio-net-pci,romfile=", DeviceId.NET],
  ["virtio-serial-pci", DeviceId.CONSOLE],
  ["virtio-rng-pci", DeviceId.ENTROPY],
];

/** `info pci` of one function, normalized: its lines without addresses. */
function qemuFunctions(): string[][] {
  const args = ["-M", "virt", "-S", "-display", "none", "-monitor", "stdio"];
  args.push("-drive", "if=none,id=d0,file=/dev/null,format=raw");
  for (const [d] of DEVICES) args.push("-device", `${d},disable-legacy=on`);
  const out = execFileSync(qemu!, args, { input: "info pci\nquit\n", encoding: "latin1" });
  const fns: string[][] = [];
  for (const raw of out.split("\n")) {
    const line = raw.trim();
    if (/^Bus\s+0, device/.test(line)) fns.push([]);
    else if (fns.length > 0 && /(PCI device|PCI subsystem|pin|BAR\d)/.test(line)) fns.at(-1)!.push(line);
  }
  return fns;
}

const stub = (deviceId: number, queues: number): VirtioDevice => ({
  name: `t${deviceId}`,
  deviceId,
  features: 0n,
  queueMaxSizes: Array.from({ length: queues }, () => 128),
  configSize: 8,
  readConfig: () => 0,
  writeConfig: () => {},
  activate: () => {},
  notify: () => {},
  reset: () => {},
  close: () => {},
});

/** Our function at `dev` described in `info pci`'s words, its BARs sized through ECAM. */
function ours(bridge: PciHostBridge, dev: number): string[] {
  const e = bridge.ecam;
  const r = (reg: number, size: 1 | 2 | 4): number => e.read((dev << 15) | reg, size);
  const hex = (v: number, n: number): string => v.toString(16).padStart(n, "0");
  const cls = r(0x0a, 2);
  const names: Record<number, string> = {
    0x0600: "Host bridge",
    0x0100: "SCSI controller",
    0x0200: "Ethernet controller",
  };
  const lines = [
    `${names[cls] ?? `Class ${String(cls).padStart(4, "0")}`}: PCI device ${hex(r(0, 2), 4)}:${hex(r(2, 2), 4)}`,
    `PCI subsystem ${hex(r(0x2c, 2), 4)}:${hex(r(0x2e, 2), 4)}`,
  ];
  if (r(0x3d, 1) !== 0) lines.push(`IRQ 0, pin ${"ABCD"[r(0x3d, 1) - 1]}`);
  for (let i = 0; i < 6; i++) {
    const reg = 0x10 + 4 * i;
    e.write((dev << 15) | reg, 4, 0xffffffff);
    const v = r(reg, 4);
    if (v === 0) continue;
    const is64 = (v & 6) === 4;
    const size = (~(v & ~0xf) >>> 0) + 1;
    const kind = v & 1 ? "I/O" : `${is64 ? "64" : "32"} bit${v & 8 ? " prefetchable" : ""} memory`;
    lines.push(`BAR${i}: ${kind} at 0xffffffffffffffff [0x${hex(size - 2, is64 ? 8 : 8)}].`);
    if (is64) i++;
  }
  return lines;
}

test(
  "virtio-pci functions and the host bridge look as QEMU 7.2's modern virtio-pci devices do",
  { skip: qemu ? false : "needs qemu-system-riscv64" },
  () => {
    const q = qemuFunctions();
    const bridge = new PciHostBridge({ intx: [0, 1, 2, 3].map(() => ({ set: () => {} })), ramEnd: 0x8800_0000 });
    DEVICES.forEach(([, type], i) => {
      const f = new VirtioPciFunction({ device: stub(type, 2), memory: makeRam(), msi: () => {} });
      bridge.attach(1 + i, 0, f.fn);
    });
    assert.equal(q.length, 1 + DEVICES.length, q.join("\n"));
    q.forEach((lines, dev) => assert.deepEqual(ours(bridge, dev), lines, `device ${dev}`));
  },
);
