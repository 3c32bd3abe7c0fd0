/*
 * Bare-metal start-up of the bench programs: a stack in RAM, the FPU (for those that use F and D)
 * switched on (mstatus.FS = Initial; with FS = Off every FP instruction is illegal, RISC-V
 * privileged spec 3.1.6.6), the rounding mode round-to-nearest-even, then main (never returns).
 */
    .section .text.init
    .globl _start
_start:
    la sp, stack_top
    li t0, 0x2000
    csrs mstatus, t0
    csrw fcsr, zero
    call main
1:  j 1b
    .bss
    .balign 16
    .space 16384
stack_top:
