// Control transfer (unprivileged spec 2.5): conditional branches taken / not taken at signed and
// unsigned edges, JAL link value and direction, JALR target = (rs1 + imm) & ~1, rd == rs1.
#include "common.h"

.macro TAKEN n, op, a, b
    li gp, \n
    li a1, \a
    li a2, \b
    \op a1, a2, .Lt\@
    j fail
.Lt\@:
.endm

.macro NOT_TAKEN n, op, a, b
    li gp, \n
    li a1, \a
    li a2, \b
    \op a1, a2, .Lf\@
    j .Lok\@
.Lf\@:
    j fail
.Lok\@:
.endm

TEST_BEGIN
    .option push
    .option norvc           // 4-byte encodings: link values below are pc + 4
    TAKEN 1, beq, -1, -1
    NOT_TAKEN 2, beq, 0, 0x100000000
    TAKEN 3, bne, 0, 0x100000000
    NOT_TAKEN 4, bne, 7, 7
    TAKEN 5, blt, 0x8000000000000000, 0x7fffffffffffffff
    NOT_TAKEN 6, blt, 0x7fffffffffffffff, 0x8000000000000000
    NOT_TAKEN 7, blt, 5, 5
    TAKEN 8, bge, 5, 5
    TAKEN 9, bge, 0, -1
    NOT_TAKEN 10, bge, -1, 0
    TAKEN 11, bltu, 0, -1
    NOT_TAKEN 12, bltu, -1, 0
    NOT_TAKEN 13, bltu, 0x8000000000000000, 0x7fffffffffffffff
    TAKEN 14, bgeu, -1, 0
    TAKEN 15, bgeu, 3, 3
    NOT_TAKEN 16, bgeu, 0x7fffffffffffffff, 0x8000000000000000

    // backward branch: a loop of 5 iterations
    li a0, 5
    li a1, 0
1:  addi a1, a1, 1
    addi a0, a0, -1
    bnez a0, 1b
    CHECK 17, a1, 5

    // JAL: rd = pc + 4, forward and backward
    li gp, 18
.Ljal_site:
    jal ra, .Ljal_fwd
    j fail
.Ljal_fwd:
    la a1, .Ljal_site + 4
    CHECKR 18, ra, a1
    j .Ljal_back_site
.Ljal_back:
    la a1, .Ljal_back_site + 4
    CHECKR 20, t0, a1
    j .Ljal_done
    li gp, 19
.Ljal_back_site:
    jal t0, .Ljal_back
    j fail
.Ljal_done:
    // JAL with rd = x0 does not write
    jal x0, 1f
    j fail
1:  CHECK 21, x0, 0

    // JALR: target (rs1 + imm) & ~1 and rd = pc + 4
    li gp, 22
    la a0, .Ljalr1 - 16
.Ljalr1_site:
    jalr ra, 16(a0)
    j fail
.Ljalr1:
    la a1, .Ljalr1_site + 4
    CHECKR 23, ra, a1
    li gp, 24
    la a0, .Ljalr2
    addi a0, a0, 1          // bit 0 of the sum is cleared
    jalr ra, 0(a0)
    j fail
.Ljalr2:
    li gp, 25
    la a0, .Ljalr3 - 1
    jalr ra, 2(a0)          // (target - 1 + 2) & ~1 = target (target is 4-aligned)
    j fail
    .align 2
.Ljalr3:
    // rd == rs1: the target uses the old value of rs1
    li gp, 26
    la a0, .Ljalr4
.Ljalr4_site:
    jalr a0, 0(a0)
    j fail
.Ljalr4:
    la a1, .Ljalr4_site + 4
    CHECKR 27, a0, a1
    // negative offset
    li gp, 28
    la a0, .Ljalr5 + 2040
    jalr ra, -2040(a0)
    j fail
.Ljalr5:
    // JALR with rd = x0 (ret) does not write; a call/return pair
    li gp, 29
    call .Lsub
    CHECK 30, a0, 0x1234
    .option pop

    // a 2-byte aligned (not 4-byte aligned) jump target is legal with C (IALIGN = 16)
    li gp, 31
    la a0, .Lhalf
    jr a0
    j fail
    .align 2
    c.nop
.Lhalf:
    li a1, 0
    la a0, .Lhalf
    andi a0, a0, 3
    CHECK 32, a0, 2
TEST_PASS

.Lsub:
    li a0, 0x1234
    jalr x0, 0(ra)
