// The D forms the wasm tier emits inline (src/cpu/wasm/emit-fp.ts): FLD/FSD/FLW/FSW,
// FADD/FSUB/FMUL/FDIV/FSQRT.D in RNE (static and dynamic), FSGNJ*.D, FEQ/FLT/FLE.D, FMV between
// x and f. Each is checked where its inline path holds (exact and inexact results) and at the
// edges where it must hand over to the reference implementation: NaN operands (canonical NaN, NV
// only for signaling ones), -0, subnormals, overflow and underflow, division by zero, frm other
// than RNE; and mstatus.FS: Dirty after an f register or fflags write, unchanged by FSD, FMV.X.D
// and flag-free compares (privileged spec 3.1.6.6). From check 94: the same with fflags.NX already
// set, where the wasm tier skips the inexactness test and takes fused results from the host's FMA
// (emit-fp.ts FAST, hw-fma.ts): every other flag must still come; and f registers held in locals
// across a looping block's passes, seen in memory by a trap in its last pass.
#include "common.h"
#define D_ONE   0x3ff0000000000000
#define D_TWO   0x4000000000000000
#define D_THREE 0x4008000000000000
#define D_QNAN  0x7ff8000000000000
#define D_SNAN  0x7ff0000000000001

.macro FSET freg, bits
    li t6, \bits
    fmv.d.x \freg, t6
.endm
.macro FCHECK n, freg, bits
    fmv.x.d a7, \freg
    CHECK \n, a7, \bits
.endm
.macro FLAGS n, val
    frflags a7
    CHECK \n, a7, \val
    fsflags zero
.endm
.macro FS_IS n, val                     // mstatus.FS == val
    csrr a7, mstatus
    srli a7, a7, 13
    andi a7, a7, 3
    CHECK \n, a7, \val
.endm
.macro FS_INITIAL                       // mstatus.FS = Initial
    li a7, MSTATUS_FS
    csrc mstatus, a7
    li a7, 1 << 13
    csrs mstatus, a7
.endm

