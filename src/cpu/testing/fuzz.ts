/**
 * The differential fuzzer's program generator (issue 17 item 4): a seed gives a bare-metal RV64GC
 * program of random instructions (integer, M, A with LR/SC, F/D under every rounding mode with
 * NaN-boxed and unboxed operands, compressed forms the assembler picks, loads and stores that
 * fault, CSR reads and writes of fcsr/frm/fflags/mscratch, ECALL, EBREAK and illegal
 * instructions). An M-mode trap handler folds mcause and mtval into x27 and skips the instruction.
 * At the end the program prints x1..x31, f0..f31, fcsr and its 256-byte data area in hex on the
 * UART and stops through the test finisher. The same ELF runs on QEMU (the oracle) and on each of
 * Corral's tiers; the printed text must be identical (tests/cpu-fuzz.test.ts, bench "fuzz").
 *
 * Left out on purpose, because the specification allows QEMU and Corral to differ there:
 * misaligned loads and stores (done in hardware or trapped, the implementation's choice: priv.
 * spec 3.6.3.4; tests/isa/misaligned.S checks each), the counters (cycle, instret, time), misa
 * (QEMU's has H), and EBREAK's mtval (0 or the pc: the handler leaves it out of the hash).
 */
import { rng } from "./rng.js";

/** Registers the random code may write: x5..x25 (x26 is the data pointer, x27 the trap hash). */
const REGS = Array.from({ length: 21 }, (_, i) => `x${i + 5}`);
const FREGS = Array.from({ length: 32 }, (_, i) => `f${i}`);
const RMS = ["rne", "rtz", "rdn", "rup", "rmm", "dyn"];

const R_OPS = [
  "add",
  "sub",
  "sll",
  "slt",
  "sltu",
  "xor",
  "srl",
  "sra",
  "or",
  "and",
  "addw",
  "subw",
  "sllw",
  "srlw",
  "sraw",
  "mul",
  "mulh",
  "mulhsu",
  "mulhu",
  "div",
  "divu",
  "rem",
  "remu",
  "mulw",
  "divw",
  "divuw",
  "remw",
  "remuw",
];
const I_OPS = ["addi", "slti", "sltiu", "xori", "ori", "andi", "addiw"];
const SH_OPS = ["slli", "srli", "srai"];
const SHW_OPS = ["slliw", "srliw", "sraiw"];
const LOADS: [string, number][] = [
  ["lb", 1],
  ["lbu", 1],
  ["lh", 2],
  ["lhu", 2],
  ["lw", 4],
  ["lwu", 4],
  ["ld", 8],
];
const STORES: [string, number][] = [
  ["sb", 1],
  ["sh", 2],
  ["sw", 4],
  ["sd", 8],
];
const AMOS = ["amoswap", "amoadd", "amoxor", "amoand", "amoor", "amomin", "amomax", "amominu", "amomaxu"];
const F_RR = ["fadd", "fsub", "fmul", "fdiv"];
const F_R3 = ["fmadd", "fmsub", "fnmadd", "fnmsub"];
const F_NR = ["fmin", "fmax", "fsgnj", "fsgnjn", "fsgnjx"];
const F_CMP = ["feq", "flt", "fle"];
/** Interesting 64-bit patterns: zeros, ones, sign bits, NaNs, infinities, denormals, 1.0. */
const SPECIAL = [
  "0",
  "-1",
  "1",
  "0x7fffffffffffffff",
  "0x8000000000000000",
  "0xffffffff",
  "0x80000000",
  "0x7ff8000000000000",
  "0x7ff0000000000001",
  "0x7ff0000000000000",
  "0xfff0000000000000",
  "0x0000000000000001",
  "0x3ff0000000000000",
  "0xbff0000000000000",
  "0xffffffff7fc00000",
  "0xffffffff7f800001",
  "0xffffffff3f800000",
  "0x3f800000",
  "0x000fffffffffffff",
  "0x4330000000000000",
];

