// Physical memory protection (privileged spec 3.7): pmpcfg/pmpaddr WARL behaviour (granularity 4
// bytes, as QEMU 7.2; reserved cfg bits; R=0 W=1 reserved), OFF/TOR/NA4/NAPOT matching, priority
// (the lowest-numbered matching entry decides and must match every byte), no match denies S/U,
// M-mode unaffected unless an entry is locked, MPRV, implicit page-table reads checked as S-mode,
// instruction/load/store access faults with mtval, and locking (L: writes ignored, M-mode
// enforced, the base pmpaddr of a locked TOR entry locked too). Locks last until reset, so they
// come last. satp stays Bare except in the page-walk checks.
#include "common.h"

#define A_TOR   0x08
#define A_NA4   0x10
#define A_NAPOT 0x18
#define P_R 1
#define P_W 2
#define P_X 4
#define P_L 0x80

// Every entry off, then entry 15 (the lowest priority) NAPOT over everything, RWX: whatever a
// check does not cover (code, stack, trap record) stays usable from S and U.
.macro PMP_RESET
    csrw pmpcfg0, zero
    csrw pmpcfg2, zero
    li t0, -1
    srli t0, t0, 10
    csrw pmpaddr15, t0
    li t0, (A_NAPOT | P_R | P_W | P_X) << 56
    csrw pmpcfg2, t0
    sfence.vma
.endm

// rd = the NAPOT pmpaddr of the 4 KiB page at register base.
.macro NAPOT_PAGE rd, base
    srli \rd, \base, 2
    ori \rd, \rd, 0x1ff
.endm

// A load/store in the current mode faults with `cause` and mtval = address register `areg`.
.macro FAULTS n, cause, areg, insn:vararg
    TRAP_RESET
    \insn
    CHECK_TRAP_TVAL \n, \cause, \areg
.endm
.macro WORKS n, insn:vararg
    TRAP_RESET
    \insn
    CHECK_NO_TRAP \n
.endm

TEST_BEGIN
main:
    la s1, pmp_area                 // page A
    li t0, 4096
    add s2, s1, t0                  // page B

    // --- WARL: pmpaddr holds 54 bits, all readable (G = 0) ---
    li a0, -1
    csrw pmpaddr0, a0
    csrr a0, pmpaddr0
    li a1, -1
    srli a1, a1, 10
#ifndef QEMU_REFERENCE
    CHECKR 1, a0, a1                // QEMU 7.2 keeps all 64 bits
#endif
    csrw pmpaddr0, zero
    // Reserved bits 6:5 of a cfg byte read as zero (entries OFF while this runs).
    li a0, 0x61 << 8
    csrw pmpcfg0, a0
    csrr a0, pmpcfg0
#ifndef QEMU_REFERENCE
    CHECK 2, a0, 0x01 << 8
#endif
    // R=0, W=1 is reserved: never held.
    li a0, 0x01 << 8
    csrw pmpcfg0, a0
    li a0, 0x02 << 8
    csrw pmpcfg0, a0
    csrr a0, pmpcfg0
#ifndef QEMU_REFERENCE
    CHECK 3, a0, 0x01 << 8          // Corral ignores the write (QEMU 7.2 keeps W without R)
#endif
    csrw pmpcfg0, zero
    // pmpcfg1 does not exist on RV64.
    TRAP_RESET
    csrr a0, 0x3a1
    CHECK_TRAP 4, CAUSE_ILLEGAL
#ifndef QEMU_REFERENCE
    // Entries 16..63 are not implemented: their CSRs exist and read as zero (3.7.1: WARL, may
    // be read-only zero). QEMU 7.2 has no CSRs beyond pmpaddr15 (illegal instruction).
    TRAP_RESET
    li a0, -1
    csrw pmpaddr16, a0
    csrr a0, pmpaddr16
    CHECK 5, a0, 0
    csrw pmpcfg4, a0
    csrr a0, pmpcfg4
    CHECK 6, a0, 0
    CHECK_NO_TRAP 7
#endif

    // --- No entry enabled: M-mode works, S and U fail (3.7.1) ---
    csrw pmpcfg0, zero
    csrw pmpcfg2, zero
    sfence.vma
    WORKS 8, ld a0, 0(s1)
