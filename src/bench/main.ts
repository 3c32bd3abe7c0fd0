/**
 * `npm run bench`: every benchmark, each beside its peer, in one run, printed as markdown rows
 * for docs/benchmarks.md. Ratios, not absolute times, are what to compare: these machines are
 * noisy. Usage: node dist/src/bench/main.js [boot] [cpu] [disk] [exec] [net] [containers] [limits] [memory]
 * [snapshot] [usernet] [pci] [python] [fp] [smp] [fuzz] [clones] [--rounds N] [--minutes N] [--seed S] [--count N]
 * (--help; an unknown flag or benchmark is refused before anything runs).
 */
import { BOOT_CMDLINES, benchBoot, benchBootCommand } from "./boot.js";
import { benchClones } from "./clones.js";
import { benchContainers } from "./containers.js";
import { benchCpu } from "./cpu.js";
import { benchDisk } from "./disk.js";
import { benchExec } from "./exec.js";
import { benchFp } from "./fp.js";
import { benchFuzz } from "./fuzz.js";
import { benchLimits } from "./limits.js";
import { benchSriov } from "./sriov.js";
import { benchMemory } from "./memory.js";
import { benchNet } from "./net.js";
import { benchSnapshot } from "./snapshot.js";
import { benchUserNet } from "./usernet.js";
import { benchPci } from "./pci.js";
import { PYTHON_IMAGE, benchPython } from "./python.js";
import { loadavg } from "node:os";
import { benchSmp } from "./smp.js";
import { exitOnInterrupt } from "./cleanup.js";
import { CORRAL } from "./launcher.js";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
const sec = (ms: number): string => (ms / 1000).toFixed(2);

/** The benchmarks, in the order they run. */
const BENCHMARKS = [
  "boot",
  "cpu",
  "disk",
  "exec",
  "net",
  "containers",
  "limits",
  "memory",
  "snapshot",
  "usernet",
  "pci",
  "sriov",
  "python",
  "fp",
  "smp",
  "fuzz",
  "clones",
] as const;
/** Not run unless named: they take minutes (fuzz as long as asked, clones about ten). */
const ON_REQUEST: readonly string[] = ["fuzz", "clones"];
const USAGE = `Usage: npm run bench -- [${BENCHMARKS.join("] [")}] [--rounds N] [--minutes N] [--seed S] [--count N]

Runs the named benchmarks (all but fuzz and clones when none is named), each beside its peer, and prints
markdown rows for docs/benchmarks.md. --rounds: alternating rounds per benchmark (default 3).
fuzz: random programs run on QEMU and on each of Corral's tiers, compared, for --minutes
(default 1) from seed --seed (default: from the clock); with --seed alone, that one program.
clones: --count clones (default 50) of one idle 256 MiB VM at once, their summed PSS with and
without KSM (minutes; root for KSM).
python: Debian's python3 running src/bench/guest/pybench.py in a guest on a Debian root disk (the
image cache's '${PYTHON_IMAGE}', built the first time: minutes). fp: src/bench/guest/fpbench.c,
double-precision kernels, bare metal. Both check that Corral's and QEMU's checksums match.
`;

class UsageError extends Error {}

