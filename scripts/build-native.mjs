#!/usr/bin/env node
// Builds Corral's native helper (native/corral-init.c) and runtime client (native/corral-oci.c) with the host's C compiler into
// dist/native/. Run by `npm run build` (so by `npm start`); needs gcc and libc6-dev (Debian). The helper is linked
// statically so that starting it costs no dynamic loading (it runs once per container).
// Also the guest agent (native/corral-agent.c), a riscv64 Linux program with no C library, with a riscv64 cross
// compiler: any riscv64 gcc builds it (Debian's gcc-riscv64-unknown-elf, or gcc-riscv64-linux-gnu).
// Why the helper exists: see the comment at the top of native/corral-init.c.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "dist", "native");
const cc = process.env.CC ?? "gcc";
/** On a fresh machine: what to install, in one line, and no stack trace from a failed spawn. */
const PACKAGES = "install the Debian packages gcc and libc6-dev (apt-get install gcc libc6-dev)";

/**
 * Checked before compiling: the compiler runs, and it builds and statically links a program that
 * includes a libc header (headers and libc.a both come from libc6-dev), so a missing package is
 * named rather than shown as a compiler or linker error.
 */
function checkCompiler() {
  const v = spawnSync(cc, ["--version"], { encoding: "utf8" });
  if (v.error || v.status !== 0)
    fail(`the C compiler '${cc}' does not run (${v.error?.code ?? `exit ${v.status}`}): ${PACKAGES}`);
  const probe = join(outDir, ".probe");
  const r = spawnSync(cc, ["-static", "-x", "c", "-o", probe, "-"], {
    input: "#include <errno.h>\nint main(void) { return errno; }\n",
    encoding: "utf8",
  });
  rmSync(probe, { force: true });
  if (r.status !== 0) fail(`'${cc}' cannot build a static C program (no C library headers or libc.a): ${PACKAGES}`);
}

/** The guest agent's compiler: $CORRAL_GUEST_CC, else the first riscv64 gcc that runs. */
const GUEST_PACKAGES =
  "install the Debian package gcc-riscv64-unknown-elf (apt-get install gcc-riscv64-unknown-elf), or set CORRAL_GUEST_CC to a riscv64 gcc";
function guestCompiler() {
  const names = process.env.CORRAL_GUEST_CC
    ? [process.env.CORRAL_GUEST_CC]
    : ["riscv64-linux-gnu-gcc", "riscv64-unknown-elf-gcc"];
  for (const name of names) {
    const v = spawnSync(name, ["--version"], { encoding: "utf8" });
    if (!v.error && v.status === 0) return name;
  }
  fail(`no riscv64 C compiler for the guest agent (tried ${names.join(", ")}): ${GUEST_PACKAGES}`);
}
/** Freestanding: no C library, no start files; --no-relax because nothing sets gp. */
const GUEST_FLAGS = [
  "-nostdlib",
  "-static",
  "-ffreestanding",
  "-fno-builtin",
  "-fno-stack-protector",
  "-fno-pie",
  "-no-pie",
  "-O2",
  "-Wall",
  "-Wextra",
  "-Werror",
  "-Wl,--no-relax",
  "-Wl,--build-id=none",
];

function fail(message) {
  process.stderr.write(`build-native: ${message}\n`);
  process.exit(1);
}

// corral-oci: the client bin/corral-oci runs first, handing calls to the resident server.
const targets = [
  { src: "native/corral-init.c", out: "corral-init" },
  { src: "native/corral-oci.c", out: "corral-oci" },
  { src: "native/corral-agent.c", out: "corral-agent", guest: true, headers: ["native/riscv-syscall.h"] },
];
const stale = targets.filter((t) => {
  try {
    const built = statSync(join(outDir, t.out)).mtimeMs;
    return [t.src, ...(t.headers ?? [])].some((f) => built < statSync(join(root, f)).mtimeMs);
  } catch {
    return true;
  }
});
if (stale.length > 0) {
  mkdirSync(outDir, { recursive: true });
  if (stale.some((t) => !t.guest)) checkCompiler();
}
const gcc = stale.some((t) => t.guest) ? guestCompiler() : undefined;
for (const t of stale) {
  const compiler = t.guest ? gcc : cc;
  const flags = t.guest ? GUEST_FLAGS : ["-O2", "-static", "-Wall", "-Wextra", "-Werror"];
  try {
    execFileSync(compiler, [...flags, "-o", join(outDir, t.out), join(root, t.src)], { stdio: "inherit" });
  } catch {
    fail(`${compiler} failed for ${t.src} (its messages are above)`);
  }
}
