/**
 * Disk benchmark (issue 3): sequential write and read MB/s inside the guest with busybox dd and
 * direct I/O on a virtio-blk disk, Corral beside QEMU (virtio-blk-device on its virtio-mmio bus),
 * same kernel, initramfs, command line and workload, alternating rounds in one run.
 */
import { closeSync, fdatasyncSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { concatArchives, DEFAULT_CMDLINE } from "../api/guest-command.js";
import { commandArchive } from "../image/initramfs.js";
import { fadvise } from "../sys/io.js";
import { POSIX_FADV_DONTNEED } from "../sys/layout.js";
import { ensureDefaultImage } from "../image/pull.js";
import { runUntilExit } from "./spawn-until.js";
import { tempDir } from "./cleanup.js";

/**
 * Transfer size. The guest's clock reads in centiseconds (below), and QEMU moved 64 MiB in 8-10 cs,
 * so one tick was a tenth of its time and its rates jumped between 640, 711 and 800 MB/s. 256 MiB
 * takes it about 40 cs.
 */
export const MB = 256;
// Debian's busybox dd prints no rate and its date has no %N, so the guest times each dd with
// /proc/uptime (two decimals: centiseconds).
export const timed = (kind: string, dd: string): string =>
  `read a _ < /proc/uptime; ${dd} 2>/dev/null; read b _ < /proc/uptime; echo "${kind}-cs: $((\${b%.*}\${b#*.} - \${a%.*}\${a#*.}))"`;
export const WORKLOAD = [
  timed("write", `dd if=/dev/zero of=/dev/vda bs=1M count=${MB} oflag=direct`),
  timed("read", `dd if=/dev/vda of=/dev/null bs=1M count=${MB} iflag=direct`),
].join("; ");

/**
 * A zeroed image, written out and dropped from the host's page cache, so that each VM starts
 * from the same state. Before, QEMU started on a freshly written (dirty, cached) file, whose
 * write-back its first O_DIRECT write waited for, and Corral on the file QEMU left (clean, out
 * of the cache, which O_DIRECT writes invalidate), so its writes allocated page-cache pages.
 */
export function freshImage(path: string, mib = MB + 8): void {
  writeFileSync(path, Buffer.alloc(mib * 2 ** 20));
  const fd = openSync(path, "r+");
  try {
    fdatasyncSync(fd);
    fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  } finally {
    closeSync(fd);
  }
}

export function rate(out: string, kind: "write" | "read"): number {
  const m = new RegExp(`${kind}-cs: (\\d+)`).exec(out);
  if (!m) throw new Error(`no dd ${kind} result in:\n${out.slice(-800)}`);
  return MB / (Math.max(1, Number(m[1])) / 100);
}

export async function benchDisk(rounds: number, corralBin: string): Promise<string> {
  const img = await ensureDefaultImage();
  const dir = tempDir("corral-bench-disk-");
  try {
    const disk = join(dir, "disk.img");
    const initrd = join(dir, "initrd.cpio");
    writeFileSync(initrd, concatArchives(new Uint8Array(readFileSync(img.initramfs)), commandArchive(WORKLOAD)));
    const rows: { c: [number, number]; q: [number, number] }[] = [];
    for (let i = 0; i < rounds; i++) {
      freshImage(disk);
      const q = await runUntilExit("qemu-system-riscv64", [
        "-M",
        "virt",
        "-smp",
        "1",
        "-m",
        "512",
        "-nographic",
        "-kernel",
        img.kernel,
        "-initrd",
        initrd,
        "-append",
        DEFAULT_CMDLINE,
        "-drive",
        `file=${disk},if=none,id=d0,format=raw,cache=none`,
        "-device",
        "virtio-blk-device,drive=d0",
      ]);
      freshImage(disk);
      const c = await runUntilExit(corralBin, [
        "run",
        "--memory",
        "512M",
        "--kernel",
        img.kernel,
        "--initrd",
        initrd,
        "--append",
        DEFAULT_CMDLINE,
        "--disk",
        disk,
      ]);
      rows.push({ c: [rate(c, "write"), rate(c, "read")], q: [rate(q, "write"), rate(q, "read")] });
    }
    const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const line = (name: string, k: 0 | 1): string => {
      const c = med(rows.map((r) => r.c[k]));
      const q = med(rows.map((r) => r.q[k]));
      return `| ${name} | ${c.toFixed(1)} MB/s | ${q.toFixed(1)} MB/s | ${(c / q).toFixed(2)}x |`;
    };
    return [
      `### Disk: sequential ${MB} MiB with busybox dd, direct I/O, on virtio-blk (raw image)`,
      "",
      "| | Corral | qemu-system-riscv64 (virtio-blk-device, cache=none) | ratio (Corral / QEMU) |",
      "|---|---|---|---|",
      line("write (dd oflag=direct bs=1M)", 0),
      line("read (dd iflag=direct bs=1M)", 1),
      "",
    ].join("\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
