// C extension (unprivileged spec ch. 16, RV64C): every compressed instruction, each compared with
// the result of its 32-bit expansion, plus C.EBREAK (cause 3, 2-byte instruction) and reserved
// encodings that must be illegal.
#include "common.h"

// Check that a0 (compressed result) equals a1 (result of the 32-bit expansion).
.macro SAME n
    CHECKR \n, a0, a1
.endm

// A 16-bit word that must raise an illegal-instruction exception at a 2-byte instruction.
.macro ILLEGAL16 n, hword
    TRAP_RESET
.Lat\@:
    .hword \hword
    CHECK_TRAP \n, CAUSE_ILLEGAL
    CHECK_TRAP_EPC \n, .Lat\@
.endm

// The reference: assemble as a 32-bit instruction, never compressed.
.macro X32 insn:vararg
    .option push
    .option norvc
    \insn
    .option pop
.endm

TEST_BEGIN
    la s1, data                 // s1 (x9): base of the data area for CL/CS forms
    // C.ADDI4SPN
    c.addi4spn a0, sp, 1020
    X32 addi a1, sp, 1020
    SAME 1
    // C.LW (sign-extends) / C.LD / C.SW / C.SD
    c.lw a0, 4(s1)
    X32 lw a1, 4(s1)
    SAME 2
    CHECK 3, a0, 0xffffffff89abcdef
    c.ld a0, 8(s1)
    X32 ld a1, 8(s1)
    SAME 4
    li a2, 0x1122334455667788
    c.sd a2, 16(s1)
    ld a0, 16(s1)
    mv a1, a2
    SAME 5
    c.sw a2, 24(s1)
    lwu a0, 24(s1)
    li a1, 0x55667788
    SAME 6
    // C.FLD / C.FSD
    c.fld fa0, 8(s1)
    c.fsd fa0, 32(s1)
    ld a0, 32(s1)
    X32 ld a1, 8(s1)
    SAME 7
    // C.NOP, C.ADDI, C.LI, C.ADDIW
    c.nop
    li a0, 100
    c.addi a0, -32
    li a1, 100
    X32 addi a1, a1, -32
    SAME 8
    c.li a0, -32
    X32 addi a1, x0, -32
    SAME 9
    c.li a0, 31
    CHECK 10, a0, 31
    li a0, 0x7fffffff
    c.addiw a0, 1
    li a1, 0x7fffffff
    X32 addiw a1, a1, 1
    SAME 11
    CHECK 12, a0, 0xffffffff80000000
    li a0, 0x12345678ffffffff
    c.addiw a0, 0               // sext.w
    CHECK 13, a0, -1
    // C.ADDI16SP
    mv s0, sp
    c.addi16sp sp, -64
    X32 addi a1, s0, -64
    mv a0, sp
    SAME 14
    c.addi16sp sp, 496
    X32 addi a1, s0, 432
    mv a0, sp
    SAME 15
    mv sp, s0
    // C.LUI: sign-extended 6-bit immediate << 12
    c.lui a0, 0x1f
    X32 lui a1, 0x1f
    SAME 16
    c.lui a0, 0xfffe0
    X32 lui a1, 0xfffe0
    SAME 17
    CHECK 18, a0, 0xfffffffffffe0000
    // C.SRLI, C.SRAI, C.ANDI, C.SLLI
    li a0, 0x8000000000000000
    c.srli a0, 63
    CHECK 19, a0, 1
    li a0, 0x8000000000000000
    c.srai a0, 32
    CHECK 20, a0, 0xffffffff80000000
    li a0, 0x8000000000000000
    c.srai a0, 63
    CHECK 21, a0, -1
    li a0, 0xff
    c.andi a0, -16
    CHECK 22, a0, 0xf0
    li a0, 0x1234
    c.andi a0, 0
    CHECK 23, a0, 0
    li a0, 3
    c.slli a0, 62
    CHECK 24, a0, 0xc000000000000000
    li s0, 1
    c.slli s0, 32
    CHECK 25, s0, 0x100000000
    // C.SUB, C.XOR, C.OR, C.AND, C.SUBW, C.ADDW
    li a2, 0x00ff00ff00ff00ff
    li a3, 0x0f0f0f0f0f0f0f0f
    mv a0, a2
    c.sub a0, a3
    X32 sub a1, a2, a3
    SAME 26
    mv a0, a2
    c.xor a0, a3
    X32 xor a1, a2, a3
    SAME 27
    mv a0, a2
    c.or a0, a3
    X32 or a1, a2, a3
    SAME 28
    mv a0, a2
    c.and a0, a3
    X32 and a1, a2, a3
    SAME 29
    li a2, 0x80000000
    li a3, 1
    mv a0, a2
    c.subw a0, a3
    X32 subw a1, a2, a3
    SAME 30
    CHECK 31, a0, 0x7fffffff
    li a2, 0x7fffffff
    mv a0, a2
    c.addw a0, a3
    X32 addw a1, a2, a3
    SAME 32
    CHECK 33, a0, 0xffffffff80000000
    // C.MV, C.ADD
    li a2, 0x123456789
    c.mv a0, a2
    X32 addi a1, a2, 0
    SAME 34
    li a0, 5
    c.add a0, a2
    X32 addi a1, a2, 5
    SAME 35
    li t0, 7
    c.add t0, t0
    CHECK 36, t0, 14
    // C.LWSP, C.LDSP, C.SWSP, C.SDSP, C.FLDSP, C.FSDSP (sp-relative, stack as scratch)
    mv s0, sp
    addi sp, sp, -512
    li a2, 0xfedcba9876543210
    c.sdsp a2, 504(sp)
    X32 ld a0, 504(sp)
    mv a1, a2
    SAME 37
    c.swsp a2, 252(sp)
    X32 lw a1, 252(sp)
    c.lwsp a0, 252(sp)
    SAME 38
    CHECK 39, a0, 0x76543210
    c.ldsp a0, 504(sp)
    CHECKR 40, a0, a2
    c.fsdsp fa0, 496(sp)
    c.fldsp fa1, 496(sp)
    fmv.x.d a0, fa1
    fmv.x.d a1, fa0
    SAME 41
    mv sp, s0
    // C.J, C.BEQZ, C.BNEZ
    li gp, 42
    c.j 1f
    j fail
