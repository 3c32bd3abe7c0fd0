// F and D extensions (unprivileged spec ch. 11-12), a selection: FADD/FMUL/FDIV/FSQRT/FMADD
// results under the dynamic rounding mode (frm) and static rm fields, the accrued exception flags,
// NaN boxing of single values in 64-bit registers, FCVT saturation, FMIN/FMAX with NaNs, FCLASS,
// and mstatus.FS (privileged spec 3.1.6.6): Off makes every FP instruction illegal, writes make
// it Dirty.
#include "common.h"
#define D_ONE   0x3ff0000000000000
#define D_TWO   0x4000000000000000
#define D_THREE 0x4008000000000000
#define D_MONE  0xbff0000000000000
#define D_QNAN  0x7ff8000000000000          /* the canonical NaN */
#define D_SNAN  0x7ff0000000000001
#define D_INF   0x7ff0000000000000
#define F_QNAN  0x7fc00000

.macro FSET freg, bits                      // freg <- 64-bit pattern
    li t6, \bits
    fmv.d.x \freg, t6
.endm

.macro FCHECK n, freg, bits                 // freg's 64 bits == pattern
    fmv.x.d a7, \freg
    CHECK \n, a7, \bits
.endm

.macro FLAGS n, val                         // fflags == val, then clear them
    frflags a7
    CHECK \n, a7, \val
    fsflags zero
.endm