TEST_BEGIN
    li a0, MSTATUS_FS
    csrs mstatus, a0
    fscsr zero
    FSET fa1, D_ONE
    FSET fa2, D_TWO
    FSET fa3, D_THREE
    // exact sums, differences, products, quotients, roots: no flags
    fadd.d fa0, fa1, fa2
    FCHECK 1, fa0, D_THREE
    FLAGS 2, 0
    fsub.d fa0, fa1, fa1
    FCHECK 3, fa0, 0                    // x - x = +0 in RNE
    fmul.d fa0, fa3, fa3, rne
    FCHECK 4, fa0, 0x4022000000000000
    fdiv.d fa0, fa2, fa1
    FCHECK 5, fa0, D_TWO
    fsqrt.d fa0, fa0
    FCHECK 6, fa0, 0x3ff6a09e667f3bcd   // sqrt 2: inexact
    FLAGS 7, 1
    // inexact: NX only
    FSET fa4, 0x3c30000000000000        // 2^-60
    fadd.d fa0, fa1, fa4
    FCHECK 8, fa0, D_ONE
    FLAGS 9, 1
    FSET fa5, 0x3fd5555555555555
    fmul.d fa0, fa5, fa3
    FCHECK 10, fa0, D_ONE
    FLAGS 11, 1
    fdiv.d fa0, fa1, fa3
    FCHECK 12, fa0, 0x3fd5555555555555
    FLAGS 13, 1
    // dynamic rounding, frm = RUP: not the inline path's mode
    fsrmi 3
    fadd.d fa0, fa1, fa4
    FCHECK 14, fa0, 0x3ff0000000000001
    FLAGS 15, 1
    fsrmi 0
    fadd.d fa0, fa1, fa4
    FCHECK 16, fa0, D_ONE
    FLAGS 17, 1
    // overflow, underflow, division by zero, invalid
    FSET fa4, 0x6570000000000000        // 2^600
    fmul.d fa0, fa4, fa4
    FCHECK 18, fa0, 0x7ff0000000000000
    FLAGS 19, 5                         // OF | NX
    FSET fa4, 0x1a70000000000000        // 2^-600
    fmul.d fa0, fa4, fa4
    FCHECK 20, fa0, 0
    FLAGS 21, 3                         // UF | NX
    FSET fa4, 0
    fdiv.d fa0, fa1, fa4
    FCHECK 22, fa0, 0x7ff0000000000000
    FLAGS 23, 8                         // DZ
    fdiv.d fa0, fa4, fa4
    FCHECK 24, fa0, D_QNAN
    FLAGS 25, 16                        // NV
    FSET fa4, 0xbff0000000000000
    fsqrt.d fa0, fa4
    FCHECK 26, fa0, D_QNAN
    FLAGS 27, 16
    FSET fa4, 0x8000000000000000        // -0
    fsqrt.d fa0, fa4
    FCHECK 28, fa0, 0x8000000000000000
    FLAGS 29, 0
    fadd.d fa0, fa4, fa4
    FCHECK 30, fa0, 0x8000000000000000  // -0 + -0 = -0
    // NaN operands: the canonical NaN; NV only for a signaling one
    FSET fa4, 0x7ff8000000000123
    fadd.d fa0, fa4, fa1
    FCHECK 31, fa0, D_QNAN
    FLAGS 32, 0
    FSET fa4, D_SNAN
    fmul.d fa0, fa1, fa4
    FCHECK 33, fa0, D_QNAN
    FLAGS 34, 16
    // subnormals: an exact sum, an inexact product rounding to zero (ties to even)
    FSET fa4, 1
    fadd.d fa0, fa4, fa4
    FCHECK 35, fa0, 2
    FLAGS 36, 0
    FSET fa5, 0x3fe0000000000000        // 0.5
    fmul.d fa0, fa4, fa5
    FCHECK 37, fa0, 0
    FLAGS 38, 3
    // sign injection keeps NaN payloads and raises nothing
    FSET fa4, D_SNAN
    fsgnjn.d fa0, fa4, fa4
    FCHECK 39, fa0, 0xfff0000000000001
    fsgnjx.d fa0, fa0, fa1
    FCHECK 40, fa0, 0xfff0000000000001
    fsgnj.d fa0, fa1, fa0
    FCHECK 41, fa0, 0xbff0000000000000
    FLAGS 42, 0
    // compares: -0 == +0; a signaling NaN makes FEQ invalid, any NaN FLT and FLE
    FSET fa4, 0x8000000000000000
    FSET fa5, 0
    feq.d a0, fa4, fa5
    CHECK 43, a0, 1
    flt.d a0, fa4, fa5
    CHECK 44, a0, 0
    fle.d a0, fa4, fa5
    CHECK 45, a0, 1
    FLAGS 46, 0
    FSET fa4, D_QNAN
    feq.d a0, fa4, fa4
    CHECK 47, a0, 0
    FLAGS 48, 0
    flt.d a0, fa4, fa1
    CHECK 49, a0, 0
    FLAGS 50, 16
    FSET fa4, D_SNAN
    feq.d a0, fa1, fa4
    CHECK 51, a0, 0
    FLAGS 52, 16
    // loads and stores: FLW NaN-boxes; a round trip keeps the bits
    la a1, words
    flw fa0, 0(a1)
    FCHECK 53, fa0, 0xffffffff3f800000
    fld fa0, 8(a1)
    FCHECK 54, fa0, 0x7ff0000000000001
    fsd fa0, 16(a1)
    ld a0, 16(a1)
    CHECK 55, a0, 0x7ff0000000000001
    fsw fa1, 24(a1)
    lwu a0, 24(a1)
    CHECK 56, a0, 0
    // mstatus.FS: what makes it Dirty and what does not
    FS_INITIAL
    fsd fa1, 16(a1)
    fmv.x.d a0, fa1
    feq.d a0, fa1, fa2
    FS_IS 57, 1
    fld fa0, 16(a1)
    FS_IS 58, 3
    FS_INITIAL
    fadd.d fa0, fa1, fa2
    FS_IS 59, 3
    FS_INITIAL
    fsgnj.d fa0, fa1, fa1
    FS_IS 60, 3
    FS_INITIAL
    fmv.d.x fa0, zero
    FS_IS 61, 3
    feq.d a0, fa1, fa4                  // sNaN
    FLAGS 62, 16
    // fused multiply-adds: one rounding (3 * RN(1/3) - 1 is exactly -2^-54), negations, NX, frm
    FSET fa1, D_ONE
    FSET fa2, D_TWO
    FSET fa3, D_THREE
    fmadd.d fa0, fa2, fa3, fa1
    FCHECK 64, fa0, 0x401c000000000000
    FLAGS 65, 0
    FSET fa5, 0x3fd5555555555555
    FSET fa6, 0xbff0000000000000
    fmadd.d fa0, fa5, fa3, fa6
    FCHECK 66, fa0, 0xbc90000000000000
    FLAGS 67, 0
    fmsub.d fa0, fa1, fa1, fa1
    FCHECK 68, fa0, 0
    fnmadd.d fa0, fa1, fa1, fa1
    FCHECK 69, fa0, 0xc000000000000000
    fnmsub.d fa0, fa1, fa1, fa1
    FCHECK 70, fa0, 0
    FLAGS 71, 0
    FSET fa4, 0x3c30000000000000        // 2^-60
    fmadd.d fa0, fa1, fa1, fa4
    FCHECK 72, fa0, D_ONE
    FLAGS 73, 1
    fsrmi 3
    fmadd.d fa0, fa1, fa1, fa4
    FCHECK 74, fa0, 0x3ff0000000000001
    FLAGS 75, 1
    fsrmi 0
    fnmsub.d fa0, fa5, fa3, fa1         // -(3 * RN(1/3)) + 1 = 2^-54
    FCHECK 76, fa0, 0x3c90000000000000
    FLAGS 77, 0
    FSET fa4, D_SNAN
    fmadd.d fa0, fa1, fa1, fa4
    FCHECK 78, fa0, D_QNAN
    FLAGS 79, 16
    // FMIN/FMAX: -0 below +0 in either order; a quiet NaN loses without a flag, a signaling one
    // raises NV; two NaNs give the canonical NaN
    FSET fa4, 0x8000000000000000
    FSET fa5, 0
    fmin.d fa0, fa5, fa4
    FCHECK 80, fa0, 0x8000000000000000
    fmin.d fa0, fa4, fa5
    FCHECK 81, fa0, 0x8000000000000000
    fmax.d fa0, fa4, fa5
    FCHECK 82, fa0, 0
    fmax.d fa0, fa5, fa4
    FCHECK 83, fa0, 0
    fmin.d fa0, fa3, fa1
    FCHECK 84, fa0, D_ONE
    fmax.d fa0, fa3, fa1
    FCHECK 85, fa0, D_THREE
    FLAGS 86, 0
    FSET fa4, 0x7ff8000000000123
    fmax.d fa0, fa4, fa1
    FCHECK 87, fa0, D_ONE
    FLAGS 88, 0
    FSET fa4, D_SNAN
    fmin.d fa0, fa1, fa4
    FCHECK 89, fa0, D_ONE
    FLAGS 90, 16
    fmin.d fa0, fa4, fa4
    FCHECK 91, fa0, D_QNAN
    FLAGS 92, 16
    FS_INITIAL
    fmax.d fa0, fa1, fa1
    FS_IS 93, 3
    // With NX already set (fflags = 1, FS Dirty, frm = RNE) the wasm tier skips the inexactness
    // test (emit-fp.ts FAST): every other flag must still come, from the reference path.