/** Generate the program of `seed` with `count` random instructions: assembly for riscv64-unknown-elf-gcc. */
export function fuzzProgram(seed: number, count = 400): string {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[r() % a.length]!;
  const reg = (): string => pick(REGS);
  const freg = (): string => pick(FREGS);
  const simm = (bits: number): number => (r() % (1 << bits)) - (1 << (bits - 1));
  const hex64 = (): string => `0x${r().toString(16).padStart(8, "0")}${r().toString(16).padStart(8, "0")}`;
  const value = (): string => (r() % 3 === 0 ? pick(SPECIAL) : hex64());
  const out: string[] = [];
  const emit = (s: string): void => {
    out.push(`    ${s}`);
  };

  // Initial state: random registers, FP registers from special and random patterns, data area.
  for (const x of REGS) emit(`li ${x}, ${value()}`);
  for (const f of FREGS) {
    emit(`li x5, ${value()}`);
    emit(`fmv.d.x ${f}, x5`);
  }
  emit(`li x5, ${value()}`);

  for (let i = 0; i < count; i++) {
    const k = r() % 100;
    if (k < 28) emit(`${pick(R_OPS)} ${reg()}, ${reg()}, ${reg()}`);
    else if (k < 38) emit(`${pick(I_OPS)} ${reg()}, ${reg()}, ${simm(12)}`);
    else if (k < 42) emit(`${pick(SH_OPS)} ${reg()}, ${reg()}, ${r() % 64}`);
    else if (k < 44) emit(`${pick(SHW_OPS)} ${reg()}, ${reg()}, ${r() % 32}`);
    else if (k < 46) emit(`lui ${reg()}, ${r() % (1 << 20)}`);
    else if (k < 52) {
      const [op, size] = pick(LOADS);
      emit(`${op} ${reg()}, ${size * (r() % (256 / size))}(x26)`);
    } else if (k < 58) {
      const [op, size] = pick(STORES);
      emit(`${op} ${reg()}, ${size * (r() % (256 / size))}(x26)`);
    } else if (k < 60) {
      // A faulting access: nothing is mapped at these low physical addresses.
      emit(`${r() & 1 ? pick(LOADS)[0] : pick(STORES)[0]} ${reg()}, ${8 * (r() % 64)}(x0)`);
    } else if (k < 64) {
      const w = r() & 1 ? "w" : "d";
      const off = (w === "w" ? 4 : 8) * (r() % (256 / (w === "w" ? 4 : 8)));
      emit(`addi x28, x26, ${off}`);
      emit(`${pick(AMOS)}.${w} ${reg()}, ${reg()}, (x28)`);
    } else if (k < 66) {
      // LR/SC: a pair that succeeds, or an SC after a store to the reservation (may fail).
      const w = r() & 1 ? "w" : "d";
      const off = (w === "w" ? 4 : 8) * (r() % 8);
      emit(`addi x28, x26, ${off}`);
      emit(`lr.${w} ${reg()}, (x28)`);
      if (r() % 4 === 0) emit(`sc.${w} ${reg()}, ${reg()}, (x28)`);
      emit(`sc.${w} ${reg()}, ${reg()}, (x28)`);
    } else if (k < 76) {
      const p = r() & 1 ? "d" : "s";
      emit(`${pick(F_RR)}.${p} ${freg()}, ${freg()}, ${freg()}, ${pick(RMS)}`);
    } else if (k < 79) {
      const p = r() & 1 ? "d" : "s";
      emit(`${pick(F_R3)}.${p} ${freg()}, ${freg()}, ${freg()}, ${freg()}, ${pick(RMS)}`);
    } else if (k < 82) {
      const p = r() & 1 ? "d" : "s";
      emit(`${pick(F_NR)}.${p} ${freg()}, ${freg()}, ${freg()}`);
    } else if (k < 84) {
      const p = r() & 1 ? "d" : "s";
      emit(`${pick(F_CMP)}.${p} ${reg()}, ${freg()}, ${freg()}`);
    } else if (k < 86) {
      emit(`fsqrt.${r() & 1 ? "d" : "s"} ${freg()}, ${freg()}, ${pick(RMS)}`);
    } else if (k < 90) {
      const conv = pick([
        () => `fcvt.${pick(["w", "wu", "l", "lu"])}.${pick(["s", "d"])} ${reg()}, ${freg()}, ${pick(RMS)}`,
        () => `fcvt.s.${pick(["w", "wu", "l", "lu"])} ${freg()}, ${reg()}, ${pick(RMS)}`,
        () => `fcvt.d.${pick(["l", "lu"])} ${freg()}, ${reg()}, ${pick(RMS)}`,
        () => `fcvt.d.${pick(["w", "wu"])} ${freg()}, ${reg()}`, // exact: no rounding mode
        () => `fcvt.s.d ${freg()}, ${freg()}, ${pick(RMS)}`,
        () => `fcvt.d.s ${freg()}, ${freg()}`,
        () => `fclass.${pick(["s", "d"])} ${reg()}, ${freg()}`,
        () => `fmv.x.${pick(["w", "d"])} ${reg()}, ${freg()}`,
        () => `fmv.${pick(["w", "d"])}.x ${freg()}, ${reg()}`,
      ]);
      emit(conv());
    } else if (k < 92) {
      const p = r() & 1 ? "d" : "w";
      const f = p === "d" ? "fld" : "flw";
      emit(
        `${r() & 1 ? f : f.replace("l", "s")} ${freg()}, ${(p === "d" ? 8 : 4) * (r() % (256 / (p === "d" ? 8 : 4)))}(x26)`,
      );
    } else if (k < 95) {
      // CSRs: the FP ones (frm 5..7 makes dynamic-rounding instructions illegal), mscratch.
      emit(
        pick([
          `csrr ${reg()}, fcsr`,
          `csrrw ${reg()}, frm, ${reg()}`,
          `csrwi frm, ${r() % 8}`,
          `csrwi frm, ${r() % 5}`,
          `csrrs ${reg()}, fflags, ${reg()}`,
          `csrrci ${reg()}, fflags, ${r() % 32}`,
          `csrrw ${reg()}, mscratch, ${reg()}`,
        ]),
      );
    } else if (k < 97) {
      // EBREAK as its 32-bit encoding: the assembler would pick C.EBREAK, and the handler skips 4 bytes.
      emit(pick(["ecall", ".4byte 0x00100073", ".4byte 0", ".4byte 0xffffffff", "csrr x5, 0x7ff"]));
    } else {
      emit(`auipc ${reg()}, ${r() % (1 << 20)}`);
    }
  }
  return PRELUDE + out.join("\n") + "\n" + EPILOGUE;
}

