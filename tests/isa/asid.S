// Address-space identifiers (privileged spec 4.1.11 satp, 4.2.1 SFENCE.VMA, 4.3.1 PTE.G), Sv39.
// Two address spaces, A (ASID 1) and B (ASID 2), map the same virtual pages to different frames.
// In S-mode: satp switches between them without a fence (each sees its own mapping, code and
// data), global mappings, SFENCE.VMA by ASID (rs2), by address (rs1), by both, a PTE change of
// a global page fenced by address, all 16 ASID bits writable, and a switch to Bare and back. Only
// outcomes the spec defines are checked: every PTE change is fenced as 4.2.1 requires before the
// changed page is used in its address space.
#include "common.h"
#include "vm.h"
#define VAL_A 0xaaaaaaaa00000001
#define VAL_B 0xbbbbbbbb00000002
#define ASID_A 1
#define ASID_B 2
#define FLAGS_D (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
#define FLAGS_X (PTE_V | PTE_X | PTE_A)
#define VM_MODE 8

// Point the leaf PTE in `slot` at `sym` with `flags` (no fence: the caller fences).
.macro REMAP slot, sym, flags
    la a1, pte_addr
    ld a1, 8 * \slot(a1)
    la a0, \sym
    srli a0, a0, 12
    slli a0, a0, 10
    ori a0, a0, \flags
    sd a0, 0(a1)
.endm

// Check n: the doubleword at virtual address va is val.
.macro LOAD_IS n, va, val
    li a1, \va
    ld a0, 0(a1)
    CHECK \n, a0, \val
.endm

// Check n: calling the code at virtual address va returns val in a0.
.macro CALL_IS n, va, val
    li a1, \va
    jalr a1
    CHECK \n, a0, \val
.endm

// One address space: the program and MMIO identity-mapped as global gigapages, then the test
// pages, their leaf PTEs in slots base..base+5. Leaves satp's value for it in \out.
.macro SPACE out, asid, base, t0sym, xsym
    li a0, 3
    call vm_init
    li a1, (VM_MODE << 60) | (\asid << 44)
    or \out, a0, a1
    MAP_PA 0x00000000, 0x00000000, FLAGS_D | PTE_G, 2
    MAP_PA 0x80000000, 0x80000000, FLAGS_D | PTE_X | PTE_G, 2
    MAP VA_T(0), \t0sym, FLAGS_D, 0, \base                  // A: dpage_a, B: dpage_b
    MAP VA_T(1), dpage_a, FLAGS_D | PTE_G, 0, (\base + 1)     // global, the same in both
    MAP VA_T(2), dpage_a, FLAGS_D, 0, (\base + 2)             // fenced by address
    MAP VA_T(3), dpage_a, FLAGS_D, 0, (\base + 3)             // fenced by ASID
    MAP VA_T(4), dpage_a, FLAGS_D, 0, (\base + 4)             // fenced by address and ASID
    MAP VA_T(5), \xsym, FLAGS_X, 0, (\base + 5)               // code: A returns 1, B returns 2
.endm

TEST_BEGIN
    SPACE s2, ASID_A, 0, dpage_a, xcode_a
    SPACE s3, ASID_B, 6, dpage_b, xcode_b
    ENTER_MODE MPP_S, s_main
s_main:
    csrw satp, s2
    sfence.vma
    csrr a0, satp
    CHECKR 1, a0, s2
    LOAD_IS 2, VA_T(0), VAL_A
    CALL_IS 3, VA_T(5), 1
    // Switches without a fence: each ASID sees its own page and its own code.
    csrw satp, s3
    LOAD_IS 4, VA_T(0), VAL_B
    CALL_IS 5, VA_T(5), 2
    csrw satp, s2
    LOAD_IS 6, VA_T(0), VAL_A
    CALL_IS 7, VA_T(5), 1
    csrw satp, s3
    LOAD_IS 8, VA_T(0), VAL_B
    CALL_IS 9, VA_T(5), 2
    // Many switches in a loop (its blocks hot, compiled): sum of 40 x (1 + 2) calls and 40 x
    // (low words 1 + 2) loads.
    li s4, 40
    li s5, 0
