// The debug trigger module in M-mode (RISC-V Debug Specification 1.0, chapter 5, Sdtrig):
// tselect (WARL), tinfo, tdata1 types 6 (mcontrol6) and 2 (mcontrol), tdata2; execute, load and
// store address matches with action 0 raise a breakpoint exception (cause 3) before the
// instruction runs, with mepc = the instruction and mtval = the matched address (the spec allows
// 0 or that address); the m/u mode bits; disabling by writing 0; and triggers armed on code and
// data that compiled code is already running.
#include "common.h"

#define T_LOAD   (1 << 0)
#define T_STORE  (1 << 1)
#define T_EXEC   (1 << 2)
#define T_U      (1 << 3)
#define T_S      (1 << 4)
#define T_M      (1 << 6)
#define MATCH_GE (2 << 7)
#define MATCH_LT (3 << 7)
#define TYPE6    (6 << 60)
#define TYPE2    (2 << 60)

// Disable the selected trigger. The spec: "Writing 0 to this register must result in a trigger
// that is disabled"; QEMU 7.2 ignores a write of type 0 and keeps the trigger armed, so its
// build clears the trigger's execute/load/store bits instead.
.macro DISARM
#ifdef QEMU_REFERENCE
    li t0, TYPE6
    csrw tdata1, t0
#else
    csrw tdata1, zero
#endif
.endm

// Arm the selected trigger: tdata1 = 0 first (so no half-written trigger fires), tdata2 = the
// address in register areg, then tdata1 = ctl.
.macro ARM ctl, areg
    DISARM
    csrw tdata2, \areg
    li t0, \ctl
    csrw tdata1, t0
.endm

// The last trap was a breakpoint at label `at` with mtval = register tval (or 0 where allowed).
.macro CHECK_BP n, at, tval
    CHECK_TRAP \n, CAUSE_BREAKPOINT
    CHECK_TRAP_EPC \n, \at
    li gp, \n
    ld t6, TI_TVAL(tp)
    beq t6, \tval, .Lok\@
#ifdef QEMU_REFERENCE
    beqz t6, .Lok\@                 // QEMU 7.2 writes 0, which the spec allows
#endif
    j fail
.Lok\@:
.endm

TEST_BEGIN
main:
    // --- tselect, tinfo ---
    csrw tselect, zero
    csrr a0, tselect
    CHECK 1, a0, 0
    li a0, 1
    csrw tselect, a0
    csrr a0, tselect
    CHECK 2, a0, 1
    li a0, 0x1000                   // no such trigger: tselect keeps its value (WARL)
    csrw tselect, a0
    csrr a0, tselect
    CHECK 3, a0, 1
    csrw tselect, zero
    csrr a0, tinfo
    andi a1, a0, 1 << 6
    CHECK 4, a1, 1 << 6             // mcontrol6 supported
    andi a1, a0, 1 << 2
    CHECK 5, a1, 1 << 2             // mcontrol too

    // --- Writing 0 disables a trigger: type 15 (tdata1: a trigger of several types does so) ---
    csrw tdata1, zero
    csrr a0, tdata1
    srli a0, a0, 60
#ifndef QEMU_REFERENCE
    CHECK 6, a0, 15
#endif
    // A type this trigger does not have (3, icount) leaves it disabled.
    li a0, 3 << 60
    csrw tdata1, a0
    csrr a0, tdata1
    srli a0, a0, 60
#ifndef QEMU_REFERENCE
    CHECK 7, a0, 15
#endif
    // tdata2 holds any address.
    li a0, 0x123456789abc
    csrw tdata2, a0
    csrr a1, tdata2
    CHECKR 8, a0, a1

    // --- Execute address match in M-mode (mcontrol6) ---
    la a2, bp_here
    ARM TYPE6 | T_EXEC | T_M, a2
    csrr a0, tdata1
    li a1, TYPE6 | T_EXEC | T_M
    CHECKR 9, a0, a1
    li a0, 0
    TRAP_RESET
    call bp_func
    CHECK_BP 10, bp_here, a2
    CHECK 11, a0, 0                 // the instruction did not run
    // Disabled by writing 0: runs through.
    DISARM
    TRAP_RESET
    call bp_func
    CHECK_NO_TRAP 12
    CHECK 13, a0, 1
    // The same with mcontrol (type 2).
    ARM TYPE2 | T_EXEC | T_M, a2
    li a0, 0
    TRAP_RESET
    call bp_func
    CHECK_BP 14, bp_here, a2
    CHECK 15, a0, 0

    // --- Mode bits: a U-only trigger does not fire in M, does in U ---
    ARM TYPE6 | T_EXEC | T_U, a2
    li a0, 0
    TRAP_RESET
    call bp_func
    CHECK_NO_TRAP 16
    CHECK 17, a0, 1
    la a2, u_bp
    ARM TYPE6 | T_EXEC | T_U, a2
    li a0, 0
    TRAP_RESET
    ENTER_MODE MPP_U, u_bp