#ifndef QEMU_REFERENCE
    // QEMU 7.2 lets S and U access everything while no entry is enabled.
    TRAP_RESET
    RUN_IN_MODE MPP_U, u_nothing, 1f
1:  la a1, u_nothing
    CHECK_TRAP_TVAL 9, CAUSE_FETCH_ACCESS, a1
#endif

    // --- NAPOT over page A with no permission, background RWX ---
    PMP_RESET
    NAPOT_PAGE a0, s1
    csrw pmpaddr0, a0
    li a0, A_NAPOT
    csrw pmpcfg0, a0
    csrr a1, pmpcfg0
    CHECK 10, a1, A_NAPOT
    WORKS 11, ld a0, 0(s1)          // M-mode: not locked, not checked
    ENTER_MODE MPP_U, 2f
2:  FAULTS 12, CAUSE_LOAD_ACCESS, s1, ld a0, 0(s1)
    addi a1, s1, 8
    FAULTS 13, CAUSE_STORE_ACCESS, a1, sw a0, 8(s1)
    addi a1, s2, -1
    FAULTS 14, CAUSE_LOAD_ACCESS, a1, lbu a0, -1(s2)
    WORKS 15, ld a0, 0(s2)          // page B: the background entry
    WORKS 16, sd a0, 0(s2)
    addi a1, s1, -8
    WORKS 17, ld a0, 0(a1)
    BACK_TO_M 1f
1:  CHECK_TRAP 18, CAUSE_ECALL_U
    // MPRV with MPP = U: M-mode loads and stores are checked as U's.
    li a0, MSTATUS_MPP
    csrc mstatus, a0
    li a0, MSTATUS_MPRV
    csrs mstatus, a0
    FAULTS 19, CAUSE_LOAD_ACCESS, s1, ld a0, 0(s1)
    li a0, MSTATUS_MPRV
    csrc mstatus, a0
    WORKS 20, ld a0, 0(s1)

    // --- Priority: NA4 R at A+16 (entry 0) before the no-access page (entry 1) ---
    PMP_RESET
    addi a0, s1, 16
    srli a0, a0, 2
    csrw pmpaddr0, a0
    NAPOT_PAGE a0, s1
    csrw pmpaddr1, a0
    li a0, (A_NA4 | P_R) | (A_NAPOT << 8)
    csrw pmpcfg0, a0
    ENTER_MODE MPP_U, 2f
2:  WORKS 21, lw a0, 16(s1)
    WORKS 22, lhu a0, 18(s1)
    addi a1, s1, 20
    FAULTS 23, CAUSE_LOAD_ACCESS, a1, lw a0, 20(s1)
    addi a1, s1, 16
    FAULTS 24, CAUSE_STORE_ACCESS, a1, sw a0, 16(s1)
    // 8 bytes from A+16: entry 0 matches only half of them, so the access fails (3.7.1.3).
    FAULTS 25, CAUSE_LOAD_ACCESS, a1, ld a0, 16(s1)
    addi a1, s1, 12
    FAULTS 26, CAUSE_LOAD_ACCESS, a1, lw a0, 12(s1)
    BACK_TO_M 1f
1:  CHECK_TRAP 27, CAUSE_ECALL_U
    // Swapped: the no-access page first hides the NA4 entry.
    NAPOT_PAGE a0, s1
    csrw pmpaddr0, a0
    addi a0, s1, 16
    srli a0, a0, 2
    csrw pmpaddr1, a0
    li a0, A_NAPOT | ((A_NA4 | P_R) << 8)
    csrw pmpcfg0, a0
    ENTER_MODE MPP_S, 2f
2:  addi a1, s1, 16
    FAULTS 28, CAUSE_LOAD_ACCESS, a1, lw a0, 16(s1)
    BACK_TO_M 1f
1:  CHECK_TRAP 29, CAUSE_ECALL_S

    // --- TOR: [A, A+64) readable, written by nobody; the rest of page A no access ---
    PMP_RESET
    srli a0, s1, 2
    csrw pmpaddr0, a0
    addi a0, s1, 64
    srli a0, a0, 2
    csrw pmpaddr1, a0
    NAPOT_PAGE a0, s1
    csrw pmpaddr2, a0
    li a0, ((A_TOR | P_R) << 8) | (A_NAPOT << 16)   // entry 0 OFF: only the base
    csrw pmpcfg0, a0
    ENTER_MODE MPP_U, 2f
