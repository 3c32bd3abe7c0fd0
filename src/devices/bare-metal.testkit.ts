/**
 * Test support, not shipped behaviour: a few hand-encoded RV64I instructions and a runner that
 * boots them bare-metal on QEMU's virt board, so device tests can compare Corral's devices with
 * QEMU's register by register. (Not named *.test.ts: node --test must not run it by itself.)
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { B, I, S } from "../cpu/isa/encode.testkit.js";

// Encodings from the unprivileged spec, chapter 2 (cpu/isa/encode.testkit.ts), in this kit's order.
const iType = (op: number, f3: number, rd: number, rs1: number, imm: number): number => I(imm, rs1, f3, rd, op);
const sType = (f3: number, rs2: number, rs1: number, imm: number): number => S(imm, rs2, rs1, f3);
const bType = (f3: number, rs1: number, rs2: number, off: number): number => B(off, rs2, rs1, f3);

export const asm = {
  lui: (rd: number, imm20: number): number => ((imm20 & 0xfffff) << 12) | (rd << 7) | 0x37,
  auipc: (rd: number, imm20: number): number => ((imm20 & 0xfffff) << 12) | (rd << 7) | 0x17,
  addi: (rd: number, rs1: number, imm: number): number => iType(0x13, 0, rd, rs1, imm),
  andi: (rd: number, rs1: number, imm: number): number => iType(0x13, 7, rd, rs1, imm),
  lw: (rd: number, rs1: number, imm: number): number => iType(0x03, 2, rd, rs1, imm),
  lbu: (rd: number, rs1: number, imm: number): number => iType(0x03, 4, rd, rs1, imm),
  sw: (rs2: number, rs1: number, imm: number): number => sType(2, rs2, rs1, imm),
  sb: (rs2: number, rs1: number, imm: number): number => sType(0, rs2, rs1, imm),
  /** Branch offsets are in bytes from the branch itself. */
  beq: (rs1: number, rs2: number, off: number): number => bType(0, rs1, rs2, off),
  bne: (rs1: number, rs2: number, off: number): number => bType(1, rs1, rs2, off),
  /** csrrs rd, csr, x0: read a CSR (Zicsr). */
  csrr: (rd: number, csr: number): number => iType(0x73, 2, rd, 0, csr),
  /** jal x0, 0: spin forever. */
  spin: 0x6f,
  /** li rd, v for a 32-bit v: lui + addi (addi's immediate is sign-extended, hence the +0x800). */
  li(rd: number, v: number): number[] {
    const hi = ((v + 0x800) >>> 12) & 0xfffff;
    const lo = ((v - hi * 4096) << 20) >> 20;
    return [asm.lui(rd, hi), asm.addi(rd, rd, lo)];
  },
};

/** Integer register numbers (x5..x9 are t0-t2, s0, s1 in the standard ABI). */
export const T0 = 5;
export const T1 = 6;
export const T2 = 7;
export const S0 = 8;
export const S1 = 9;

/** QEMU virt addresses the programs use. */
export const VIRT_TEST_BASE = 0x100000;
export const VIRT_UART0_BASE = 0x10000000;
export const VIRT_CLINT_BASE = 0x2000000;
export const VIRT_PLIC_BASE = 0xc000000;
/** The machine interrupt-pending CSR (privileged spec 3.1.9). */
export const CSR_MIP = 0x344;

export function haveQemu(): boolean {
  return spawnSync("qemu-system-riscv64", ["--version"]).status === 0;
}

/**
 * Boot `words` at the start of RAM on `qemu-system-riscv64 -M virt` without firmware; UART0
 * output is collected. Returns QEMU's exit status and what the guest printed.
 */
export function runBareMetal(words: readonly number[]): { status: number | null; stdout: Buffer; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), "corral-bare-"));
  try {
    const bin = join(dir, "prog.bin");
    writeFileSync(bin, new Uint8Array(Uint32Array.from(words).buffer));
    const run = spawnSync(
      "qemu-system-riscv64",
      ["-M", "virt", "-bios", "none", "-kernel", bin, "-display", "none", "-monitor", "none", "-serial", "stdio"],
      { timeout: 60_000, stdio: ["ignore", "pipe", "pipe"] }, // a guard against a hung emulator only
    );
    if (run.error) throw run.error;
    return { status: run.status, stdout: run.stdout, stderr: String(run.stderr) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
