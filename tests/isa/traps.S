// Synchronous traps and trap return (privileged spec 3.1.7, 3.1.14-3.1.16, 3.3.2): illegal
// instructions (all-zero word, undefined SYSTEM encoding, unknown CSR), ECALL from M/S/U with
// mcause 11/9/8, EBREAK, the mepc/mcause/mtval/mstatus values a trap leaves, MRET and SRET
// state transitions, and mtvec in direct and vectored mode.
#include "common.h"

// mtval after an illegal instruction is 0 or the instruction bits.
.macro CHECK_TVAL_0_OR n, bits
    li gp, \n
    ld t6, TI_TVAL(tp)
    beqz t6, .Lok\@
    li t5, \bits
    beq t6, t5, .Lok\@
    j fail
.Lok\@:
.endm

// Field (mask) of the mstatus the handler saw.
.macro TRAP_STATUS_FIELD n, mask, val
    ld a0, TI_STATUS(tp)
    li a1, \mask
    and a0, a0, a1
    CHECK \n, a0, \val
.endm

// Vector slot i was used.
.macro CHECK_HIT n, i
    la a1, vec_hit + 8 * \i
    ld a0, 0(a1)
    CHECKR \n, a0, a1
.endm

TEST_BEGIN
    // all-zero word: illegal (it is the defined-illegal 16-bit encoding 0x0000)
    la a0, 1f
    sd a0, TI_RESUME(tp)
    TRAP_RESET
.Lzero:
    .4byte 0
1:  CHECK_TRAP 1, CAUSE_ILLEGAL
    CHECK_TRAP_EPC 2, .Lzero
    CHECK_TVAL_0_OR 3, 0
    // an undefined SYSTEM encoding (funct12 = 0x7ff)
    TRAP_RESET
.Lsys:
    .4byte 0x7ff00073
    CHECK_TRAP 4, CAUSE_ILLEGAL
    CHECK_TRAP_EPC 5, .Lsys
    CHECK_TVAL_0_OR 6, 0x7ff00073
    // an unknown CSR (0x3ff)
    TRAP_RESET
.Lcsr:
    csrr a0, 0x3ff
    CHECK_TRAP 7, CAUSE_ILLEGAL
    CHECK_TRAP_EPC 8, .Lcsr
    CHECK_TVAL_0_OR 9, 0x3ff02573

    // ECALL from M: cause 11, mepc = the ecall, mtval = 0; MPP = M, MPIE = old MIE, MIE = 0
    csrsi mstatus, MSTATUS_MIE          // no interrupt is enabled in mie
    TRAP_RESET
.Lecall_m:
    ecall
    CHECK_TRAP 10, CAUSE_ECALL_M
    CHECK_TRAP_EPC 11, .Lecall_m
    ld a0, TI_TVAL(tp)
    CHECK 12, a0, 0
    TRAP_STATUS_FIELD 13, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE, MPP_M | MSTATUS_MPIE
    csrr a0, mstatus                    // MRET restored MIE from MPIE
    andi a0, a0, MSTATUS_MIE
    CHECK 14, a0, MSTATUS_MIE
    csrci mstatus, MSTATUS_MIE

    // ECALL from S: cause 9, MPP = S
    TRAP_RESET
    RUN_IN_MODE MPP_S, .Ls_code, .Ls_back
.Ls_code:
    ecall
.Ls_back:
    CHECK_TRAP 15, CAUSE_ECALL_S
    CHECK_TRAP_EPC 16, .Ls_code
    TRAP_STATUS_FIELD 17, MSTATUS_MPP, MPP_S
    // ECALL from U: cause 8, MPP = U
    TRAP_RESET
    RUN_IN_MODE MPP_U, .Lu_code, .Lu_back
.Lu_code:
    ecall
.Lu_back:
    CHECK_TRAP 18, CAUSE_ECALL_U
    CHECK_TRAP_EPC 19, .Lu_code
    TRAP_STATUS_FIELD 20, MSTATUS_MPP, MPP_U

    // EBREAK (32-bit): cause 3, mepc = the ebreak, mtval = 0 or its address
    TRAP_RESET
    .option push
    .option norvc
.Lebreak:
    ebreak
    .option pop
    CHECK_TRAP 21, CAUSE_BREAKPOINT
    CHECK_TRAP_EPC 22, .Lebreak
    ld a0, TI_TVAL(tp)
    beqz a0, 1f
    la a1, .Lebreak
    CHECKR 23, a0, a1
