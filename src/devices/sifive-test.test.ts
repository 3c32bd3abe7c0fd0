/**
 * The test finisher against QEMU's: a bare-metal RISC-V program (hand-assembled below) stores
 * values to QEMU virt's finisher; QEMU's exit status is compared with what SifiveTest reports
 * for the same stores.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FINISHER, type FinishEvent, SifiveTest } from "./sifive-test.js";

// RV64I encodings (unprivileged spec, chapter 2 "RV32I Base Integer Instruction Set").
const lui = (rd: number, imm20: number): number => ((imm20 & 0xfffff) << 12) | (rd << 7) | 0x37;
const auipc = (rd: number, imm20: number): number => ((imm20 & 0xfffff) << 12) | (rd << 7) | 0x17;
const addi = (rd: number, rs1: number, imm: number): number => ((imm & 0xfff) << 20) | (rs1 << 15) | (rd << 7) | 0x13;
const lw = (rd: number, rs1: number, imm: number): number => ((imm & 0xfff) << 20) | (rs1 << 15) | (2 << 12) | (rd << 7) | 0x03;
const sw = (rs2: number, rs1: number, imm: number): number =>
  (((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (2 << 12) | ((imm & 0x1f) << 7) | 0x23;
const bne = (rs1: number, rs2: number, off: number): number =>
  (((off >> 12) & 1) << 31) |
  (((off >> 5) & 0x3f) << 25) |
  (rs2 << 20) |
  (rs1 << 15) |
  (1 << 12) |
  (((off >> 1) & 0xf) << 8) |
  (((off >> 11) & 1) << 7) |
  0x63;
const JUMP_SELF = 0x6f; // jal x0, 0

/** li rd, v for a 32-bit v (lui + addi; the store only uses the low 32 bits). */
function li(rd: number, v: number): number[] {
  const hi = ((v + 0x800) >>> 12) & 0xfffff;
  const lo = (v - hi * 4096) << 20 >> 20;
  return [lui(rd, hi), addi(rd, rd, lo)];
}

/**
 * Stores `first` to the finisher one by one; if the machine resets and runs the program again,
 * stores `afterReset` instead. A word of RAM past the program (not reloaded on reset) tells the
 * two runs apart.
 */
function program(finisherBase: number, first: number[], afterReset: number[]): Uint8Array {
  const T0 = 5, T1 = 6, T2 = 7, S0 = 8, S1 = 9;
  const stores = (vs: number[]): number[] => vs.flatMap((v) => [...li(T1, v), sw(T1, T0, 0)]).concat(JUMP_SELF);
  const a = stores(first);
  const head = [lui(T0, finisherBase >>> 12), auipc(T2, 1), lw(S0, T2, 0), addi(S1, 0, 1), sw(S1, T2, 0)];
  const words = [...head, bne(S0, 0, 4 * (a.length + 1)), ...a, ...stores(afterReset)];
  return new Uint8Array(Uint32Array.from(words).buffer);
}

/** What SifiveTest reports for the same stores: the last event, following a reset like QEMU. */
function ours(first: number[], afterReset: number[]): FinishEvent | undefined {
  let last: FinishEvent | undefined;
  let stage = first;
  let reset = false;
  const dev = new SifiveTest((e) => {
    last = e;
    if (e.kind === "reset") reset = true;
  });
  for (let i = 0; i < stage.length && last?.kind !== "poweroff"; i++) {
    dev.write(0, 4, stage[i] as number);
    if (reset) {
      reset = false;
      stage = afterReset;
      i = -1;
    }
  }
  return last;
}

const qemuMissing = spawnSync("qemu-system-riscv64", ["--version"]).status !== 0;

const cases: { what: string; first: number[]; afterReset?: number[]; poweroffCode: number }[] = [
  { what: "pass", first: [FINISHER.pass], poweroffCode: 0 },
  { what: "pass ignores the code field", first: [(7 << 16) | FINISHER.pass], poweroffCode: 0 },
  { what: "fail with code 3", first: [(3 << 16) | FINISHER.fail], poweroffCode: 3 },
  { what: "fail with code 255", first: [(255 << 16) | FINISHER.fail], poweroffCode: 255 },
  { what: "other values are ignored", first: [0x1234, 0x3334, (5 << 16) | FINISHER.fail], poweroffCode: 5 },
  { what: "reset reruns the machine", first: [FINISHER.reset], afterReset: [(9 << 16) | FINISHER.fail], poweroffCode: 9 },
];

for (const c of cases) {
  test(`finisher: ${c.what}, as QEMU's`, { skip: qemuMissing && "needs qemu-system-riscv64 (apt: qemu-system-misc)" }, () => {
    const dir = mkdtempSync(join(tmpdir(), "corral-finisher-"));
    try {
      const bin = join(dir, "fin.bin");
      writeFileSync(bin, program(0x100000, c.first, c.afterReset ?? []));
      const run = spawnSync(
        "qemu-system-riscv64",
        ["-M", "virt", "-bios", "none", "-kernel", bin, "-display", "none", "-serial", "none", "-monitor", "none"],
        { timeout: 60_000 }, // only a guard against a hung emulator; never an expectation
      );
      assert.equal(run.error, undefined);
      assert.equal(run.status, c.poweroffCode, `QEMU exit status; stderr: ${String(run.stderr)}`);
      assert.deepEqual(ours(c.first, c.afterReset ?? []), { kind: "poweroff", code: run.status });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("events for each store; narrow stores and other offsets as QEMU treats them", () => {
  const events: FinishEvent[] = [];
  const dev = new SifiveTest((e) => events.push(e));
  dev.write(0, 4, FINISHER.reset);
  dev.write(0, 4, (0xbeef << 16) | FINISHER.fail);
  dev.write(4, 4, FINISHER.pass); // only offset 0 is the finisher register
  dev.write(0, 1, 0x55); // byte stores are below the register's minimum access size
  dev.write(0, 2, FINISHER.fail); // a halfword store has no code field
  assert.deepEqual(events, [{ kind: "reset" }, { kind: "poweroff", code: 0xbeef }, { kind: "poweroff", code: 0 }]);
  assert.equal(dev.read(0, 4), 0);
  assert.equal(FINISHER.size, 0x1000);
});
