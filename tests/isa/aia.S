// The Advanced Interrupt Architecture as QEMU virt's aia=aplic-imsic board has it (run with
// --irqchip aia on Corral, -M virt,aia=aplic-imsic on QEMU: tests/isa.test.ts reads the
// "irqchip" line below). RISC-V AIA spec: the Smaia CSRs (miselect/mireg onto the IMSIC's
// machine-level interrupt file: eidelivery, eithreshold, eip/eie; mtopei read and claim-by-write;
// mtopi), the Ssaia ones reached from M-mode (siselect/sireg, stopei, stopi), MSIs written to the
// IMSIC pages, and the APLIC in MSI mode (domaincfg, sourcecfg with delegation, target, setie,
// genmsi, a wired source forwarded as an MSI). mstatus.MIE = 0 throughout: interrupts are only
// read, never taken.
// irqchip: aia
#include "common.h"

#define MISELECT 0x350
#define MIREG    0x351
#define MTOPEI   0x35c
#define MTOPI    0xfb0
#define SISELECT 0x150
#define SIREG    0x151
#define STOPEI   0x15c
#define STOPI    0xdb0

#define IMSIC_M  0x24000000
#define IMSIC_S  0x28000000
#define APLIC_M  0x0c000000
#define APLIC_S  0x0d000000
#define MEIP     (1 << IRQ_MEI)
#define SEIP     (1 << IRQ_SEI)
#define SSIP     (1 << IRQ_SSI)

// Write `val` to the M-level interrupt file's register `isel`.
.macro MSET isel, val
    li t0, \isel
    csrw MISELECT, t0
    li t0, \val
    csrw MIREG, t0
.endm
// a0 = the M-level interrupt file's register `isel`.
.macro MGET isel
    li t0, \isel
    csrw MISELECT, t0
    csrr a0, MIREG
.endm
.macro SSET isel, val
    li t0, \isel
    csrw SISELECT, t0
    li t0, \val
    csrw SIREG, t0
.endm
.macro SGET isel
    li t0, \isel
    csrw SISELECT, t0
    csrr a0, SIREG
.endm
// An MSI: 32-bit write of `id` to an interrupt file's seteipnum_le.
.macro MSI page, id
    li t0, \page
    li t1, \id
    sw t1, 0(t0)
.endm
.macro APLIC_W base, off, val
    li t0, \base + \off
    li t1, \val
    sw t1, 0(t0)
.endm
.macro APLIC_R base, off
    li t0, \base + \off
    lw a0, 0(t0)
.endm
// a0 = mip & bits
.macro MIP_AND bits
    csrr a0, mip
    li t0, \bits
    and a0, a0, t0
.endm

