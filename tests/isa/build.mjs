#!/usr/bin/env node
// Builds every tests/isa/*.S program with Debian's bare-metal RISC-V toolchain, twice:
//   build/<name>.elf       the strict program (run on Corral);
//   build/<name>.qemu.elf  with -DQEMU_REFERENCE, which leaves out the few checks where QEMU 7.2
//                          itself departs from the specification (see README.md).
// Incremental: an ELF is rebuilt when it is missing or older than its source, the shared headers
// or the link script. Usage: node tests/isa/build.mjs [name...]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ISA_DIR = dirname(fileURLToPath(import.meta.url));
export const BUILD_DIR = join(ISA_DIR, "build");
const CC = process.env.RISCV_CC ?? "riscv64-unknown-elf-gcc";
const FLAGS = [
  "-march=rv64gc_zicsr_zifencei",
  "-mabi=lp64d",
  "-nostdlib",
  "-nostartfiles",
  "-static",
  "-T",
  join(ISA_DIR, "link.ld"),
  "-I",
  ISA_DIR,
  "-Wa,--fatal-warnings",
];
/** Files every program depends on: the headers, the link script and this script. */
const SHARED = readdirSync(ISA_DIR)
  .filter((f) => f.endsWith(".h") || f === "link.ld" || f === "build.mjs")
  .map((f) => join(ISA_DIR, f));

/** Names (without .S) of all test programs. */
export function programNames() {
  return readdirSync(ISA_DIR)
    .filter((f) => f.endsWith(".S"))
    .map((f) => f.slice(0, -2))
    .sort();
}

function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : -1;
}

const VARIANTS = [
  { suffix: ".elf", defines: [] },
  { suffix: ".qemu.elf", defines: ["-DQEMU_REFERENCE"] },
];

/** Builds the named programs (default: all); returns the paths of their ELFs. */
export function buildAll(names = programNames()) {
  mkdirSync(BUILD_DIR, { recursive: true });
  const newestShared = Math.max(...SHARED.map(mtime));
  return names.flatMap((name) => {
    const src = join(ISA_DIR, `${name}.S`);
    return VARIANTS.map(({ suffix, defines }) => {
      const elf = join(BUILD_DIR, `${name}${suffix}`);
      const built = mtime(elf);
      if (built < mtime(src) || built < newestShared) {
        execFileSync(CC, [...FLAGS, ...defines, "-o", elf, src], { stdio: ["ignore", "inherit", "inherit"] });
      }
      return elf;
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  try {
    for (const elf of buildAll(args.length > 0 ? args : undefined)) process.stdout.write(`${elf}\n`);
  } catch {
    process.exitCode = 1;
  }
}
