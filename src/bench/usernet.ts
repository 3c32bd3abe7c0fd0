/**
 * User-mode networking benchmark (issue 19 item 2): a guest uploads a file to an HTTP server on
 * the host's loopback through the gateway 10.0.2.2, with busybox wget --post-file; MB/s as the
 * guest measures it (/proc/uptime around wget, which returns once the server answered after the
 * last byte). Corral: `corral run --net user,host-loopback=on`. QEMU: qemu-system-riscv64 -M virt
 * with virtio-net-device on `-netdev user` (slirp, which maps 10.0.2.2 to the host's loopback),
 * the same kernel, initramfs, script and server.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { concatArchives } from "../api/guest-command.js";
import { commandArchive } from "../image/initramfs.js";
import { ensureDefaultImage } from "../image/pull.js";
import { field } from "../net/testing/nc-transfer.js";
import { runUntilExit } from "./spawn-until.js";
import { tempDir } from "./cleanup.js";
import { CORRAL } from "./launcher.js";

const MIB = 4;

/**
 * The guest's part: a text file (busybox wget posts its file as a C string), one GET first (the
 * first connection of a boot fills the kernel's port table, net/ipv4/inet_hashtables.c, which is
 * not network time), then the timed upload.
 */
function script(port: number): string {
  return [
    `yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ | head -c ${MIB * 1048576} > /tmp/f`,
    `wget -qO /dev/null http://10.0.2.2:${port}/`,
    "read t0 x < /proc/uptime",
    `wget -qO- --post-file=/tmp/f http://10.0.2.2:${port}/`,
    "read t1 x < /proc/uptime",
    'echo "elapsed $(echo "$t0 $t1" | awk \'{print $2 - $1}\')"',
  ].join("\n");
}

function sink(): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    let n = 0;
    req.on("data", (b: Buffer) => (n += b.length));
    req.on("end", () => res.end(`received ${n}\n`));
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as AddressInfo).port })),
  );
}

function throughput(who: string, out: string): number {
  const elapsed = Number(field(out, "elapsed"));
  if (field(out, "received") !== String(MIB * 1048576) || !(elapsed > 0))
    throw new Error(`${who}: the upload failed\n${out.slice(-2000)}`);
  return (MIB * 1048576) / 1e6 / elapsed;
}

async function corral(port: number): Promise<number> {
  const out = await runUntilExit(CORRAL, ["run", "--net", "user,host-loopback=on", "--", "sh", "-c", script(port)]);
  return throughput("Corral", out);
}

async function qemu(port: number): Promise<number> {
  const img = await ensureDefaultImage();
  const dir = tempDir("corral-bench-usernet-");
  try {
    const initrd = join(dir, "initrd.cpio");
    writeFileSync(initrd, concatArchives(new Uint8Array(readFileSync(img.initramfs)), commandArchive(script(port))));
    const out = await runUntilExit("qemu-system-riscv64", [
      ...["-M", "virt", "-smp", "1", "-m", "512", "-nographic", "-no-reboot"],
      ...["-global", "virtio-mmio.force-legacy=false", "-kernel", img.kernel, "-initrd", initrd],
      ...["-append", "console=ttyS0 quiet ip=dhcp"],
      ...["-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0"],
    ]);
    return throughput("QEMU", out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Markdown rows for docs/benchmarks.md: the median of `rounds` alternating runs (QEMU, then Corral). */
export async function benchUserNet(rounds: number): Promise<string> {
  const { server, port } = await sink();
  const qs: number[] = [];
  const cs: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      qs.push(await qemu(port));
      cs.push(await corral(port));
    }
  } finally {
    server.close();
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const c = med(cs);
  const q = med(qs);
  return [
    `### User-mode networking: a ${MIB} MiB upload from the guest to an HTTP server on the host's loopback (MB/s in the guest)`,
    "",
    "| | Corral (`--net user,host-loopback=on`) | qemu-system-riscv64, virtio-net-device, `-netdev user` | ratio (Corral / QEMU) |",
    "|---|---|---|---|",
    `| guest to host TCP | ${c.toFixed(2)} MB/s | ${q.toFixed(2)} MB/s | ${(c / q).toFixed(2)}x |`,
    `| (each run) | ${cs.map((x) => x.toFixed(2)).join(", ")} | ${qs.map((x) => x.toFixed(2)).join(", ")} | |`,
    "",
  ].join("\n");
}
