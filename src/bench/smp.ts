/**
 * SMP benchmark (issue 17 item 2): two CPU-bound guest processes (guest/smp-spin.c, no shared
 * data) on `--cpus 2` against both on `--cpus 1`, as a ratio of the guest's own wall time for the
 * pair; QEMU (`-smp 2` against `-smp 1`, multi-threaded TCG) the same way in the same run. Then
 * boot to /init with `--cpus 4` against `--cpus 1`, beside QEMU's `-smp 4` against `-smp 1`.
 * Run it as `CORRAL_THREADS=1 npm run bench -- smp` to measure harts on host threads of their own
 * (machine/threads/, experimental); without it Corral runs all harts on one thread.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { concatArchives, DEFAULT_CMDLINE } from "../api/guest-command.js";
import { ensureDefaultImage } from "../image/pull.js";
import { commandArchive } from "../image/initramfs.js";
import { INIT_STARTED } from "../image/init-script.js";
import { tempDir } from "./cleanup.js";
import { runUntilExit, timeUntil } from "./spawn-until.js";

const SRC = join(dirname(fileURLToPath(import.meta.url)), "../../../src/bench/guest/smp-spin.c");
/**
 * Rounds of each process's loop: a few seconds of guest time on either emulator, so that the
 * row measures the loop and not a hart thread's start (60 M rounds, the first figure, ran in
 * 0.2 s on both once compiled loops got faster: docs/benchmarks.md, eighteenth session).
 */
const ROUNDS = 600_000_000;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sec = (ms: number): string => (ms / 1000).toFixed(2);

function spinMs(out: string, who: string): number {
  const m = /smp-spin ms=(\d+) sum=\d+/.exec(out);
  if (!m) throw new Error(`${who}: no result from smp-spin:\n${out.slice(-2000)}`);
  return Number(m[1]);
}

export async function benchSmp(rounds: number, corralBin: string): Promise<string> {
  const img = await ensureDefaultImage();
  const dir = tempDir("corral-bench-smp-");
  try {
    const prog = join(dir, "smp-spin");
    execFileSync("riscv64-unknown-elf-gcc", [
      ...["-nostdlib", "-static", "-ffreestanding", "-fno-builtin", "-O2", "-march=rv64gc"],
      ...["-Wl,-Ttext=0x10000", "-Wl,--no-relax", "-o", prog, SRC],
    ]);
    const initrd = join(dir, "initrd");
    const archive = commandArchive(`/corral/files/smp-spin 2 ${ROUNDS}`, {
      "smp-spin": new Uint8Array(readFileSync(prog)),
    });
    writeFileSync(initrd, concatArchives(new Uint8Array(readFileSync(img.initramfs)), archive));
    const qemu = (smp: number, initrdFile: string): string[] => [
      ...["-M", "virt", "-smp", String(smp), "-m", "512", "-nographic"],
      ...["-kernel", img.kernel, "-initrd", initrdFile, "-append", DEFAULT_CMDLINE],
    ];
    const corral = (cpus: number, initrdFile: string): string[] => [
      ...["run", "--cpus", String(cpus), "--memory", "512M"],
      ...["--kernel", img.kernel, "--initrd", initrdFile, "--append", DEFAULT_CMDLINE],
    ];
    const spin = { c1: [] as number[], c2: [] as number[], q1: [] as number[], q2: [] as number[] };
    const boot = { c1: [] as number[], c4: [] as number[], q1: [] as number[], q4: [] as number[] };
    for (let i = 0; i < rounds; i++) {
      spin.q1.push(spinMs(await runUntilExit("qemu-system-riscv64", qemu(1, initrd)), "QEMU -smp 1"));
      spin.q2.push(spinMs(await runUntilExit("qemu-system-riscv64", qemu(2, initrd)), "QEMU -smp 2"));
      spin.c1.push(spinMs(await runUntilExit(corralBin, corral(1, initrd)), "Corral --cpus 1"));
      spin.c2.push(spinMs(await runUntilExit(corralBin, corral(2, initrd)), "Corral --cpus 2"));
      for (const [n, into] of [
        [1, boot.q1],
        [4, boot.q4],
      ] as const) {
        const r = await timeUntil("qemu-system-riscv64", qemu(n, img.initramfs), INIT_STARTED);
        if (!r.found) throw new Error(`QEMU -smp ${n} did not reach /init`);
        into.push(r.ms);
      }
      for (const [n, into] of [
        [1, boot.c1],
        [4, boot.c4],
      ] as const) {
        const r = await timeUntil(corralBin, corral(n, img.initramfs), INIT_STARTED);
        if (!r.found) throw new Error(`Corral --cpus ${n} did not reach /init`);
        into.push(r.ms);
      }
    }
    const row = (what: string, c1: number[], cN: number[], q1: number[], qN: number[]): string => {
      const [a, b, c, d] = [median(c1), median(cN), median(q1), median(qN)];
      return `| ${what} | ${sec(a)} s | ${sec(b)} s | **${(b / a).toFixed(2)}x** | ${sec(c)} s | ${sec(d)} s | **${(d / c).toFixed(2)}x** |`;
    };
    return [
      `### SMP: harts on host threads (two CPU-bound guest processes; boot to /init; median of ${rounds})`,
      "",
      "| | Corral 1 hart | Corral N harts | Corral N / 1 | QEMU 1 | QEMU N | QEMU N / 1 |",
      "|---|---|---|---|---|---|---|",
      row("2 processes (smp-spin), N = 2", spin.c1, spin.c2, spin.q1, spin.q2),
      row("boot to /init, N = 4", boot.c1, boot.c4, boot.q1, boot.q4),
      "",
    ].join("\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