u_bp:
    addi a0, a0, 1
    CHECK_BP 18, u_bp, a2           // in U-mode (the handler returned here)
    CHECK 19, a0, 0                 // the breakpoint skipped the addi
    BACK_TO_M 1f
1:  CHECK_TRAP 20, CAUSE_ECALL_U
    DISARM

    // --- Load and store address matches ---
    la a2, tword
    ARM TYPE6 | T_LOAD | T_M, a2
    li a0, 7
    TRAP_RESET
ld_here:
    ld a0, 0(a2)
    CHECK_BP 21, ld_here, a2
    CHECK 22, a0, 7                 // not loaded
    TRAP_RESET
    sd a0, 0(a2)                    // a store does not match a load trigger
    CHECK_NO_TRAP 23
    TRAP_RESET
    ld a1, 8(a2)                    // another address
    CHECK_NO_TRAP 24
    ARM TYPE6 | T_STORE | T_M, a2
    li a0, 9
    TRAP_RESET
sd_here:
    sd a0, 0(a2)
    CHECK_BP 25, sd_here, a2
    CHECK_MEM 26, ld, tword, 7      // not stored
    TRAP_RESET
    ld a0, 0(a2)
    CHECK_NO_TRAP 27
    CHECK 28, a0, 7
    // An AMO is a store for the trigger.
    TRAP_RESET
amo_here:
    amoadd.d a0, a0, (a2)
    CHECK_BP 29, amo_here, a2
    CHECK_MEM 30, ld, tword, 7
#ifndef QEMU_REFERENCE
    // match = 3 (<), U-mode only (so the M-mode handler's own loads never match): QEMU 7.2
    // matches only equal addresses.
    addi a3, a2, 16
    ARM TYPE6 | T_LOAD | T_U | MATCH_LT, a3
    addi a3, a2, 8
    ENTER_MODE MPP_U, 2f
2:  TRAP_RESET
    ld a0, 24(a2)
    CHECK_NO_TRAP 31
    TRAP_RESET
lt_here:
    ld a0, 8(a2)
    CHECK_BP 32, lt_here, a3
    BACK_TO_M 1f
1:  CHECK_TRAP 39, CAUSE_ECALL_U
#endif
    DISARM

    // --- Triggers armed on code and data that compiled code runs: the hot loop below runs
    // 6000 times first (Corral compiles blocks after a few thousand runs), then with an execute
    // trigger inside it, which must fire on every one of 50 iterations.
    li a0, 0
    li a1, 6000
    call hot_loop
    CHECK 33, a0, 6000
    la a2, hot_body
    ARM TYPE6 | T_EXEC | T_M, a2
    li a0, 0
    li a1, 50
    TRAP_RESET
    call hot_loop
    li gp, 34
    ld t6, TI_COUNT(tp)
    li t5, 50
    bne t6, t5, fail
    CHECK 35, a0, 0
    DISARM
    li a0, 0
    li a1, 50
    TRAP_RESET
    call hot_loop
    CHECK_NO_TRAP 36
    CHECK 37, a0, 50
    // A load trigger on the data a hot loop reads.
    la a2, tword
    li a1, 6000
    call hot_load
    ARM TYPE6 | T_LOAD | T_M, a2
    li a1, 40
    TRAP_RESET
    call hot_load
    li gp, 38
    ld t6, TI_COUNT(tp)
    li t5, 40
    bne t6, t5, fail
    DISARM
TEST_PASS

    .text
bp_func:
bp_here:
    addi a0, a0, 1
    ret

hot_loop:                           // a0 += a1 (one per iteration)
hot_body:
    addi a0, a0, 1
    addi a1, a1, -1
    bnez a1, hot_loop
    ret

hot_load:                           // a1 iterations of a load from (a2)
    ld a3, 0(a2)
    addi a1, a1, -1
    bnez a1, hot_load
    ret

    .data
    .align 4
tword:
    .dword 7, 0, 0, 0
