/*
 * The SMP benchmark's guest program (src/bench/smp.ts): a static riscv64 Linux program with no C
 * library. `smp-spin P N` forks P processes that each run a CPU-bound loop of N rounds (integer
 * hashing, no system calls, no shared data), waits for all, and prints "smp-spin ms=T" with the
 * wall time T in milliseconds (CLOCK_MONOTONIC) and "sum=S", the children's results, so a wrong
 * answer shows.
 */
#define SYS_write 64
#define SYS_exit 93
#define SYS_clock_gettime 113
#define SYS_clone 220
#define SYS_wait4 260
#define SIGCHLD 17

#include "../../../native/riscv-syscall.h"

static long num(const char *s) {
  long v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
  return v;
}
static char *putnum(char *o, unsigned long v) {
  char t[24];
  int n = 0;
  do t[n++] = (char)('0' + v % 10);
  while ((v /= 10) > 0);
  while (n > 0) *o++ = t[--n];
  return o;
}
static char *put(char *o, const char *s) {
  while (*s) *o++ = *s++;
  return o;
}
static long now_ms(void) {
  long ts[2];
  sys4(SYS_clock_gettime, 1, (long)ts, 0, 0);
  return ts[0] * 1000 + ts[1] / 1000000;
}

static unsigned long spin(long rounds) {
  unsigned long h = 1469598103934665603ul;
  for (long i = 0; i < rounds; i++) {
    h ^= (unsigned long)i;
    h *= 1099511628211ul;
    h ^= h >> 29;
  }
  return h;
}

void start_c(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  long procs = argc > 1 ? num(argv[1]) : 2;
  long rounds = argc > 2 ? num(argv[2]) : 100000000;
  long t0 = now_ms();
  for (long p = 0; p < procs; p++) {
    if (sys4(SYS_clone, SIGCHLD, 0, 0, 0) == 0) sys4(SYS_exit, (int)(spin(rounds) & 0x7f), 0, 0, 0);
  }
  unsigned long sum = 0;
  for (long p = 0; p < procs; p++) {
    int status = 0;
    sys4(SYS_wait4, -1, (long)&status, 0, 0);
    sum += (unsigned long)((status >> 8) & 0xff);
  }
  long ms = now_ms() - t0;
  char buf[96];
  char *o = put(buf, "smp-spin ms=");
  o = putnum(o, (unsigned long)ms);
  o = put(o, " sum=");
  o = putnum(o, sum);
  *o++ = '\n';
  sys4(SYS_write, 1, (long)buf, o - buf, 0);
  sys4(SYS_exit, 0, 0, 0, 0);
}

__asm__(".globl _start\n_start:\n  mv a0, sp\n  call start_c\n");
