/*
 * A guest program for tests/smp.test.ts: a static riscv64 Linux program with no C library (built
 * with riscv64-unknown-elf-gcc, as tests/vsock/guest-vsock.c). It starts NT threads (raw clone,
 * one address space) that all wait for a start flag, then each, ITERS times:
 *   - amoadd.w a shared 32-bit counter by 1 and amoadd.d a shared 64-bit counter by 3,
 *   - increments a shared 64-bit counter with an lr.d/sc.d loop,
 *   - takes a futex mutex (Drepper's three-state mutex: lr.w/sc.w compare-and-swap, amoswap.w,
 *     FUTEX_WAIT/FUTEX_WAKE) and increments a plain (non-atomic) counter inside it.
 * Every total must be exact: NT*ITERS (3*NT*ITERS for the 64-bit AMO). Prints the totals and exits
 * 0 when all are right, 1 otherwise.
 *   guest-hammer NT ITERS
 */
#define SYS_write 64
#define SYS_exit 93
#define SYS_futex 98
#define SYS_clone 220
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define MAX_THREADS 16
#define STACK 16384

#include "../../native/riscv-syscall.h"

static volatile int start_flag;
static int amo32;
static long amo64;
static long lrsc64;
static int mutex;
static long locked;
static long iters;
static int tids[MAX_THREADS];
static unsigned char stacks[MAX_THREADS][STACK] __attribute__((aligned(16)));

/* spawn(flags, stack_top, fn, arg, ctid): clone; the child calls fn(arg) on its stack, then exits. */
long spawn(long flags, void *stack, void (*fn)(long), long arg, int *ctid);
__asm__(".globl spawn\nspawn:\n"
        "  mv t0, a2\n  mv t1, a3\n  li a2, 0\n  li a3, 0\n"
        "  li a7, 220\n  ecall\n  bnez a0, 1f\n"
        "  mv a0, t1\n  jalr t0\n  li a0, 0\n  li a7, 93\n  ecall\n"
        "1:\n  ret\n");

static int amoswap_w(int *p, int v) {
  int old;
  __asm__ volatile("amoswap.w.aqrl %0, %2, (%1)" : "=r"(old) : "r"(p), "r"(v) : "memory");
  return old;
}
static int amoadd_w(int *p, int v) {
  int old;
  __asm__ volatile("amoadd.w.aqrl %0, %2, (%1)" : "=r"(old) : "r"(p), "r"(v) : "memory");
  return old;
}
static long amoadd_d(long *p, long v) {
  long old;
  __asm__ volatile("amoadd.d %0, %2, (%1)" : "=r"(old) : "r"(p), "r"(v) : "memory");
  return old;
}
/* Compare-and-swap with lr.w/sc.w: returns the value found. */
static int cas_w(int *p, int expect, int v) {
  int old, fail;
  __asm__ volatile("1: lr.w.aq %0, (%2)\n"
                   "   bne %0, %3, 2f\n"
                   "   sc.w.rl %1, %4, (%2)\n"
                   "   bnez %1, 1b\n"
                   "2:\n"
                   : "=&r"(old), "=&r"(fail)
                   : "r"(p), "r"(expect), "r"(v)
                   : "memory");
  return old;
}
static void lrsc_inc(long *p) {
  long v, fail;
  __asm__ volatile("1: lr.d %0, (%2)\n"
                   "   addi %0, %0, 1\n"
                   "   sc.d %1, %0, (%2)\n"
                   "   bnez %1, 1b\n"
                   : "=&r"(v), "=&r"(fail)
                   : "r"(p)
                   : "memory");
}

static void lock(int *m) {
  int c = cas_w(m, 0, 1);
  if (c == 0) return;
  if (c != 2) c = amoswap_w(m, 2);
  while (c != 0) {
    sys4(SYS_futex, (long)m, FUTEX_WAIT, 2, 0);
    c = amoswap_w(m, 2);
  }
}
static void unlock(int *m) {
  if (amoadd_w(m, -1) != 1) {
    amoswap_w(m, 0);
    sys4(SYS_futex, (long)m, FUTEX_WAKE, 1, 0);
  }
}

static void worker(long arg) {
  (void)arg;
  while (!start_flag) {
  }
  for (long i = 0; i < iters; i++) {
    amoadd_w(&amo32, 1);
    amoadd_d(&amo64, 3);
    lrsc_inc(&lrsc64);
    lock(&mutex);
    locked = locked + 1; /* plain load and store: the mutex alone makes it exact */
    __asm__ volatile("" ::: "memory");
    unlock(&mutex);
  }
}

static long num(const char *s) {
  long v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
  return v;
}
static char *put(char *o, const char *s) {
  while (*s) *o++ = *s++;
  return o;
}
static char *putnum(char *o, long v) {
  char t[24];
  int n = 0;
  do t[n++] = (char)('0' + v % 10);
  while ((v /= 10) > 0);
  while (n > 0) *o++ = t[--n];
  return o;
}

void start_c(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  long nt = argc > 1 ? num(argv[1]) : 4;
  iters = argc > 2 ? num(argv[2]) : 10000;
  if (nt < 1 || nt > MAX_THREADS) sys4(SYS_exit, 2, 0, 0, 0);
  /* CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|CHILD_CLEARTID: a thread; its tid word is cleared
     and futex-woken when it exits. */
  long flags = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000 | 0x200000;
  for (long t = 0; t < nt; t++) {
    tids[t] = 1;
    long r = spawn(flags, stacks[t] + STACK, worker, t, &tids[t]);
    if (r < 0) sys4(SYS_exit, 3, 0, 0, 0);
  }
  start_flag = 1;
  for (long t = 0; t < nt; t++)
    for (int v; (v = __atomic_load_n(&tids[t], __ATOMIC_ACQUIRE)) != 0;) sys4(SYS_futex, (long)&tids[t], FUTEX_WAIT, v, 0);
  long want = nt * iters;
  char buf[160];
  char *o = put(buf, "amo32=");
  o = putnum(o, amo32);
  o = put(o, " amo64=");
  o = putnum(o, amo64);
  o = put(o, " lrsc=");
  o = putnum(o, lrsc64);
  o = put(o, " mutex=");
  o = putnum(o, locked);
  o = put(o, " want=");
  o = putnum(o, want);
  *o++ = '\n';
  sys4(SYS_write, 1, (long)buf, o - buf, 0);
  int ok = amo32 == want && amo64 == 3 * want && lrsc64 == want && locked == want;
  sys4(SYS_exit, ok ? 0 : 1, 0, 0, 0);
}

__asm__(".globl _start\n_start:\n  mv a0, sp\n  call start_c\n");
