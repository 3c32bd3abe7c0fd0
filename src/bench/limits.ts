/**
 * Rate-limit benchmark (issue 18 item 5): a disk limited in bandwidth and one limited in requests
 * per second, and a NIC limited in bandwidth, each measured inside the guest with busybox dd and direct I/O, beside the limit it
 * was given, and beside QEMU's block throttling (`-drive throttling.bps-total / iops-total`) with
 * the same limits, same kernel, initramfs and workload, alternating rounds in one run.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { concatArchives, DEFAULT_CMDLINE } from "../api/guest-command.js";
import { commandArchive } from "../image/initramfs.js";
import { ensureDefaultImage } from "../image/pull.js";
import { freshImage, timed } from "./disk.js";
import { runUntilExit } from "./spawn-until.js";
import { corralTransfer } from "./net.js";
import { tempDir } from "./cleanup.js";

/** 20 MiB/s over 64 MiB: about 3 s, against which the 0.1 s burst is 3 %. */
const BW_MIB = 20;
const BW_READ_MIB = 64;
/** A NIC limited to 1 MiB/s sends the net bench's 4 MiB file: about 4 s. */
const NIC_MIB = 1;
/** 200 requests/s over 1000 4 KiB direct reads: 5 s. */
const IOPS = 200;
const IOPS_READS = 1000;

const WORKLOAD = [
  timed("bw", `dd if=/dev/vda of=/dev/null bs=1M count=${BW_READ_MIB} iflag=direct`),
  timed("iops", `dd if=/dev/vdb of=/dev/null bs=4k count=${IOPS_READS} iflag=direct`),
].join("; ");

function centiseconds(out: string, kind: string): number {
  const m = new RegExp(`${kind}-cs: (\\d+)`).exec(out);
  if (!m) throw new Error(`no dd ${kind} result in:\n${out.slice(-800)}`);
  return Math.max(1, Number(m[1]));
}

/** MiB/s and requests/s the guest measured. */
function rates(out: string): [number, number] {
  return [BW_READ_MIB / (centiseconds(out, "bw") / 100), IOPS_READS / (centiseconds(out, "iops") / 100)];
}

export async function benchLimits(rounds: number, corralBin: string): Promise<string> {
  const img = await ensureDefaultImage();
  const dir = tempDir("corral-bench-limits-");
  try {
    const [a, b] = [join(dir, "a.img"), join(dir, "b.img")];
    const initrd = join(dir, "initrd.cpio");
    writeFileSync(initrd, concatArchives(new Uint8Array(readFileSync(img.initramfs)), commandArchive(WORKLOAD)));
    const bw = BW_MIB * 2 ** 20;
    const rows: { c: [number, number]; q: [number, number] }[] = [];
    const nic: number[] = [];
    for (let i = 0; i < rounds; i++) {
      freshImage(a, BW_READ_MIB + 8);
      freshImage(b, 16);
      const q = await runUntilExit("qemu-system-riscv64", [
        ...["-M", "virt", "-smp", "1", "-m", "512", "-nographic", "-kernel", img.kernel, "-initrd", initrd],
        ...["-append", DEFAULT_CMDLINE],
        ...["-drive", `file=${a},if=none,id=d0,format=raw,cache=none,throttling.bps-total=${bw}`],
        ...["-device", "virtio-blk-device,drive=d0"],
        ...["-drive", `file=${b},if=none,id=d1,format=raw,cache=none,throttling.iops-total=${IOPS}`],
        ...["-device", "virtio-blk-device,drive=d1"],
      ]);
      const c = await runUntilExit(corralBin, [
        ...["run", "--memory", "512M", "--kernel", img.kernel, "--initrd", initrd],
        ...["--append", DEFAULT_CMDLINE, "--disk", `${a},bw=${BW_MIB}M`, "--disk", `${b},iops=${IOPS}`],
      ]);
      rows.push({ c: rates(c), q: rates(q) });
      // MB/s of file data as the sending guest measures it, in MiB/s; the limit also counts the
      // frames' Ethernet, IP and TCP headers (about 4 % at a 1500-byte MTU).
      nic.push(((await corralTransfer(`,bw=${NIC_MIB}M`)) * 1e6) / 2 ** 20);
    }
    const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const line = (name: string, k: 0 | 1, limit: number, unit: string): string => {
      const c = med(rows.map((r) => r.c[k]));
      const q = med(rows.map((r) => r.q[k]));
      return `| ${name} | ${limit} ${unit} | ${c.toFixed(1)} ${unit} (${(c / limit).toFixed(3)}x) | ${q.toFixed(1)} ${unit} (${(q / limit).toFixed(3)}x) |`;
    };
    return [
      "### Rate limits: a limited virtio-blk disk, measured in the guest (busybox dd, direct I/O)",
      "",
      "| | limit | Corral (measured / limit) | qemu-system-riscv64 throttling (measured / limit) |",
      "|---|---|---|---|",
      line(`read ${BW_READ_MIB} MiB, bs=1M, bw=${BW_MIB}M`, 0, BW_MIB, "MiB/s"),
      line(`read ${IOPS_READS} x 4 KiB, iops=${IOPS}`, 1, IOPS, "req/s"),
      "",
      "A NIC: the net bench's file copy between two VMs on a switch, the sender's NIC limited (`--net switch:NAME,bw=1M`);",
      "file data as the sending guest measures it (QEMU's `-netdev socket` has no rate limit to compare with).",
      "",
      "| | limit | Corral (measured / limit) |",
      "|---|---|---|",
      `| 4 MiB with busybox nc, bw=${NIC_MIB}M | ${NIC_MIB} MiB/s | ${med(nic).toFixed(3)} MiB/s (${(med(nic) / NIC_MIB).toFixed(3)}x) |`,
      "",
    ].join("\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
