// Issue 17 item 1 d with item 2: a block whose double-precision ops call the careful FP functions
// (src/cpu/wasm/careful-fp.ts: more than four careful arms in one member, emit-fp.ts callsCareful),
// compiled on one hart's thread and run on another's (machine/threads/code-share.ts,
// WasmTier.adopt). The adopting tier must give the module the careful functions it imports
// (its own instances of them, over the shared memory): without them the module cannot be
// instantiated, and with wrong ones the results or fflags differ. The expected sums are computed
// here in JavaScript, whose arithmetic is IEEE 754 binary64 with round-to-nearest-even, the
// rounding the guest's ops use (DYN with frm = RNE; unprivileged ISA, "D" Standard Extension).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { HAVE_CC, buildProgram } from "../bare-metal.js";
import { threadedMachine } from "./threaded-machine.js";

const home = mkdtempSync(join(tmpdir(), "corral-smp-fp-"));
after(() => rmSync(home, { recursive: true, force: true }));
const skip = !HAVE_CC && "riscv64-unknown-elf-gcc is not installed (Debian: gcc-riscv64-unknown-elf)";

/** Calls of f by hart 1: too few for its own thread to compile f (tests/vm/smp.test.ts's FEW). */
const FEW = 4000;
/** Calls of f by hart 0: its thread compiles f and posts it to hart 1's. */
const MANY = 30_000;

/** f(n) as the guest computes it, op by op (six careful ops: add, mul, div, sqrt, sub, div). */
function f(n: number): bigint {
  const x = n;
  const y = 3;
  const a = x + y;
  const b = a * x;
  const c = b / y;
  const d = Math.sqrt(c);
  const e = d - y;
  const g = e / a;
  return new BigUint64Array(new Float64Array([g]).buffer)[0]!;
}
/** The sum (mod 2^64) of f's result bits for n = count down to 1. */
function sum(count: number): bigint {
  let s = 0n;
  for (let n = count; n > 0; n--) s = (s + f(n)) & 0xffff_ffff_ffff_ffffn;
  return s;
}

test(
  "a block calling the careful FP functions, compiled on hart 0's thread, runs on hart 1's with its results and fflags",
  { skip, timeout: 120_000 },
  async () => {
    const elf = buildProgram(
      home,
      "smpfp",
      `
.globl _start
_start:
  bnez a0, work
  li a0, 1              # SBI HSM hart_start(1, work, 0)
  la a1, work
  li a2, 0
  li a7, 0x48534D
  li a6, 0
  ecall
  li a0, 0
work:
  mv s0, a0
  la sp, stacks
  addi t0, s0, 1
  slli t0, t0, 12
  add sp, sp, t0        # a page of stack per hart
  li t0, 2
  csrs sie, t0          # SSIP wakes WFI (sstatus.SIE stays clear: no trap)
  li t0, 0x2000
  csrs sstatus, t0      # FS = Initial: the FP unit on
  fsrmi zero, 0         # frm = RNE
  la s3, flag
  la s4, res
  bnez s0, other
  li a0, ${MANY}
  call calls
  sd a0, 0(s4)
  fence rw, rw
  li t0, 1
  sw t0, (s3)           # hart 1's turn
  li a0, 2              # SBI IPI to hart 1
  li a1, 0
  li a7, 0x735049
  li a6, 0
  ecall
1:
  fence rw, rw
  lw t0, 4(s3)
  beqz t0, 1b
  ld t0, 0(s4)
  ld t1, 8(s4)
  ld t2, 16(s4)
  li t3, ${"0x" + sum(MANY).toString(16)}
  li t4, ${"0x" + sum(FEW).toString(16)}
  li a1, 1              # SBI SRST reason: 1 (system failure) unless every check holds
  bne t0, t3, 2f
  bne t1, t4, 2f
  li t5, 1
  bne t2, t5, 2f        # fflags after hart 1's last call: NX alone
  li a1, 0
2:
  li a0, 0
  li a7, 0x53525354
  li a6, 0
  ecall

# Hart 1: wait for hart 0, call f FEW times, leave the sum and fflags for hart 0.
other:
  wfi
  csrc sip, 2
  fence rw, rw
  lw t0, (s3)
  beqz t0, other
  li a0, ${FEW}
  call calls
  sd a0, 8(s4)
  frflags t0
  sd t0, 16(s4)
  fence rw, rw
  li t0, 1
  sw t0, 4(s3)
park:
  wfi
  j park

# Sum f(n) for n = a0 down to 1, fflags cleared before each call (so the careful arms run).
calls:
  addi sp, sp, -16
  sd ra, 0(sp)
  mv s8, a0
  li s9, 0
3:
  mv a0, s8
  fsflags zero
  call f
  add s9, s9, a0
  addi s8, s8, -1
  bnez s8, 3b
  mv a0, s9
  ld ra, 0(sp)
  addi sp, sp, 16
  ret

.balign 4096
f:
  fcvt.d.l ft0, a0
  la t0, three
  fld ft1, 0(t0)
  fadd.d ft2, ft0, ft1
  fmul.d ft3, ft2, ft0
  fdiv.d ft4, ft3, ft1
  fsqrt.d ft5, ft4
  fsub.d ft6, ft5, ft1
  fdiv.d ft7, ft6, ft2
  fmv.x.d a0, ft7
  ret

.data
.align 3
three: .double 3.0
res: .dword 0, 0, 0
flag: .word 0, 0
.balign 4096
stacks: .space 2 * 4096
`,
    );
    const { m, out } = threadedMachine(elf, 2);
    const exit = await m.run();
    assert.deepEqual(exit, { kind: "poweroff", code: 0 }, out());
    // Hart 1 ran f in code hart 0's thread compiled (it never ran f often enough to compile it).
    assert.ok(m.adoptedBlocks[1]! >= 1, `hart 1 took ${m.adoptedBlocks[1]} blocks`);
    assert.ok(m.retiredCompiled[1]! > FEW * 10, `hart 1: ${m.retiredCompiled[1]} compiled`);
  },
);
