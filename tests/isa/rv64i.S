// RV64I integer computation (unprivileged spec ch. 2 and 5): register-register and immediate
// arithmetic and logic, LUI/AUIPC, 32-bit W forms with sign extension, shift amounts at the
// edges (63, 64 = 0 via the low 6 bits, 32), SLT/SLTU edge cases, writes to x0.
#include "common.h"
TEST_BEGIN
    // ADD/SUB wrap modulo 2^64
    TEST_RR 1, add, 0x8000000000000000, 0x7fffffffffffffff, 1
    TEST_RR 2, add, 0, -1, 1
    TEST_RR 3, sub, 0x7fffffffffffffff, 0x8000000000000000, 1
    TEST_RR 4, sub, -1, 0, 1
    TEST_RI 5, addi, -2049, -1, -2048
    TEST_RI 6, addi, 0x80000000000007fe, 0x7fffffffffffffff, 0x7ff
    // logic, immediates are sign-extended 12-bit values
    TEST_RR 7, and, 0x0f000f00f000f000, 0xff00ff00ff00ff00, 0x0ff00ff0f00ff000
    TEST_RR 8, or,  0xfff0fff0ff0fff00, 0xff00ff00ff00ff00, 0x0ff00ff0f00ff000
    TEST_RR 9, xor, 0xf0f0f0f00f0f0f00, 0xff00ff00ff00ff00, 0x0ff00ff0f00ff000
    TEST_RI 10, andi, 0xff00ff00ff00ff00, 0xff00ff00ff00ff00, -1
    TEST_RI 11, ori, -1, 0x123, -0x800 | 0x7ff
    TEST_RI 12, xori, 0xffffffffffffff00, 0xff, -1
    TEST_RI 13, andi, 0x700, 0xf00, 0x7ff
    // LUI: 20-bit immediate << 12, sign-extended from bit 31
    lui a0, 0x80000
    CHECK 14, a0, 0xffffffff80000000
    lui a0, 0x7ffff
    CHECK 15, a0, 0x7ffff000
    lui a0, 0
    CHECK 16, a0, 0
    // AUIPC: pc + (imm << 12), sign-extended
.Lauipc1:
    auipc a0, 0
    la a1, .Lauipc1
    CHECKR 17, a0, a1
.Lauipc2:
    auipc a0, 0xfffff       // pc - 4096
    la a1, .Lauipc2
    li a2, 4096
    sub a1, a1, a2
    CHECKR 18, a0, a1
    // shifts: the amount is rs2[5:0] (RV64), immediates 0..63
    TEST_RR 19, sll, 0x8000000000000000, 1, 63
    TEST_RR 20, sll, 1, 1, 64            // 64 & 63 = 0
    TEST_RR 21, sll, 0x100000000, 1, 32
    TEST_RR 22, srl, 1, 0x8000000000000000, 63
    TEST_RR 23, srl, 0x8000000000000000, 0x8000000000000000, 64
    TEST_RR 24, srl, 0x80000000, 0x8000000000000000, 32
    TEST_RR 25, sra, -1, 0x8000000000000000, 63
    TEST_RR 26, sra, 0x8000000000000000, 0x8000000000000000, 64
    TEST_RR 27, sra, 0xffffffff80000000, 0x8000000000000000, 32
    TEST_RR 28, sll, 2, 1, -63           // -63 & 63 = 1
    TEST_RI 29, slli, 0x8000000000000000, 1, 63
    TEST_RI 30, srli, 1, 0x8000000000000000, 63
    TEST_RI 31, srai, -1, 0x8000000000000000, 63
    TEST_RI 32, srai, 0xffffffff80000000, 0x8000000000000000, 32
    TEST_RI 33, srli, 0x0000000080000000, 0x8000000000000000, 32
    // SLT/SLTU/SLTI/SLTIU edge cases
    TEST_RR 34, slt, 1, 0x8000000000000000, 0x7fffffffffffffff
    TEST_RR 35, slt, 0, 0x7fffffffffffffff, 0x8000000000000000
    TEST_RR 36, sltu, 0, 0x8000000000000000, 0x7fffffffffffffff
    TEST_RR 37, sltu, 1, 0, -1
    TEST_RR 38, slt, 0, -1, -1
    TEST_RR 39, slt, 1, -1, 0
    TEST_RI 40, slti, 1, -2049, -2048
    TEST_RI 41, slti, 0, 0, -1
    TEST_RI 42, sltiu, 1, 5, -1          // -1 sign-extends to 2^64-1 before the unsigned compare
    TEST_RI 43, sltiu, 0, -1, -1
    TEST_RI 44, sltiu, 1, 0, 1           // seqz
    TEST_RR 45, sltu, 1, 0, 5            // snez (rs1 = x0)
    // W forms: operate on the low 32 bits, sign-extend bit 31 of the result
    TEST_RR 46, addw, 0xffffffff80000000, 0x7fffffff, 1
    TEST_RR 47, addw, 0, 0xffffffff, 1
    TEST_RR 48, addw, 0x12345678, 0xabcdef0012345678, 0x0000000100000000
    TEST_RR 49, subw, 0x7fffffff, 0x80000000, 1
    TEST_RR 50, subw, -1, 0x100000000, 1
    TEST_RI 51, addiw, 0xffffffff80000000, 0x7fffffff, 1
    TEST_RI 52, addiw, -2, 0xfffffffffffffffe, 0
    TEST_RI 53, addiw, -1, 0xffffffff, 0                      // sext.w
    TEST_RI 54, addiw, 0x7fffffff, 0x80000000, -1
    TEST_RR 55, sllw, 0xffffffff80000000, 1, 31
    TEST_RR 56, sllw, 1, 1, 32           // amount is rs2[4:0]: 32 -> 0
    TEST_RR 57, sllw, 0, 0xffffffff00000000, 0
    TEST_RR 58, srlw, 1, 0x80000000, 31
    TEST_RR 59, srlw, 0xffffffff80000000, 0x80000000, 32     // shift 0, result sign-extended
    TEST_RR 60, srlw, 0x7fffffff, 0xffffffffffffffff, 1
    TEST_RR 61, sraw, -1, 0x80000000, 31
    TEST_RR 62, sraw, 0xffffffffc0000000, 0x0000000180000000, 1
    TEST_RR 63, sraw, 0xffffffffc0000000, 0xffffffff80000000, 33   // 33 & 31 = 1
    TEST_RI 64, slliw, 0xffffffff80000000, 0x1, 31
    TEST_RI 65, slliw, 0, 0x100000000, 0
    TEST_RI 66, srliw, 0x7fffffff, -1, 1
    TEST_RI 67, srliw, 0xffffffff80000000, 0xffffffff80000000, 0
    TEST_RI 68, sraiw, 0xffffffffffff8000, 0x80000000, 16
    TEST_RI 69, sraiw, 0x00007fff, 0xffffffff7fffffff, 16
    // x0 is hard-wired to zero
    li a0, 5
    add x0, a0, a0
    addi x0, x0, 1
    CHECK 70, x0, 0
    mv a1, x0
    CHECK 71, a1, 0
    // rd == rs1 == rs2
    li a0, 7
    add a0, a0, a0
    CHECK 72, a0, 14
    li a0, 3
    sub a0, a0, a0
    CHECK 73, a0, 0
TEST_PASS