TEST_BEGIN
    csrw mie, zero
    csrw mideleg, zero

    // --- miselect and the M-level interrupt file ---
    li t0, 0x70
    csrw MISELECT, t0
    csrr a0, MISELECT
    CHECK 1, a0, 0x70
    MSET 0x70, 0xffffffff               // eidelivery is WARL: only 0 and 1
    MGET 0x70
    CHECK 2, a0, 1
    MSET 0x70, 0
    MSET 0x72, 5                        // eithreshold
    MGET 0x72
    CHECK 3, a0, 5
    MSET 0x72, 0
    MSET 0xc0, -1                       // eie0: identity 0 does not exist
    MGET 0xc0
    CHECK 4, a0, -2
    MSET 0xc6, -1                       // eie6: identities 192..255
    MGET 0x80                           // eip0
    CHECK 5, a0, 0
    csrr a0, MTOPEI
    CHECK 6, a0, 0

    // --- an MSI to hart 0's M-level file; delivery off, then on ---
    MSI IMSIC_M, 5
    MGET 0x80
    CHECK 7, a0, (1 << 5)
    csrr a0, MTOPEI
    CHECK 8, a0, (5 << 16) | 5
    MIP_AND MEIP
    CHECK 9, a0, 0                      // eidelivery = 0: nothing reaches mip
    MSET 0x70, 1
    MIP_AND MEIP
    CHECK 10, a0, MEIP
    csrr a0, MTOPI
    CHECK 11, a0, 0                     // mie.MEIE = 0: mtopi reports nothing
    li t0, MEIP
    csrw mie, t0
    csrr a0, MTOPI
    CHECK 12, a0, (IRQ_MEI << 16)       // IID 11; with iprio zero, the priority field is 0
    MSI IMSIC_M, 3
    csrr a0, MTOPEI
    CHECK 13, a0, (3 << 16) | 3         // the lowest identity is the highest priority

    // --- eithreshold: identities at or above it do not count ---
    MSET 0x72, 3
    csrr a0, MTOPEI
    CHECK 14, a0, 0
    MIP_AND MEIP
    CHECK 15, a0, 0
    MSET 0x72, 4
    csrr a0, MTOPEI
    CHECK 16, a0, (3 << 16) | 3
    MSET 0x72, 0

    // --- claims: a write to mtopei clears the identity it reports ---
    csrrw a0, MTOPEI, zero
    CHECK 17, a0, (3 << 16) | 3
    csrrw a0, MTOPEI, zero
    CHECK 18, a0, (5 << 16) | 5
    csrrw a0, MTOPEI, zero
    CHECK 19, a0, 0
    MGET 0x80
    CHECK 20, a0, 0
    MIP_AND MEIP
    CHECK 21, a0, 0

    // --- identities beyond the file, and the last one ---
    MSI IMSIC_M, 256
    MSI IMSIC_M, 0
    MSI IMSIC_M, 0x10005                // not an identity: ignored
    MGET 0x80
    CHECK 22, a0, 0
    csrr a0, MTOPEI
    CHECK 23, a0, 0
    MSI IMSIC_M, 255
    MGET 0x86                           // eip6: identity 255 is its bit 63
    li t0, 1 << 63
    CHECKR 24, a0, t0
    csrr a0, MTOPEI
    CHECK 25, a0, (255 << 16) | 255
    csrw MTOPEI, zero
    MGET 0x86
    CHECK 26, a0, 0

    // --- *ireg: what does not exist is an illegal instruction ---
    li t0, 0x71
    csrw MISELECT, t0
    TRAP_RESET
    csrr a0, MIREG
    CHECK_TRAP 27, CAUSE_ILLEGAL
    li t0, 0x81                         // eip1: RV32 only
    csrw MISELECT, t0
    TRAP_RESET
    csrr a0, MIREG
    CHECK_TRAP 28, CAUSE_ILLEGAL
    li t0, 0xc1
    csrw MISELECT, t0
    TRAP_RESET
    csrw MIREG, zero
    CHECK_TRAP 29, CAUSE_ILLEGAL
    li t0, 0x50                         // reserved
    csrw MISELECT, t0
    TRAP_RESET
    csrr a0, MIREG
    CHECK_TRAP 30, CAUSE_ILLEGAL
    TRAP_RESET
    csrw MTOPI, zero                    // mtopi is read-only
    CHECK_TRAP 31, CAUSE_ILLEGAL

    // --- the S-level file, reached from M-mode through siselect/sireg ---
    SSET 0x70, 1
    SSET 0x72, 0
    SSET 0xc0, -1
    MSI IMSIC_S, 9
    SGET 0x80
    CHECK 32, a0, (1 << 9)
    MGET 0x80
    CHECK 33, a0, 0                     // the M-level file saw nothing
    csrr a0, STOPEI
    CHECK 34, a0, (9 << 16) | 9
    MIP_AND SEIP
    CHECK 35, a0, SEIP
    csrr a0, STOPI
    CHECK 36, a0, 0                     // SEI not delegated
    li t0, SEIP | SSIP
    csrw mideleg, t0
    li t0, SEIP | SSIP
    csrw mie, t0
    csrr a0, STOPI
    CHECK 37, a0, (IRQ_SEI << 16)
    csrr a0, MTOPI
    CHECK 38, a0, 0                     // delegated: not machine level's
    csrsi mip, SSIP
    csrr a0, STOPI
    CHECK 39, a0, (IRQ_SEI << 16)       // SEI outranks SSI
    csrrw a0, STOPEI, zero
    CHECK 40, a0, (9 << 16) | 9
    MIP_AND SEIP
    CHECK 41, a0, 0
    csrr a0, STOPI
