// Shared scaffolding for the bare-metal ISA test programs (assembled with the C preprocessor).
//
// A program is:
//     #include "common.h"
//     TEST_BEGIN
//         CHECK 1, a0, 42          // check number 1: a0 == 42
//         ...
//     TEST_PASS
//
// Results leave ONLY through the "sifive,test0" finisher: 0x5555 = pass, (N << 16) | 0x3333 =
// fail with exit status N, where N = the number of the failing check (register gp holds it).
//
// Register conventions (every program must respect them):
//   gp  number of the check in progress (the exit status if the program fails)
//   tp  &trap_info, the M-mode trap record (layout TI_* below)
//   sp  a small stack
//   t5, t6  scratch of the CHECK/TRAP macros: never pass them to a macro.
// The trap handlers save and restore every register they touch, so code can trap and continue.

#define FINISHER       0x00100000
#define UART0          0x10000000
#define CLINT          0x02000000
#define CLINT_MSIP     (CLINT + 0x0)
#define CLINT_MTIMECMP (CLINT + 0x4000)
#define CLINT_MTIME    (CLINT + 0xbff8)
#define PLIC           0x0c000000
#define PLIC_ENABLE_M  (PLIC + 0x2000)    /* context 0 = hart 0 M-mode */
#define PLIC_THRESH_M  (PLIC + 0x200000)
#define PLIC_CLAIM_M   (PLIC + 0x200004)
#define PLIC_ENABLE_S  (PLIC + 0x2080)    /* context 1 = hart 0 S-mode */
#define PLIC_THRESH_S  (PLIC + 0x201000)
#define PLIC_CLAIM_S   (PLIC + 0x201004)
#define UART_IRQ       10

// mstatus fields (privileged spec 3.1.6)
#define MSTATUS_SIE   (1 << 1)
#define MSTATUS_MIE   (1 << 3)
#define MSTATUS_SPIE  (1 << 5)
#define MSTATUS_MPIE  (1 << 7)
#define MSTATUS_SPP   (1 << 8)
#define MSTATUS_MPP   (3 << 11)
#define MSTATUS_FS    (3 << 13)
#define MSTATUS_MPRV  (1 << 17)
#define MSTATUS_SUM   (1 << 18)
#define MSTATUS_MXR   (1 << 19)
#define MSTATUS_TVM   (1 << 20)
#define MSTATUS_TW    (1 << 21)
#define MSTATUS_TSR   (1 << 22)
#define MPP_U (0 << 11)
#define MPP_S (1 << 11)
#define MPP_M (3 << 11)

// Interrupt numbers (mip/mie bit and mcause code, privileged spec 3.1.9 / table 3.6)
#define IRQ_SSI 1
#define IRQ_MSI 3
#define IRQ_STI 5
#define IRQ_MTI 7
#define IRQ_SEI 9
#define IRQ_MEI 11
#define CAUSE_INTR (1 << 63)

// Exception codes (privileged spec table 3.6)
#define CAUSE_MISALIGNED_FETCH 0
#define CAUSE_FETCH_ACCESS     1
#define CAUSE_ILLEGAL          2
#define CAUSE_BREAKPOINT       3
#define CAUSE_MISALIGNED_LOAD  4
#define CAUSE_LOAD_ACCESS      5
#define CAUSE_MISALIGNED_STORE 6
#define CAUSE_STORE_ACCESS     7
#define CAUSE_ECALL_U          8
#define CAUSE_ECALL_S          9
#define CAUSE_ECALL_M          11
#define CAUSE_FETCH_PAGE       12
#define CAUSE_LOAD_PAGE        13
#define CAUSE_STORE_PAGE       15

// Trap record written by the handlers (M-mode record at trap_info, S-mode at strap_info).
#define TI_COUNT    0    /* traps taken since the last TRAP_RESET */
#define TI_CAUSE    8    /* xcause of the last trap */
#define TI_EPC      16   /* xepc of the last trap */
#define TI_TVAL     24   /* xtval of the last trap */
#define TI_STATUS   32   /* mstatus/sstatus as the handler found it (xPP, xPIE) */
#define TI_RESUME   40   /* if non-zero: the next exception resumes here (see below), then 0 */
#define TI_INSIDE   48   /* 1 while the handler runs: a trap in the handler fails with 254 */
#define TI_NIRQ     56   /* number of interrupts logged */
#define TI_IRQLOG   64   /* 16 doublewords: interrupt codes in the order taken */
#define TI_SAVE     192  /* register save area */
#define TI_SIZE     256

