// Instruction-level conformance of Corral's CPU: every bare-metal program in tests/isa/ runs on
// QEMU (the reference: it must pass there, which proves the program itself right) and on Corral
// (must pass too). A program reports only through the "sifive,test0" finisher, so the exit status
// is the verdict: 0 = pass, N = check number N failed (see tests/isa/README.md). QEMU runs the
// <name>.qemu.elf build, which leaves out the few checks where QEMU 7.2 departs from the spec.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url)); // dist/tests/ -> repository root
const ISA_DIR = join(ROOT, "tests", "isa");
const BUILD_DIR = join(ISA_DIR, "build");

/**
 * Hang guard, not a performance threshold: a program that never reaches the finisher (a CPU bug
 * can loop forever) is killed after this long so the suite ends. ISA_TEST_HANG_MS overrides it.
 */
const HANG_GUARD_MS = Number(process.env.ISA_TEST_HANG_MS ?? 300_000);

type Run = { status: number | null; signal: NodeJS.Signals | null; output: string; hung: boolean };

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const collect = (b: Buffer): void => {
      output = (output + b.toString("latin1")).slice(-4000);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    let hung = false;
    const guard = setTimeout(() => {
      hung = true;
      child.kill("SIGKILL");
    }, HANG_GUARD_MS);
    child.on("error", reject);
    child.on("close", (status, signal) => {
      clearTimeout(guard);
      resolve({ status, signal, output, hung });
    });
  });
}

function verdict(program: string, where: string, r: Run): void {
  if (r.status === 0) return;
  const why = r.hung
    ? `never reached the test finisher (killed after ${HANG_GUARD_MS} ms)`
    : r.status === null
      ? `was killed by ${r.signal ?? "a signal"}`
      : `failed check ${r.status} (see the CHECK numbered ${r.status} in tests/isa/${program}.S)`;
  assert.fail(`${program} on ${where} ${why}\n--- output ---\n${r.output}`);
}

/**
 * The board a program needs: a line "// irqchip: aia" in its source runs it on QEMU's
 * aia=aplic-imsic board and on Corral with --irqchip aia; otherwise the default (PLIC) board.
 */
function board(program: string): { qemu: string; corral: string[] } {
  const aia = /^\/\/ irqchip: aia$/m.test(readFileSync(join(ISA_DIR, `${program}.S`), "utf8"));
  return aia ? { qemu: "virt,aia=aplic-imsic", corral: ["--irqchip", "aia"] } : { qemu: "virt", corral: [] };
}

const programs = readdirSync(ISA_DIR)
  .filter((f) => f.endsWith(".S"))
  .map((f) => f.slice(0, -2))
  .sort();

describe("RISC-V ISA programs", () => {
  test("build (tests/isa/build.mjs: rebuilds missing or stale ELFs)", () => {
    const r = spawnSync(process.execPath, [join(ISA_DIR, "build.mjs")], { cwd: ROOT, encoding: "utf8" });
    assert.equal(r.status, 0, `building the ISA programs failed:\n${r.stderr}`);
    assert.ok(programs.length > 0, "no programs in tests/isa");
  });

  for (const program of programs) {
    const elf = join(BUILD_DIR, `${program}.elf`);
    const qemuElf = join(BUILD_DIR, `${program}.qemu.elf`);
    const b = board(program);
    describe(program, () => {
      test("QEMU (reference)", async () => {
        const r = await run("qemu-system-riscv64", [
          "-M",
          b.qemu,
          "-m",
          "128M",
          "-nographic",
          "-bios",
          "none",
          "-kernel",
          qemuElf,
        ]);
        verdict(program, "QEMU", r);
      });
      test("Corral", async () => {
        const r = await run(process.execPath, [join(ROOT, "bin", "corral.js"), "run", ...b.corral, "--firmware", elf]);
        verdict(program, "Corral", r);
      });
      // Most checks run once, so the interpreter runs them; here every block is compiled before
      // its first run, by the wasm tier (the default, src/cpu/wasm/) and by the
      // JavaScript JIT (src/cpu/engine/jit.ts), so the same checks hold of both tiers' compiled code.
      for (const tier of ["wasm", "js"]) {
        test(`Corral, every block compiled by the ${tier} tier`, async () => {
          const env = { ...process.env, CORRAL_HOT_BLOCK: "1", CORRAL_TIER: tier };
          const r = await run(
            process.execPath,
            [join(ROOT, "bin", "corral.js"), "run", ...b.corral, "--firmware", elf],
            env,
          );
          verdict(program, `Corral with CORRAL_HOT_BLOCK=1 CORRAL_TIER=${tier}`, r);
        });
      }
      // The wasm tier takes a fused multiply-add's value from the host's FMA when it has one
      // (src/cpu/wasm/hw-fma.ts); the emulation a host without it gets is checked here too.
      if (program === "fp-inline")
        test("Corral, every block compiled by the wasm tier, without the host's FMA", async () => {
          const env = { ...process.env, CORRAL_HOT_BLOCK: "1", CORRAL_TIER: "wasm", CORRAL_HW_FMA: "0" };
          const r = await run(
            process.execPath,
            [join(ROOT, "bin", "corral.js"), "run", ...b.corral, "--firmware", elf],
            env,
          );
          verdict(program, "Corral with CORRAL_HOT_BLOCK=1 CORRAL_TIER=wasm CORRAL_HW_FMA=0", r);
        });
    });
  }
});