.macro NXSET
    fsflagsi 1
.endm
    FSET fa1, D_ONE
    FSET fa3, D_THREE
    FSET fa4, 0x7fe0000000000000        // 2^1023
    NXSET
    fadd.d fa0, fa4, fa4                // overflow: inf, OF
    FCHECK 94, fa0, 0x7ff0000000000000
    FLAGS 95, 5
    NXSET
    FSET fa5, 0x0008000000000000        // 2^-1023 (subnormal)
    fadd.d fa0, fa5, fa5                // exact: 2^-1022
    FCHECK 96, fa0, 0x0010000000000000
    fsub.d fa0, fa1, fa1
    FCHECK 97, fa0, 0
    FSET fa5, 0x8000000000000000
    fadd.d fa0, fa5, fa5                // -0 + -0 = -0
    FCHECK 98, fa0, 0x8000000000000000
    FLAGS 99, 1
    NXSET
    FSET fa5, 0x1a70000000000000        // 2^-600
    fmul.d fa0, fa5, fa5                // underflow to +0: UF
    FCHECK 100, fa0, 0
    FLAGS 101, 3
    NXSET
    FSET fa5, 0x3fefffffffffffff        // 1 - 2^-53
    FSET fa6, 0x0010000000000000        // 2^-1022
    fmul.d fa0, fa5, fa6                // rounds to 2^-1022 but tiny before: UF
    FCHECK 102, fa0, 0x0010000000000000
    FLAGS 103, 3
    NXSET
    FSET fa5, 0x8000000000000000
    fmul.d fa0, fa5, fa3                // -0 * 3 = -0, exact
    FCHECK 104, fa0, 0x8000000000000000
    FLAGS 105, 1
    NXSET
    FSET fa6, 0x7ff0000000000000
    fmul.d fa0, fa5, fa6                // 0 * inf: NV, canonical NaN
    FCHECK 106, fa0, D_QNAN
    FLAGS 107, 17
    NXSET
    fdiv.d fa0, fa1, fa5                // 1 / -0 = -inf, DZ
    FCHECK 108, fa0, 0xfff0000000000000
    FLAGS 109, 9
    NXSET
    fdiv.d fa0, fa5, fa3                // -0 / 3 = -0
    FCHECK 110, fa0, 0x8000000000000000
    fdiv.d fa0, fa3, fa6                // 3 / inf = +0, no flag
    FCHECK 111, fa0, 0
    FLAGS 112, 1
    NXSET
    FSET fa5, 0x0170000000000000        // 2^-1000
    FSET fa6, 0x4310000000000000        // 2^50
    fdiv.d fa0, fa5, fa6                // 2^-1050: subnormal, exact
    FCHECK 113, fa0, 0x0000000001000000
    FLAGS 114, 1
    NXSET
    fdiv.d fa0, fa1, fa3                // 1/3 in the normal range: NX only
    FCHECK 115, fa0, 0x3fd5555555555555
    FSET fa6, 0x7fe0000000000000
    fdiv.d fa0, fa6, fa5                // 2^1023 / 2^-1000: overflow
    FCHECK 116, fa0, 0x7ff0000000000000
    FLAGS 117, 5
    NXSET
    FSET fa5, 0xbff0000000000000
    fsqrt.d fa0, fa5                    // sqrt -1: NV
    FCHECK 118, fa0, D_QNAN
    FLAGS 119, 17
    NXSET
    FSET fa5, 0x8000000000000000
    fsqrt.d fa0, fa5                    // sqrt -0 = -0
    FCHECK 120, fa0, 0x8000000000000000
    fsqrt.d fa0, fa3
    FCHECK 121, fa0, 0x3ffbb67ae8584caa
    FLAGS 122, 1
    NXSET
    FSET fa5, 0
    fmadd.d fa0, fa5, fa3, fa5          // 0 * 3 + 0 = +0
    FCHECK 123, fa0, 0
    FSET fa6, 0x8000000000000000
    fmadd.d fa0, fa6, fa3, fa6          // -0 * 3 + -0 = -0
    FCHECK 124, fa0, 0x8000000000000000
    fmadd.d fa0, fa5, fa3, fa3          // 0 * 3 + 3 = 3
    FCHECK 125, fa0, D_THREE
    FSET fa5, 0x3fd5555555555555
    fmsub.d fa0, fa5, fa3, fa1          // 3 * RN(1/3) - 1 = -2^-54 exactly
    FCHECK 126, fa0, 0xbc90000000000000
    FLAGS 127, 1
    NXSET
    FSET fa5, 0x1a70000000000000        // 2^-600
    FSET fa6, 0x0010000000000000
    fmadd.d fa0, fa5, fa5, fa6          // 2^-1200 + 2^-1022: NX only
    FCHECK 128, fa0, 0x0010000000000000
    fnmadd.d fa0, fa5, fa5, fa5         // -(2^-1200) - 2^-600
    FCHECK 129, fa0, 0x9a70000000000000
    FLAGS 130, 1
    NXSET
    FSET fa5, 0x2000000000000000        // 2^-511
    fmul.d fa0, fa5, fa5                // 2^-1022 exactly: tiny? no, exact: no UF
    FCHECK 131, fa0, 0x0010000000000000
    FLAGS 132, 1
    NXSET
    fsrmi 3                             // frm = RUP: not FAST, even with NX set
    FSET fa4, 0x3c30000000000000
    fadd.d fa0, fa1, fa4
    FCHECK 133, fa0, 0x3ff0000000000001
    fsrmi 0
    FLAGS 134, 1
    // f registers held in locals across a loop's passes (emit.ts held): a load that faults in
    // the loop's last pass must find every f register written before it in memory, and FS Dirty.
    fscsr zero
    FSET fa0, 0
    FSET fa1, D_ONE
    FS_INITIAL
    TRAP_RESET
    li a0, 5
    la a3, three