1:  li s0, 0
    li gp, 43
    c.beqz s0, 1f
    j fail
1:  li gp, 44
    c.bnez s0, fail_near
    li s0, -1
    li gp, 45
    c.bnez s0, 1f
    j fail
1:  li gp, 46
    c.beqz s0, fail_near
    // C.JR, C.JALR (link = pc + 2)
    li gp, 47
    la a2, 1f
    c.jr a2
    j fail
1:  li gp, 48
    la a2, 2f
.Ljalr_site:
    c.jalr a2
    j fail
2:  la a1, .Ljalr_site + 2
    CHECKR 49, ra, a1
    // C.EBREAK: breakpoint, mepc = its address, mtval = 0 or that address
    TRAP_RESET
.Lebreak:
    c.ebreak
    CHECK_TRAP 50, CAUSE_BREAKPOINT
    CHECK_TRAP_EPC 51, .Lebreak
    ld a0, TI_TVAL(tp)
    beqz a0, 1f
    la a1, .Lebreak
    CHECKR 52, a0, a1
1:
    // reserved encodings (RV64C): C.ADDI4SPN with nzuimm = 0, C.LUI with nzimm = 0,
    // C.ADDIW with rd = 0, C.JR with rs1 = 0, C.LWSP/C.LDSP with rd = 0, all-zero halfword
    ILLEGAL16 53, 0x0008
    ILLEGAL16 54, 0x6501
    ILLEGAL16 55, 0x2001
    ILLEGAL16 56, 0x8002
    ILLEGAL16 57, 0x4002
    ILLEGAL16 58, 0x6002
    ILLEGAL16 59, 0x0000
TEST_PASS

fail_near:
    j fail

    .data
    .align 3
data:
    .word 0x01234567, 0x89abcdef
    .dword 0x400921fb54442d18      // pi as a double
    .dword 0, 0, 0, 0