TEST_BEGIN
    li a0, MSTATUS_FS
    csrs mstatus, a0                    // FS = Dirty while setting up
    fscsr zero
    FSET fa1, D_ONE
    FSET fa2, D_THREE
    // 1/3 under each static rounding mode, and NX
    fdiv.d fa0, fa1, fa2, rne
    FCHECK 1, fa0, 0x3fd5555555555555
    FLAGS 2, 1
    fdiv.d fa0, fa1, fa2, rup
    FCHECK 3, fa0, 0x3fd5555555555556
    fdiv.d fa0, fa1, fa2, rdn
    FCHECK 4, fa0, 0x3fd5555555555555
    fneg.d fa3, fa1
    fdiv.d fa0, fa3, fa2, rdn
    FCHECK 5, fa0, 0xbfd5555555555556
    fdiv.d fa0, fa3, fa2, rtz
    FCHECK 6, fa0, 0xbfd5555555555555
    // the dynamic mode comes from frm
    fsrmi 3                             // RUP
    fdiv.d fa0, fa1, fa2
    FCHECK 7, fa0, 0x3fd5555555555556
    frrm a0
    CHECK 8, a0, 3
    csrr a0, fcsr                       // fcsr = frm << 5 | fflags
    CHECK 9, a0, (3 << 5) | 1
    fsrmi 0
    fsflags zero
    // single precision: 1/3f
    li a0, 0x3f800000
    fmv.w.x fa1, a0
    li a0, 0x40400000
    fmv.w.x fa2, a0
    fdiv.s fa0, fa1, fa2
    fmv.x.w a0, fa0
    CHECK 10, a0, 0x3eaaaaab
    fdiv.s fa0, fa1, fa2, rtz
    fmv.x.w a0, fa0
    CHECK 11, a0, 0x3eaaaaaa
    // fadd: 0.1 + 0.2 (RNE rounds up to ...334, RTZ truncates)
    FSET fa1, 0x3fb999999999999a
    FSET fa2, 0x3fc999999999999a
    fadd.d fa0, fa1, fa2
    FCHECK 12, fa0, 0x3fd3333333333334
    fadd.d fa0, fa1, fa2, rtz
    FCHECK 13, fa0, 0x3fd3333333333333
    // fsqrt(2)
    FSET fa1, D_TWO
    fsqrt.d fa0, fa1
    FCHECK 14, fa0, 0x3ff6a09e667f3bcd
    fsqrt.d fa0, fa1, rdn
    FCHECK 15, fa0, 0x3ff6a09e667f3bcc
    fsflags zero
    // fused multiply-add rounds once: (1 + 2^-52)(1 - 2^-52) - 1 = -2^-104
    FSET fa1, 0x3ff0000000000001
    FSET fa2, 0x3feffffffffffffe
    FSET fa3, D_MONE
    fmadd.d fa0, fa1, fa2, fa3
    FCHECK 16, fa0, 0xb970000000000000
    fmul.d fa0, fa1, fa2
    FCHECK 17, fa0, D_ONE
    fsflags zero
    // flags: DZ, NV (sqrt of -1 gives the canonical NaN), OF|NX, UF|NX
    FSET fa1, D_ONE
    fmv.d.x fa2, zero
    fdiv.d fa0, fa1, fa2
    FCHECK 18, fa0, D_INF
    FLAGS 19, 8
    FSET fa1, D_MONE
    fsqrt.d fa0, fa1
    FCHECK 20, fa0, D_QNAN
    FLAGS 21, 16
    FSET fa1, 0x7fe1ccf385ebc8a0        // 1e308
    FSET fa2, 0x4024000000000000        // 10
    fmul.d fa0, fa1, fa2
    FCHECK 22, fa0, D_INF
    FLAGS 23, 5
    FSET fa1, 0x000730d67819e8d2        // 1e-308
    FSET fa2, 0x3ddb7cdfd9d7bdbb        // 1e-10
    fmul.d fa0, fa1, fa2
    FCHECK 24, fa0, 0x00000000000316a2
    FLAGS 25, 3
    // the flags accrue: two operations, both flags stay
    FSET fa1, D_ONE
    fmv.d.x fa2, zero
    fdiv.d fa0, fa1, fa2
    FSET fa1, D_THREE
    fdiv.d fa0, fa2, fa1
    fdiv.d fa0, fa1, fa1
    FSET fa2, D_TWO
    fdiv.d fa0, fa2, fa1
    FLAGS 26, 9
    // an invalid rounding mode in frm (5..7) makes dynamic-rm instructions illegal
    fsrmi 5
    TRAP_RESET
    fadd.d fa0, fa1, fa2
    CHECK_TRAP 27, CAUSE_ILLEGAL
    fsrmi 0
    TRAP_RESET
    fadd.d fa0, fa1, fa2
    CHECK_NO_TRAP 28
    TRAP_RESET
    .insn r 0x53, 5, 0x01, fa0, fa1, fa2   // fadd.d with the reserved static rm = 5
    CHECK_TRAP 29, CAUSE_ILLEGAL

    // NaN boxing: FLW/FMV.W.X fill the upper 32 bits with ones
    la a0, single_one
    flw fa1, 0(a0)
    FCHECK 30, fa1, 0xffffffff3f800000
    // a boxed single read by a D operation is a (quiet) NaN: the result is the canonical NaN
    fadd.d fa0, fa1, fa1
    FCHECK 31, fa0, D_QNAN
    FLAGS 32, 0
    // a single operand that is not properly boxed reads as the canonical single NaN
    li a0, 0x000000003f800000
    fmv.d.x fa1, a0
    fadd.s fa0, fa1, fa1
    FCHECK 33, fa0, 0xffffffff7fc00000
    fmv.x.w a0, fa1                     // moves ignore boxing: the low 32 bits as they are
    CHECK 34, a0, 0x3f800000
    fclass.s a0, fa1
    CHECK 35, a0, 512
    fsflags zero

    // FCVT saturates out-of-range and NaN inputs, raising NV; W results are sign-extended
    .macro CVT n, op, bits, rm, result, flags
    FSET fa1, \bits
    \op a0, fa1, \rm
    CHECK \n, a0, \result
    FLAGS \n, \flags
    .endm
    CVT 36, fcvt.w.d, 0x41e65a0bc0000000, rtz, 0x7fffffff, 16            // 3e9
    CVT 37, fcvt.w.d, 0xc1e65a0bc0000000, rtz, 0xffffffff80000000, 16    // -3e9
    CVT 38, fcvt.w.d, D_QNAN, rtz, 0x7fffffff, 16
    CVT 39, fcvt.w.d, 0xfff0000000000000, rtz, 0xffffffff80000000, 16    // -inf
    CVT 40, fcvt.wu.d, D_MONE, rtz, 0, 16
    CVT 41, fcvt.wu.d, D_QNAN, rtz, -1, 16
    CVT 42, fcvt.wu.d, 0x41e65a0bc0000000, rtz, 0xffffffffb2d05e00, 0    // 3e9 fits, sign-extended
    CVT 43, fcvt.l.d, 0x43e158e460913d00, rtz, 0x7fffffffffffffff, 16    // 1e19
    CVT 44, fcvt.l.d, 0xfff0000000000000, rtz, 0x8000000000000000, 16
    CVT 45, fcvt.l.d, D_QNAN, rtz, 0x7fffffffffffffff, 16
    CVT 46, fcvt.lu.d, D_MONE, rtz, 0, 16
    CVT 47, fcvt.lu.d, D_SNAN, rtz, -1, 16
    CVT 48, fcvt.w.d, 0x4004000000000000, rne, 2, 1                      // 2.5 -> even
    CVT 49, fcvt.w.d, 0x4004000000000000, rmm, 3, 1
    CVT 50, fcvt.w.d, 0xc004000000000000, rmm, -3, 1
    CVT 51, fcvt.w.d, 0x4004000000000000, rup, 3, 1
    CVT 52, fcvt.w.d, 0xc004000000000000, rdn, -3, 1
    CVT 53, fcvt.lu.d, 0xbfe0000000000000, rtz, 0, 1                     // -0.5 -> 0, inexact only

    // FMIN/FMAX: one NaN operand -> the other operand; both NaN -> canonical NaN;
    // a signaling NaN raises NV; -0 < +0
    FSET fa1, D_QNAN
    FSET fa2, D_ONE
    fmin.d fa0, fa1, fa2
    FCHECK 54, fa0, D_ONE
    FLAGS 55, 0
    fmax.d fa0, fa2, fa1
    FCHECK 56, fa0, D_ONE
    FSET fa1, D_SNAN
    fmin.d fa0, fa1, fa2
    FCHECK 57, fa0, D_ONE
    FLAGS 58, 16
    FSET fa2, 0xfff8000000000123
    fmax.d fa0, fa1, fa2
    FCHECK 59, fa0, D_QNAN
    FLAGS 60, 16
    FSET fa1, 0x8000000000000000
    fmv.d.x fa2, zero
    fmin.d fa0, fa2, fa1
    FCHECK 61, fa0, 0x8000000000000000
    fmax.d fa0, fa1, fa2
    FCHECK 62, fa0, 0
    li a0, F_QNAN
    fmv.w.x fa1, a0
    li a0, 0xc0000000                   // -2.0f
    fmv.w.x fa2, a0
    fmin.s fa0, fa1, fa2
    FCHECK 63, fa0, 0xffffffffc0000000

    // FCLASS: one bit per class
    .macro CLASS n, bits, result
    FSET fa1, \bits
    fclass.d a0, fa1
    CHECK \n, a0, \result
    .endm
    CLASS 64, 0xfff0000000000000, 1       // -inf
    CLASS 65, D_MONE, 2                   // negative normal
    CLASS 66, 0x8000000000000001, 4       // negative subnormal
    CLASS 67, 0x8000000000000000, 8       // -0
    CLASS 68, 0, 16                       // +0
    CLASS 69, 0x000fffffffffffff, 32      // positive subnormal
    CLASS 70, D_ONE, 64                   // positive normal
    CLASS 71, D_INF, 128                  // +inf
    CLASS 72, D_SNAN, 256                 // signaling NaN
    CLASS 73, D_QNAN, 512                 // quiet NaN
    fsflags zero

    // FS = Off: every FP instruction (and fcsr) is illegal
    li a0, MSTATUS_FS
    csrc mstatus, a0
    .macro FP_ILLEGAL n, insn:vararg
    TRAP_RESET
    \insn
    CHECK_TRAP \n, CAUSE_ILLEGAL
    .endm
    FP_ILLEGAL 74, fadd.d fa0, fa1, fa2
    FP_ILLEGAL 75, flw fa0, 0(sp)
    FP_ILLEGAL 76, fsd fa0, 0(sp)
    FP_ILLEGAL 77, fmv.x.d a0, fa0
    FP_ILLEGAL 78, fmv.w.x fa0, a0
    FP_ILLEGAL 79, frcsr a0
    FP_ILLEGAL 80, fsflags zero
    // FS = Clean, then a write to an f register makes it Dirty (and SD = 1)
    li a0, (2 << 13)
    csrs mstatus, a0
    csrr a0, mstatus
    srli a0, a0, 63
    CHECK 81, a0, 0
    TRAP_RESET
    fmv.d.x fa0, zero
    CHECK_NO_TRAP 82
    csrr a0, mstatus
    srli a1, a0, 13
    andi a1, a1, 3
    CHECK 83, a1, 3
    srli a0, a0, 63
    CHECK 84, a0, 1
TEST_PASS

    .data
    .align 2
single_one:
    .word 0x3f800000