1:

    // MRET: pc = mepc, MIE = MPIE, MPIE = 1, MPP = U (the least-privileged mode)
    li a0, MSTATUS_MPP | MSTATUS_MPIE
    csrs mstatus, a0
    csrci mstatus, MSTATUS_MIE
    la a0, 1f
    csrw mepc, a0
    li gp, 24
    mret
    j fail
1:  csrr a0, mstatus
    li a1, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE
    and a0, a0, a1
    CHECK 25, a0, MSTATUS_MPIE | MSTATUS_MIE | MPP_U
    csrci mstatus, MSTATUS_MIE
    // MRET with MPIE = 0 leaves MIE = 0
    li a0, MSTATUS_MPP
    csrs mstatus, a0
    li a0, MSTATUS_MPIE
    csrc mstatus, a0
    la a0, 1f
    csrw mepc, a0
    mret
1:  csrr a0, mstatus
    andi a0, a0, MSTATUS_MIE
    CHECK 26, a0, 0
    // MRET to S with MPRV set
    li a0, MSTATUS_MPRV
    csrs mstatus, a0
    TRAP_RESET
    RUN_IN_MODE MPP_S, .Lmprv_code, .Lmprv_back
.Lmprv_code:
    ecall
.Lmprv_back:
    CHECK_TRAP 27, CAUSE_ECALL_S
#ifndef QEMU_REFERENCE
    // An MRET to a mode below M also clears MPRV (privileged spec 1.12, 3.1.6.3); QEMU 7.2
    // keeps it.
    TRAP_STATUS_FIELD 28, MSTATUS_MPRV, 0
#endif
    li a0, MSTATUS_MPRV
    csrc mstatus, a0
    // SRET executed in M: pc = sepc, mode = SPP, SIE = SPIE, SPIE = 1, SPP = U
    li a0, MSTATUS_SPP | MSTATUS_SPIE
    csrs mstatus, a0
    csrci mstatus, MSTATUS_SIE
    la a0, .Lsret_code
    csrw sepc, a0
    la a0, .Lsret_back
    sd a0, TI_RESUME(tp)
    TRAP_RESET
    sret
.Lsret_code:
    ecall
.Lsret_back:
    CHECK_TRAP 29, CAUSE_ECALL_S
    CHECK_TRAP_EPC 30, .Lsret_code
    TRAP_STATUS_FIELD 31, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPIE | MSTATUS_SIE
    csrci mstatus, MSTATUS_SIE

    // mtvec vectored: exceptions go to BASE, interrupt i to BASE + 4 * i
    la a0, vectors
    ori a0, a0, 1
    csrw mtvec, a0
    csrr a1, mtvec
    CHECKR 32, a0, a1
    TRAP_RESET
    ecall
    CHECK_TRAP 33, CAUSE_ECALL_M
    CHECK_HIT 34, 0
    li a0, (1 << IRQ_MSI)
    csrw mie, a0
    li a0, CLINT_MSIP
    li a1, 1
    sw a1, 0(a0)
    TRAP_RESET
    csrsi mstatus, MSTATUS_MIE
    WAIT_IRQS 35, 1
    csrci mstatus, MSTATUS_MIE
    CHECK_TRAP 36, CAUSE_INTR | IRQ_MSI
    CHECK_HIT 37, IRQ_MSI
    ld a0, TI_TVAL(tp)
    CHECK 38, a0, 0
    // no other vector was used
    la a0, vec_hit
    li a2, 0
    li a3, 0
1:  ld a1, 0(a0)
    beqz a1, 2f
    addi a3, a3, 1
2:  addi a0, a0, 8
    addi a2, a2, 1
    li a1, 12
    bne a2, a1, 1b
    CHECK 39, a3, 2
    csrw mie, zero
    la a0, trap_entry
    csrw mtvec, a0
TEST_PASS

// Vector table: slot i marks vec_hit[i] (with its own address) and enters the common handler.
    .align 8
    .option push
    .option norvc
vectors:
    .irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
    j vec_stub_\i
    .endr
    .irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
vec_stub_\i:
    csrw sscratch, t0
    la t0, vec_hit + 8 * \i
    sd t0, 0(t0)
    csrr t0, sscratch
    j trap_entry
    .endr
    .option pop

    .data
    .align 3
vec_hit:
    .skip 8 * 12
