/**
 * Boot benchmark (issue 2): wall time from process start to the guest's first line from /init,
 * Corral against qemu-system-riscv64 -M virt (TCG), same kernel, initrd and command line, in one
 * run, alternating so both see the same machine load.
 */
import { DEFAULT_CMDLINE } from "../api/guest-command.js";
import { ensureDefaultImage } from "../image/pull.js";
import { INIT_STARTED } from "../image/init-script.js";
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
      process.execPath,
      [corralBin, "run", "--memory", "512M", "--kernel", img.kernel, "--initrd", img.initramfs, "--append", cmdline],
      INIT_STARTED,
    );
    if (!c.found) throw new Error("Corral did not reach /init");
    r.corralMs.push(c.ms);
  }
  return r;
}
