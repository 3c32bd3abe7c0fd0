// Page tables built at run time (privileged spec 4.3-4.5), shared by vm_sv39.S and vm_sv48.S.
// Include after common.h. vm_map walks from the root over vm_levels levels and allocates zeroed
// tables from pt_pool, so the same code builds Sv39, Sv48 and Sv57 tables.

#define PTE_V (1 << 0)
#define PTE_R (1 << 1)
#define PTE_W (1 << 2)
#define PTE_X (1 << 3)
#define PTE_U (1 << 4)
#define PTE_G (1 << 5)
#define PTE_A (1 << 6)
#define PTE_D (1 << 7)
#define SATP_MODE_SHIFT 60

// Virtual layout used by the programs (the low canonical half, identical for every mode):
//   0x0000_0000  1 GiB  -> 0x0000_0000  S RW   (MMIO: finisher, UART, CLINT)
//   0x8000_0000  1 GiB  -> 0x8000_0000  S RWX  (the program, identity: S code runs here)
//   0x4000_0000  2 MiB  -> 0x8000_0000  U RWX  (an alias of the program for U-mode code)
//   0x4020_0000 + 4 KiB * k             test pages with various permissions
//   0x4040_0000  2 MiB  -> 0x8000_0000  S R    (megapage translation)
//   0x4060_0000  2 MiB  -> 0x8000_1000  S R    (misaligned megapage: must fault)
#define VA_U_ALIAS   0x40000000
#define U_DELTA      (0x80000000 - VA_U_ALIAS)
#define VA_T(k)      (0x40200000 + (k) * 4096)
#define VA_MEGA      0x40400000
#define VA_MEGA_BAD  0x40600000

// Map virtual address `va` to the address of `sym` (physical) with `flags` at `level`
// (0 = 4 KiB, 1 = 2 MiB, 2 = 1 GiB); the leaf PTE's address is stored in pte_addr[slot].
.macro MAP va, sym, flags, level, slot=-1
    li a0, \va
    la a1, \sym
    srli a1, a1, 12
    slli a1, a1, 10
    ori a1, a1, \flags
    li a2, \level
    call vm_map
    .if \slot >= 0
    la a1, pte_addr
    sd a0, 8 * \slot(a1)
    .endif
.endm

// The same with a physical address given as a number.
.macro MAP_PA va, pa, flags, level
    li a0, \va
    li a1, ((\pa) >> 12) << 10 | (\flags)
    li a2, \level
    call vm_map
.endm

// a0 <- the leaf PTE of slot (its address in a1)
.macro PTE_OF slot
    la a1, pte_addr
    ld a1, 8 * \slot(a1)
    ld a0, 0(a1)
.endm

// From M-mode: run the U-mode snippet `code` (through the U alias) with a1 = `va`; it does one
// access then ECALLs. Whichever exception comes first returns to M-mode at the macro's end.
.macro RUN_U code, va
    li a1, \va
    la t6, .Lback\@
    sd t6, TI_RESUME(tp)
    TRAP_RESET
    la t6, \code
    li t5, U_DELTA
    sub t6, t6, t5
    csrw mepc, t6
    li t6, MSTATUS_MPP
    csrc mstatus, t6
    mret
.Lback\@:
.endm

// From M-mode: jump to virtual address `va` in mode `mpp` and expect an instruction page fault
// there (mepc = mtval = va), then continue in M-mode.
.macro FETCH_FAULT n, mpp, va
    la t6, .Lback\@
    sd t6, TI_RESUME(tp)
    TRAP_RESET
    li t6, MSTATUS_MPP
    csrc mstatus, t6
    li t6, \mpp
    csrs mstatus, t6
    li t6, \va
    csrw mepc, t6
    mret
.Lback\@:
    li a2, \va
    CHECK_TRAP_TVAL \n, CAUSE_FETCH_PAGE, a2
    ld a0, TI_EPC(tp)
    CHECKR \n, a0, a2
.endm

// In S-mode (skip path): `insn` on va must raise `cause` with mtval = va.
.macro S_FAULT n, cause, va, insn:vararg
    li a1, \va
    TRAP_RESET
    \insn
    CHECK_TRAP_TVAL \n, \cause, a1
.endm

// VM_CODE: the helper routines and data; emit once, after TEST_PASS.
.macro VM_CODE
// vm_init: a0 = number of levels; allocates an empty root table, returns satp's PPN in a0.
vm_init:
    la a1, vm_levels
    sd a0, 0(a1)
    la a1, pt_next
    ld a0, 0(a1)
    bnez a0, 1f
    la a0, pt_pool
1:  li a2, 4096
    add a2, a0, a2
    sd a2, 0(a1)
    la a1, vm_root
    sd a0, 0(a1)
    srli a0, a0, 12
    ret

// vm_map: a0 = va, a1 = leaf PTE, a2 = leaf level. Returns a0 = address of the leaf PTE.
// Clobbers a3-a7, t0, t1.
vm_map:
    la a3, vm_root
    ld a3, 0(a3)
    la a4, vm_levels
    ld a4, 0(a4)
    addi a4, a4, -1
1:  li a5, 9
    mul a5, a5, a4
    addi a5, a5, 12
    srl a6, a0, a5
    andi a6, a6, 511
    slli a6, a6, 3
    add a6, a6, a3
    beq a4, a2, 3f
    ld a5, 0(a6)
    bnez a5, 2f
    la t0, pt_next
    ld t1, 0(t0)
    li a7, 4096
    add a7, t1, a7
    sd a7, 0(t0)
    srli a5, t1, 12
    slli a5, a5, 10
    ori a5, a5, PTE_V
    sd a5, 0(a6)
2:  srli a3, a5, 10
    slli a3, a3, 12
    addi a4, a4, -1
    j 1b
3:  sd a1, 0(a6)
    mv a0, a6
    ret

// U-mode snippets (run through the U alias): one access on a1, then ECALL.
u_load:
    ld a0, 0(a1)
    ecall
u_store:
    sd a2, 0(a1)
    ecall

// An executable page: ECALL at offset 0, a data word at offset 8.
    .option push
    .option norvc
    .align 12
xpage:
    ecall
    nop
    .dword 0x0123456789abcdef
    .align 12
    .option pop

    .pushsection .data
    .align 12
dpage_a:
    .dword 0xaaaaaaaa00000001
    .align 12
dpage_b:
    .dword 0xbbbbbbbb00000002
    .align 12
ad_page:
    .dword 0x1111
    .align 12
ad_page2:
    .dword 0x2222
    .align 12
known:
    .dword 0x600dc0de600dc0de
    .popsection

    .pushsection .bss
    .align 12
pt_pool:    .skip 4096 * 24
vm_root:    .skip 8
vm_levels:  .skip 8
pt_next:    .skip 8
pte_addr:   .skip 8 * 16
    .popsection
.endm
