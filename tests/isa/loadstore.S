// Loads and stores of every width (unprivileged spec 2.6 and 5.3): sign extension of LB/LH/LW,
// zero extension of LBU/LHU/LWU, stores that touch exactly their bytes, negative offsets,
// little-endian byte order, loads into x0.
#include "common.h"

.macro LOAD n, op, off, val
    la a1, src
    \op a0, \off(a1)
    CHECK \n, a0, \val
.endm

TEST_BEGIN
    LOAD 1, lb, 0, 0xffffffffffffff80
    LOAD 2, lbu, 0, 0x80
    LOAD 3, lb, 1, 0x7f
    LOAD 4, lbu, 7, 0xf0
    LOAD 5, lh, 0, 0x7f80
    LOAD 6, lh, 2, 0xffffffffffffff01   // bytes 01 ff
    LOAD 7, lhu, 2, 0xff01
    LOAD 8, lh, 6, 0xfffffffffffff0e0
    LOAD 9, lw, 0, 0xffffffffff017f80
    LOAD 10, lwu, 0, 0xff017f80
    LOAD 11, lw, 4, 0xfffffffff0e0d0c0
    LOAD 12, lwu, 4, 0xf0e0d0c0
    LOAD 13, lw, 8, 0x12345678
    LOAD 14, ld, 0, 0xf0e0d0c0ff017f80
    LOAD 15, ld, 8, 0x7fffffff12345678
    // negative offsets
    la a1, src + 16
    lw a0, -4(a1)
    CHECK 16, a0, 0x7fffffff
    ld a0, -16(a1)
    CHECK 17, a0, 0xf0e0d0c0ff017f80
    lbu a0, -9(a1)
    CHECK 18, a0, 0xf0

    // stores write exactly their width (little-endian)
    la a1, dst
    li a0, -1
    sd a0, 0(a1)
    sd a0, 8(a1)
    li a0, 0x1122334455667788
    sb a0, 0(a1)
    ld a2, 0(a1)
    CHECK 19, a2, 0xffffffffffffff88
    sh a0, 2(a1)
    ld a2, 0(a1)
    CHECK 20, a2, 0xffffffff7788ff88
    sw a0, 4(a1)
    ld a2, 0(a1)
    CHECK 21, a2, 0x556677887788ff88
    sd a0, 8(a1)
    ld a2, 8(a1)
    CHECK 22, a2, 0x1122334455667788
    lbu a2, 15(a1)
    CHECK 23, a2, 0x11
    // negative store offset, store of x0
    addi a3, a1, 16
    sw zero, -8(a3)
    ld a2, 8(a1)
    CHECK 24, a2, 0x1122334400000000
    sb zero, -1(a3)
    ld a2, 8(a1)
    CHECK 25, a2, 0x0022334400000000
    sh a0, -6(a3)
    ld a2, 8(a1)
    CHECK 26, a2, 0x0022334477880000
    // a load into x0 is performed but not written
    lw x0, 0(a1)
    CHECK 27, x0, 0
    // rd == rs1
    la a1, src
    ld a1, 8(a1)
    CHECK 28, a1, 0x7fffffff12345678
    // a store then a load of a different width reads the stored bytes
    la a1, dst
    li a0, 0x8000
    sh a0, 0(a1)
    lh a2, 0(a1)
    CHECK 29, a2, 0xffffffffffff8000
    lbu a2, 1(a1)
    CHECK 30, a2, 0x80
TEST_PASS

    .data
    .align 3
src:
    .byte 0x80, 0x7f, 0x01, 0xff, 0xc0, 0xd0, 0xe0, 0xf0
    .word 0x12345678, 0x7fffffff
dst:
    .dword 0, 0
