// Self-modifying code (unprivileged spec ch. 6, "Zifencei"): after a store to an instruction
// and FENCE.I, the hart fetches the new instruction. The loops run each block many times first,
// so an emulator has decoded, linked and (with CORRAL_HOT_BLOCK=1) compiled them before the
// patch: a stale block, a link to a block of the rewritten page, or compiled code that
// outlived its page would run the old instruction.
#include "common.h"

// ADDI a1, a1, imm: the word the patches store (I-type, opcode 0x13, funct3 0, rd = rs1 = x11).
#define ADDI_A1(imm) (((imm) << 20) | (11 << 15) | (11 << 7) | 0x13)

// Store `word` at `site` and fence: the hart must fetch the new instruction from then on.
.macro PATCH site, word
    la t0, \site
    li t2, \word
    sw t2, 0(t0)
    fence.i
.endm

.macro LOOP count
    li t1, \count
    call loop_body
.endm

TEST_BEGIN
    .option push
    .option norvc           // the patched instruction is one 32-bit word
    // 1: the loop as assembled: 40 x 1
    li a1, 0
    LOOP 40
    CHECK 1, a1, 40

    // 2: the successor of an in-page jump is rewritten (addi a1, a1, 1 -> 3)
    PATCH patch_site, ADDI_A1(3)
    li a1, 0
    LOOP 40
    CHECK 2, a1, 120

    // 3: rewritten again, to its first form (a page that held blocks twice)
    PATCH patch_site, ADDI_A1(1)
    li a1, 0
    LOOP 40
    CHECK 3, a1, 40

    // 4: the loop patches its own successor while it runs: the 19 iterations before t1 reaches
    // 20 add 1; the one that reaches it stores the patch and runs FENCE.I before its jump, so it
    // and the 20 after it add 5: 19 + 21 * 5.
    li a1, 0
    li t1, 40
    li s2, 20
    la s3, patch_site2
    li s4, ADDI_A1(5)
    call loop_patching
    CHECK 4, a1, 124

    // 5, 6: a store beside the code, to a data word in its page, changes no instruction: the
    // loop runs as before (an emulator that drops only the blocks a store overlaps keeps them)
    PATCH patch_site, ADDI_A1(1)
    li a1, 0
    LOOP 40
    la t0, page_data
    li t2, 0x5a5a
    sw t2, 0(t0)
    li a1, 0
    LOOP 40
    CHECK 5, a1, 40
    lw t3, 0(t0)
    CHECK 6, t3, 0x5a5a

    // 7: after stores beside it, a store into the code still reaches the next fetch
    PATCH patch_site, ADDI_A1(2)
    li a1, 0
    LOOP 40
    CHECK 7, a1, 80

    // 8, 9: 300 stores beside the code, 256 contiguous bytes of them (many stores to one page:
    // an emulator may drop the whole page's blocks), then a patch back to the first form
    la t0, page_data
    li t4, 300
3:  andi t5, t4, 0xfc
    add t5, t0, t5
    sw t4, 0(t5)
    addi t4, t4, -1
    bnez t4, 3b
    li a1, 0
    LOOP 40
    CHECK 8, a1, 80
    PATCH patch_site, ADDI_A1(1)
    li a1, 0
    LOOP 40
    CHECK 9, a1, 40
    .option pop
TEST_PASS

    .option push
    .option norvc
    .align 12               // one page: every jump below stays inside it
// t1 iterations of: count down, jump to patch_site (an in-page successor), add, loop.
loop_body:
    addi t1, t1, -1
    j patch_site
patch_site:
    addi a1, a1, 1
    bnez t1, loop_body
    ret

// As loop_body, but when t1 reaches s2 it stores s4 to s3 and runs FENCE.I (which ends the
// block, so the next fetch sees the store).
loop_patching:
    addi t1, t1, -1
    bne t1, s2, 1f
    sw s4, 0(s3)
    fence.i
1:  j patch_site2
patch_site2:
    addi a1, a1, 1
    bnez t1, loop_patching
    ret
    .option pop

// Data in the code's page (checks 5-9): stores here change no instruction.
    .align 6
page_data:
    .space 256