#ifdef QEMU_REFERENCE
    srli a0, a0, 16                     // QEMU resets iprio to default priority numbers, not zero
    CHECK 42, a0, IRQ_SSI
#else
    CHECK 42, a0, (IRQ_SSI << 16) | 255 // below SEI, iprio zero: priority 255
#endif
    csrci mip, SSIP
    csrr a0, STOPI
    CHECK 43, a0, 0
    csrw mie, zero
    csrw mideleg, zero

    // --- the APLIC: domain configuration, sources, delegation ---
    APLIC_R APLIC_M, 0
    CHECK 44, a0, 0x80000004 - (1 << 32) // 0x80 in the top byte; DM = 1 (MSI mode), IE = 0
    APLIC_W APLIC_M, 0, 0x100
    APLIC_R APLIC_M, 0
    CHECK 45, a0, 0x80000104 - (1 << 32)
    APLIC_W APLIC_M, 4 * UART_IRQ, 6    // sourcecfg[10]: level high
    APLIC_R APLIC_M, 4 * UART_IRQ
    CHECK 46, a0, 6
    APLIC_R APLIC_M, 0x3000 + 4 * UART_IRQ - 4 + 4 * 1   // target[11]: inactive, read-only zero
    CHECK 47, a0, 0
    APLIC_W APLIC_M, 0x3000 + 4 * UART_IRQ, 33           // target[10]: hart 0, EIID 33
    APLIC_R APLIC_M, 0x3000 + 4 * UART_IRQ
    CHECK 48, a0, 33
    APLIC_W APLIC_M, 4 * 11, 0x400      // sourcecfg[11]: delegated to child 0
    APLIC_R APLIC_M, 4 * 11
    CHECK 49, a0, 0x400
    APLIC_W APLIC_S, 4 * 11, 4          // ... where it may be configured
    APLIC_R APLIC_S, 4 * 11
    CHECK 50, a0, 4
#ifndef QEMU_REFERENCE
    APLIC_W APLIC_S, 4 * 12, 4          // not delegated: read-only zero there (QEMU 7.2 keeps it)
    APLIC_R APLIC_S, 4 * 12
    CHECK 51, a0, 0
#endif
    APLIC_W APLIC_S, 4 * 11, 0x400      // a leaf domain cannot delegate: the register becomes 0
    APLIC_R APLIC_S, 4 * 11
    CHECK 52, a0, 0

    // --- MSIs from the APLIC: the M-level IMSIC's address in mmsiaddrcfg ---
    APLIC_W APLIC_M, 0x1bc0, IMSIC_M >> 12
    APLIC_W APLIC_M, 0x1bc4, 0
    MSET 0x70, 0
    APLIC_W APLIC_M, 0x3000, 20         // genmsi: hart 0, EIID 20
    MGET 0x80
    CHECK 53, a0, (1 << 20)
    csrw MTOPEI, zero
#ifndef QEMU_REFERENCE
    // QEMU 7.2's APLIC does not pass these reliably (checks 54 and 57 fail in some runs and not
    // others), and it re-pends a level source on setipnum_le whatever its input, which makes
    // Linux's APLIC-MSI driver loop (tests/isa/README.md).
    APLIC_W APLIC_M, 0x1edc, UART_IRQ   // setienum
    APLIC_R APLIC_M, 0x1e00
    CHECK 54, a0, (1 << UART_IRQ)
    // The UART raises its line (loopback, receive interrupt): the APLIC forwards EIID 33.
    li a1, UART0
    li a0, 0x18                         // MCR: loopback, OUT2
    sb a0, 4(a1)
    sb zero, 2(a1)                      // FCR: FIFOs off
    li a0, 0x01
    sb a0, 1(a1)                        // IER: receive data available
    li a0, 0x55
    sb a0, 0(a1)
    li gp, 55
    li t5, 1000000
1:  MGET 0x80
    bnez a0, 2f
    addi t5, t5, -1
    bnez t5, 1b
    j fail
2:  CHECK 56, a0, (1 << 33)
    APLIC_R APLIC_M, 0x1c00             // forwarded: no longer pending at the APLIC
    CHECK 57, a0, 0
    li a1, UART0
    lb a0, 0(a1)                        // the byte is read: the line drops
    sb zero, 1(a1)
#endif

TEST_PASS
