// mip.SEIP (privileged spec 3.1.9): "SEIP is writable in mip ... When mip is read with a CSR
// instruction, the value of the SEIP bit returned in rd is the logical-OR of the
// software-writable bit and the interrupt signal from the interrupt controller, but the signal
// from the interrupt controller is not used to calculate the value written to SEIP. Only the
// software-writable SEIP bit participates in the read-modify-write sequence of a CSRRS or CSRRC
// instruction." The interrupt controller here is the PLIC, context 1 (hart 0 S-mode), raised by
// the UART's THR-empty interrupt. A CPU that read-modify-writes the whole mip would latch the
// PLIC's SEIP into the software bit on any csrs/csrc of mip (OpenSBI's csrs mip, SSIP does this
// at every IPI), and SEIP would then stay set after the PLIC source is gone.
// mstatus.MIE = 0 and mie = 0 throughout: every pending bit is only read, never taken.
#include "common.h"

#define SEIP (1 << IRQ_SEI)
#define SSIP (1 << IRQ_SSI)

// a0 = mip & (SEIP | SSIP | MEIP), the bits this program looks at.
.macro MIP_BITS
    csrr a0, mip
    li t6, SEIP | SSIP | (1 << IRQ_MEI)
    and a0, a0, t6
.endm

// Raise the PLIC's S-mode external interrupt for hart 0 and wait (bounded) until mip.SEIP shows it.
.macro RAISE_EXTERNAL n
    li a1, PLIC_ENABLE_S
    li a0, (1 << UART_IRQ)
    sw a0, 0(a1)
    li a1, UART0
    li a0, 0x02                         // IER.ETBEI: interrupt while the THR is empty
    sb a0, 1(a1)
    li gp, \n
    li t5, 10000000
.Lwait\@:
    csrr t6, mip
    andi t6, t6, SEIP
    bnez t6, .Lup\@
    addi t5, t5, -1
    bnez t5, .Lwait\@
    j fail
.Lup\@:
.endm

// Take the source away at the PLIC: claim (must name the UART), silence the UART, complete,
// disable the source for context 1. The PLIC then asserts nothing for hart 0 S-mode.
.macro CLEAR_EXTERNAL n
    li a1, PLIC_CLAIM_S
    lw a0, 0(a1)
    CHECK \n, a0, UART_IRQ
    li a1, UART0
    sb zero, 1(a1)                      // IER = 0: the UART stops asserting
    li a1, PLIC_CLAIM_S
    li a0, UART_IRQ
    sw a0, 0(a1)                        // complete
    li a1, PLIC_ENABLE_S
    sw zero, 0(a1)
.endm

TEST_BEGIN
    csrw mie, zero
    MIP_BITS
    CHECK 1, a0, 0

    // PLIC: the UART source at priority 1, enabled for context 1 only (so MEIP stays 0),
    // threshold 0; MCR.OUT2 gates the UART's IRQ line on PC-style UARTs.
    li a1, PLIC + 4 * UART_IRQ
    li a0, 1
    sw a0, 0(a1)
    li a1, PLIC_THRESH_S
    sw zero, 0(a1)
    li a1, UART0
    li a0, 0x08
    sb a0, 4(a1)

    // --- csrs of SSIP while the PLIC asserts SEIP ---
    RAISE_EXTERNAL 2
    MIP_BITS
    CHECK 3, a0, SEIP                   // external SEIP reads 1; not MEIP (context 0 is off)
    csrrsi a0, mip, SSIP                // M-mode sets SSIP (as OpenSBI does for an IPI)
    andi a0, a0, SEIP
    CHECK 4, a0, SEIP                   // the old value returned includes the external SEIP
    MIP_BITS
    CHECK 5, a0, SEIP | SSIP
    CLEAR_EXTERNAL 6
    MIP_BITS
    CHECK 7, a0, SSIP                   // SEIP gone with its source: the csrs did not latch it
    csrci mip, SSIP
    MIP_BITS
    CHECK 8, a0, 0

    // --- csrc of SSIP while the PLIC asserts SEIP ---
    csrsi mip, SSIP
    RAISE_EXTERNAL 9
    csrci mip, SSIP
    MIP_BITS
    CHECK 10, a0, SEIP
    CLEAR_EXTERNAL 11
    MIP_BITS
    CHECK 12, a0, 0                     // the csrc did not latch it either

    // --- csrc of SEIP itself while the PLIC asserts it: the read still shows the signal ---
    RAISE_EXTERNAL 13
    li a1, SEIP
    csrc mip, a1
    MIP_BITS
    CHECK 14, a0, SEIP
    CLEAR_EXTERNAL 15
    MIP_BITS
    CHECK 16, a0, 0

    // --- the software SEIP: set by csrs, kept across other writes and the PLIC, cleared by csrc ---
    li a1, SEIP
    csrs mip, a1
    MIP_BITS
    CHECK 17, a0, SEIP
    csrsi mip, SSIP
    csrci mip, SSIP
    MIP_BITS
    CHECK 18, a0, SEIP                  // a csrs/csrc of another bit leaves the software SEIP set
    RAISE_EXTERNAL 19
    CLEAR_EXTERNAL 20
    MIP_BITS
    CHECK 21, a0, SEIP                  // the PLIC going quiet does not clear the software bit
    csrrs a0, mip, zero                 // a read (rs1 = x0) writes nothing
    MIP_BITS
    CHECK 22, a0, SEIP
    li a1, SEIP
    csrc mip, a1
    MIP_BITS
    CHECK 23, a0, 0

    // The PLIC has nothing left for context 1.
    li a1, PLIC_CLAIM_S
    lw a0, 0(a1)
    CHECK 24, a0, 0
TEST_PASS
