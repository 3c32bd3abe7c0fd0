// A extension (unprivileged spec ch. 8): LR/SC success and failure (no reservation, SC to an
// address other than the reserved one, reservation consumed by an SC), LR.W sign extension, and
// every AMO in .W and .D: rd = old value (sign-extended for .W), memory = op(old, rs2).
#include "common.h"

// AMO `op` on mem (initialised to `init`) with rs2 = `src`: expect rd = `old`, memory = `new`.
.macro AMO n, op, ld_op, init, src, old, new
    la a1, mem
    li a0, -1
    sd a0, 0(a1)
    sd a0, 8(a1)
    li a0, \init
    sd a0, 0(a1)
    li a2, \src
    \op a3, a2, (a1)
    CHECK \n, a3, \old
    \ld_op a4, 0(a1)
    CHECK \n, a4, \new
.endm

TEST_BEGIN
    // LR/SC success: SC writes 0 to rd and stores
    la a1, mem
    li a0, 111
    sd a0, 0(a1)
    lr.d a2, (a1)
    CHECK 1, a2, 111
    li a3, 222
    sc.d a4, a3, (a1)
    CHECK 2, a4, 0
    ld a5, 0(a1)
    CHECK 3, a5, 222
    // the reservation is consumed: a second SC fails (rd != 0) and does not store
    li a3, 333
    sc.d a4, a3, (a1)
    li gp, 4
    beqz a4, fail
    ld a5, 0(a1)
    CHECK 5, a5, 222
    // SC to an address other than the one reserved fails (other page: outside any reservation set)
    la a6, other
    sd zero, 0(a6)
    lr.d a2, (a1)
    li a3, 444
    sc.d a4, a3, (a6)
    li gp, 6
    beqz a4, fail
    ld a5, 0(a6)
    CHECK 7, a5, 0
    ld a5, 0(a1)
    CHECK 8, a5, 222
    // LR.W sign-extends, SC.W stores 32 bits only
    li a0, 0x1111111180000000
    sd a0, 0(a1)
    lr.w a2, (a1)
    CHECK 9, a2, 0xffffffff80000000
    li a3, 0x2222222233333333
    sc.w a4, a3, (a1)
    CHECK 10, a4, 0
    ld a5, 0(a1)
    CHECK 11, a5, 0x1111111133333333
    // SC without any LR since the last SC fails
    sc.w a4, a3, (a6)
    li gp, 12
    beqz a4, fail
    // LR, then a regular store to the same address by this hart, then SC: the SC may succeed or
    // fail, but memory must hold either the SC's value (rd = 0) or the store's (rd != 0)
    lr.d a2, (a1)
    li a0, 555
    sd a0, 0(a1)
    li a3, 666
    sc.d a4, a3, (a1)
    ld a5, 0(a1)
    bnez a4, 1f
    CHECK 13, a5, 666
    j 2f
1:  CHECK 14, a5, 555
2:

    AMO 15, amoswap.w, ld, 0x0000000112345678, 0x80000000, 0x12345678, 0x0000000180000000
    AMO 16, amoswap.w, ld, 0x00000000fffffff0, 5, 0xfffffffffffffff0, 0x0000000000000005
    AMO 17, amoswap.d, ld, 0x8000000000000000, 7, 0x8000000000000000, 7
    AMO 18, amoadd.w, ld, 0xaaaaaaaa7fffffff, 1, 0x7fffffff, 0xaaaaaaaa80000000
    AMO 19, amoadd.w, ld, 0x00000000ffffffff, 1, -1, 0
    AMO 20, amoadd.d, ld, 0x7fffffffffffffff, 1, 0x7fffffffffffffff, 0x8000000000000000
    AMO 21, amoand.w, ld, 0x55555555f0f0f0f0, 0xffffffff0ff00ff0, 0xfffffffff0f0f0f0, 0x5555555500f000f0
    AMO 22, amoand.d, ld, 0xf0f0f0f0f0f0f0f0, 0x0ff00ff00ff00ff0, 0xf0f0f0f0f0f0f0f0, 0x00f000f000f000f0
    AMO 23, amoor.w, ld, 0x1234567800000001, 0x80000000, 1, 0x1234567880000001
    AMO 24, amoor.d, ld, 0x1, 0x8000000000000000, 1, 0x8000000000000001
    AMO 25, amoxor.w, ld, 0x00000000ffff0000, 0xffffffffffffffff, 0xffffffffffff0000, 0x000000000000ffff
    AMO 26, amoxor.d, ld, 0xffff0000ffff0000, 0xffffffffffffffff, 0xffff0000ffff0000, 0x0000ffff0000ffff
    // MIN/MAX compare the low 32 bits as signed (.W) / 64 bits; MINU/MAXU unsigned
    AMO 27, amomin.w, ld, 0x0000000080000000, 1, 0xffffffff80000000, 0x0000000080000000
    AMO 28, amomin.w, ld, 0x0000000000000005, 0xfffffffffffffffb, 5, 0x00000000fffffffb
    AMO 29, amomax.w, ld, 0x0000000080000000, 1, 0xffffffff80000000, 0x0000000000000001
    AMO 30, amominu.w, ld, 0x0000000080000000, 1, 0xffffffff80000000, 0x0000000000000001
    AMO 31, amomaxu.w, ld, 0x0000000080000000, 1, 0xffffffff80000000, 0x0000000080000000
    AMO 32, amomaxu.w, ld, 0x00000000ffffffff, 0x100000000, -1, 0x00000000ffffffff   // rs2[31:0] = 0
    AMO 33, amomin.d, ld, 0x8000000000000000, 1, 0x8000000000000000, 0x8000000000000000
    AMO 34, amomax.d, ld, 0x8000000000000000, 1, 0x8000000000000000, 1
    AMO 35, amominu.d, ld, 0x8000000000000000, 1, 0x8000000000000000, 1
    AMO 36, amomaxu.d, ld, 0x8000000000000000, 1, 0x8000000000000000, 0x8000000000000000
    AMO 37, amomin.d, ld, -5, -6, -5, -6
    // .W AMOs do not touch the neighbouring word
    la a1, mem
    lw a0, 4(a1)
    CHECK 38, a0, -1
    // rd = x0 still performs the store; rd == rs2 receives the old value
    la a1, mem
    li a0, 10
    sd a0, 0(a1)
    li a2, 5
    amoadd.d x0, a2, (a1)
    ld a3, 0(a1)
    CHECK 39, a3, 15
    amoadd.d a2, a2, (a1)
    CHECK 40, a2, 15
    ld a3, 0(a1)
    CHECK 41, a3, 20
    // ordering bits do not change the result
    amoadd.d.aqrl a2, a2, (a1)
    CHECK 42, a2, 20
    ld a3, 0(a1)
    CHECK 43, a3, 35
TEST_PASS

    .data
    .align 4
mem:
    .dword 0, 0
    .align 12
other:
    .dword 0