1:  fadd.d fa0, fa0, fa1
    fmul.d fa2, fa0, fa0
    addi a0, a0, -1
    snez a4, a0
    neg a4, a4
    and a4, a4, a3                      // 0 (no memory there) in the last pass
    fld fa3, 0(a4)
    bnez a0, 1b
    CHECK_TRAP 135, CAUSE_LOAD_ACCESS
    FCHECK 136, fa0, 0x4014000000000000 // 5
    FCHECK 137, fa2, 0x4039000000000000 // 25
    FCHECK 138, fa3, D_THREE            // the last good load
    FS_IS 139, 3
    // fused forms with a zero product, NX clear: uh + c exactly, no flag, IEEE 754's zero signs
    fscsr zero
    FSET fa3, D_THREE
    FSET fa5, 0
    FSET fa6, 0x8000000000000000
    fmadd.d fa0, fa5, fa3, fa6          // +0 * 3 + -0 = +0
    FCHECK 140, fa0, 0
    fmadd.d fa0, fa6, fa3, fa6          // -0 * 3 + -0 = -0
    FCHECK 141, fa0, 0x8000000000000000
    fnmadd.d fa0, fa5, fa3, fa5         // -(+0 * 3) - +0 = -0
    FCHECK 142, fa0, 0x8000000000000000
    FSET fa4, 1                         // 2^-1074
    fmsub.d fa0, fa3, fa5, fa4          // 3 * 0 - 2^-1074: exact, no UF
    FCHECK 143, fa0, 0x8000000000000001
    fnmsub.d fa0, fa5, fa3, fa3         // -(0 * 3) + 3 = 3
    FCHECK 144, fa0, D_THREE
    FLAGS 145, 0
    FS_IS 146, 3
    // fused forms with NX set (the host's fused multiply-add where it has one, wasm/hw-fma.ts):
    // one rounding, an overflow of the product alone, and the results that must raise flags
    FSET fa1, 0x3ff0000000400000        // 1 + 2^-30
    FSET fa2, 0xbff0000000800000        // -(1 + 2^-29)
    NXSET
    fmadd.d fa0, fa1, fa1, fa2          // 2^-60, not 0
    FCHECK 147, fa0, 0x3c30000000000000
    FSET fa1, 0x5ff0000000000000        // 2^512
    FSET fa2, 0xffe0000000000000        // -2^1023
    fmadd.d fa0, fa1, fa1, fa2          // 2^1024 - 2^1023 = 2^1023
    FCHECK 148, fa0, 0x7fe0000000000000
    FLAGS 149, 1
    NXSET
    FSET fa2, 0x7fe0000000000000
    fmadd.d fa0, fa1, fa1, fa2          // 2^1024 + 2^1023: OF
    FCHECK 150, fa0, 0x7ff0000000000000
    FLAGS 151, 5
    NXSET
    FSET fa1, 0x2000000000000000        // 2^-511
    FSET fa2, 0x8000000000000001        // -2^-1074
    fmadd.d fa0, fa1, fa1, fa2          // 2^-1022 - 2^-1074: subnormal, exact: no UF
    FCHECK 152, fa0, 0x000fffffffffffff
    FLAGS 153, 1
    NXSET
    FSET fa1, 0x1ff0000000000001        // 2^-512 (1 + 2^-52)
    FSET fa2, 0
    fmadd.d fa0, fa1, fa1, fa2          // 2^-1024 (1 + 2^-51 + 2^-104): tiny, inexact: UF
    FCHECK 154, fa0, 0x0004000000000001
    FLAGS 155, 3
    NXSET
    FSET fa1, D_THREE
    FSET fa2, 0xc008000000000000        // -3
    FSET fa3, D_ONE
    fmadd.d fa0, fa1, fa3, fa2          // 3 - 3 = +0, exact
    FCHECK 156, fa0, 0
    fnmadd.d fa0, fa1, fa3, fa2         // -3 + 3 = +0
    FCHECK 157, fa0, 0
    FLAGS 158, 1
    NXSET
    FSET fa4, 0x7ff0000000000000
    FSET fa5, 0
    fmadd.d fa0, fa4, fa5, fa3          // inf * 0 + 1: NV
    FCHECK 159, fa0, D_QNAN
    FLAGS 160, 17
TEST_PASS

    .data
    .align 3
words:
    .word 0x3f800000, 0
    .dword 0x7ff0000000000001
    .dword 0
    .dword -1
three:
    .dword D_THREE
