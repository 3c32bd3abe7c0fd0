// The virtual-memory program (privileged spec ch. 4), built for Sv39 (vm_sv39.S) and Sv48
// (vm_sv48.S), which define VM_LEVELS, VM_MODE (satp.MODE) and VM_NONCANON (a virtual address
// that is not sign-extended for the mode). Checks: satp MODE, 4 KiB / 2 MiB / 1 GiB leaves,
// R/W/X and U/S permissions with the right cause (12/13/15) and mtval, SUM, MXR, MPRV, invalid
// and reserved PTEs, misaligned superpages, non-canonical addresses, A/D bits (hardware update
// or page fault, both exactly right), SFENCE.VMA after a PTE change, an instruction whose halves
// lie in two pages, reserved MODEs and Sv57 (mode 10): ignored, or if accepted it must translate.
#include "common.h"
#include "vm.h"
#define VAL_A 0xaaaaaaaa00000001
#define VAL_B 0xbbbbbbbb00000002
// ADDI a0, a0, imm (0x00000513 | imm << 20) as two 16-bit halves.
#define ADDI_A0_LO 0x0513
#define ADDI_A0_HI(imm) (((imm) << 4) | 5)

// The A/D bits of the PTE in slot `slot` are `ad`.
.macro PTE_AD n, slot, ad
    PTE_OF \slot
    andi a0, a0, PTE_A | PTE_D
    CHECK \n, a0, \ad
.endm

TEST_BEGIN
    li a0, VM_LEVELS
    call vm_init
    mv s1, a0
    MAP_PA 0x00000000, 0x00000000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D, 2
    MAP_PA 0x80000000, 0x80000000, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D, 2
    MAP_PA VA_U_ALIAS, 0x80000000, PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D, 1
    MAP VA_T(0), dpage_a, PTE_V | PTE_R | PTE_A, 0, 0
    MAP VA_T(1), dpage_a, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D, 0, 1
    MAP VA_T(2), xpage, PTE_V | PTE_X | PTE_A, 0, 2
    MAP VA_T(3), dpage_a, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D, 0, 3
    MAP VA_T(4), dpage_a, PTE_R | PTE_W | PTE_A | PTE_D, 0, 4             // V = 0
    MAP VA_T(5), dpage_a, PTE_V | PTE_R, 0, 5                             // A = 0
    MAP VA_T(6), ad_page, PTE_V | PTE_R | PTE_W | PTE_A, 0, 6             // D = 0
    MAP VA_T(7), dpage_a, PTE_V | PTE_W | PTE_A | PTE_D, 0, 7             // W without R: reserved
    MAP VA_T(8), dpage_a, PTE_V | PTE_R | PTE_A, 0, 8                     // remapped below
    MAP VA_T(9), ad_page2, PTE_V | PTE_R | PTE_W, 0, 9                    // A = D = 0
    MAP VA_T(10), xstr_lo, PTE_V | PTE_X | PTE_A, 0, 10                   // an instruction's low half
    MAP VA_T(11), xstr_hi_a, PTE_V | PTE_X | PTE_A, 0, 11                 // its high half: remapped below
    MAP_PA VA_MEGA, 0x80000000, PTE_V | PTE_R | PTE_A, 1
    MAP_PA VA_MEGA_BAD, 0x80001000, PTE_V | PTE_R | PTE_A, 1               // PPN[0] != 0
    li a0, VM_MODE
    slli a0, a0, SATP_MODE_SHIFT
    or s2, a0, s1
    csrw satp, s2
    sfence.vma
    csrr a0, satp
    CHECKR 1, a0, s2
    // a reserved MODE (15): the whole write is ignored
    li a0, 15
    slli a0, a0, SATP_MODE_SHIFT
    csrw satp, a0
    csrr a0, satp
    CHECKR 2, a0, s2

    // MPRV: M-mode loads translated with the privilege in MPP
    li a0, MSTATUS_MPP
    csrc mstatus, a0
    li a0, MPP_S | MSTATUS_MPRV
    csrs mstatus, a0
    li a1, VA_T(0)
    ld a0, 0(a1)
    li a2, MSTATUS_MPRV
    csrc mstatus, a2
    CHECK 3, a0, VAL_A
    TRAP_RESET
    li a0, MSTATUS_MPP
    csrc mstatus, a0
    li a0, MPP_U | MSTATUS_MPRV
    csrs mstatus, a0
    li a0, 0
    ld a0, 0(a1)                        // an S page with U privilege: load page fault
    li a2, MSTATUS_MPRV
    csrc mstatus, a2
    CHECK_TRAP_TVAL 4, CAUSE_LOAD_PAGE, a1
    CHECK 5, a0, 0

    // --- S-mode data accesses (identity-mapped code; faults are skipped by the M handler) ---
    ENTER_MODE MPP_S, s_data
