// Zicsr (unprivileged spec ch. 9) and M-mode CSRs (privileged spec 2.1, 3.1): CSRRW/S/C and the
// immediate forms return the old value; rs1 = x0 (or uimm = 0) makes CSRRS/C a pure read that
// never traps on a read-only CSR, while any write attempt does; read-only CSRs by number
// (csr[11:10] = 11); misa, mhartid; WARL fields of mstatus; an unknown CSR is illegal.
#include "common.h"

// `insn` must raise an illegal-instruction exception and leave rd (a0) unwritten.
.macro MUST_TRAP n, insn:vararg
    li a0, 0x5a
    TRAP_RESET
    \insn
    CHECK_TRAP \n, CAUSE_ILLEGAL
    CHECK \n, a0, 0x5a
.endm

.macro NO_TRAP n, insn:vararg
    TRAP_RESET
    \insn
    CHECK_NO_TRAP \n
.endm

TEST_BEGIN
    // register forms on mscratch (a plain read/write CSR)
    li a1, 0x0123456789abcdef
    csrw mscratch, a1
    li a2, 0xff00
    csrrw a0, mscratch, a2
    CHECK 1, a0, 0x0123456789abcdef
    csrr a0, mscratch
    CHECK 2, a0, 0xff00
    li a2, 0x0ff0
    csrrs a0, mscratch, a2
    CHECK 3, a0, 0xff00
    csrr a0, mscratch
    CHECK 4, a0, 0xfff0
    li a2, 0xf0f0
    csrrc a0, mscratch, a2
    CHECK 5, a0, 0xfff0
    csrr a0, mscratch
    CHECK 6, a0, 0x0f00
    // immediate forms: uimm is 5 bits, zero-extended
    csrrwi a0, mscratch, 31
    CHECK 7, a0, 0x0f00
    csrr a0, mscratch
    CHECK 8, a0, 31
    csrrci a0, mscratch, 0x15
    CHECK 9, a0, 31
    csrr a0, mscratch
    CHECK 10, a0, 0x0a
    csrrsi a0, mscratch, 0x10
    CHECK 11, a0, 0x0a
    csrr a0, mscratch
    CHECK 12, a0, 0x1a
    // rd == rs1: the old value is read before rs1 is consumed
    li a0, 77
    csrrw a0, mscratch, a0
    CHECK 13, a0, 0x1a
    csrr a0, mscratch
    CHECK 14, a0, 77
    // rs1 = x0 / uimm = 0: no write
    csrrs a0, mscratch, x0
    CHECK 15, a0, 77
    csrrci a0, mscratch, 0
    csrr a0, mscratch
    CHECK 16, a0, 77
    // rd = x0: the write happens
    li a1, 99
    csrrw x0, mscratch, a1
    csrr a0, mscratch
    CHECK 17, a0, 99

    // mhartid: hart 0; read-only
    csrr a0, mhartid
    CHECK 18, a0, 0
    NO_TRAP 19, csrrs a0, mhartid, x0
    NO_TRAP 20, csrrsi a0, mhartid, 0
    NO_TRAP 21, csrrci a0, mhartid, 0
    li a1, 1
    MUST_TRAP 22, csrrs a0, mhartid, a1
#ifndef QEMU_REFERENCE
    // rs1 != x0 holding zero still attempts the write (Zicsr 9.1), so this traps too; QEMU 7.2
    // skips the check when the value is zero.
    li a1, 0
    MUST_TRAP 53, csrrs a0, mhartid, a1
    MUST_TRAP 54, csrrc a0, mhartid, a1
    li a1, 1