2:  WORKS 30, ld a0, 0(s1)
    WORKS 31, ld a0, 56(s1)
    addi a1, s1, 64
    FAULTS 32, CAUSE_LOAD_ACCESS, a1, ld a0, 64(s1)
    FAULTS 33, CAUSE_STORE_ACCESS, s1, sd a0, 0(s1)
    WORKS 34, lw a0, 60(s1)
    BACK_TO_M 1f
1:  CHECK_TRAP 35, CAUSE_ECALL_U
    // TOR with pmpaddr[i-1] >= pmpaddr[i] matches nothing: entry 2 decides.
    addi a0, s1, 128
    srli a0, a0, 2
    csrw pmpaddr0, a0
#ifdef QEMU_REFERENCE
    // QEMU 7.2 recomputes only entry 0 on this write, so entry 1 keeps its old base; rewriting
    // the cfg recomputes every entry.
    csrr a0, pmpcfg0
    csrw pmpcfg0, a0
#endif
    ENTER_MODE MPP_U, 2f
2:  FAULTS 36, CAUSE_LOAD_ACCESS, s1, ld a0, 0(s1)
    BACK_TO_M 1f
1:  CHECK_TRAP 37, CAUSE_ECALL_U
    // TOR in entry 0 starts at address 0: [0, A) readable only.
    PMP_RESET
    srli a0, s1, 2
    csrw pmpaddr0, a0
    li a0, A_TOR | P_R | P_X
    csrw pmpcfg0, a0
    ENTER_MODE MPP_U, 2f
2:  WORKS 38, ld a0, -8(s1)
    addi a1, s1, -8
    FAULTS 39, CAUSE_STORE_ACCESS, a1, sd a0, -8(s1)
    WORKS 40, sd a0, 0(s1)          // A itself: the background entry
    BACK_TO_M 1f
1:  CHECK_TRAP 41, CAUSE_ECALL_U

    // --- Execute permission, in whole pages and in part of one ---
    PMP_RESET
    la a2, pmp_code
    NAPOT_PAGE a0, a2
    csrw pmpaddr0, a0
    li a0, A_NAPOT | P_R
    csrw pmpcfg0, a0
    TRAP_RESET
    RUN_IN_MODE MPP_U, pmp_code, 1f
1:  CHECK_TRAP_TVAL 42, CAUSE_FETCH_ACCESS, a2
    CHECK_TRAP_EPC 43, pmp_code
    li a0, A_NAPOT | P_R | P_X
    csrw pmpcfg0, a0
    li a0, 5
    TRAP_RESET
    RUN_IN_MODE MPP_U, pmp_code, 1f
1:  CHECK_TRAP 44, CAUSE_ECALL_U
    CHECK 45, a0, 6
    // X for the first instruction only (NA4), none for the rest of the page.
    srli a0, a2, 2
    csrw pmpaddr0, a0
    NAPOT_PAGE a0, a2
    csrw pmpaddr1, a0
    li a0, (A_NA4 | P_X) | ((A_NAPOT | P_R) << 8)
    csrw pmpcfg0, a0
    li a0, 5
    TRAP_RESET
    RUN_IN_MODE MPP_U, pmp_code, 1f
1:  addi a3, a2, 4
#ifndef QEMU_REFERENCE
    // QEMU 7.2 checks execute permission once per translated block: it runs the ecall.
    CHECK_TRAP_TVAL 46, CAUSE_FETCH_ACCESS, a3
