/**
 * `npm run bench`: every benchmark, each beside its peer, in one run, printed as markdown rows
 * for docs/benchmarks.md. Ratios, not absolute times, are what to compare: these machines are
 * noisy. Usage: node dist/src/bench/main.js [boot] [cpu] [disk] [exec] [net] [containers] [--rounds N]
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BOOT_CMDLINES, benchBoot } from "./boot.js";
import { benchContainers } from "./containers.js";
import { benchCpu } from "./cpu.js";
import { benchDisk } from "./disk.js";
import { benchExec } from "./exec.js";
import { benchNet } from "./net.js";

const CORRAL = join(dirname(fileURLToPath(import.meta.url)), "../../../bin/corral.js");

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
const sec = (ms: number): string => (ms / 1000).toFixed(2);

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const ri = args.indexOf("--rounds");
  const rounds = ri >= 0 ? Number(args[ri + 1]) : 3;
  const only = args.filter((a, i) => !a.startsWith("--") && args[i - 1] !== "--rounds");
  const want = (n: string): boolean => only.length === 0 || only.includes(n);
  const out: string[] = [`Corral benchmarks, ${new Date().toISOString().slice(0, 10)}, median of ${rounds} alternating rounds`, ""];

  if (want("boot")) {
    out.push(
      "### Boot to /init (default image, 1 hart, 512 MiB; wall time to the line \"corral: init started\")",
      "",
      "| kernel command line (both) | Corral | qemu-system-riscv64 -M virt | ratio (Corral / QEMU) |",
      "|---|---|---|---|",
    );
    for (const cmdline of BOOT_CMDLINES) {
      const b = await benchBoot(rounds, CORRAL, cmdline);
      const c = median(b.corralMs);
      const q = median(b.qemuMs);
      out.push(`| \`${cmdline}\` | ${sec(c)} s | ${sec(q)} s | ${(c / q).toFixed(1)}x |`);
    }
    out.push("");
  }
  if (want("cpu")) {
    const r = await benchCpu(rounds, CORRAL);
    const c = median(r.corralMs);
    const q = median(r.qemuMs);
    const mips = (ms: number): string => (r.instructions / ms / 1000).toFixed(0);
    out.push(
      `### CPU-bound guest program (src/bench/guest/cpubound.c, ${(r.instructions / 1e6).toFixed(0)} M instructions)`,
      "",
      "| | Corral | qemu-system-riscv64 (TCG) | ratio (Corral / QEMU) |",
      "|---|---|---|---|",
      `| wall time | ${sec(c)} s | ${sec(q)} s | ${(c / q).toFixed(1)}x |`,
      `| guest MIPS | ${mips(c)} | ${mips(q)} | ${(q / c).toFixed(2)}x |`,
      "",
    );
  }
  if (want("disk")) out.push(await benchDisk(rounds, CORRAL));
  if (want("exec")) out.push(await benchExec());
  if (want("net")) out.push(await benchNet(rounds));
  if (want("containers")) {
    out.push(await benchContainers());
  }
  process.stdout.write(out.join("\n") + "\n");
}

main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