#endif
    MUST_TRAP 23, csrrw a0, mhartid, a1
    MUST_TRAP 24, csrrwi a0, mhartid, 0
    MUST_TRAP 25, csrrw x0, mvendorid, a1
    MUST_TRAP 26, csrrsi a0, marchid, 1
    MUST_TRAP 27, csrrc a0, mimpid, a1
    MUST_TRAP 28, csrrw a0, cycle, a1
    MUST_TRAP 29, csrrs a0, instret, a1
    NO_TRAP 30, csrr a0, cycle
    // an unknown CSR number is illegal to read or write
    MUST_TRAP 31, csrr a0, 0x3ff
    MUST_TRAP 32, csrw 0x3ff, a1

    // misa: MXL = 2 (XLEN 64); I, M, A, F, D, C, S, U present
    csrr a0, misa
    srli a1, a0, 62
    CHECK 33, a1, 2
    li a2, (1 << 8) | (1 << 12) | (1 << 0) | (1 << 5) | (1 << 3) | (1 << 2) | (1 << 18) | (1 << 20)
    and a1, a0, a2
    CHECKR 34, a1, a2

    // mstatus: UXL = SXL = 2 (64-bit) and read-only here
    csrr a0, mstatus
    srli a1, a0, 32
    andi a1, a1, 0xf
    CHECK 35, a1, 0xa
    // SD summarises FS == Dirty
    li a1, MSTATUS_FS
    csrs mstatus, a1
    csrr a0, mstatus
    srli a2, a0, 63
    CHECK 36, a2, 1
    li a1, MSTATUS_FS
    csrc mstatus, a1
    li a1, (1 << 13)
    csrs mstatus, a1
    csrr a0, mstatus
    srli a2, a0, 63
    CHECK 37, a2, 0
    srli a2, a0, 13
    andi a2, a2, 3
    CHECK 38, a2, 1
#ifndef QEMU_REFERENCE
    // MPP is WARL and 2 is reserved: a write of 2 reads back as a supported mode (privileged
    // spec 3.1.6.1). QEMU 7.2 keeps 2.
    li a1, MSTATUS_MPP
    csrc mstatus, a1
    li a1, (2 << 11)
    csrs mstatus, a1
    csrr a0, mstatus
    srli a0, a0, 11
    andi a0, a0, 3
    li gp, 39
    li a1, 2
    beq a0, a1, fail
#endif
    // MPP/SPP/MPRV/SUM/MXR/TVM/TW/TSR/SPIE/MPIE hold what is written
    li a1, MSTATUS_MPP
    csrs mstatus, a1
    li a1, MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_SPIE | MSTATUS_MPIE
    csrs mstatus, a1
    csrr a0, mstatus
    li a2, MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_MPP
    and a0, a0, a2
    CHECKR 40, a0, a2
    csrc mstatus, a1
    csrr a0, mstatus
    and a0, a0, a1
    CHECK 41, a0, 0
    // reserved (WPRI) bits 2, 4, 23..31 and XS (no custom extension state) read zero
    li a1, (1 << 2) | (1 << 4) | (0x1ff << 23) | (3 << 15)
    csrs mstatus, a1
    csrr a0, mstatus
    and a0, a0, a1
    CHECK 42, a0, 0
    // MBE = SBE = UBE = 0: little-endian only
    csrr a0, mstatus
    li a1, (1 << 6) | (3 << 36)
    and a0, a0, a1
    CHECK 43, a0, 0
    // sstatus is a restricted view of mstatus
    csrsi sstatus, MSTATUS_SIE
    csrr a0, mstatus
    andi a0, a0, MSTATUS_SIE
    CHECK 44, a0, MSTATUS_SIE
    csrci mstatus, MSTATUS_SIE
    csrr a0, sstatus
    andi a0, a0, MSTATUS_SIE
    CHECK 45, a0, 0
    li a1, MSTATUS_MPP
    csrs mstatus, a1
    csrr a0, sstatus
    li a1, MSTATUS_MPP | MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR | MSTATUS_MPRV
    and a0, a0, a1
    CHECK 46, a0, 0
    // writing sstatus does not touch M-only fields
    csrr a2, mstatus
    li a1, MSTATUS_MPP
    and a2, a2, a1
    li a1, -1
    csrc sstatus, a1
    csrr a0, mstatus
    li a1, MSTATUS_MPP
    and a0, a0, a1
    CHECKR 47, a0, a2
    csrr a0, mstatus
    andi a0, a0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP
    CHECK 48, a0, 0

    // mie: the six standard interrupt enables are writable
    li a1, 0xaaa
    csrs mie, a1
    csrr a0, mie
    and a0, a0, a1
    CHECK 49, a0, 0xaaa
    csrw mie, zero
    // mtvec in direct mode holds a 4-byte-aligned address
    csrr a3, mtvec
    la a1, trap_entry
    CHECKR 50, a3, a1
#ifndef QEMU_REFERENCE
    // mepc[0] always reads zero (privileged spec 3.1.14); QEMU 7.2 returns the written bit.
    li a1, 0x80001235
    csrw mepc, a1
    csrr a0, mepc
    CHECK 51, a0, 0x80001234
#endif
    // mscratch holds all 64 bits
    li a1, -1
    csrw mscratch, a1
    csrr a0, mscratch
    CHECK 52, a0, -1
TEST_PASS
