// Privilege modes (privileged spec 3.1.6, 3.1.8, 3.3, 4.1): S and U entered through MPP/MRET,
// instructions and CSRs above the current privilege trap as illegal, trap delegation with
// medeleg to an S-mode handler (stvec/scause/sepc/stval/sstatus), SRET, and the TSR/TW/TVM traps.
// satp stays Bare, so S/U code can use the check macros directly.
#include "common.h"

// `insn` in the current mode raises an illegal-instruction exception handled in M-mode
// (mpp = the mode it came from).
.macro ILLEGAL_TO_M n, mpp, insn:vararg
    TRAP_RESET
    \insn
    CHECK_TRAP \n, CAUSE_ILLEGAL
    ld t6, TI_STATUS(tp)
    li t5, MSTATUS_MPP
    and t6, t6, t5
    li t5, \mpp
    beq t6, t5, .Lok\@
    j fail
.Lok\@:
.endm

.macro ALLOWED n, insn:vararg
    TRAP_RESET
    \insn
    CHECK_NO_TRAP \n
.endm

// Checks on the S-mode trap record (strap_info, through s0).
.macro S_TRAP n, count, cause
    li gp, \n
    ld t6, TI_COUNT(s0)
    li t5, \count
    bne t6, t5, .Lbad\@
    ld t6, TI_CAUSE(s0)
    li t5, \cause
    beq t6, t5, .Lok\@
.Lbad\@:
    j fail
.Lok\@:
.endm

TEST_BEGIN
    la s0, strap_info
    // --- S-mode ---
    ENTER_MODE MPP_S, s_code
s_code:
    ALLOWED 1, csrr a0, sstatus
    ALLOWED 2, csrw sscratch, a0
    ALLOWED 3, csrr a0, satp
    ILLEGAL_TO_M 4, MPP_S, csrr a0, mstatus
    ILLEGAL_TO_M 5, MPP_S, csrw mscratch, a0
    ILLEGAL_TO_M 6, MPP_S, csrr a0, mhartid
    ILLEGAL_TO_M 7, MPP_S, csrr a0, medeleg
    ILLEGAL_TO_M 8, MPP_S, mret
    BACK_TO_M 1f
1:  CHECK_TRAP 9, CAUSE_ECALL_S

    // TVM: satp and SFENCE.VMA trap in S-mode; TSR: SRET traps; TW: WFI traps
    li a0, MSTATUS_TVM | MSTATUS_TSR | MSTATUS_TW
    csrs mstatus, a0
    ENTER_MODE MPP_S, s_code2
s_code2:
    ILLEGAL_TO_M 10, MPP_S, csrr a0, satp
    ILLEGAL_TO_M 11, MPP_S, csrw satp, zero
    ILLEGAL_TO_M 12, MPP_S, sfence.vma
    ILLEGAL_TO_M 13, MPP_S, sret
    ILLEGAL_TO_M 14, MPP_S, wfi       // no interrupt can end it: it must trap (TW = 1)
    ALLOWED 15, csrr a0, sstatus
    BACK_TO_M 1f
1:  li a0, MSTATUS_TVM | MSTATUS_TSR | MSTATUS_TW
    csrc mstatus, a0
    // without TVM/TSR, S may use satp, SFENCE.VMA and SRET
    ENTER_MODE MPP_S, s_code3
s_code3:
    ALLOWED 16, csrw satp, zero
    ALLOWED 17, sfence.vma
    li a0, MSTATUS_SPP
    csrs sstatus, a0
    la a0, 1f
    csrw sepc, a0
    li gp, 18
    sret                        // SPP = S: stays in S-mode, continues at 1f
    j fail
1:  ILLEGAL_TO_M 19, MPP_S, csrr a0, mstatus    // still S-mode
    BACK_TO_M 1f
1:
    // --- U-mode ---
    ENTER_MODE MPP_U, u_code