/** The benchmarks to run and the rounds; refuses what it does not know before anything runs. */
type BenchArgs = {
  only: string[];
  rounds: number;
  minutes: number | undefined;
  seed: number | undefined;
  count: number | undefined;
};
function parseBenchArgs(args: string[]): BenchArgs | "help" {
  const only: string[] = [];
  let rounds = 3;
  let minutes: number | undefined;
  let seed: number | undefined;
  let count: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--help" || a === "-h") return "help";
    if (a === "--rounds") {
      const v = args[++i] ?? "";
      if (!/^[1-9]\d*$/.test(v)) throw new UsageError(`--rounds needs a whole number of at least 1 (got '${v}')`);
      rounds = Number(v);
    } else if (a === "--minutes") {
      const v = args[++i] ?? "";
      if (!/^\d+(\.\d+)?$/.test(v) || Number(v) <= 0)
        throw new UsageError(`--minutes needs a positive number (got '${v}')`);
      minutes = Number(v);
    } else if (a === "--seed") {
      const v = args[++i] ?? "";
      if (!/^\d+$/.test(v) || Number(v) >= 2 ** 32)
        throw new UsageError(`--seed needs a whole number below 2^32 (got '${v}')`);
      seed = Number(v);
    } else if (a === "--count") {
      const v = args[++i] ?? "";
      if (!/^[1-9]\d*$/.test(v) || Number(v) > 64)
        throw new UsageError(`--count needs a whole number from 1 to 64 (got '${v}')`);
      count = Number(v);
    } else if (a.startsWith("-"))
      throw new UsageError(
        `unknown flag '${a}': the flags are --rounds N, --minutes N, --seed S, --count N and --help`,
      );
    else if ((BENCHMARKS as readonly string[]).includes(a)) only.push(a);
    else throw new UsageError(`unknown benchmark '${a}': choose from ${BENCHMARKS.join(", ")}`);
  }
  return { only, rounds, minutes, seed, count };
}