#endif
    CHECK 47, a0, 6                 // the first instruction ran
    // M-mode fetches there freely (not locked).
    li a0, 5
    TRAP_RESET
    jalr a2
    CHECK_TRAP 48, CAUSE_ECALL_M
    CHECK 49, a0, 6

    // --- Implicit page-table reads are checked as S-mode accesses (3.7.1) ---
    // One Sv39 gigapage maps 0x8000_0000 to itself (S-only, RWX, A and D set): S-mode code
    // fetches through it. With the root table's page unreadable, the walk for the fetch fails.
    la a0, pt_root
    li a1, (0x80000000 >> 12) << 10
    ori a1, a1, 0xcf                // V R W X A D
    sd a1, 16(a0)                   // VPN[2] = 2
    PMP_RESET
    la a0, pt_root
    NAPOT_PAGE a0, a0
    csrw pmpaddr0, a0
    li a0, A_NAPOT
    csrw pmpcfg0, a0
    la a0, pt_root
    srli a0, a0, 12
    li a1, 8 << 60
    or a0, a0, a1
    csrw satp, a0
    sfence.vma
    TRAP_RESET
    RUN_IN_MODE MPP_S, s_walk, 1f
1:  la a1, s_walk
    CHECK_TRAP_TVAL 50, CAUSE_FETCH_ACCESS, a1
    // Readable root table: the fetch and the load both translate.
    li a0, A_NAPOT | P_R
    csrw pmpcfg0, a0
    sfence.vma
    TRAP_RESET
    RUN_IN_MODE MPP_S, s_walk, 1f
1:  CHECK_TRAP 51, CAUSE_ECALL_S
    CHECK 52, a0, 0x5a
    // The table is not checked for M-mode with MPRV = 0 (satp does not apply).
    csrw satp, zero
    sfence.vma

    // --- Locking (3.7.1.2): L applies to M-mode, and writes are ignored until reset ---
    PMP_RESET
    NAPOT_PAGE a0, s1
    csrw pmpaddr1, a0
    li a0, (A_NAPOT | P_R | P_L) << 8
    csrw pmpcfg0, a0
    WORKS 53, ld a0, 0(s1)
    FAULTS 54, CAUSE_STORE_ACCESS, s1, sd a0, 0(s1)
    // Writes to a locked entry's cfg and address are ignored.
    li a0, (A_NAPOT | P_R | P_W | P_X) << 8
    csrw pmpcfg0, a0
    csrr a0, pmpcfg0
    CHECK 55, a0, (A_NAPOT | P_R | P_L) << 8
    csrr a1, pmpaddr1
    csrw pmpaddr1, zero
    csrr a0, pmpaddr1
    CHECKR 56, a0, a1
    FAULTS 57, CAUSE_STORE_ACCESS, s1, sd a0, 0(s1)
    // A locked TOR entry also locks the pmpaddr below it (its base); other entries stay writable.
    srli a0, s2, 2
    csrw pmpaddr2, a0
    addi a0, s2, 64
    srli a0, a0, 2
    csrw pmpaddr3, a0
    li a0, ((A_NAPOT | P_R | P_L) << 8) | ((A_TOR | P_R | P_L) << 24)
    csrw pmpcfg0, a0
    csrr a1, pmpaddr2
    csrw pmpaddr2, zero
    csrr a0, pmpaddr2
    CHECKR 58, a0, a1
    li a0, 0x1234
    csrw pmpaddr4, a0
    csrr a1, pmpaddr4
    CHECK 59, a1, 0x1234
    WORKS 60, ld a0, 0(s2)
    FAULTS 61, CAUSE_STORE_ACCESS, s2, sd a0, 0(s2)
    addi a1, s2, 64
    WORKS 62, sd a0, 64(s2)         // above the TOR range: the background entry (M: no L, free)
    // U-mode: the locked R-only entries apply as to any entry.
    ENTER_MODE MPP_U, 2f
2:  WORKS 63, ld a0, 0(s1)
    FAULTS 64, CAUSE_STORE_ACCESS, s1, sd a0, 0(s1)
    BACK_TO_M 1f
1:  CHECK_TRAP 65, CAUSE_ECALL_U
TEST_PASS

    .text
u_nothing:
    ecall

    .align 12
    .option push
    .option norvc
pmp_code:                           // a page of its own; 32-bit instructions
    addi a0, a0, 1
    ecall
    ret
    .option pop
    .align 12

s_walk:                             // S-mode, translated
    li a0, 0x5a
    la a1, pmp_area
    sb a0, 0(a1)
    lbu a0, 0(a1)
    ecall

    .data
    .align 12
pmp_area:
    .skip 8192
    .bss
    .align 12
pt_root:
    .skip 4096