1:  csrw satp, s2
    li a1, VA_T(5)
    jalr a1
    add s5, s5, a0
    li a1, VA_T(0)
    lw a0, 0(a1)
    add s5, s5, a0
    csrw satp, s3
    li a1, VA_T(5)
    jalr a1
    add s5, s5, a0
    li a1, VA_T(0)
    lw a0, 0(a1)
    add s5, s5, a0
    addi s4, s4, -1
    bnez s4, 1b
    CHECK 10, s5, 240
    // A global page: the same in both.
    csrw satp, s2
    LOAD_IS 11, VA_T(1), VAL_A
    csrw satp, s3
    LOAD_IS 12, VA_T(1), VAL_A

    // SFENCE.VMA x0, rs2: B's page 3 changed while A runs, fenced by B's ASID.
    LOAD_IS 13, VA_T(3), VAL_A          // B's entry cached
    csrw satp, s2
    LOAD_IS 14, VA_T(3), VAL_A          // A's too
    REMAP 9, dpage_b, FLAGS_D           // B's VA_T(3)
    li a2, ASID_B
    sfence.vma x0, a2
    csrw satp, s3
    LOAD_IS 15, VA_T(3), VAL_B
    csrw satp, s2
    LOAD_IS 16, VA_T(3), VAL_A          // A's PTE did not change

    // SFENCE.VMA rs1, x0: page 2 changed in both, fenced by address for every ASID (from A).
    LOAD_IS 17, VA_T(2), VAL_A
    csrw satp, s3
    LOAD_IS 18, VA_T(2), VAL_A
    csrw satp, s2
    REMAP 2, dpage_b, FLAGS_D           // A's VA_T(2)
    REMAP 8, dpage_b, FLAGS_D           // B's VA_T(2)
    li a1, VA_T(2)
    sfence.vma a1, x0
    LOAD_IS 19, VA_T(2), VAL_B
    csrw satp, s3
    LOAD_IS 20, VA_T(2), VAL_B

    // SFENCE.VMA rs1, rs2: A's page 4 changed while B runs, fenced for that page in A's ASID.
    LOAD_IS 21, VA_T(4), VAL_A
    csrw satp, s2
    LOAD_IS 22, VA_T(4), VAL_A
    csrw satp, s3
    REMAP 4, dpage_b, FLAGS_D           // A's VA_T(4)
    li a1, VA_T(4)
    li a2, ASID_A
    sfence.vma a1, a2
    LOAD_IS 23, VA_T(4), VAL_A          // B's PTE did not change
    csrw satp, s2
    LOAD_IS 24, VA_T(4), VAL_B

    // A global page changed in both, fenced by address (rs2 = x0 covers global mappings).
    REMAP 1, dpage_b, FLAGS_D | PTE_G
    REMAP 7, dpage_b, FLAGS_D | PTE_G
    li a1, VA_T(1)
    sfence.vma a1, x0
    // satp.ASID: all 16 bits are writable (Linux probes ASIDLEN this way), read back as written.
    // ASID 0xffff, never used before, over B's tables (no fence needed): B's pages, the global
    // page as just changed (not loaded since), nothing of A's.
    li a0, 0xffff << 44
    or a0, a0, s3                       // s3 with ASID 0xffff
    csrw satp, a0
    csrr a1, satp
    CHECKR 27, a1, a0
    LOAD_IS 28, VA_T(0), VAL_B
    CALL_IS 29, VA_T(5), 2
    LOAD_IS 35, VA_T(1), VAL_B
    LOAD_IS 36, VA_T(4), VAL_A

    csrw satp, s2
    LOAD_IS 25, VA_T(1), VAL_B
    csrw satp, s3
    LOAD_IS 26, VA_T(1), VAL_B

    // MODE Bare and back take effect at once (4.2.1): physical addresses, then A again.
    csrw satp, zero
    la a1, dpage_b
    ld a0, 0(a1)
    CHECK 30, a0, VAL_B
    csrw satp, s2
    LOAD_IS 31, VA_T(0), VAL_A
    CALL_IS 32, VA_T(5), 1
    csrw satp, s3
    LOAD_IS 33, VA_T(0), VAL_B
    CALL_IS 34, VA_T(5), 2
    csrw satp, zero
    BACK_TO_M 1f
1:
TEST_PASS

    .option push
    .option norvc
    .align 12
xcode_a:
    li a0, 1
    ret
    .align 12
xcode_b:
    li a0, 2
    ret
    .align 12
    .option pop
VM_CODE
