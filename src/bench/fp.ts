/**
 * Floating-point benchmark (issue 17 item 1 d): a bare-metal program of double-precision kernels
 * (guest/fpbench.c: an n-body simulation and a matrix multiply, -O2) run on Corral
 * (`corral run --firmware`) and on QEMU (`-bios none -kernel`), alternating. Each run prints its
 * checksums (the results' bits) and the kernels' own time from the time CSR; the checksums must be
 * equal on both, or the bench fails. Reported: the kernels' time (inside the guest), split into
 * its n-body and matrix-multiply parts, each round's, the process's CPU time and the wall time of
 * the whole run, each as Corral / QEMU.
 *
 * The time CSR is host wall time on both boards (QEMU's virtual clock without icount, Corral's
 * machine/clock.ts), so the kernels' time is the share of a core the host scheduler gave each
 * process: on a loaded host both sides stretch, and unevenly (a round of one lands beside other
 * work). The process CPU time (user + system of the process and its threads, from the shell's
 * `times`: the same rule for both) is the figure a busy host moves least; it counts what Corral's
 * compile threads do beside the guest, which a quiet host runs on its other core.
 */
import { loadavg } from "node:os";
import { buildBareMetal } from "./cpu.js";
import { runTimed } from "./spawn-until.js";

/** The board's timebase on both (Corral's machine/clock.ts, QEMU virt's RISCV_ACLINT_DEFAULT_TIMEBASE_FREQ). */
const TIMEBASE_HZ = 10_000_000;
/**
 * The program's one result line: energy before and after, the matrix sum, then the kernels' ticks
 * and those of the n-body part alone (absent from a program built before the split).
 */
const RESULT =
  /^fpbench (energy [0-9a-f]{16} [0-9a-f]{16} matmul [0-9a-f]{16}) ticks ([0-9a-f]{16})(?: nbody ([0-9a-f]{16}))?\r?$/m;
/** bash's `times`, its second line: the children's user and system time (the measured process). */
const TIMES = /^\d+m[\d.]+s \d+m[\d.]+s\r?\n(\d+)m([\d.]+)s (\d+)m([\d.]+)s\r?$/m;

/** Build the program; `size` shrinks it (fewer n-body steps and matrix rounds) for a quick check. */
export function buildFpBench(size?: { steps: number; mmRounds: number }): { elf: string; cleanup(): void } {
  return buildBareMetal("fpbench", size ? { STEPS: size.steps, MM_ROUNDS: size.mmRounds } : {});
}

const ticksMs = (hex: string): number => (Number.parseInt(hex, 16) / TIMEBASE_HZ) * 1000;

/** The checksum and the kernels' milliseconds (n-body's, where printed) from one run's output, or why there are none. */
export function parseFpResult(
  output: string,
): { checksum: string; kernelMs: number; nbodyMs?: number } | { problem: string } {
  const m = RESULT.exec(output);
  if (!m) return { problem: `no result line in its output: ${JSON.stringify(output.slice(-300))}` };
  const r = { checksum: m[1]!, kernelMs: ticksMs(m[2]!) };
  return m[3] === undefined ? r : { ...r, nbodyMs: ticksMs(m[3]) };
}

/** The measured process's CPU milliseconds (user + system) from the `times` its shell printed last. */
export function parseTimes(output: string): number | undefined {
  const m = TIMES.exec(output);
  if (!m) return undefined;
  return (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1000;
}

export interface FpSide {
  wallMs: number[];
  kernelMs: number[];
  nbodyMs: number[];
  /** The matrix multiply (and the energy's second sum): the kernels less n-body. */
  matmulMs: number[];
  cpuMs: number[];
}

export interface FpResult {
  checksum: string;
  corral: FpSide;
  qemu: FpSide;
  /** The host's 1-minute load average before each round. */
  load: number[];
}

export async function benchFp(
  rounds: number,
  corralBin: string,
  size?: { steps: number; mmRounds: number },
): Promise<FpResult> {
  const prog = buildFpBench(size);
  try {
    const side = (): FpSide => ({ wallMs: [], kernelMs: [], nbodyMs: [], matmulMs: [], cpuMs: [] });
    const r: FpResult = { checksum: "", corral: side(), qemu: side(), load: [] };
    const one = async (who: "Corral" | "QEMU", cmd: string, args: string[], into: FpSide): Promise<void> => {
      // Through bash, whose `times` then prints the process's CPU time (both sides alike).
      const run = await runTimed("bash", ["-c", '"$@"; s=$?; times; exit $s', "fpbench", cmd, ...args]);
      if (run.exitCode !== 0) throw new Error(`${who}: fpbench exited ${run.exitCode}: ${run.output.slice(-300)}`);
      const p = parseFpResult(run.output);
      if ("problem" in p) throw new Error(`${who}: ${p.problem}`);
      if (r.checksum === "") r.checksum = p.checksum;
      else if (p.checksum !== r.checksum)
        throw new Error(`${who}'s checksum differs: '${p.checksum}' against '${r.checksum}'`);
      into.wallMs.push(run.ms);
      into.kernelMs.push(p.kernelMs);
      into.nbodyMs.push(p.nbodyMs ?? NaN);
      into.matmulMs.push(p.kernelMs - (p.nbodyMs ?? NaN));
      into.cpuMs.push(parseTimes(run.output) ?? NaN);
    };
    for (let i = 0; i < rounds; i++) {
      r.load.push(loadavg()[0]!);
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