// x26 points at the data area, x27 is the trap hash, mtvec the handler; FS on, frm = 0.
const PRELUDE = `// Generated by src/cpu/testing/fuzz.ts.
#define FINISHER 0x100000
#define UART0 0x10000000
    .section .text.init, "ax"
    .globl _start
_start:
    csrr t0, mhartid
    bnez t0, park
    la t0, trap
    csrw mtvec, t0
    li t0, 1 << 13
    csrs mstatus, t0
    csrwi fcsr, 0
    la x26, data
    li x27, 0
    .option push
    .option norvc
    j body
park:
    wfi
    j park
    .align 2
trap:                          // x27 = (x27 ^ mcause) * 33 ^ mtval; skip the 4-byte instruction
    csrw mscratch, t0
    csrr t0, mcause
    xor x27, x27, t0
    slli t0, x27, 5
    add x27, x27, t0
    // EBREAK: mtval may be 0 or the pc (priv. spec 3.1.16): QEMU 7.2 writes 0, Corral the pc.
    csrr t0, mcause
    addi t0, t0, -3
    beqz t0, 1f
    csrr t0, mtval
    xor x27, x27, t0
1:  csrr t0, mepc
    addi t0, t0, 4
    csrw mepc, t0
    csrr t0, mscratch
    mret
    .option pop
body:
`;

// Everything that may trap is a 4-byte instruction (the assembler compresses only ALU and
// loads/stores to x26-relative addresses, which never fault), so the handler skips 4 bytes.
const EPILOGUE = `    .option norvc
    csrw mscratch, t0
    la t0, save
    .irp n, 1,2,3,4,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    sd x\\n, 8*\\n(t0)
    .endr
    csrr t1, mscratch
    sd t1, 40(t0)
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fsd f\\n, 256+8*\\n(t0)
    .endr
    csrr t1, fcsr
    sd t1, 512(t0)
    // Print save[1..65] (x1..x31, f0..f31, fcsr, a zero) and the data area, a doubleword a line.
    la s0, save + 8
    li s1, 97
1:  ld a0, 0(s0)
    call hex
    addi s0, s0, 8
    addi s1, s1, -1
    bnez s1, 1b
    li t0, FINISHER
    li t1, 0x5555
    sw t1, 0(t0)
2:  j 2b
hex:                           // a0 as 16 hex digits and a newline
    li t0, UART0
    li t1, 60
3:  srl t2, a0, t1
    andi t2, t2, 15
    addi t3, t2, '0'
    li t2, '9'
    ble t3, t2, 4f
    addi t3, t3, 'a' - '9' - 1
4:  sb t3, 0(t0)
    addi t1, t1, -4
    bgez t1, 3b
    li t3, '\\n'
    sb t3, 0(t0)
    ret
    .data
    .align 4
save:                          // x1..x31, f0..f31 at 256, fcsr at 512; data follows at 528
    .skip 528
data:
    .skip 256
`;