async function main(): Promise<void> {
  const parsed = parseBenchArgs(process.argv.slice(2));
  if (parsed === "help") {
    process.stdout.write(USAGE);
    return;
  }
  const { only, rounds, minutes, seed, count } = parsed;
  const want = (n: (typeof BENCHMARKS)[number]): boolean =>
    (only.length === 0 && !ON_REQUEST.includes(n)) || only.includes(n);
  const out: string[] = [
    `Corral benchmarks, ${new Date().toISOString().slice(0, 10)}, median of ${rounds} alternating rounds`,
    "",
  ];

  if (want("boot")) {
    out.push(
      '### Boot to /init (default image, 1 hart, 512 MiB; wall time to the line "corral: init started")',
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
    const b = await benchBootCommand(rounds, CORRAL);
    const c = median(b.corralMs);
    const q = median(b.qemuMs);
    out.push(
      `| \`${BOOT_CMDLINES[0]}\`, to the end of a command (\`true\`: /init's module loading included) | ${sec(c)} s | ${sec(q)} s | ${(c / q).toFixed(1)}x |`,
    );
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
  if (want("snapshot")) out.push(await benchSnapshot(rounds));
  if (want("net")) out.push(await benchNet(rounds));
  if (want("containers")) {
    out.push(await benchContainers());
  }
  if (want("limits")) out.push(await benchLimits(rounds, CORRAL));
  if (want("memory")) out.push(await benchMemory());
  if (want("usernet")) out.push(await benchUserNet(rounds));
  if (want("pci")) out.push(await benchPci(rounds, CORRAL));
  if (want("sriov")) out.push(await benchSriov(rounds));
  if (want("python")) out.push(pythonRows(await benchPython(rounds, CORRAL)));
  if (want("fp")) out.push(fpRows(await benchFp(rounds, CORRAL)));
  if (want("smp")) out.push(await benchSmp(rounds, CORRAL));
  if (want("fuzz")) {
    const onlySeed = seed !== undefined && minutes === undefined;
    out.push(await benchFuzz(minutes ?? 1, seed ?? Date.now() % 2 ** 32, onlySeed));
  }
  if (want("clones")) out.push(await benchClones(count));
  process.stdout.write(out.join("\n") + "\n");
}

/** "x s" beside "y s" and their ratio, Corral over QEMU, as a table row. */
function ratioRow(label: string, corralMs: number[], qemuMs: number[]): string {
  const c = median(corralMs);
  const q = median(qemuMs);
  return `| ${label} | ${sec(c)} s | ${sec(q)} s | ${(c / q).toFixed(2)}x |`;
}
const load = (): string => loadavg()[0]!.toFixed(1);

function pythonRows(r: Awaited<ReturnType<typeof benchPython>>): string {
  const parts = Object.keys(r.qemu.runs[0]?.partsMs ?? {});
  return [
    `### Interpreter: Debian's python3 (src/bench/guest/pybench.py) on a Debian trixie root disk, 1 hart, 512 MiB`,
    "",
    `Checksum \`${r.checksum}\` on both; load average ${load()} at the end.`,
    "",
    "| | Corral | qemu-system-riscv64 -M virt | ratio (Corral / QEMU) |",
    "|---|---|---|---|",
    ratioRow(
      "workload (the guest's perf_counter)",
      r.corral.runs.map((x) => x.workloadMs),
      r.qemu.runs.map((x) => x.workloadMs),
    ),
    ...parts.map((p) =>
      ratioRow(
        `&nbsp;&nbsp;${p}`,
        r.corral.runs.map((x) => x.partsMs[p] ?? NaN),
        r.qemu.runs.map((x) => x.partsMs[p] ?? NaN),
      ),
    ),
    ratioRow("whole run: boot, workload, poweroff (wall)", r.corral.wallMs, r.qemu.wallMs),
    "",
  ].join("\n");
}

/** The median of the pairs' ratios a[i] / b[i], as "0.85x". */
const paired = (a: number[], b: number[]): string => `${median(a.map((x, i) => x / b[i]!)).toFixed(2)}x`;

function fpRows(r: Awaited<ReturnType<typeof benchFp>>): string {
  return [
    "### Floating point: double-precision n-body and matrix multiply (src/bench/guest/fpbench.c, -O2, bare metal)",
    "",
    `Checksum \`${r.checksum}\` on both; load average ${load()} at the end.`,
    "",
    "| | Corral | qemu-system-riscv64 (TCG) | ratio (Corral / QEMU) |",
    "|---|---|---|---|",
    ratioRow("kernels (the guest's time CSR)", r.corral.kernelMs, r.qemu.kernelMs),
    ratioRow("&nbsp;&nbsp;n-body", r.corral.nbodyMs, r.qemu.nbodyMs),
    ratioRow("&nbsp;&nbsp;matrix multiply", r.corral.matmulMs, r.qemu.matmulMs),
    ratioRow("process CPU, whole run (user + system)", r.corral.cpuMs, r.qemu.cpuMs),
    ratioRow("whole run (wall)", r.corral.wallMs, r.qemu.wallMs),
    "",
    // A round's two runs are next to each other, so they saw much the same load: the median of
    // the rounds' own ratios moves less with the host than the ratio of the two medians.
    `Paired (the median of each round's Corral / QEMU): kernels ${paired(r.corral.kernelMs, r.qemu.kernelMs)}, ` +
      `n-body ${paired(r.corral.nbodyMs, r.qemu.nbodyMs)}, matrix multiply ${paired(r.corral.matmulMs, r.qemu.matmulMs)}, ` +
      `process CPU ${paired(r.corral.cpuMs, r.qemu.cpuMs)}.`,
    "",
    // Each round's, as the medians hide how far a loaded host moved either side.
    "Rounds (kernels, n-body + matrix multiply; process CPU), Corral / QEMU:",
    ...r.load.map((l, i) => {
      const one = (x: typeof r.qemu): string =>
        `${sec(x.kernelMs[i]!)} s (${sec(x.nbodyMs[i]!)} + ${sec(x.matmulMs[i]!)}; CPU ${sec(x.cpuMs[i]!)} s)`;
      return `- round ${i + 1}, load ${l.toFixed(1)}: ${one(r.corral)} / ${one(r.qemu)}`;
    }),
    "",
  ].join("\n");
}

// The one signal handler of every bench: what they registered is undone, their VMs stopped.
exitOnInterrupt();
main().catch((e: unknown) => {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = e instanceof UsageError ? 2 : 1;
});