s_data:
    li a1, VA_T(0)                      // 4 KiB page
    ld a0, 0(a1)
    CHECK 6, a0, VAL_A
    la a1, known                        // 2 MiB megapage
    li a2, VA_MEGA - 0x80000000
    add a1, a1, a2
    ld a0, 0(a1)
    CHECK 7, a0, 0x600dc0de600dc0de
    li a1, VA_T(1)                      // RW page: the store shows through the R alias
    li a2, 0x1234
    sd a2, 8(a1)
    li a1, VA_T(0)
    ld a0, 8(a1)
    CHECK 8, a0, 0x1234
    S_FAULT 9, CAUSE_STORE_PAGE, VA_T(0), sd zero, 0(a1)          // R only
    S_FAULT 10, CAUSE_LOAD_PAGE, VA_T(2) + 8, ld a0, 0(a1)        // X only, MXR = 0
    li a0, MSTATUS_MXR
    csrs sstatus, a0
    li a1, VA_T(2) + 8
    li a0, 0
    ld a0, 0(a1)                                                  // X only, MXR = 1
    CHECK 11, a0, 0x0123456789abcdef
    li a0, MSTATUS_MXR
    csrc sstatus, a0
    S_FAULT 12, CAUSE_LOAD_PAGE, VA_T(3), ld a0, 0(a1)            // U page, SUM = 0
    S_FAULT 13, CAUSE_STORE_PAGE, VA_T(3), sd zero, 0(a1)
    li a0, MSTATUS_SUM
    csrs sstatus, a0
    li a1, VA_T(3)
    li a0, 0
    ld a0, 0(a1)                                                  // U page, SUM = 1
    CHECK 14, a0, VAL_A
    li a0, MSTATUS_SUM
    csrc sstatus, a0
    S_FAULT 15, CAUSE_LOAD_PAGE, VA_T(4), ld a0, 0(a1)            // V = 0
    S_FAULT 16, CAUSE_STORE_PAGE, VA_T(4), sd zero, 0(a1)
    S_FAULT 17, CAUSE_LOAD_PAGE, VA_T(7), ld a0, 0(a1)            // W without R
    S_FAULT 18, CAUSE_STORE_PAGE, VA_T(7), sd zero, 0(a1)
    S_FAULT 19, CAUSE_LOAD_PAGE, VA_MEGA_BAD, ld a0, 0(a1)        // misaligned superpage
    S_FAULT 20, CAUSE_LOAD_PAGE, VM_NONCANON, ld a0, 0(a1)        // not sign-extended
    S_FAULT 21, CAUSE_STORE_PAGE, VM_NONCANON, sd zero, 0(a1)

    // A bit (spec 4.3.1): a load from a page with A = 0 either sets A (not D) in the PTE or
    // raises a load page fault leaving the PTE as it was
    li a1, VA_T(5)
    li a0, 0
    TRAP_RESET
    ld a0, 0(a1)
    ld t6, TI_COUNT(tp)
    bnez t6, 1f
    CHECK 22, a0, VAL_A
    PTE_AD 23, 5, PTE_A
    j 2f
1:  CHECK_TRAP_TVAL 22, CAUSE_LOAD_PAGE, a1
    PTE_AD 23, 5, 0
2:
    // D bit: a load from A = 1, D = 0 works and leaves D = 0; a store either sets D or raises
    // a store page fault with the PTE and memory unchanged
    li a1, VA_T(6)
    ld a0, 0(a1)
    CHECK 24, a0, 0x1111
    PTE_AD 25, 6, PTE_A
    li a1, VA_T(6)
    li a2, 0x3333
    TRAP_RESET
    sd a2, 0(a1)
    ld t6, TI_COUNT(tp)
    bnez t6, 1f
    PTE_AD 26, 6, PTE_A | PTE_D
    CHECK_MEM 27, ld, ad_page, 0x3333
    j 2f
1:  CHECK_TRAP_TVAL 26, CAUSE_STORE_PAGE, a1
    PTE_AD 27, 6, PTE_A
    CHECK_MEM 28, ld, ad_page, 0x1111
2:
    // a store to A = D = 0 sets both, or faults with nothing changed
    li a1, VA_T(9)
    li a2, 0x4444
    TRAP_RESET
    sd a2, 0(a1)
    ld t6, TI_COUNT(tp)
    bnez t6, 1f
    PTE_AD 29, 9, PTE_A | PTE_D
    CHECK_MEM 30, ld, ad_page2, 0x4444
    j 2f
1:  CHECK_TRAP_TVAL 29, CAUSE_STORE_PAGE, a1
    PTE_AD 30, 9, 0
    CHECK_MEM 31, ld, ad_page2, 0x2222
