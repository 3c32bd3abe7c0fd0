/**
 * Binary layouts and constants of the seccomp filter ABI, declared once.
 * Sources: linux/seccomp.h (struct seccomp_data, SECCOMP_RET_*, SECCOMP_FILTER_FLAG_*),
 * linux/filter.h (struct sock_filter, BPF_MAXINSNS), linux/bpf_common.h (opcodes),
 * linux/audit.h (AUDIT_ARCH_*). layout.test.ts checks every value against the host's C headers.
 */

/** struct seccomp_data: what a filter can read with BPF_LD|BPF_W|BPF_ABS. All fields native-endian. */
export const SECCOMP_DATA = Object.freeze({
  /** int nr: the system call number. */
  nr: 0,
  /** __u32 arch: an AUDIT_ARCH_* value. */
  arch: 4,
  /** __u64 instruction_pointer. */
  instructionPointer: 8,
  /** __u64 args[6]: the raw argument registers. */
  args: 16,
  argSize: 8,
  argCount: 6,
  size: 64,
});

/** Offset of the low (index 0) or high (index 1) 32-bit word of args[i] on a little-endian host. */
export function argWordOffset(index: number, half: "lo" | "hi"): number {
  return SECCOMP_DATA.args + index * SECCOMP_DATA.argSize + (half === "lo" ? 0 : 4);
}

/** struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; } */
export const SOCK_FILTER = Object.freeze({ code: 0, jt: 2, jf: 3, k: 4, size: 8 });

/** The kernel refuses classic BPF programs longer than this (linux/bpf_common.h BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;
/** jt and jf are u8: a conditional jump skips at most this many instructions. */
export const BPF_MAX_COND_JUMP = 255;

/** Classic BPF opcode parts (linux/bpf_common.h). */
export const BPF = Object.freeze({
  LD: 0x00,
  ALU: 0x04,
  JMP: 0x05,
  RET: 0x06,
  W: 0x00,
  ABS: 0x20,
  K: 0x00,
  AND: 0x50,
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
});

/** Filter return values (linux/seccomp.h). The low 16 bits carry SECCOMP_RET_DATA (errno). */
export const SECCOMP_RET = Object.freeze({
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
  DATA_MASK: 0x0000ffff,
});

/** Flags of seccomp(SECCOMP_SET_MODE_FILTER, flags, prog) (linux/seccomp.h). */
export const SECCOMP_FILTER_FLAG = Object.freeze({
  TSYNC: 1 << 0,
  LOG: 1 << 1,
  SPEC_ALLOW: 1 << 2,
  NEW_LISTENER: 1 << 3,
  TSYNC_ESRCH: 1 << 4,
  WAIT_KILLABLE_RECV: 1 << 5,
});

/** seccomp(2) operation and the x86_64 syscall number used to call it. */
export const SECCOMP_SET_MODE_FILTER = 1;

/** linux/audit.h: EM_X86_64 (62) | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
export const AUDIT_ARCH_X86_64 = 0xc000003e;
/** linux/audit.h: EM_386 (3) | __AUDIT_ARCH_LE; what an x86_64 process's int 0x80 reports. */
export const AUDIT_ARCH_I386 = 0x40000003;
/** asm/unistd.h: x32 system calls are x86_64 calls with this bit set in nr. */
export const X32_SYSCALL_BIT = 0x40000000;

/** errno values the filter may return (asm-generic/errno-base.h). */
export const EPERM = 1;
export const ENOSYS = 38;
/** Linux caps SECCOMP_RET_ERRNO data at MAX_ERRNO (include/linux/err.h). */
export const MAX_ERRNO = 4095;
