// A fetch fault on the successor of a block whose link to it went stale (privileged spec 3.1.14
// mepc, 3.1.16 mtval, 4.3.2 the walk's page faults; unprivileged spec 1.5, a 32-bit instruction's
// two parcels; chapter 6 Zifencei), in S-mode with Sv39 tables.
//
// Written for an emulator that links a block to the successor it ran in the same page (Corral's
// exec.ts `Block.link`, followed without a lookup): block A jumps to block B, the last parcel of
// its page; B's parcel is rewritten into the low half of a 32-bit instruction whose upper half
// lies in the next virtual page, which is then unmapped. Running A again must fault on B's
// address (mepc = B, mtval = the next page), not on a pc moved by the stale block's offsets. The
// trap just before it (an EBREAK, the second instruction of its block) leaves a non-zero op index
// behind for a run loop that would wrongly apply it to the dead block. Not an ECALL: Corral takes
// an ECALL's trap without a throw (isa/ops-sys.ts), which leaves no op index behind.
#include "common.h"
#include "vm.h"
#define FLAGS (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define B_VA (VA_T(0) + 0xffe)
#define PASSES 3

TEST_BEGIN
    li a0, 3
    call vm_init
    li a1, 8 << SATP_MODE_SHIFT
    or s10, a0, a1
    MAP_PA 0x00000000, 0x00000000, FLAGS | PTE_G, 2
    MAP_PA 0x80000000, 0x80000000, FLAGS | PTE_G, 2
    MAP VA_T(0), lf_a, FLAGS, 0, 0
    MAP VA_T(1), lf_b, FLAGS, 0, 1
    ENTER_MODE MPP_S, s_main
s_main:
    csrw satp, s10
    sfence.vma

    // 1: A -> B (c.nop, the page's last parcel) -> VA_T(1) (`jr s1`) -> 2 below, a few passes,
    // counted in s4: A is linked to B.
    li s2, VA_T(0) + 0xf00
    li s4, 0
    li s5, PASSES
1:  la s1, 2f
    jr s2
2:  addi s4, s4, 1
    addi s5, s5, -1
    bnez s5, 1b
    CHECK 1, s4, PASSES

    // The next page unmapped (fenced), B's parcel made the low half of `addi x0, x0, 0` (fenced):
    // B is now one instruction straddling into the unmapped page.
    la t0, pte_addr
    ld t0, 8(t0)
    sd zero, 0(t0)
    li t1, VA_T(1)
    sfence.vma t1, zero
    li t0, B_VA
    li t1, 0x0013
    sh t1, 0(t0)
    fence.i
    // A trap at op index 1 of its block (the handler returns after the EBREAK).
    addi x0, x0, 0
    ebreak
    la t6, 3f
    sd t6, TI_RESUME(tp)
    TRAP_RESET
    la s1, 4f
    jr s2
4:  FAIL 2                          // B ran: the fetch of its upper half did not fault
3:  // M-mode, resumed by the handler. 3: one instruction page fault, mepc = B, mtval = VA_T(1).
    li a1, VA_T(1)
    CHECK_TRAP_TVAL 3, CAUSE_FETCH_PAGE, a1
    li a1, B_VA
    ld a0, TI_EPC(tp)
    CHECKR 4, a0, a1
TEST_PASS

    // lf_a: A at 0xf00 (`j` to B), B at 0xffe (a c.nop, the last parcel); lf_b, the next page:
    // `jr s1`. Laid out by hand so that B is exactly the page's last parcel.
    .option push
    .option norvc
    .align 12
    .option norelax
lf_a:
    .fill 0xf00 / 4, 4, 0x00000013
    j lf_a + 0xffe
    .fill (0xffe - 0xf04) / 2, 2, 0x0001
    .half 0x0001
lf_b:
    jr s1
    .option pop
    .align 12
VM_CODE
