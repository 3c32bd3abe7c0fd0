// Issue 14 item 11: `corral run --firmware` loads an ELF as QEMU does. `gcc -nostdlib
// -Ttext=0x80000000` makes a first LOAD segment at 0x7ffff000 (it carries the ELF headers, a page
// below the code): what lies in RAM is loaded, and only code or data outside RAM is refused.
// Real ELFs from riscv64-unknown-elf-gcc; QEMU (-M virt -bios none -kernel) is the reference.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { CORRAL, FINISHER, HAVE_CC, HAVE_QEMU, UART0 } from "./bare-metal.js";

const dir = mkdtempSync(join(tmpdir(), "corral-fwelf-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const skip = !HAVE_CC && "riscv64-unknown-elf-gcc is not installed (Debian: gcc-riscv64-unknown-elf)";

/** Prints a string from .data on UART0, then passes through the test finisher. */
const HELLO = `.globl _start
_start:
  li t0, ${UART0}
  la t2, msg
1:
  lbu t1, 0(t2)
  beqz t1, 2f
  sb t1, 0(t0)
  addi t2, t2, 1
  j 1b
2:
  li t0, ${FINISHER}
  li t1, 0x5555
  sw t1, 0(t0)
3:
  j 3b
.data
msg: .asciz "hello from .data\\n"
`;

/** Build HELLO exactly as the issue says: gcc -nostdlib -Ttext=0x80000000, plus `extra`. */
function build(name: string, extra: string[] = []): string {
  const src = join(dir, `${name}.S`);
  const elf = join(dir, `${name}.elf`);
  writeFileSync(src, HELLO);
  execFileSync("riscv64-unknown-elf-gcc", ["-nostdlib", "-Ttext=0x80000000", ...extra, "-o", elf, src]);
  return elf;
}

function corral(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CORRAL, ...args], { encoding: "utf8", timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("an ELF whose first segment carries its headers below RAM runs as on QEMU", { skip }, () => {
  const elf = build("hello");
  // The premise: the first LOAD segment starts below RAM (0x80000000).
  const phdrs = execFileSync("riscv64-unknown-elf-readelf", ["-lW", elf], { encoding: "utf8" });
  assert.match(phdrs, /LOAD\s+0x0+ 0x0*7ffff000/);
  const c = corral(["run", "--firmware", elf]);
  assert.deepEqual([c.status, c.stdout, c.stderr], [0, "hello from .data\n", ""]);
  if (HAVE_QEMU) {
    const q = spawnSync("qemu-system-riscv64", ["-M", "virt", "-bios", "none", "-kernel", elf, "-nographic"], {
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.deepEqual([q.status, q.stdout], [c.status, c.stdout], "QEMU");
  }
});

test("data linked below RAM is refused with one line naming the segment and RAM", { skip }, () => {
  const c = corral(["run", "--firmware", build("low-data", ["-Tdata=0x7f000000"])]);
  assert.equal(c.status, 1);
  assert.equal(
    c.stderr,
    `corral: ${join(dir, "low-data.elf")}: segment 1 puts section .data at 0x7f000000, outside guest RAM (0x80000000-0x9fffffff); link it at 0x80000000 or above\n`,
  );
});

test("data linked beyond the end of RAM is refused, naming --memory", { skip }, () => {
  const c = corral(["run", "--memory", "64M", "--firmware", build("high-data", ["-Tdata=0x90000000"])]);
  assert.equal(c.status, 1);
  assert.match(
    c.stderr,
    /^corral: .*high-data\.elf: segment \d puts section \.data at 0x90000000, outside guest RAM \(0x80000000-0x83ffffff\); raise --memory or link it lower\n$/,
  );
});
