// End to end with Debian's riscv64 kernel (issue 2): direct boot and OpenSBI boot, 1 and 4
// harts, to the default image's /init; busybox in the guest hashes a 1 MiB file the test put in
// the initramfs and must agree with the host; /proc/cpuinfo shows Corral's ISA string and the
// right number of processors; a user program's illegal instruction is a SIGILL; a kernel panic
// is reported as such. Each case boots a real guest (tens of seconds each).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { runGuestCommand } from "../src/api/guest-command.js";
import { ISA_STRING } from "../src/cpu/isa/defs.js";
import { ensureDefaultImage } from "../src/image/pull.js";

const CORRAL = fileURLToPath(new URL("../../bin/corral.js", import.meta.url));
const blob = randomBytes(1 << 20);
const hostSum = createHash("sha256").update(blob).digest("hex");
const CHECK = "sha256sum /corral/files/blob; grep -c ^processor /proc/cpuinfo; grep -m1 ^isa /proc/cpuinfo; uname -m";

async function bootAndCheck(cpus: number, firmware: boolean): Promise<void> {
  const img = await ensureDefaultImage();
  const fw = firmware ? { firmware: { name: img.firmware, data: new Uint8Array(readFileSync(img.firmware)) } } : {};
  const r = await runGuestCommand(CHECK, { cpus, files: { blob }, image: img, ...fw });
  assert.equal(r.status, 0, r.output);
  const lines = r.output.trim().split("\n");
  assert.equal(lines[0]!.split(/\s+/)[0], hostSum, "the guest's sha256 must equal the host's");
  assert.equal(Number(lines[1]), cpus, "processors in /proc/cpuinfo");
  // Linux prints the ISA it runs with: base letters then the Z extensions it recognised.
  assert.match(lines[2]!, /^isa\s*:\s*rv64imafdc_/);
  for (const ext of ISA_STRING.split("_").slice(1)) assert.ok(lines[2]!.includes(ext), `${ext} in ${lines[2]}`);
  assert.equal(lines[3], "riscv64");
}

test("direct boot, 1 hart", () => bootAndCheck(1, false));
test("direct boot, 4 harts", () => bootAndCheck(4, false));
test("OpenSBI fw_dynamic boot, 1 hart", () => bootAndCheck(1, true));
test("OpenSBI fw_dynamic boot, 4 harts", () => bootAndCheck(4, true));

test("corral run -- cmd prints the output and exits with the command's status", () => {
  const r = spawnSync(process.execPath, [CORRAL, "run", "--", "sh", "-c", "uname -m; exit 7"], {
    encoding: "utf8",
    timeout: 600_000,
  });
  assert.equal(r.stdout, "riscv64\n");
  assert.equal(r.status, 7);
});

test("commands piped into `corral run` before the guest's shell starts all reach it", () => {
  // The input is all there before the kernel boots; the UART holds it until the shell's tty is
  // open (Linux's 8250 driver resets the FIFO and reads RBR while opening the port).
  const r = spawnSync(process.execPath, [CORRAL, "run"], {
    encoding: "utf8",
    timeout: 600_000,
    input: "echo piped-$((6*7))\npoweroff\n",
  });
  assert.match(r.stdout, /^piped-42\r?$/m, r.stdout.slice(-1000));
  assert.equal(r.status, 0);
});

test("a guest user program's illegal instruction is a SIGILL, and the guest goes on", async () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-ill-"));
  try {
    // A static riscv64 Linux program whose first instruction is the defined-illegal all-zero word.
    writeFileSync(join(dir, "ill.S"), ".globl _start\n_start:\n  .word 0\n  li a7, 93\n  li a0, 0\n  ecall\n");
    execFileSync("riscv64-unknown-elf-gcc", [
      "-nostdlib",
      "-static",
      "-Wl,-Ttext=0x10000",
      "-o",
      join(dir, "ill"),
      join(dir, "ill.S"),
    ]);
    const ill = new Uint8Array(readFileSync(join(dir, "ill")));
    const r = await runGuestCommand("/corral/files/ill; echo status=$?", { files: { ill } });
    assert.match(r.output, /status=132/, "128 + SIGILL (4)");
    assert.equal(r.status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a guest kernel panic is reported as such and exits non-zero", () => {
  const img = join(tmpdir(), "unused");
  void img;
  const r = spawnSync(
    process.execPath,
    [CORRAL, "run", "--append", "console=ttyS0 quiet rdinit=/no-such-init init=/no-such-init"],
    {
      encoding: "utf8",
      timeout: 600_000,
      input: "",
    },
  );
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /^corral: guest kernel panic: .*Kernel panic - not syncing/m);
});
