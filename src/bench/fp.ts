/**
 * Floating-point benchmark (issue 17 item 1 d): a bare-metal program of double-precision kernels
 * (guest/fpbench.c: an n-body simulation and a matrix multiply, -O2) run on Corral
 * (`corral run --firmware`) and on QEMU (`-bios none -kernel`), alternating. Each run prints its
 * checksums (the results' bits) and the kernels' own time from the time CSR; the checksums must be
 * equal on both, or the bench fails. Reported: the kernels' time (inside the guest) and the wall
 * time of the whole run, each as Corral / QEMU.
 */
import { buildBareMetal } from "./cpu.js";
import { runTimed } from "./spawn-until.js";

/** The board's timebase on both (Corral's machine/clock.ts, QEMU virt's RISCV_ACLINT_DEFAULT_TIMEBASE_FREQ). */
const TIMEBASE_HZ = 10_000_000;
/** The program's one result line: energy before and after, the matrix sum, then the kernels' ticks. */
const RESULT = /^fpbench (energy [0-9a-f]{16} [0-9a-f]{16} matmul [0-9a-f]{16}) ticks ([0-9a-f]{16})\r?$/m;

/** Build the program; `size` shrinks it (fewer n-body steps and matrix rounds) for a quick check. */
export function buildFpBench(size?: { steps: number; mmRounds: number }): { elf: string; cleanup(): void } {
  return buildBareMetal("fpbench", size ? { STEPS: size.steps, MM_ROUNDS: size.mmRounds } : {});
}

/** The checksum and the kernels' milliseconds from one run's output, or why there are none. */
export function parseFpResult(output: string): { checksum: string; kernelMs: number } | { problem: string } {
  const m = RESULT.exec(output);
  if (!m) return { problem: `no result line in its output: ${JSON.stringify(output.slice(-300))}` };
  return { checksum: m[1]!, kernelMs: (Number.parseInt(m[2]!, 16) / TIMEBASE_HZ) * 1000 };
}

export interface FpResult {
  checksum: string;
  corral: { wallMs: number[]; kernelMs: number[] };
  qemu: { wallMs: number[]; kernelMs: number[] };
}

export async function benchFp(
  rounds: number,
  corralBin: string,
  size?: { steps: number; mmRounds: number },
): Promise<FpResult> {
  const prog = buildFpBench(size);
  try {
    const r: FpResult = { checksum: "", corral: { wallMs: [], kernelMs: [] }, qemu: { wallMs: [], kernelMs: [] } };
    const one = async (who: "Corral" | "QEMU", cmd: string, args: string[], into: FpResult["qemu"]): Promise<void> => {
      const run = await runTimed(cmd, args);
      if (run.exitCode !== 0) throw new Error(`${who}: fpbench exited ${run.exitCode}: ${run.output.slice(-300)}`);
      const p = parseFpResult(run.output);
      if ("problem" in p) throw new Error(`${who}: ${p.problem}`);
      if (r.checksum === "") r.checksum = p.checksum;
      else if (p.checksum !== r.checksum)
        throw new Error(`${who}'s checksum differs: '${p.checksum}' against '${r.checksum}'`);
      into.wallMs.push(run.ms);
      into.kernelMs.push(p.kernelMs);
    };
    for (let i = 0; i < rounds; i++) {
      await one(
        "QEMU",
        "qemu-system-riscv64",
        ["-M", "virt", "-m", "128M", "-nographic", "-bios", "none", "-kernel", prog.elf],
        r.qemu,
      );
      await one("Corral", corralBin, ["run", "--memory", "128M", "--firmware", prog.elf], r.corral);
    }
    return r;
  } finally {
    prog.cleanup();
  }
}
