/**
 * Running the fuzzer's programs (fuzz.ts): build one with riscv64-unknown-elf-gcc, run it on QEMU
 * (the oracle) and on Corral in each tier, and compare what they printed.
 */
import { execFile, spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { fuzzProgram } from "./fuzz.js";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url)); // dist/src/cpu/testing/ -> root
const CC = process.env["RISCV_CC"] ?? "riscv64-unknown-elf-gcc";
/**
 * A hang guard, not a performance threshold: a run that never reaches the finisher (a CPU bug can
 * loop for ever) is killed after this long.
 */
const HANG_MS = 120_000;

/** Corral's tiers, as the environment selects them (engine/exec.ts). */
export const TIERS = {
  interpreter: { CORRAL_HOT_BLOCK: "1000000000" },
  js: { CORRAL_TIER: "js", CORRAL_HOT_BLOCK: "1" },
  wasm: { CORRAL_TIER: "wasm", CORRAL_HOT_BLOCK: "1" },
} as const;
export type Tier = keyof typeof TIERS;

/** Write and assemble the program of `seed` in `dir`; returns the ELF's path. */
export async function buildFuzz(dir: string, seed: number, count?: number): Promise<string> {
  const src = join(dir, `fuzz-${seed}.S`);
  const elf = join(dir, `fuzz-${seed}.elf`);
  writeFileSync(src, fuzzProgram(seed, count));
  await promisify(execFile)(CC, [
    "-march=rv64gc_zicsr_zifencei",
    "-mabi=lp64d",
    "-nostdlib",
    "-nostartfiles",
    "-static",
    "-T",
    join(ROOT, "tests", "isa", "link.ld"),
    "-o",
    elf,
    src,
  ]);
  return elf;
}

function capture(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (b: Buffer) => (out += b.toString("latin1")));
    child.stderr.on("data", (b: Buffer) => (out += b.toString("latin1")));
    const guard = setTimeout(() => child.kill("SIGKILL"), HANG_MS);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(guard);
      resolve(status === 0 ? out : `${out}\n(exit status ${status})`);
    });
  });
}

/**
 * QEMU's serial output goes to a file: on a pipe, its stdio backend drops what the reader has not
 * taken yet when the finisher ends the run.
 */
export async function runQemu(elf: string): Promise<string> {
  const file = `${elf}.qemu.txt`;
  const args = ["-M", "virt", "-m", "128M", "-display", "none", "-monitor", "none"];
  const status = await capture(
    "qemu-system-riscv64",
    [...args, "-serial", `file:${file}`, "-bios", "none", "-kernel", elf],
    process.env,
  );
  const out = readFileSync(file, "latin1");
  rmSync(file, { force: true });
  return status === "" ? out : `${out}\n${status}`;
}

export function runCorral(elf: string, tier: Tier): Promise<string> {
  return capture(process.execPath, [join(ROOT, "bin", "corral.js"), "run", "--firmware", elf], {
    ...process.env,
    ...TIERS[tier],
  });
}

const NAMES = [
  ...Array.from({ length: 31 }, (_, i) => `x${i + 1}`),
  ...Array.from({ length: 32 }, (_, i) => `f${i}`),
  "fcsr",
  "pad",
  ...Array.from({ length: 32 }, (_, i) => `data+${8 * i}`),
];

/** The first difference between two dumps, named ("x27: qemu 1f, corral 2f"), or null. */
export function firstDifference(want: string, got: string): string | null {
  if (want === got) return null;
  const a = want.trim().split("\n");
  const b = got.trim().split("\n");
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i])
      return `${NAMES[i] ?? `line ${i + 1}`}: QEMU ${a[i] ?? "(nothing)"}, Corral ${b[i] ?? "(nothing)"}`;
  }
  return "output differs";
}
