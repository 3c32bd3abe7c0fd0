import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import {
  EHDR,
  EHDR_SIZE,
  EM_RISCV,
  PHDR,
  PHDR_SIZE,
  PT,
  SHDR,
  SHDR_SIZE,
  SYM,
  SYM_SIZE,
  parseElf,
  type Field,
} from "./elf.js";
import { isCorralError } from "../errors.js";

/** A record layout is contiguous, in order, and adds up to the declared size. */
function assertLayout(layout: Record<string, Field>, size: number): void {
  let next = 0;
  for (const [name, f] of Object.entries(layout)) {
    assert.equal(f.offset, next, `${name} offset`);
    next += f.size;
  }
  assert.equal(next, size);
}

test("ELF64 record layouts match the gABI sizes", () => {
  assertLayout(EHDR, EHDR_SIZE);
  assertLayout(PHDR, PHDR_SIZE);
  assertLayout(SHDR, SHDR_SIZE);
  assertLayout(SYM, SYM_SIZE);
  assert.deepEqual([EHDR_SIZE, PHDR_SIZE, SHDR_SIZE, SYM_SIZE], [64, 56, 64, 24]);
});

interface ReadelfSeg {
  type: string;
  offset: bigint;
  vaddr: bigint;
  paddr: bigint;
  filesz: number;
  memsz: number;
}

/** What binutils' readelf says about a file: entry point, machine line and segments. */
function readelf(tool: string, path: string): { entry: bigint; machine: string; segments: ReadelfSeg[] } {
  const h = execFileSync(tool, ["-hlW", path], { encoding: "utf8" });
  const entry = BigInt(/Entry point address:\s+(0x[0-9a-f]+)/.exec(h)?.[1] ?? "x");
  const machine = /Machine:\s+(.+)/.exec(h)?.[1]?.trim() ?? "";
  const segments: ReadelfSeg[] = [];
  const re = /^\s+([A-Z_a-z+]+)\s+(0x[0-9a-f]+) (0x[0-9a-f]+) (0x[0-9a-f]+) (0x[0-9a-f]+) (0x[0-9a-f]+) /gm;
  for (const m of h.matchAll(re)) {
    const [, type = "", offset = "", vaddr = "", paddr = "", filesz = "", memsz = ""] = m;
    segments.push({
      type,
      offset: BigInt(offset),
      vaddr: BigInt(vaddr),
      paddr: BigInt(paddr),
      filesz: Number(filesz),
      memsz: Number(memsz),
    });
  }
  return { entry, machine, segments };
}

test("/bin/ls parses like readelf says (x86-64, dynamic symbols)", () => {
  const buf = new Uint8Array(readFileSync("/bin/ls"));
  const elf = parseElf(buf, { name: "/bin/ls" });
  const ref = readelf("readelf", "/bin/ls");
  assert.equal(elf.class, 64);
  assert.equal(elf.machine, 62);
  assert.equal(elf.machineName, "x86-64");
  assert.match(ref.machine, /X86-64/);
  assert.equal(elf.entry, ref.entry);
  assert.equal(elf.segments.length, ref.segments.length);
  ref.segments.forEach((r, i) => {
    const s = elf.segments[i];
    assert.ok(s);
    assert.deepEqual(
      { offset: s.offset, vaddr: s.vaddr, paddr: s.paddr, filesz: s.filesz, memsz: s.memsz },
      { offset: r.offset, vaddr: r.vaddr, paddr: r.paddr, filesz: r.filesz, memsz: r.memsz },
    );
    if (r.type === "LOAD") assert.equal(s.type, PT.LOAD);
  });
  assert.ok(elf.sections.some((s) => s.name === ".text"));
});

