// M extension (unprivileged spec ch. 7): the low and high halves of 64x64 products for every
// signedness, MULW, division/remainder rounding toward zero, division by zero (quotient all ones,
// remainder = dividend) and signed overflow INT_MIN / -1 (quotient INT_MIN, remainder 0), and the
// W forms that operate on 32 bits and sign-extend.
#include "common.h"
#define MIN64 0x8000000000000000
#define MAX64 0x7fffffffffffffff
TEST_BEGIN
    TEST_RR 1, mul, 1, MAX64, MAX64
    TEST_RR 2, mulh, 0x3fffffffffffffff, MAX64, MAX64
    TEST_RR 3, mulhu, 0x3fffffffffffffff, MAX64, MAX64
    TEST_RR 4, mulhsu, 0x3fffffffffffffff, MAX64, MAX64
    TEST_RR 5, mul, 0, MIN64, MIN64
    TEST_RR 6, mulh, 0x4000000000000000, MIN64, MIN64
    TEST_RR 7, mulhu, 0x4000000000000000, MIN64, MIN64
    TEST_RR 8, mulhsu, 0xc000000000000000, MIN64, MIN64
    TEST_RR 9, mul, 1, -1, -1
    TEST_RR 10, mulh, 0, -1, -1
    TEST_RR 11, mulhu, 0xfffffffffffffffe, -1, -1
    TEST_RR 12, mulhsu, -1, -1, -1
    TEST_RR 13, mul, MIN64, MIN64, -1
    TEST_RR 14, mulh, 0, MIN64, -1
    TEST_RR 15, mulhu, 0x7fffffffffffffff, MIN64, -1
    TEST_RR 16, mulhsu, MIN64, MIN64, -1
    TEST_RR 17, mul, 0x236d88fe5618cf00, 0x123456789abcdef0, 0xfedcba9876543210
    TEST_RR 18, mulh, 0xffeb49923cc09532, 0x123456789abcdef0, 0xfedcba9876543210
    TEST_RR 19, mulhu, 0x121fa00ad77d7422, 0x123456789abcdef0, 0xfedcba9876543210
    TEST_RR 20, mulhsu, 0x121fa00ad77d7422, 0x123456789abcdef0, 0xfedcba9876543210
    TEST_RR 21, mulh, -1, -2, 3
    TEST_RR 22, mulhsu, -1, -2, 3
    TEST_RR 23, mulhsu, 2, 3, -2        // rs2 is unsigned: 3 * (2^64 - 2)
    TEST_RR 24, mulhu, 2, 3, -2
    TEST_RR 25, mulw, 1, 0x7fffffff, 0x7fffffff
    TEST_RR 26, mulw, 0xffffffff80000000, 0x80000000, -1
    TEST_RR 27, mulw, 0x34567890, 0x123456789, 0x10
    TEST_RR 28, mulw, -15, -3, 5

    // division rounds toward zero; the remainder has the sign of the dividend
    TEST_RR 29, div, 3, 20, 6
    TEST_RR 30, div, -3, -20, 6
    TEST_RR 31, div, -3, 20, -6
    TEST_RR 32, div, 3, -20, -6
    TEST_RR 33, rem, 2, 20, 6
    TEST_RR 34, rem, -2, -20, 6
    TEST_RR 35, rem, 2, 20, -6
    TEST_RR 36, rem, -2, -20, -6
    TEST_RR 37, divu, 0x7fffffffffffffff, -1, 2
    TEST_RR 38, remu, 1, -1, 2
    TEST_RR 39, divu, 0, 5, -1
    TEST_RR 40, remu, 5, 5, -1
    // division by zero
    TEST_RR 41, div, -1, 1234, 0
    TEST_RR 42, divu, -1, 1234, 0
    TEST_RR 43, rem, 1234, 1234, 0
    TEST_RR 44, remu, -1234, -1234, 0
    TEST_RR 45, div, -1, -1234, 0
    // signed overflow
    TEST_RR 46, div, MIN64, MIN64, -1
    TEST_RR 47, rem, 0, MIN64, -1
    TEST_RR 48, divu, 0, MIN64, -1
    // W forms use rs1[31:0] and rs2[31:0], results sign-extended from bit 31
    TEST_RR 49, divw, 3, 0x100000014, 6
    TEST_RR 50, divw, -3, 0xffffffec, 6
    TEST_RR 51, remw, -2, 0xffffffec, 6
    TEST_RR 52, divuw, 0x7fffffff, 0xffffffff, 2
    TEST_RR 53, divuw, 0xffffffff80000000, 0x80000000, 1
    TEST_RR 54, remuw, 0xffffffff80000001, 0x80000001, 0x100000000   // divisor[31:0] = 0
    TEST_RR 55, divw, -1, 7, 0x100000000
    TEST_RR 56, divuw, -1, 7, 0
    TEST_RR 57, remw, 0xffffffff87654321, 0x1287654321, 0
    TEST_RR 58, remuw, 0x12345678, 0xff12345678, 0
    TEST_RR 59, divw, 0xffffffff80000000, 0x80000000, -1
    TEST_RR 60, remw, 0, 0x80000000, -1
    TEST_RR 61, divuw, 0, 0x80000000, -1
    TEST_RR 62, remuw, 0xffffffff80000000, 0x80000000, -1
    // rd == rs1 == rs2
    li a0, -7
    mul a0, a0, a0
    CHECK 63, a0, 49
    div a0, a0, a0
    CHECK 64, a0, 1
TEST_PASS
