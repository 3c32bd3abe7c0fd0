/*
 * A guest program for tests/vsock.test.ts: a static riscv64 Linux program with no C library
 * (built with the bare-metal riscv64-unknown-elf-gcc that CI already has; Linux only needs
 * _start and the system-call ABI: number in a7, arguments in a0-a5, ecall).
 *   guest-vsock listen PORT        accept one AF_VSOCK connection, read a line, answer
 *                                  "guest got: LINE\n", close
 *   guest-vsock connect PORT MSG   connect to the host (CID 2), send MSG, print what comes
 *                                  back until the host closes
 * Exit status 0 on success, else the step that failed (10 + n).
 */
#include "../../native/riscv-syscall.h"

#define SYS_close 57
#define SYS_read 63
#define SYS_write 64
#define SYS_exit 93
#define SYS_socket 198
#define SYS_bind 200
#define SYS_listen 201
#define SYS_accept 202
#define SYS_connect 203
#define AF_VSOCK 40
#define SOCK_STREAM 1
#define VMADDR_CID_ANY 0xffffffffu
#define VMADDR_CID_HOST 2u

/* linux/vm_sockets.h struct sockaddr_vm: 16 bytes. */
struct sockaddr_vm {
  unsigned short family;
  unsigned short reserved1;
  unsigned int port;
  unsigned int cid;
  unsigned char flags;
  unsigned char zero[3];
};

static void die(int code) {
  sys3(SYS_exit, code, 0, 0);
  for (;;) {
  }
}

static long len(const char *s) {
  long n = 0;
  while (s[n]) n++;
  return n;
}

static unsigned int num(const char *s) {
  unsigned int v = 0;
  while (*s >= '0' && *s <= '9') v = v * 10 + (unsigned int)(*s++ - '0');
  return v;
}

static void addr(struct sockaddr_vm *a, unsigned int cid, unsigned int port) {
  a->family = AF_VSOCK;
  a->reserved1 = 0;
  a->port = port;
  a->cid = cid;
  a->flags = 0;
  a->zero[0] = a->zero[1] = a->zero[2] = 0;
}

static int listen_once(unsigned int port) {
  struct sockaddr_vm a;
  char buf[256];
  static const char prefix[] = "guest got: ";
  char out[sizeof prefix + sizeof buf];
  long s = sys3(SYS_socket, AF_VSOCK, SOCK_STREAM, 0), c, n = 0, r, i;
  if (s < 0) return 11;
  addr(&a, VMADDR_CID_ANY, port);
  if (sys3(SYS_bind, s, (long)&a, sizeof a) < 0) return 12;
  if (sys3(SYS_listen, s, 1, 0) < 0) return 13;
  c = sys3(SYS_accept, s, 0, 0);
  if (c < 0) return 14;
  while (n < (long)sizeof buf && (n == 0 || buf[n - 1] != '\n')) {
    r = sys3(SYS_read, c, (long)(buf + n), sizeof buf - n);
    if (r <= 0) return 15;
    n += r;
  }
  for (i = 0; prefix[i]; i++) out[i] = prefix[i];
  for (r = 0; r < n; r++) out[i + r] = buf[r];
  if (sys3(SYS_write, c, (long)out, i + n) != i + n) return 16;
  sys3(SYS_close, c, 0, 0);
  sys3(SYS_close, s, 0, 0);
  return 0;
}

static int connect_host(unsigned int port, const char *msg) {
  struct sockaddr_vm a;
  char buf[256];
  long s = sys3(SYS_socket, AF_VSOCK, SOCK_STREAM, 0), r;
  if (s < 0) return 21;
  addr(&a, VMADDR_CID_HOST, port);
  if (sys3(SYS_connect, s, (long)&a, sizeof a) < 0) return 22;
  if (sys3(SYS_write, s, (long)msg, len(msg)) != len(msg)) return 23;
  while ((r = sys3(SYS_read, s, (long)buf, sizeof buf)) > 0) sys3(SYS_write, 1, (long)buf, r);
  sys3(SYS_close, s, 0, 0);
  return r < 0 ? 24 : 0;
}

/* The kernel's initial stack: argc, then argv[] (System V ABI, as Linux sets it up). */
void start_c(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  if (argc >= 3 && argv[1][0] == 'l') die(listen_once(num(argv[2])));
  if (argc >= 4 && argv[1][0] == 'c') die(connect_host(num(argv[2]), argv[3]));
  die(2);
}

__asm__(".globl _start\n_start:\n  mv a0, sp\n  call start_c\n");