test("a riscv64 program built with riscv64-unknown-elf-gcc: segments, entry and symbols", () => {
  const dir = mkdtempSync(join(tmpdir(), "corral-elf-"));
  try {
    writeFileSync(
      join(dir, "t.S"),
      `.section .text.init, "ax"
.globl _start
_start:
  la t0, tohost
  li t1, 1
  sd t1, 0(t0)
1: j 1b
.data
.globl tohost
.align 3
tohost: .dword 0
.bss
scratch: .space 4096
`,
    );
    const exe = join(dir, "t.elf");
    execFileSync("riscv64-unknown-elf-gcc", [
      "-nostdlib",
      "-nostartfiles",
      "-march=rv64gc",
      "-mabi=lp64d",
      "-Wl,-Ttext=0x80000000",
      "-o",
      exe,
      join(dir, "t.S"),
    ]);
    const elf = parseElf(new Uint8Array(readFileSync(exe)), { name: exe, machine: EM_RISCV });
    const ref = readelf("riscv64-unknown-elf-readelf", exe);
    assert.equal(elf.machine, EM_RISCV);
    assert.equal(elf.machineName, "RISC-V");
    assert.match(ref.machine, /RISC-V/);
    assert.equal(elf.entry, ref.entry);
    const loads = elf.segments.filter((s) => s.type === PT.LOAD);
    const refLoads = ref.segments.filter((s) => s.type === "LOAD");
    assert.deepEqual(
      loads.map((s) => [s.offset, s.vaddr, s.paddr, s.filesz, s.memsz]),
      refLoads.map((s) => [s.offset, s.vaddr, s.paddr, s.filesz, s.memsz]),
    );
    // Symbols agree with nm, including a .bss one (memsz > filesz somewhere).
    const nm = execFileSync("riscv64-unknown-elf-nm", [exe], { encoding: "utf8" });
    for (const name of ["_start", "tohost", "scratch"]) {
      const line = nm.split("\n").find((l) => l.endsWith(` ${name}`));
      assert.ok(line, `nm lists ${name}`);
      assert.equal(elf.symbol(name), BigInt("0x" + line.split(" ")[0]), name);
    }
    assert.equal(elf.symbol("no_such_symbol"), undefined);
    assert.equal(elf.symbol("_start"), elf.entry);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function codeOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (isCorralError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  assert.fail("expected a CorralError");
}

test("bad input throws CorralErrors that name the problem", () => {
  const ls = new Uint8Array(readFileSync("/bin/ls"));
  const wrong = codeOf(() => parseElf(ls, { name: "/bin/ls", machine: EM_RISCV }));
  assert.deepEqual(wrong, { code: "ELF_WRONG_MACHINE", message: "/bin/ls is an ELF for x86-64, not RISC-V" });

  assert.equal(codeOf(() => parseElf(new Uint8Array(randomBytes(4096)).fill(0, 0, 1))).code, "ELF_BAD_MAGIC");
  assert.equal(codeOf(() => parseElf(new Uint8Array(0))).code, "ELF_BAD_MAGIC");
  assert.equal(codeOf(() => parseElf(new TextEncoder().encode("#!/bin/sh\necho hi\n"))).code, "ELF_BAD_MAGIC");

  const half = codeOf(() => parseElf(ls.subarray(0, ls.length >> 1), { name: "ls-half" }));
  assert.equal(half.code, "ELF_TRUNCATED");
  assert.match(half.message, /^ls-half is truncated/);
  assert.equal(codeOf(() => parseElf(ls.subarray(0, 40))).code, "ELF_TRUNCATED");
  assert.equal(codeOf(() => parseElf(ls.subarray(0, 200))).code, "ELF_TRUNCATED");

  const elf32 = ls.slice();
  elf32[4] = 1; // EI_CLASS = ELFCLASS32
  assert.equal(codeOf(() => parseElf(elf32)).code, "ELF_NOT_64BIT");
  const bigEndian = ls.slice();
  bigEndian[5] = 2; // EI_DATA = ELFDATA2MSB
  assert.equal(codeOf(() => parseElf(bigEndian)).code, "ELF_NOT_LITTLE_ENDIAN");
});