2:
    // SFENCE.VMA after a PTE change makes the new translation visible
    li a1, VA_T(8)
    ld a0, 0(a1)
    CHECK 32, a0, VAL_A
    la a1, pte_addr
    ld a1, 8 * 8(a1)
    ld s3, 0(a1)                        // the old PTE
    la a2, dpage_b
    srli a2, a2, 12
    slli a2, a2, 10
    ori a2, a2, PTE_V | PTE_R | PTE_A
    sd a2, 0(a1)
    sfence.vma
    li a1, VA_T(8)
    ld a0, 0(a1)
    CHECK 33, a0, VAL_B
    la a2, pte_addr                     // back, with an address-specific fence
    ld a2, 8 * 8(a2)
    sd s3, 0(a2)
    sfence.vma a1, zero
    ld a0, 0(a1)
    CHECK 34, a0, VAL_A

    // An instruction across a page boundary (its halves are fetched, and translated, separately):
    // VA_T(10) ends with the low half of ADDI a0, a0, imm, VA_T(11) begins with the high half.
    // Each check runs it 40 times (so an emulator has cached it), after a change of the second
    // page's translation and then of its contents: every run must use the halves as they are now.
    li a0, 0
    call straddle40
    CHECK 50, a0, 40                    // imm 1, from xstr_hi_a
    la a1, pte_addr
    ld a1, 8 * 11(a1)
    la a2, xstr_hi_b
    srli a2, a2, 12
    slli a2, a2, 10
    ori a2, a2, PTE_V | PTE_X | PTE_A
    sd a2, 0(a1)
    sfence.vma
    li a0, 0
    call straddle40
    CHECK 51, a0, 280                   // imm 7, from xstr_hi_b
    la a1, xstr_hi_b                    // identity-mapped, writable
    li a2, ADDI_A0_HI(3)
    sh a2, 0(a1)
    fence.i
    li a0, 0
    call straddle40
    CHECK 52, a0, 120                   // imm 3: xstr_hi_b rewritten
    BACK_TO_M 1f
1:  CHECK_TRAP 35, CAUSE_ECALL_S

    // --- instruction fetch ---
    FETCH_FAULT 36, MPP_S, VA_T(0)      // not executable
    FETCH_FAULT 37, MPP_S, VA_T(4)      // invalid
    FETCH_FAULT 38, MPP_S, VA_U_ALIAS   // S never executes U pages
    FETCH_FAULT 39, MPP_U, 0x80000000   // U cannot execute S pages
    // an execute-only page runs in S: its first instruction is an ECALL
    la t6, 1f
    sd t6, TI_RESUME(tp)
    TRAP_RESET
    li t6, MSTATUS_MPP
    csrc mstatus, t6
    li t6, MPP_S
    csrs mstatus, t6
    li t6, VA_T(2)
    csrw mepc, t6
    mret
1:  CHECK_TRAP 40, CAUSE_ECALL_S
    ld a0, TI_EPC(tp)
    CHECK 41, a0, VA_T(2)

    // --- U-mode data accesses (code through the U alias) ---
    li a0, 0
    RUN_U u_load, VA_T(3)               // U page: allowed
    CHECK_TRAP 42, CAUSE_ECALL_U
    CHECK 43, a0, VAL_A
    RUN_U u_load, VA_T(0)               // S page
    li a1, VA_T(0)
    CHECK_TRAP_TVAL 44, CAUSE_LOAD_PAGE, a1
    li a2, 0x5555
    RUN_U u_store, VA_T(0)
    li a1, VA_T(0)
    CHECK_TRAP_TVAL 45, CAUSE_STORE_PAGE, a1
    li a2, 0x6666
    RUN_U u_store, VA_T(3) + 16         // U RW page: allowed
    CHECK_TRAP 46, CAUSE_ECALL_U
    la a1, dpage_a
    ld a0, 16(a1)
    CHECK 47, a0, 0x6666

    // --- Sv57 (MODE 10): an implementation without it ignores the write (satp unchanged);
    // one that accepts it must translate with five levels ---
    li a0, 5
    call vm_init
    mv s1, a0
    MAP_PA 0x00000000, 0x00000000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D, 2
    MAP_PA 0x80000000, 0x80000000, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D, 2
    MAP VA_T(0), dpage_b, PTE_V | PTE_R | PTE_A, 0
    li a0, 10
    slli a0, a0, SATP_MODE_SHIFT
    or s3, a0, s1
    csrw satp, s3
    sfence.vma
    csrr a0, satp
    beq a0, s2, .Lsv57_done             // ignored
    CHECKR 48, a0, s3                   // accepted: the whole value
    ENTER_MODE MPP_S, s_sv57
s_sv57:
    li a1, VA_T(0)
    li a0, 0
    ld a0, 0(a1)
    CHECK 49, a0, VAL_B
    BACK_TO_M .Lsv57_done
.Lsv57_done:
    csrw satp, zero
    sfence.vma
TEST_PASS

// Call the instruction across VA_T(10) and VA_T(11) 40 times (it adds to a0). Clobbers t3-t5.
straddle40:
    mv t3, ra
    li t4, 40
1:  li t5, VA_T(10) + 4094
    jalr t5
    addi t4, t4, -1
    bnez t4, 1b
    mv ra, t3
    ret

// Its pages: the low half in the last two bytes of xstr_lo; a high half, then C.JR ra (return),
// at the start of xstr_hi_a (imm 1) and xstr_hi_b (imm 7).
    .align 12
xstr_lo:
    .skip 4094
    .hword ADDI_A0_LO
xstr_hi_a:
    .hword ADDI_A0_HI(1)
    .hword 0x8082
    .align 12
xstr_hi_b:
    .hword ADDI_A0_HI(7)
    .hword 0x8082
    .align 12

VM_CODE
