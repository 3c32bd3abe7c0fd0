/**
 * Guest MIPS benchmark (issue 2): a CPU-bound bare-metal program (guest/cpubound.c) built with
 * Debian's RISC-V cross compiler, run on Corral and on QEMU (-bios none), wall time each; the
 * dynamic instruction count comes from Corral's retired-instruction counter (the program is
 * deterministic, so it is the same on QEMU).
 */
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { composeVm } from "../vm/compose.js";
import { parseVmSpec } from "../vm/spec.js";
import { timeUntil } from "./spawn-until.js";
import { tempDir } from "./cleanup.js";

const SRC = join(dirname(fileURLToPath(import.meta.url)), "../../../src/bench/guest");

/**
 * Build a bare-metal M-mode program from guest/`program`.c with guest/start.S and guest/link.ld
 * (for `corral run --firmware` and `qemu -bios none -kernel`); `defines` become -D flags.
 */
export function buildBareMetal(
  program: string,
  defines: Record<string, number> = {},
): { elf: string; cleanup(): void } {
  const dir = tempDir(`corral-bench-${program}-`);
  const elf = join(dir, `${program}.elf`);
  execFileSync("riscv64-unknown-elf-gcc", [
    "-O2",
    // sqrt as the fsqrt.d instruction, not a libm call that sets errno (there is no libm here).
    "-fno-math-errno",
    "-ffreestanding",
    "-march=rv64gc",
    "-mabi=lp64d",
    "-mcmodel=medany",
    "-nostdlib",
    "-nostartfiles",
    "-static",
    "-Wl,--no-warn-rwx-segments",
    ...Object.entries(defines).map(([k, v]) => `-D${k}=${v}`),
    "-T",
    join(SRC, "link.ld"),
    join(SRC, "start.S"),
    join(SRC, `${program}.c`),
    "-o",
    elf,
  ]);
  return { elf, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const buildCpuBound = (): { elf: string; cleanup(): void } => buildBareMetal("cpubound");

/** Instructions the program retires, counted by running it in-process. */
export async function countInstructions(elf: string): Promise<number> {
  const spec = parseVmSpec({ memory: "128M", boot: { firmware: elf } });
  const { machine: m } = await composeVm(spec, { console: () => {} });
  const exit = await m.run();
  m.close();
  if (exit.kind !== "poweroff" || exit.code !== 0) throw new Error(`cpubound failed: ${JSON.stringify(exit)}`);
  return m.retired;
}

export interface CpuResult {
  instructions: number;
  corralMs: number[];
  qemuMs: number[];
}

export async function benchCpu(rounds: number, corralBin: string): Promise<CpuResult> {
  const prog = buildCpuBound();
  try {
    const instructions = await countInstructions(prog.elf);
    const r: CpuResult = { instructions, corralMs: [], qemuMs: [] };
    for (let i = 0; i < rounds; i++) {
      const q = await timeUntil(
        "qemu-system-riscv64",
        ["-M", "virt", "-m", "128M", "-nographic", "-bios", "none", "-kernel", prog.elf],
        null,
      );
      if (q.exitCode !== 0) throw new Error(`QEMU: cpubound exited ${q.exitCode}`);
      r.qemuMs.push(q.ms);
      const c = await timeUntil(corralBin, ["run", "--memory", "128M", "--firmware", prog.elf], null);
      if (c.exitCode !== 0) throw new Error(`Corral: cpubound exited ${c.exitCode}`);
      r.corralMs.push(c.ms);
    }
    return r;
  } finally {
    prog.cleanup();
  }
}
