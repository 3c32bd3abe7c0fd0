// `npm start` builds the native helpers with gcc (issue 14 item 14): on a machine without gcc or
// without the static C library, scripts/build-native.mjs says which Debian packages to install in
// one line, rather than a linker error and a stack trace. The script runs from a copy of the
// tree's scripts/ and native/ (it builds into the copy's dist/), with the host's real gcc.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "corral-native-"));
after(() => rmSync(dir, { recursive: true, force: true }));
cpSync(join(ROOT, "scripts", "build-native.mjs"), join(dir, "scripts", "build-native.mjs"));
cpSync(join(ROOT, "native"), join(dir, "native"), { recursive: true });

function build(cc: string, guestCc?: string): { status: number | null; stderr: string } {
  rmSync(join(dir, "dist"), { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = { ...process.env, CC: cc };
  delete env["CORRAL_GUEST_CC"];
  if (guestCc !== undefined) env["CORRAL_GUEST_CC"] = guestCc;
  const r = spawnSync(process.execPath, [join(dir, "scripts", "build-native.mjs")], {
    encoding: "utf8",
    env,
    timeout: 120_000,
  });
  return { status: r.status, stderr: r.stderr };
}

function expectOneLine(r: { status: number | null; stderr: string }, pattern: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.match(lines[0]!, /install the Debian packages gcc and libc6-dev/);
  assert.equal(existsSync(join(dir, "dist", "native", "corral-init")), false);
}

test("no C compiler: one line naming gcc and libc6-dev", () => {
  expectOneLine(
    build(join(dir, "no-such-gcc")),
    /^build-native: the C compiler '.*no-such-gcc' does not run \(ENOENT\)/,
  );
});

test("gcc without a static libc (an empty sysroot, as without libc6-dev): one line naming the packages", () => {
  const sysroot = join(dir, "empty-sysroot");
  mkdirSync(sysroot);
  const wrapper = join(dir, "gcc-no-libc");
  writeFileSync(wrapper, `#!/bin/sh\nexec gcc --sysroot=${sysroot} "$@"\n`);
  chmodSync(wrapper, 0o755);
  expectOneLine(build(wrapper), /^build-native: '.*gcc-no-libc' cannot build a static C program/);
});

test("with gcc and libc6-dev both helpers are built, and the guest agent with a riscv64 gcc", () => {
  const r = build("gcc");
  assert.equal(r.status, 0, r.stderr);
  for (const f of ["corral-init", "corral-oci", "corral-agent"])
    assert.ok(existsSync(join(dir, "dist", "native", f)), f);
});

test("no riscv64 compiler for the guest agent: one line naming gcc-riscv64-unknown-elf", () => {
  const r = build("gcc", join(dir, "no-such-riscv64-gcc"));
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  assert.match(
    lines[0]!,
    /^build-native: no riscv64 C compiler for the guest agent \(tried .*no-such-riscv64-gcc\): install the Debian package gcc-riscv64-unknown-elf/,
  );
  assert.equal(existsSync(join(dir, "dist", "native", "corral-agent")), false);
});

test("the guest's C programs share one system-call stub (native/riscv-syscall.h): each builds with it", () => {
  const programs = [
    "native/corral-agent.c",
    "tests/net/guest-udp.c",
    "tests/vsock/guest-vsock.c",
    "tests/smp/guest-hammer.c",
    "src/bench/guest/smp-spin.c",
  ];
  for (const p of programs) {
    const src = readFileSync(join(ROOT, p), "utf8");
    assert.doesNotMatch(src, /"ecall"/, `${p} has an ecall of its own: include native/riscv-syscall.h`);
    assert.match(src, /#include "((\.\.\/)+native\/)?riscv-syscall\.h"/, p);
    const out = join(dir, `${p.replace(/\W/g, "_")}.elf`);
    const r = spawnSync(
      "riscv64-unknown-elf-gcc",
      ["-nostdlib", "-static", "-ffreestanding", "-fno-builtin", "-O2", "-Wall", "-Wextra", "-Werror"].concat([
        "-Wl,-Ttext=0x10000",
        "-Wl,--no-relax",
        "-o",
        out,
        join(ROOT, p),
      ]),
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, `${p}: ${r.stderr}`);
    assert.ok(existsSync(out), p);
  }
});
