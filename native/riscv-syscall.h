/*
 * Linux system calls on riscv64 without a C library, for the programs Corral runs in its guests
 * (native/corral-agent.c, tests/net/guest-udp.c, tests/vsock/guest-vsock.c): the number in a7,
 * up to six arguments in a0-a5, `ecall`, the result (or -errno) in a0 (the RISC-V ELF psABI's
 * calling convention as Linux's arch/riscv uses it; numbers from include/uapi/asm-generic/unistd.h).
 */
#ifndef CORRAL_RISCV_SYSCALL_H
#define CORRAL_RISCV_SYSCALL_H

static inline long sys6(long n, long a, long b, long c, long d, long e, long f) {
  register long a7 __asm__("a7") = n;
  register long a0 __asm__("a0") = a;
  register long a1 __asm__("a1") = b;
  register long a2 __asm__("a2") = c;
  register long a3 __asm__("a3") = d;
  register long a4 __asm__("a4") = e;
  register long a5 __asm__("a5") = f;
  __asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2), "r"(a3), "r"(a4), "r"(a5) : "memory");
  return a0;
}
#define sys1(n, a) sys6(n, (long)(a), 0, 0, 0, 0, 0)
#define sys2(n, a, b) sys6(n, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(n, a, b, c, d) sys6(n, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

#endif
