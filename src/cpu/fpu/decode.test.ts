/**
 * Decoding: every F and D instruction as GNU as encodes it decodes, illegal encodings give null,
 * and a reserved dynamic rounding mode makes an instruction illegal at run time with nothing
 * modified (spec "Floating-Point Control and Status Register", rm encoding table).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { decodeFp } from "./index.js";
import { TestHart, opFp, r4 } from "./testkit.js";

/** Assemble RV64GC lines with binutils and return the 32-bit words. */
function assemble(lines: readonly string[]): number[] {
  const dir = mkdtempSync(join(tmpdir(), "corral-fpu-as-"));
  try {
    writeFileSync(join(dir, "t.s"), `.option norvc\n${lines.join("\n")}\n`);
    execFileSync("riscv64-linux-gnu-as", ["-march=rv64gc", "-o", join(dir, "t.o"), join(dir, "t.s")]);
    execFileSync("riscv64-linux-gnu-objcopy", ["-O", "binary", "-j", ".text", join(dir, "t.o"), join(dir, "t.bin")]);
    const bin = readFileSync(join(dir, "t.bin"));
    const words: number[] = [];
    for (let i = 0; i < bin.length; i += 4) words.push(bin.readUInt32LE(i));
    return words;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ALL: readonly string[] = (() => {
  const out: string[] = [];
  for (const s of ["s", "d"]) {
    for (const op of ["fadd", "fsub", "fmul", "fdiv"])
      for (const rm of ["rne", "rtz", "rdn", "rup", "rmm", "dyn"]) out.push(`${op}.${s} f4, f1, f2, ${rm}`);
    out.push(`fsqrt.${s} f4, f1, rtz`);
    for (const op of ["fmadd", "fmsub", "fnmsub", "fnmadd"]) out.push(`${op}.${s} f4, f1, f2, f3, rdn`);
    for (const op of ["fsgnj", "fsgnjn", "fsgnjx", "fmin", "fmax"]) out.push(`${op}.${s} f4, f1, f2`);
    for (const op of ["feq", "flt", "fle"]) out.push(`${op}.${s} a0, f1, f2`);
    out.push(`fclass.${s} a0, f1`);
    // GNU as accepts no rm on FCVT.D.W[U], which is exact.
    for (const t of ["w", "wu", "l", "lu"])
      out.push(`fcvt.${t}.${s} a0, f1, rtz`, `fcvt.${s}.${t} f4, a1${s === "d" && t.startsWith("w") ? "" : ", rup"}`);
  }
  out.push(
    "fcvt.s.d f4, f1, rmm",
    "fcvt.d.s f4, f1",
    "fmv.x.w a0, f1",
    "fmv.w.x f4, a1",
    "fmv.x.d a0, f1",
    "fmv.d.x f4, a1",
  );
  return out;
})();

test("every F and D instruction GNU as emits decodes", () => {
  const words = assemble(ALL);
  assert.equal(words.length, ALL.length);
  words.forEach((w, i) => assert.notEqual(decodeFp(w), null, `${ALL[i]} (0x${w.toString(16)})`));
});

test("the test encoders agree with GNU as", () => {
  const words = assemble([
    "fadd.d f4, f1, f2, rtz",
    "fsqrt.s f4, f1, rne",
    "fnmadd.d f4, f1, f2, f3, dyn",
    "fcvt.lu.s x5, f1, rmm",
    "fcvt.s.d f4, f1, rup",
  ]);
  assert.deepEqual(words, [
    opFp(0, 1, 2, 1, 1, 4),
    opFp(11, 0, 0, 1, 0, 4),
    r4(0x4f, 3, 1, 2, 1, 7, 4),
    opFp(0x18, 0, 3, 1, 4, 5),
    opFp(8, 0, 1, 1, 3, 4),
  ]);
});

test("illegal encodings decode to null", () => {
  const illegal = [
    opFp(0, 0, 2, 1, 5, 4), // FADD.S, reserved rm 101
    opFp(2, 1, 2, 1, 6, 4), // FMUL.D, reserved rm 110
    r4(0x43, 3, 0, 2, 1, 5, 4), // FMADD.S rm 101
    opFp(0, 2, 2, 1, 0, 4), // fmt H: not implemented
    opFp(0, 3, 2, 1, 0, 4), // fmt Q
    r4(0x47, 3, 3, 2, 1, 0, 4), // FMSUB.Q
    opFp(11, 0, 1, 1, 0, 4), // FSQRT.S with rs2 != 0
    opFp(4, 0, 2, 1, 3, 4), // FSGNJ funct3 011
    opFp(5, 1, 2, 1, 2, 4), // FMIN/FMAX funct3 010
    opFp(0x14, 0, 2, 1, 3, 4), // compare funct3 011
    opFp(0x18, 0, 4, 1, 0, 4), // FCVT.int.S with rs2 = 4
    opFp(0x1a, 1, 5, 1, 0, 4), // FCVT.D.int with rs2 = 5
    opFp(8, 0, 0, 1, 0, 4), // FCVT.S.S
    opFp(8, 1, 1, 1, 0, 4), // FCVT.D.D
    opFp(8, 0, 2, 1, 0, 4), // FCVT.S.H (Zfh not implemented)
    opFp(0x1c, 0, 0, 1, 2, 4), // FMV.X.W / FCLASS funct3 010
    opFp(0x1c, 1, 1, 1, 0, 4), // FMV.X.D with rs2 != 0
    opFp(0x1e, 0, 0, 1, 1, 4), // FMV.W.X funct3 001
    opFp(0x06, 0, 2, 1, 0, 4), // unused funct5
    opFp(0x1f, 1, 0, 1, 0, 4),
    0x00000013, // an integer instruction (addi)
  ];
  for (const w of illegal) assert.equal(decodeFp(w), null, `0x${w.toString(16)}`);
});

test("rm = DYN with a reserved frm is illegal at run time and modifies nothing", () => {
  const h = new TestHart();
  for (let i = 0; i < 64; i++) {
    h.f[i] = i * 0x01010101;
    h.x[i] = -i;
  }
  const f0 = h.f.slice();
  const x0 = h.x.slice();
  const dyn = [
    opFp(0, 1, 2, 1, 7, 4),
    opFp(3, 0, 2, 1, 7, 4),
    opFp(11, 1, 0, 1, 7, 4),
    r4(0x4b, 3, 0, 2, 1, 7, 4),
    opFp(0x18, 1, 0, 1, 7, 5),
    opFp(0x1a, 0, 3, 1, 7, 4),
    opFp(8, 0, 1, 1, 7, 4),
    opFp(8, 1, 0, 1, 7, 4),
  ];
  for (const frm of [5, 6, 7]) {
    h.frm = frm;
    for (const w of dyn) {
      h.fflags = 0x1f;
      assert.equal(decodeFp(w)!(h), false);
      assert.equal(h.fflags, 0x1f);
    }
  }
  assert.deepEqual(h.f, f0);
  assert.deepEqual(h.x, x0);
  assert.equal(h.dirty, 0);
  // The same instructions with a valid frm execute; FCVT.D.S is exact yet still honours the rm
  // field "as usual" (spec: widening conversions decode rm like any other instruction).
  h.frm = 4;
  for (const w of dyn) assert.equal(decodeFp(w)!(h), true);
});

test("x0 is never written, and FS is marked dirty only when FP state changes", () => {
  const h = new TestHart();
  h.setF(1, 0x7ff0000000000001n, false); // signaling NaN
  h.setF(2, 0x3ff0000000000000n, false);
  h.x[0] = 0;
  h.x[1] = 0;
  decodeFp(opFp(0x14, 1, 2, 1, 2, 0))!(h); // FEQ.D x0, f1, f2: sNaN ⇒ NV, result discarded
  assert.equal(h.x[0], 0);
  assert.equal(h.fflags, 0x10);
  assert.equal(h.dirty, 1);
  decodeFp(opFp(0x1c, 1, 0, 2, 1, 10))!(h); // FCLASS.D: no flags, no f write
  decodeFp(opFp(0x1c, 1, 0, 2, 0, 10))!(h); // FMV.X.D
  decodeFp(opFp(0x14, 1, 2, 2, 2, 10))!(h); // FEQ.D of ordinary values
  assert.equal(h.dirty, 1);
  decodeFp(opFp(0x04, 1, 2, 2, 0, 3))!(h); // FSGNJ.D writes f3
  assert.equal(h.dirty, 2);
});
