/**
 * Boot benchmark (issue 2): wall time from process start to the guest's first line from /init,
 * Corral against qemu-system-riscv64 -M virt (TCG), same kernel, initrd and command line, in one
 * run, alternating so both see the same machine load.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_CMDLINE, concatArchives } from "../api/guest-command.js";
import { ensureDefaultImage } from "../image/pull.js";
import { CMD_EXIT_RE, INIT_STARTED } from "../image/init-script.js";
import { commandArchive } from "../image/initramfs.js";
import { tempDir } from "./cleanup.js";
import { timeUntil } from "./spawn-until.js";

/** Corral's default command line, and Debian's plain one (which also runs the crypto self-tests). */
export const BOOT_CMDLINES = [DEFAULT_CMDLINE, "console=ttyS0 quiet"] as const;

export interface BootResult {
  corralMs: number[];
  qemuMs: number[];
}

export async function benchBoot(rounds: number, corralBin: string, cmdline: string): Promise<BootResult> {
  const img = await ensureDefaultImage();
  const r: BootResult = { corralMs: [], qemuMs: [] };
  for (let i = 0; i < rounds; i++) {
    const q = await timeUntil(
      "qemu-system-riscv64",
      [
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
        img.initramfs,
        "-append",
        cmdline,
      ],
      INIT_STARTED,
    );
    if (!q.found) throw new Error("QEMU did not reach /init");
    r.qemuMs.push(q.ms);
    const c = await timeUntil(
      corralBin,
      ["run", "--memory", "512M", "--kernel", img.kernel, "--initrd", img.initramfs, "--append", cmdline],
      INIT_STARTED,
    );
    if (!c.found) throw new Error("Corral did not reach /init");
    r.corralMs.push(c.ms);
  }
  return r;
}

/**
 * Boot and run a command (`true`) to its end, as `corral run -- true` does: unlike the /init
 * marker, this includes what /init does before the command, loading the modules for the board's
 * devices among it. Both with Corral's default command line and devices (an entropy device, a
 * balloon; no NIC on either).
 */
export async function benchBootCommand(rounds: number, corralBin: string, initramfs?: string): Promise<BootResult> {
  const img = await ensureDefaultImage();
  const dir = tempDir("corral-bench-boot-");
  try {
    const initrd = join(dir, "initrd.cpio");
    writeFileSync(
      initrd,
      concatArchives(new Uint8Array(readFileSync(initramfs ?? img.initramfs)), commandArchive("true")),
    );
    const marker = "@@CORRAL-EXIT 0@@";
    if (!CMD_EXIT_RE.test(marker)) throw new Error("the command's end marker changed: update benchBootCommand");
    const r: BootResult = { corralMs: [], qemuMs: [] };
    for (let i = 0; i < rounds; i++) {
      const q = await timeUntil(
        "qemu-system-riscv64",
        [
          ...["-M", "virt", "-smp", "1", "-m", "512", "-nographic", "-nic", "none"],
          ...["-device", "virtio-rng-device", "-device", "virtio-balloon-device"],
          ...["-kernel", img.kernel, "-initrd", initrd, "-append", DEFAULT_CMDLINE],
        ],
        marker,
      );
      if (!q.found) throw new Error("QEMU did not finish the command");
      r.qemuMs.push(q.ms);
      const c = await timeUntil(
        corralBin,
        [
          ...["run", "--memory", "512M", "--net", "none"],
          ...["--kernel", img.kernel, "--initrd", initrd, "--append", DEFAULT_CMDLINE],
        ],
        marker,
      );
      if (!c.found) throw new Error("Corral did not finish the command");
      r.corralMs.push(c.ms);
    }
    return r;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
