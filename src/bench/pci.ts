/**
 * virtio-pci against virtio-mmio (issue 18 item 3): the same Corral, kernel, initramfs and
 * workloads with `--transport pci` and `--transport mmio`, alternating in one run. Boot is wall
 * time to the first line of /init (PCI adds the bus scan and BAR assignment); disk the dd
 * workload of disk.ts; network the two-VM file copy of net.ts.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { concatArchives, DEFAULT_CMDLINE } from "../api/guest-command.js";
import { commandArchive } from "../image/initramfs.js";
import { INIT_STARTED } from "../image/init-script.js";
import { ensureDefaultImage } from "../image/pull.js";
import { MB, WORKLOAD, freshImage, rate } from "./disk.js";
import { corralTransfer } from "./net.js";
import { runUntilExit, timeUntil } from "./spawn-until.js";
import { tempDir } from "./cleanup.js";

const TRANSPORTS = ["mmio", "pci"] as const;
type T = (typeof TRANSPORTS)[number];

export async function benchPci(rounds: number, corralBin: string): Promise<string> {
  const img = await ensureDefaultImage();
  const dir = tempDir("corral-bench-pci-");
  const boot: Record<T, number[]> = { mmio: [], pci: [] };
  const write: Record<T, number[]> = { mmio: [], pci: [] };
  const read: Record<T, number[]> = { mmio: [], pci: [] };
  const net: Record<T, number[]> = { mmio: [], pci: [] };
  try {
    const disk = join(dir, "disk.img");
    const initrd = join(dir, "initrd.cpio");
    writeFileSync(initrd, concatArchives(new Uint8Array(readFileSync(img.initramfs)), commandArchive(WORKLOAD)));
    for (let i = 0; i < rounds; i++) {
      for (const t of TRANSPORTS) {
        const b = await timeUntil(
          corralBin,
          ["run", "--transport", t, "--memory", "512M", "--kernel", img.kernel, "--initrd", img.initramfs],
          INIT_STARTED,
        );
        if (!b.found) throw new Error(`Corral with --transport ${t} did not reach /init`);
        boot[t].push(b.ms);
        freshImage(disk);
        const out = await runUntilExit(corralBin, [
          ...["run", "--transport", t, "--memory", "512M", "--kernel", img.kernel, "--initrd", initrd],
          ...["--append", DEFAULT_CMDLINE, "--disk", disk],
        ]);
        write[t].push(rate(out, "write"));
        read[t].push(rate(out, "read"));
        net[t].push(await corralTransfer("", ["--transport", t]));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const row = (name: string, r: Record<T, number[]>, unit: string, digits: number): string => {
    const m = med(r.mmio);
    const p = med(r.pci);
    return `| ${name} | ${p.toFixed(digits)} ${unit} | ${m.toFixed(digits)} ${unit} | ${(p / m).toFixed(2)}x |`;
  };
  return [
    `### virtio-pci beside virtio-mmio (median of ${rounds} alternating rounds)`,
    "",
    "| | `--transport pci` | `--transport mmio` | ratio (PCI / MMIO) |",
    "|---|---|---|---|",
    row("boot to /init (wall, lower is better)", boot, "ms", 0),
    row(`disk write, ${MB} MiB dd oflag=direct bs=1M`, write, "MB/s", 1),
    row(`disk read, ${MB} MiB dd iflag=direct bs=1M`, read, "MB/s", 1),
    row("network, 4 MiB between two VMs on a switch", net, "MB/s", 2),
    "",
  ].join("\n");
}
