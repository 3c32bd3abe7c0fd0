// The CLI's bad-input cases (issue 2): each is one line on stderr naming the problem and what to
// do, a non-zero exit, no stack trace, no hang, run through the real `corral` executable.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const CORRAL = fileURLToPath(new URL("../../bin/corral.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "corral-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function corral(args: string[]): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [CORRAL, ...args], { encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

function expectError(args: string[], pattern: RegExp): void {
  const r = corral(args);
  assert.notEqual(r.status, 0, `exit status for ${args.join(" ")}`);
  assert.notEqual(r.status, null, "it must not hang");
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^corral: /);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  assert.match(lines[0]!, pattern);
}

const garbage = join(dir, "garbage");
writeFileSync(garbage, Buffer.alloc(100_000, 0x5a));
const empty = join(dir, "empty");
writeFileSync(empty, "");
const bigInitrd = join(dir, "big.cpio");
writeFileSync(bigInitrd, Buffer.alloc(80 * 2 ** 20));
const tinyKernel = join(dir, "Image");
// A minimal, valid RISC-V Image header (Linux Documentation/arch/riscv/boot-image-header.rst).
const hdr = Buffer.alloc(4096);
hdr.writeBigUInt64LE(0x200000n, 8);
hdr.writeBigUInt64LE(4096n, 16);
hdr.write("RISCV\0\0\0", 0x30, "latin1");
hdr.write("RSC\x05", 0x38, "latin1");
writeFileSync(tinyKernel, hdr);

test("--help documents every flag", () => {
  const r = corral(["run", "--help"]);
  assert.equal(r.status, 0);
  for (const flag of ["--kernel", "--initrd", "--append", "--memory", "--cpus", "--firmware", "--vsock"])
    assert.match(r.stdout, new RegExp(flag));
  const top = corral(["--help"]);
  assert.equal(top.status, 0);
  assert.match(top.stdout, /run/);
});
test("a missing kernel", () => expectError(["run", "--kernel", join(dir, "nope")], /does not exist.*--kernel/));
test("an empty kernel", () => expectError(["run", "--kernel", empty], /is empty/));
test("a garbage kernel", () => expectError(["run", "--kernel", garbage], /neither a RISC-V Linux Image nor an ELF/));
test("an ELF for another architecture", () =>
  expectError(["run", "--kernel", process.execPath], /ELF for x86-64, not RISC-V: pass/));
test("an initrd that does not fit in guest memory", () =>
  expectError(
    ["run", "--kernel", tinyKernel, "--initrd", bigInitrd, "--memory", "64M"],
    /needs at least \d+M of guest memory.*raise --memory/,
  ));
test("a firmware ELF linked below guest RAM", () => {
  // A real RISC-V ELF from Debian's cross toolchain, linked at 0x1000 instead of RAM (0x80000000).
  const src = join(dir, "low.S");
  const elf = join(dir, "low.elf");
  writeFileSync(src, ".globl _start\n_start:\n  j _start\n");
  const cc = spawnSync("riscv64-unknown-elf-gcc", ["-nostdlib", "-Wl,-Ttext=0x1000", src, "-o", elf], {
    encoding: "utf8",
  });
  assert.equal(cc.status, 0, cc.stderr);
  expectError(
    ["run", "--firmware", elf],
    /segment \d+ puts section \.text at 0x1000, outside guest RAM \(0x80000000-0x9fffffff\); link it at 0x80000000 or above/,
  );
});
test("--memory below what the kernel needs", () =>
  expectError(["run", "--kernel", tinyKernel, "--memory", "16M"], /raise --memory/));
test("--memory above what the host can give", () =>
  expectError(["run", "--kernel", tinyKernel, "--memory", "64G"], /more than this host can give/));
test("--memory that is not a size", () => expectError(["run", "--memory", "lots"], /not a size/));
test("--cpus 0", () =>
  expectError(["run", "--kernel", tinyKernel, "--cpus", "0"], /--cpus must be a whole number from 1 to 8/));
test("--cpus 9", () =>
  expectError(["run", "--kernel", tinyKernel, "--cpus", "9"], /--cpus must be a whole number from 1 to 8/));
test("--vsock with a reserved guest CID", () =>
  expectError(
    ["run", "--kernel", tinyKernel, "--vsock", join(dir, "v.sock") + ",cid=2"],
    /--vsock .*cid=2.*PATH\[,cid=N\] with N from 3/,
  ));
test("--vsock on a path that is not a socket (the file is left alone)", () => {
  expectError(
    ["run", "--kernel", tinyKernel, "--vsock", garbage],
    /--vsock path .*garbage exists and is not a socket: choose another path/,
  );
  assert.equal(readFileSync(garbage).length, 100_000);
});
test("an unknown flag", () => expectError(["run", "--bogus"], /Unknown option '--bogus'.*corral run --help/));
test("an unknown command", () => expectError(["frobnicate"], /unknown command 'frobnicate'/));
