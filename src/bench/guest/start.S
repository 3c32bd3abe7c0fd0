/* Bare-metal start-up: a stack in RAM, then main (never returns). */
    .section .text.init
    .globl _start
_start:
    la sp, stack_top
    call main
1:  j 1b
    .bss
    .balign 16
    .space 16384
stack_top:
