// Translations that change between two accesses through the same base register and virtual page
// (privileged spec 4.2.1 SFENCE.VMA, 4.1.11 satp.ASID, 4.3.1 PTE V/R/W/A/D, 4.3.2 the walk;
// unprivileged spec 2.6 misaligned accesses, chapter 6 Zifencei), in S-mode with Sv39 tables.
// Written for the wasm tier's page caches (src/cpu/wasm/emitter.ts cachedAccess: a compiled
// function remembers, per base register and TLB, the last page it translated), which must never
// outlive the translation they copy. Each case runs in a loop of many passes, its accesses paired
// through one base register so that they get a page cache, and the translation changes between
// them: a PTE pointed at another frame (fenced by address), a page made read-only, V, A or D
// cleared (fenced), satp switched to an ASID that maps the VA elsewhere (no fence needed), a
// misaligned access crossing the page's end into a page that is not the next frame, and code in
// a page stored to (through one base) and run again after FENCE.I.
#include "common.h"
#include "vm.h"
#define VAL_A 0xaaaaaaaa00000001
#define VAL_C 0xcccccccc33333333      /* its low word is what an access crossing into pc_c sees */
#define VAL_E 0xeeeeeeee00000005
#define A_END 0x11111111              /* the last word of pc_a */
#define B_HEAD 0x2222222222222222     /* pc_b, the frame after pc_a: never mapped */
#define CROSS 0x3333333311111111      /* ld at VA_T(0) + 0xffc: pc_a's last word, pc_c's first */
#define PASSES 60000
#define SMC_PASSES 200
#define FLAGS_D (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)
#define ASID_A 1
#define ASID_B 2

// reg <- a leaf PTE for frame `sym` with `flags`.
.macro PTE_VAL reg, sym, flags
    la \reg, \sym
    srli \reg, \reg, 12
    slli \reg, \reg, 10
    ori \reg, \reg, \flags
.endm

// reg <- the address of the leaf PTE in `slot`.
.macro PTE_ADDR reg, slot
    la \reg, pte_addr
    ld \reg, 8 * \slot(\reg)
.endm

// One address space: MMIO and the program identity-mapped as global gigapages (S, RWX), then
// VA_T(0) -> t0sym (pc_a in A, pc_c in B), VA_T(1) -> pc_c, VA_T(2) -> pc_d, VA_T(3) -> pc_e,
// their leaf PTEs in slots base..base+3. satp's value for it in \out.
.macro SPACE out, asid, base, t0sym
    li a0, 3
    call vm_init
    li a1, (8 << SATP_MODE_SHIFT) | (\asid << 44)
    or \out, a0, a1
    MAP_PA 0x00000000, 0x00000000, FLAGS_D | PTE_G, 2
    MAP_PA 0x80000000, 0x80000000, FLAGS_D | PTE_X | PTE_G, 2
    MAP VA_T(0), \t0sym, FLAGS_D, 0, \base
    MAP VA_T(1), pc_c, FLAGS_D, 0, (\base + 1)
    MAP VA_T(2), pc_d, FLAGS_D, 0, (\base + 2)
    MAP VA_T(3), pc_e, FLAGS_D, 0, (\base + 3)
.endm

// Check n: exactly `count` traps since TRAP_RESET, the last with mcause `cause`, mepc = label,
// mtval = register tval.
.macro TRAPS n, count, cause, label, tval
    li gp, \n
    ld t6, TI_COUNT(tp)
    li t5, \count
    bne t6, t5, .Lbad\@
    ld t6, TI_CAUSE(tp)
    li t5, \cause
    bne t6, t5, .Lbad\@
    ld t6, TI_EPC(tp)
    la t5, \label
    bne t6, t5, .Lbad\@
    ld t6, TI_TVAL(tp)
    beq t6, \tval, .Lok\@
.Lbad\@:
    j fail
.Lok\@:
.endm

TEST_BEGIN
    SPACE s10, ASID_A, 0, pc_a
    SPACE s11, ASID_B, 4, pc_c
    ENTER_MODE MPP_S, s_main
s_main:
    csrw satp, s10
    sfence.vma
    li a1, VA_T(0)
    ld a0, 0(a1)
    CHECK 1, a0, VAL_A

    // (1) The PTE of VA_T(0) points at pc_c, fenced by address, between two pairs of loads
    // through s1; then back at pc_a. Checks 2, 3: each pair sees its own frame.
    li s1, VA_T(0)
    PTE_ADDR s2, 0
    PTE_VAL s3, pc_a, FLAGS_D
    PTE_VAL s4, pc_c, FLAGS_D
    li s6, VAL_A
    li s7, VAL_C
    li s5, PASSES
1:  ld a0, 0(s1)
    ld a1, 0(s1)
    sd s4, 0(s2)
    sfence.vma s1, zero
    ld a2, 0(s1)
    ld a3, 0(s1)
    sd s3, 0(s2)
    sfence.vma s1, zero
    CHECKR 2, a0, s6
    CHECKR 2, a1, s6
    CHECKR 3, a2, s7
    CHECKR 3, a3, s7
    addi s5, s5, -1
    bnez s5, 1b

    // (2) VA_T(2) stored to, made read-only (fenced), stored to again: both stores raise a store
    // page fault (checks 4, 5: mepc, mtval) and write nothing (6); loads still work (6); made
    // writable again (fenced), a store lands (7).
    li s1, VA_T(2)
    PTE_ADDR s2, 2
    PTE_VAL s3, pc_d, FLAGS_D
    PTE_VAL s4, pc_d, FLAGS_D & ~PTE_W
    li s5, PASSES
1:  sd s5, 0(s1)
    sd s5, 8(s1)
    sd s4, 0(s2)
    sfence.vma s1, zero
    TRAP_RESET
    addi a0, s5, 1
.Lro1:
    sd a0, 16(s1)
.Lro2:
    sd a0, 24(s1)
    addi a1, s1, 24
    TRAPS 4, 2, CAUSE_STORE_PAGE, .Lro2, a1
    ld a2, 0(s1)
    CHECKR 5, a2, s5
    ld a2, 16(s1)
    CHECK 6, a2, 0
    ld a2, 24(s1)
    CHECK 6, a2, 0
    sd s3, 0(s2)
    sfence.vma s1, zero
    TRAP_RESET
    sd a0, 16(s1)
    sd a0, 24(s1)
    CHECK_NO_TRAP 7
    ld a2, 16(s1)
    CHECKR 7, a2, a0
    sd zero, 16(s1)
    sd zero, 24(s1)
    addi s5, s5, -1
    bnez s5, 1b

    // (3) satp switched between ASID A (VA_T(0) -> pc_a) and ASID B (-> pc_c), no fence, between
    // two pairs of loads through s1. Checks 8, 9.
    li s1, VA_T(0)
    li s6, VAL_A
    li s7, VAL_C
    li s5, PASSES
1:  csrw satp, s10
    ld a0, 0(s1)
    ld a1, 0(s1)
    csrw satp, s11
    ld a2, 0(s1)
    ld a3, 0(s1)
    CHECKR 8, a0, s6
    CHECKR 8, a1, s6
    CHECKR 9, a2, s7
    CHECKR 9, a3, s7
    addi s5, s5, -1
    bnez s5, 1b
    csrw satp, s10

    // (4) VA_T(3) loaded through s1, then its PTE's V cleared (fenced): both loads fault, rd
    // unwritten (checks 10, 11). A cleared (fenced): a load either faults with the PTE unchanged
    // or sets A (12, 13). D cleared (fenced): a store either faults with the PTE and memory
    // unchanged or sets D and writes (14, 15).
    li s1, VA_T(3)
    PTE_ADDR s2, 3
    PTE_VAL s3, pc_e, FLAGS_D
    PTE_VAL s4, pc_e, FLAGS_D & ~PTE_V
    PTE_VAL s7, pc_e, FLAGS_D & ~PTE_A
    PTE_VAL s8, pc_e, FLAGS_D & ~PTE_D
    li s6, VAL_E
    li s5, PASSES
1:  ld a0, 0(s1)
    ld a1, 0(s1)
    sd s4, 0(s2)
    sfence.vma s1, zero
    li a2, 0x5a
    li a3, 0x5a
    TRAP_RESET
    ld a2, 0(s1)
.Lv2:
    ld a3, 0(s1)
    TRAPS 10, 2, CAUSE_LOAD_PAGE, .Lv2, s1
    CHECK 11, a2, 0x5a
    CHECK 11, a3, 0x5a
    CHECKR 11, a0, s6
    CHECKR 11, a1, s6
    // A = 0
    sd s3, 0(s2)
    sfence.vma s1, zero
    ld a0, 0(s1)
    ld a1, 0(s1)
    sd s7, 0(s2)
    sfence.vma s1, zero
    li a2, 0x5a
    TRAP_RESET
.La1:
    ld a2, 0(s1)
    ld t6, TI_COUNT(tp)
    bnez t6, 2f
    CHECKR 12, a2, s6
    ld a3, 0(s2)
    CHECKR 13, a3, s3               // A set (D was already)
    j 3f
2:  TRAPS 12, 1, CAUSE_LOAD_PAGE, .La1, s1
    CHECK 12, a2, 0x5a
    ld a3, 0(s2)
    CHECKR 13, a3, s7               // the PTE untouched
3:  // D = 0
    sd s3, 0(s2)
    sfence.vma s1, zero
    sd s6, 0(s1)
    sd s6, 8(s1)
    sd s8, 0(s2)
    sfence.vma s1, zero
    TRAP_RESET
.Ld1:
    sd s5, 0(s1)
    ld t6, TI_COUNT(tp)
    bnez t6, 2f
    ld a2, 0(s1)
    CHECKR 14, a2, s5
    ld a3, 0(s2)
    CHECKR 15, a3, s3               // D set
    j 3f
2:  TRAPS 14, 1, CAUSE_STORE_PAGE, .Ld1, s1
    ld a2, 0(s1)
    CHECKR 14, a2, s6
    ld a3, 0(s2)
    CHECKR 15, a3, s8               // the PTE untouched
3:  sd s3, 0(s2)
    sfence.vma s1, zero
    sd s6, 0(s1)
    addi s5, s5, -1
    bnez s5, 1b

    // (5) Through s1 = VA_T(0) + 0x800: an aligned load (VA_T(0)'s page), then a misaligned
    // doubleword at VA_T(0) + 0xffc, which crosses into VA_T(1) (pc_c), not into the frame after
    // pc_a (pc_b): done in hardware it reads pc_a's last word and pc_c's first (check 16), or it
    // raises an address-misaligned exception with mtval = the address (16) and rd unwritten (17).
    // The same for a store (18: pc_c written, pc_b untouched; 19: trapped, nothing written).
    li s1, VA_T(0) + 0x800
    li s6, CROSS
    li s5, PASSES
1:  ld a0, -0x800(s1)
    li a1, 0x5a
    TRAP_RESET
.Lm1:
    ld a1, 0x7fc(s1)
    ld t6, TI_COUNT(tp)
    bnez t6, 2f
    CHECKR 16, a1, s6
    j 3f
2:  addi a2, s1, 0x7fc
    TRAPS 16, 1, CAUSE_MISALIGNED_LOAD, .Lm1, a2
    CHECK 17, a1, 0x5a
3:  sd a0, -0x800(s1)
    li a3, 0x4444444455555555
    TRAP_RESET
.Lm2:
    sd a3, 0x7fc(s1)
    ld t6, TI_COUNT(tp)
    bnez t6, 2f
    lwu a2, 0x7fc(s1)               // aligned words only: loads may trap when misaligned
    li a4, 0x55555555
    CHECKR 18, a2, a4
    li a4, VA_T(1)
    lwu a2, 0(a4)
    li a4, 0x44444444
    CHECKR 18, a2, a4
    la a2, pc_b
    ld a2, 0(a2)
    CHECK 18, a2, B_HEAD
    li a2, A_END                    // put both words back
    sw a2, 0x7fc(s1)
    li a2, VAL_C & 0xffffffff
    li a4, VA_T(1)
    sw a2, 0(a4)
    j 3f
2:  addi a2, s1, 0x7fc
    TRAPS 19, 1, CAUSE_MISALIGNED_STORE, .Lm2, a2
    lwu a2, 0x7fc(s1)
    CHECK 19, a2, A_END
    li a4, VA_T(1)
    lwu a2, 0(a4)
    CHECK 19, a2, VAL_C & 0xffffffff
3:  addi s5, s5, -1
    bnez s5, 1b
    la a2, pc_b
    ld a2, 0(a2)
    CHECK 18, a2, B_HEAD

    // (6) Code in smc_code run, then rewritten through s1 (two stores: `addi a0, x0, pass`,
    // `ret`), FENCE.I, run again: it returns this pass's number (check 20).
    la s1, smc_code
    li s6, 0x00008067               // ret
    li s5, SMC_PASSES
1:  jalr s1
    andi a1, s5, 0x7ff
    slli a1, a1, 20
    ori a1, a1, 0x513
    sw a1, 0(s1)
    sw s6, 4(s1)
    fence.i
    jalr s1
    andi a1, s5, 0x7ff
    CHECKR 20, a0, a1
    addi s5, s5, -1
    bnez s5, 1b

    csrw satp, zero
    BACK_TO_M 1f
1:
TEST_PASS

    .option push
    .option norvc
    .align 12
smc_code:
    li a0, -1
    ret
    .align 12
    .option pop

    .pushsection .data
    .align 12
pc_a:
    .dword VAL_A
    .skip 4096 - 8 - 4
    .word A_END
pc_b:
    .dword B_HEAD
    .skip 4096 - 8
pc_c:
    .dword VAL_C
    .skip 4096 - 8
pc_d:
    .skip 4096
pc_e:
    .dword VAL_E
    .skip 4096 - 8
    .popsection
VM_CODE