u_code:
    ILLEGAL_TO_M 20, MPP_U, csrr a0, sstatus
    ILLEGAL_TO_M 21, MPP_U, csrr a0, mstatus
    ILLEGAL_TO_M 22, MPP_U, csrw sscratch, a0
    ILLEGAL_TO_M 23, MPP_U, sret
    ILLEGAL_TO_M 24, MPP_U, mret
    ILLEGAL_TO_M 25, MPP_U, sfence.vma
    ILLEGAL_TO_M 26, MPP_U, csrr a0, satp
    ALLOWED 27, fence
    BACK_TO_M 1f
1:  CHECK_TRAP 28, CAUSE_ECALL_U
    // TW = 1: WFI in U-mode traps
    li a0, MSTATUS_TW
    csrs mstatus, a0
    ENTER_MODE MPP_U, u_code2
u_code2:
    ILLEGAL_TO_M 29, MPP_U, wfi
    BACK_TO_M 1f
1:  li a0, MSTATUS_TW
    csrc mstatus, a0

    // --- delegation to S: ECALL from U and illegal instructions go to stvec ---
    la a0, strap_entry
    csrw stvec, a0
    li a0, (1 << CAUSE_ECALL_U) | (1 << CAUSE_ILLEGAL)
    csrw medeleg, a0
    csrr a1, medeleg
    and a1, a1, a0
    CHECKR 30, a1, a0
    // an exception in M-mode is never delegated (traps never lower the privilege)
    sd zero, TI_COUNT(s0)
    ILLEGAL_TO_M 31, MPP_M, .4byte 0x7ff00073
    ld a0, TI_COUNT(s0)
    CHECK 32, a0, 0
    csrsi sstatus, MSTATUS_SIE      // SIE = 1 before the traps: SPIE must capture it
    ENTER_MODE MPP_U, u_code3
u_code3:
    TRAP_RESET
    sd zero, TI_COUNT(s0)
.Lu_ecall:
    ecall                           // -> S handler, which skips it: back in U
    CHECK_NO_TRAP 33
    S_TRAP 34, 1, CAUSE_ECALL_U
    ld a0, TI_EPC(s0)
    la a1, .Lu_ecall
    CHECKR 35, a0, a1
    ld a0, TI_TVAL(s0)
    CHECK 36, a0, 0
    ld a0, TI_STATUS(s0)            // sstatus in the handler: SPP = U, SPIE = 1, SIE = 0
    andi a0, a0, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
    CHECK 37, a0, MSTATUS_SPIE
.Lu_illegal:
    csrr a0, sstatus                // illegal in U, delegated
    S_TRAP 38, 2, CAUSE_ILLEGAL
    CHECK_NO_TRAP 39
    ld a0, TI_EPC(s0)
    la a1, .Lu_illegal
    CHECKR 40, a0, a1
    ld a0, TI_TVAL(s0)              // stval = 0 or the instruction bits
    beqz a0, 1f
    li a1, 0x10002573               // csrr a0, sstatus
    CHECKR 41, a0, a1
1:  BACK_TO_M 1f, 1                 // EBREAK is not delegated
1:  CHECK_TRAP 42, CAUSE_BREAKPOINT
    // sret left SIE = SPIE (1), SPIE = 1, SPP = U: visible in mstatus now
    csrr a0, mstatus
    andi a0, a0, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE
    CHECK 43, a0, MSTATUS_SPIE | MSTATUS_SIE
    csrci sstatus, MSTATUS_SIE
    // scause/sepc/stval were written, mcause was not (the last M trap was the EBREAK)
    csrr a0, scause
    CHECK 44, a0, CAUSE_ILLEGAL
    // a delegated exception raised in S-mode itself goes to S with SPP = S
    ENTER_MODE MPP_S, s_code4
s_code4:
    sd zero, TI_COUNT(s0)
    csrr a0, mstatus                // illegal in S, delegated to S
    S_TRAP 45, 1, CAUSE_ILLEGAL
    ld a0, TI_STATUS(s0)
    andi a0, a0, MSTATUS_SPP
    CHECK 46, a0, MSTATUS_SPP
    // ECALL from S is not delegated (medeleg bit 9 clear): M-mode sees cause 9
    BACK_TO_M 1f
1:  CHECK_TRAP 47, CAUSE_ECALL_S
    ld a0, TI_COUNT(s0)
    CHECK 48, a0, 1
    csrw medeleg, zero
TEST_PASS