// Checks: each sets gp to the check number n first, so a failure exits with status n.
.macro CHECK n, reg, val            // reg == val (a constant)
    li gp, \n
    li t6, \val
    beq \reg, t6, .Lok\@
    j fail
.Lok\@:
.endm

.macro CHECKR n, reg, reg2          // reg == reg2
    li gp, \n
    beq \reg, \reg2, .Lok\@
    j fail
.Lok\@:
.endm

.macro CHECK_MEM n, width_load, addr_sym, val   // e.g. CHECK_MEM 3, ld, buf, 7
    li gp, \n
    la t6, \addr_sym
    \width_load t6, 0(t6)
    li t5, \val
    beq t5, t6, .Lok\@
    j fail
.Lok\@:
.endm

.macro FAIL n                       // unconditional failure with status n
    li gp, \n
    j fail
.endm

// Trap expectations. TRAP_RESET before the instruction under test, then CHECK_TRAP or
// CHECK_NO_TRAP. Without TI_RESUME the handler returns to the instruction after the faulting one
// (length read from memory at mepc), in the same privilege mode.
.macro TRAP_RESET
    sd zero, TI_COUNT(tp)
.endm

.macro CHECK_NO_TRAP n
    li gp, \n
    ld t6, TI_COUNT(tp)
    beqz t6, .Lok\@
    j fail
.Lok\@:
.endm

.macro CHECK_TRAP n, cause          // exactly one trap, mcause == cause
    li gp, \n
    ld t6, TI_COUNT(tp)
    li t5, 1
    bne t6, t5, .Lbad\@
    ld t6, TI_CAUSE(tp)
    li t5, \cause
    beq t6, t5, .Lok\@
.Lbad\@:
    j fail
.Lok\@:
.endm

.macro CHECK_TRAP_TVAL n, cause, tvalreg   // as CHECK_TRAP, and mtval == register tvalreg
    CHECK_TRAP \n, \cause
    ld t6, TI_TVAL(tp)
    beq t6, \tvalreg, .Lok\@
    j fail
.Lok\@:
.endm

.macro CHECK_TRAP_EPC n, label      // mepc of the last trap == address of label
    li gp, \n
    ld t6, TI_EPC(tp)
    la t5, \label
    beq t6, t5, .Lok\@
    j fail
.Lok\@:
.endm

// Run code at `target` in privilege `mpp` (MPP_U/MPP_S/MPP_M) with mret. The next exception
// that reaches the M-mode handler resumes in M-mode at `resume` (typically after an ecall).
.macro RUN_IN_MODE mpp, target, resume
    la t6, \resume
    sd t6, TI_RESUME(tp)
    li t6, MSTATUS_MPP
    csrc mstatus, t6
    li t6, \mpp
    csrs mstatus, t6
    la t6, \target
    csrw mepc, t6
    mret
.endm

// Enter privilege `mpp` at `target` without arming TI_RESUME: traps taken there return to the
// same mode (the M-mode handler skips the faulting instruction), so lower-privilege code can run
// a sequence of checks with the usual macros while satp is Bare. Leave with BACK_TO_M.
.macro ENTER_MODE mpp, target
    li t6, MSTATUS_MPP
    csrc mstatus, t6
    li t6, \mpp
    csrs mstatus, t6
    la t6, \target
    csrw mepc, t6
    mret
.endm

// From S/U (satp Bare): return to M-mode at `resume` through an ECALL (EBREAK with ebreak=1,
// for when ECALLs are delegated to S). Resets TI_COUNT: CHECK_TRAP then sees that one trap.
.macro BACK_TO_M resume, use_ebreak=0
    la t6, \resume
    sd t6, TI_RESUME(tp)
    sd zero, TI_COUNT(tp)
    .if \use_ebreak
    ebreak
    .else
    ecall
    .endif
.endm

// Bounded wait for interrupts: loop until the M-mode handler has logged at least `count`
// interrupts; fail with check n after 10 million iterations ("eventually", not a deadline).
.macro WAIT_IRQS n, count
    li gp, \n
    li t5, 10000000
.Lloop\@:
    ld t6, TI_NIRQ(tp)
    addi t6, t6, -\count
    bgez t6, .Ldone\@
    addi t5, t5, -1
    bnez t5, .Lloop\@
    j fail
.Ldone\@:
.endm

#include "runtime.h"

// Instruction checks in the style "result = op(a, b)": operands in a1/a2, result in a0.
.macro TEST_RR n, op, result, a, b
    li a1, \a
    li a2, \b
    \op a0, a1, a2
    CHECK \n, a0, \result
.endm

.macro TEST_RI n, op, result, a, imm
    li a1, \a
    \op a0, a1, \imm
    CHECK \n, a0, \result
.endm
