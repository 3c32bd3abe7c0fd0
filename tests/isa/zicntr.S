// Zicntr (unprivileged spec ch. 10) and counter enables (privileged spec 3.1.11, 4.1.4):
// cycle/time/instret advance, time agrees with the CLINT's mtime, mcycle/minstret are writable in
// M-mode, minstret counts exactly, and access from S/U is granted bit by bit by mcounteren (for S
// and U) and scounteren (additionally, for U).
#include "common.h"
#define CY 1
#define TM 2
#define IR 4

// Read `csr` twice until it changes (bounded); the second value must be larger (unsigned).
.macro ADVANCES n, csr
    csrr a0, \csr
    li gp, \n
    li t5, 10000000
.Lloop\@:
    csrr a1, \csr
    bne a1, a0, .Lchanged\@
    addi t5, t5, -1
    bnez t5, .Lloop\@
    j fail
.Lchanged\@:
    bgtu a1, a0, .Lok\@
    j fail
.Lok\@:
.endm

.macro READ_OK n, csr
    TRAP_RESET
    csrr a0, \csr
    CHECK_NO_TRAP \n
.endm

.macro READ_ILLEGAL n, csr
    TRAP_RESET
    csrr a0, \csr
    CHECK_TRAP \n, CAUSE_ILLEGAL
.endm

TEST_BEGIN
    ADVANCES 1, cycle
    ADVANCES 2, instret
    ADVANCES 3, time
    ADVANCES 4, mcycle
    ADVANCES 5, minstret
    // time is mtime: bracketed by two reads of the CLINT register
    li a3, CLINT_MTIME
    ld a0, 0(a3)
    rdtime a1
    ld a2, 0(a3)
    li gp, 6
    bltu a1, a0, fail
    bltu a2, a1, fail
    // mcycle / minstret can be written in M-mode; cycle / instret follow
    li a2, 0x0000010000000000
    csrw mcycle, a2
    rdcycle a0
    li gp, 7
    bltu a0, a2, fail
    csrw minstret, a2
    rdinstret a0
    li gp, 8
    bltu a0, a2, fail
#ifndef QEMU_REFERENCE
    // minstret counts exactly the instructions retired (privileged spec 3.1.11). Between the two
    // reads: the first read itself, a loop of 10 rounds that takes a forward branch every other
    // round (5 rounds of 4 instructions, 5 of 5), and a NOP: 1 + 45 + 1. Neither read is the
    // first instruction after a branch target, so an emulator that counts per block must add the
    // instructions of the running block before the read.
    li t1, 10
    li t2, 0
    csrr a4, minstret
1:  andi t3, t1, 1
    beqz t3, 2f
    addi t2, t2, 1
2:  addi t1, t1, -1
    bnez t1, 1b
    nop
    csrr a5, minstret
    sub a5, a5, a4
    CHECK 36, a5, 47
#endif

    // S-mode: governed by mcounteren alone
    csrw mcounteren, zero
    csrw scounteren, zero
    ENTER_MODE MPP_S, s_none
s_none:
    READ_ILLEGAL 9, cycle
    READ_ILLEGAL 10, time
    READ_ILLEGAL 11, instret
    BACK_TO_M 1f
1:  csrwi mcounteren, CY
    ENTER_MODE MPP_S, s_cy
s_cy:
    READ_OK 12, cycle
    READ_ILLEGAL 13, time
    READ_ILLEGAL 14, instret
    csrwi scounteren, CY | TM | IR      // S may write scounteren
    csrr a0, scounteren
    CHECK 15, a0, CY | TM | IR
    BACK_TO_M 1f
1:  csrwi mcounteren, CY | TM | IR
    ENTER_MODE MPP_S, s_all
s_all:
    READ_OK 16, cycle
    READ_OK 17, time
    READ_OK 18, instret
    ADVANCES 19, cycle
    BACK_TO_M 1f
1:
    // U-mode: needs the bit in both mcounteren and scounteren
    csrwi scounteren, 0
    ENTER_MODE MPP_U, u_m_only
u_m_only:
    READ_ILLEGAL 20, cycle
    READ_ILLEGAL 21, time
    READ_ILLEGAL 22, instret
    BACK_TO_M 1f
1:  csrwi scounteren, TM
    ENTER_MODE MPP_U, u_tm
u_tm:
    READ_ILLEGAL 23, cycle
    READ_OK 24, time
    READ_ILLEGAL 25, instret
    BACK_TO_M 1f
1:  csrwi scounteren, CY | TM | IR
    ENTER_MODE MPP_U, u_all
u_all:
    READ_OK 26, cycle
    READ_OK 27, time
    READ_OK 28, instret
    ADVANCES 29, instret
    BACK_TO_M 1f
1:  csrwi mcounteren, IR
    ENTER_MODE MPP_U, u_s_only
u_s_only:
    READ_ILLEGAL 30, cycle
    READ_ILLEGAL 31, time
    READ_OK 32, instret
    BACK_TO_M 1f
1:  csrw mcounteren, zero
    csrw scounteren, zero
    // M-mode reads every counter whatever the enables say
    READ_OK 33, cycle
    READ_OK 34, time
    READ_OK 35, instret
TEST_PASS
