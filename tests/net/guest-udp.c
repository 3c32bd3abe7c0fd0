/*
 * A guest program for tests/net/user.test.ts: UDP from a static riscv64 Linux program with no C
 * library (built with the bare-metal riscv64-unknown-elf-gcc, as tests/vsock/guest-vsock.c is;
 * busybox nc has no UDP mode).
 *   guest-udp send A.B.C.D PORT MSG   send MSG, print the reply (3 tries, 3 s apart)
 *   guest-udp echo PORT               answer one datagram with "guest got: " and it
 *   guest-udp flood A.B.C.D PORT N    one datagram to each of N ports from PORT on
 * Exit status 0 on success, else the step that failed (10 + n).
 */
#include "../../native/riscv-syscall.h"

#define SYS_close 57
#define SYS_write 64
#define SYS_exit 93
#define SYS_socket 198
#define SYS_bind 200
#define SYS_connect 203
#define SYS_sendto 206
#define SYS_recvfrom 207
#define SYS_setsockopt 208
#define AF_INET 2
#define SOCK_DGRAM 2
#define SOL_SOCKET 1
#define SO_RCVTIMEO 20

struct sockaddr_in {
  unsigned short family;
  unsigned short port; /* network order */
  unsigned int addr;   /* network order */
  unsigned char zero[8];
};

static void die(int code) {
  sys6(SYS_exit, code, 0, 0, 0, 0, 0);
  for (;;) {
  }
}

static long len(const char *s) {
  long n = 0;
  while (s[n]) n++;
  return n;
}

static unsigned int num(const char **s) {
  unsigned int v = 0;
  while (**s >= '0' && **s <= '9') v = v * 10 + (unsigned int)(*(*s)++ - '0');
  return v;
}

static unsigned short be16(unsigned int v) { return (unsigned short)(((v & 0xff) << 8) | ((v >> 8) & 0xff)); }

static void addr(struct sockaddr_in *a, const char *ip, unsigned int port) {
  unsigned int b[4] = {0, 0, 0, 0};
  int i;
  for (i = 0; i < 4 && ip; i++) {
    b[i] = num(&ip);
    if (*ip == '.') ip++;
  }
  a->family = AF_INET;
  a->port = be16(port);
  a->addr = b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24);
  for (i = 0; i < 8; i++) a->zero[i] = 0;
}

static int send_one(const char *ip, unsigned int port, const char *msg) {
  struct sockaddr_in a;
  long tv[2] = {3, 0};
  char buf[2048];
  long s = sys6(SYS_socket, AF_INET, SOCK_DGRAM, 0, 0, 0, 0), r = -1;
  int tries;
  if (s < 0) return 11;
  if (sys6(SYS_setsockopt, s, SOL_SOCKET, SO_RCVTIMEO, (long)tv, sizeof tv, 0) < 0) return 12;
  addr(&a, ip, port);
  if (sys6(SYS_connect, s, (long)&a, sizeof a, 0, 0, 0) < 0) return 13;
  for (tries = 0; tries < 3 && r <= 0; tries++) {
    if (sys6(SYS_sendto, s, (long)msg, len(msg), 0, 0, 0) != len(msg)) return 14;
    r = sys6(SYS_recvfrom, s, (long)buf, sizeof buf, 0, 0, 0);
  }
  if (r <= 0) return 15;
  sys6(SYS_write, 1, (long)buf, r, 0, 0, 0);
  sys6(SYS_write, 1, (long)"\n", 1, 0, 0, 0);
  return 0;
}

static int echo_one(unsigned int port) {
  struct sockaddr_in a, from;
  int fromlen = sizeof from;
  static const char prefix[] = "guest got: ";
  char buf[2048];
  long s = sys6(SYS_socket, AF_INET, SOCK_DGRAM, 0, 0, 0, 0), r, i;
  if (s < 0) return 21;
  addr(&a, "0.0.0.0", port);
  if (sys6(SYS_bind, s, (long)&a, sizeof a, 0, 0, 0) < 0) return 22;
  for (i = 0; prefix[i]; i++) buf[i] = prefix[i];
  r = sys6(SYS_recvfrom, s, (long)(buf + i), sizeof buf - i, 0, (long)&from, (long)&fromlen);
  if (r <= 0) return 23;
  if (sys6(SYS_sendto, s, (long)buf, i + r, 0, (long)&from, fromlen) != i + r) return 24;
  return 0;
}

static int flood(const char *ip, unsigned int port, unsigned int n) {
  struct sockaddr_in a;
  unsigned int k;
  long s = sys6(SYS_socket, AF_INET, SOCK_DGRAM, 0, 0, 0, 0);
  if (s < 0) return 31;
  for (k = 0; k < n; k++) {
    addr(&a, ip, port + k);
    sys6(SYS_sendto, s, (long)"x", 1, 0, (long)&a, sizeof a);
  }
  return 0;
}

/* The kernel's initial stack: argc, then argv[] (System V ABI, as Linux sets it up). */
void start_c(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  const char *p;
  if (argc >= 5 && argv[1][0] == 's') {
    p = argv[3];
    die(send_one(argv[2], num(&p), argv[4]));
  }
  if (argc >= 3 && argv[1][0] == 'e') {
    p = argv[2];
    die(echo_one(num(&p)));
  }
  if (argc >= 5 && argv[1][0] == 'f') {
    const char *q = argv[4];
    p = argv[3];
    die(flood(argv[2], num(&p), num(&q)));
  }
  die(2);
}

__asm__(".globl _start\n_start:\n  mv a0, sp\n  call start_c\n");
