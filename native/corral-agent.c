/*
 * corral-agent: Corral's guest agent, a static riscv64 Linux program with no C library (Linux
 * needs only _start and the system-call ABI: number in a7, arguments in a0-a5, ecall; numbers
 * from include/uapi/asm-generic/unistd.h). scripts/build-native.mjs builds it with a riscv64
 * cross compiler; src/image/initramfs.ts puts it at /bin/corral-agent; the guest's /init starts
 * it in a respawn loop with oom_score_adj -1000 (src/image/init-script.ts).
 *
 * It serves the virtio-console port named AGENT_PORT_NAME (virtio 1.2 5.3.6.2 PORT_NAME; the
 * guest sees /dev/vportNpM and /sys/class/virtio-ports/<dev>/name) with the line protocol of
 * src/vm/agent/protocol.ts, which documents the frames. One process, one poll() loop: each exec
 * is one vfork-style clone (the child borrows the agent's memory until its execve, so no page
 * tables are copied and torn down again), which sets up the command's session, stdio and
 * directory and execs it; stdin,
 * stdout and stderr are pipes (or one pseudo-terminal) the loop reads and writes without ever
 * blocking on a command. Everything from the host is bounded (lines, counts, chunks): bad input
 * ends one exec with status 126 or is dropped, never the agent.
 *
 * The constants shared with the host are checked against protocol.ts by src/image/agent.test.ts.
 */

#include "riscv-syscall.h"

#define AGENT_PORT_NAME "org.corral.agent"
#define AGENT_VERSION 5
#define HOSTNAME_MAX 64
#define OUTPUT_CHUNK 3072
#define STDIN_CHUNK 16384
#define STDIN_WINDOW 3
#define AGENT_MAX_LINE 262144

#define PID_DIR "/run/corral-agent"
#define PID_FILE "/run/corral-agent/pid"
/** Execs at once; each holds at most three descriptors here. */
#define MAX_EXECS 128
#define MAX_ARGS 4096
#define MAX_ENV 1024
/** Stdin held for one exec: the host's window, and one chunk more from a host that overruns it. */
#define STDIN_BUF ((STDIN_WINDOW + 1) * STDIN_CHUNK)
#define MAX_CHUNKS 8
/** Status of an exec that could not be started (as sh gives a command it cannot run). */
#define ST_CANNOT_RUN 126
#define ST_NOT_FOUND 127

typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;

/* System calls (include/uapi/asm-generic/unistd.h). */
#define SYS_dup3 24
#define SYS_fcntl 25
#define SYS_ioctl 29
#define SYS_mkdirat 34
#define SYS_mount 40
#define SYS_chdir 49
#define SYS_openat 56
#define SYS_close 57
#define SYS_pipe2 59
#define SYS_getdents64 61
#define SYS_read 63
#define SYS_write 64
#define SYS_ppoll 73
#define SYS_signalfd4 74
#define SYS_sync 81
#define SYS_exit_group 94
#define SYS_nanosleep 101
#define SYS_clock_settime 112
#define SYS_kill 129
#define SYS_rt_sigaction 134
#define SYS_rt_sigprocmask 135
#define SYS_reboot 142
#define SYS_setsid 157
#define SYS_sethostname 161
#define SYS_prctl 167
#define SYS_getpid 172
#define SYS_munmap 215
#define SYS_clone 220
/* clone(2) flags (include/uapi/linux/sched.h): share the memory, the parent waits until the
   child's execve or exit; the low byte is the signal the parent gets when the child ends. */
#define CLONE_VM 0x100
#define CLONE_VFORK 0x4000
#define SYS_execve 221
#define SYS_mmap 222
#define SYS_wait4 260

#define AT_FDCWD (-100)
#define CLOCK_REALTIME 0
#define EINVAL 22
#define O_RDONLY 0
#define O_WRONLY 01
#define O_RDWR 02
#define O_CREAT 0100
#define O_NOCTTY 0400
#define O_TRUNC 01000
#define O_NONBLOCK 04000
#define O_DIRECTORY 0200000
#define O_CLOEXEC 02000000
#define F_GETFL 3
#define F_SETFL 4

#define EINTR 4
#define EIO 5
#define ENOEXEC 8
#define EAGAIN 11
#define ENOMEM 12
#define EACCES 13
#define ENOENT 2
#define ENOTDIR 20
#define EPIPE 32
#define E2BIG 7

#define SIGHUP 1
#define SIGINT 2
#define SIGQUIT 3
#define SIGKILL 9
/* mount(2) flags (include/uapi/linux/mount.h). */
#define MS_RDONLY 1
#define MS_REMOUNT 32
#define SIGPIPE 13
#define SIGTERM 15
#define SIGCHLD 17
#define SIGTSTP 20
#define SIGTTIN 21
#define SIGTTOU 22
#define SIG_BLOCK 0
#define SIG_SETMASK 2
#define SIG_DFL 0UL
#define SIG_IGN 1UL

#define POLLIN 0x1
#define POLLOUT 0x4
#define POLLERR 0x8
#define POLLHUP 0x10
#define POLLNVAL 0x20

#define WNOHANG 1
#define PR_SET_CHILD_SUBREAPER 36
#define MAP_PRIVATE 0x02
#define MAP_ANONYMOUS 0x20
#define PROT_RW 0x3

/* Terminal ioctls (include/uapi/asm-generic/ioctls.h). */
#define TIOCSCTTY 0x540E
#define TIOCSWINSZ 0x5414
#define TIOCSPTLCK 0x40045431
#define TIOCGPTN 0x80045430
#define TIOCGPTPEER 0x5441

/* reboot(2) magic numbers and LINUX_REBOOT_CMD_POWER_OFF (include/uapi/linux/reboot.h). */
#define REBOOT_MAGIC1 0xfee1deadL
#define REBOOT_MAGIC2 672274793L
#define REBOOT_POWER_OFF 0x4321FEDCL

struct pollfd {
  int fd;
  short events;
  short revents;
};
struct timespec {
  long sec;
  long nsec;
};
struct winsize {
  u16 rows, cols, xpixel, ypixel;
};
/* The kernel's struct sigaction on riscv (no SA_RESTORER: asm-generic/signal.h). */
struct ksigaction {
  unsigned long handler;
  unsigned long flags;
  u64 mask;
};
struct dirent64 {
  u64 ino;
  long off;
  u16 reclen;
  u8 type;
  char name[];
};

/* gcc may emit calls to these even in a freestanding program. */
void *memset(void *d, int c, unsigned long n) {
  u8 *p = d;
  while (n--) *p++ = (u8)c;
  return d;
}
void *memcpy(void *d, const void *s, unsigned long n) {
  u8 *p = d;
  const u8 *q = s;
  while (n--) *p++ = *q++;
  return d;
}
void *memmove(void *d, const void *s, unsigned long n) {
  u8 *p = d;
  const u8 *q = s;
  if (p < q)
    while (n--) *p++ = *q++;
  else
    while (n--) p[n] = q[n];
  return d;
}

static __attribute__((noreturn)) void die(int code) {
  sys1(SYS_exit_group, code);
  for (;;) {
  }
}

static unsigned long slen(const char *s) {
  unsigned long n = 0;
  while (s[n]) n++;
  return n;
}
static int sameprefix(const char *a, const char *b, unsigned long n) {
  for (unsigned long i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}
/** Decimal digits of v at p; returns the count. */
static int utoa(u64 v, char *p) {
  char t[24];
  int n = 0, i;
  do t[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  for (i = 0; i < n; i++) p[i] = t[n - 1 - i];
  return n;
}
static int openf(const char *path, int flags) { return (int)sys4(SYS_openat, AT_FDCWD, path, flags, 0644); }
static void closefd(int fd) {
  if (fd >= 0) sys1(SYS_close, fd);
}
static void nonblock(int fd) { sys3(SYS_fcntl, fd, F_SETFL, sys3(SYS_fcntl, fd, F_GETFL, 0) | O_NONBLOCK); }
static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  sys2(SYS_nanosleep, &t, 0);
}
/** Read a small file whole (sysfs attributes); -1 on error. */
static long readsmall(const char *path, char *buf, long cap) {
  int fd = openf(path, O_RDONLY | O_CLOEXEC);
  long n;
  if (fd < 0) return -1;
  n = sys3(SYS_read, fd, buf, cap - 1);
  closefd(fd);
  if (n < 0) return -1;
  buf[n] = 0;
  return n;
}

/* ---- base64 (RFC 4648 section 4, with padding) ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static unsigned long b64enc(const u8 *in, unsigned long n, char *out) {
  unsigned long o = 0, i;
  for (i = 0; i + 2 < n; i += 3) {
    u32 v = (u32)in[i] << 16 | (u32)in[i + 1] << 8 | in[i + 2];
    out[o++] = B64[v >> 18];
    out[o++] = B64[(v >> 12) & 63];
    out[o++] = B64[(v >> 6) & 63];
    out[o++] = B64[v & 63];
  }
  if (i < n) {
    u32 v = (u32)in[i] << 16 | (i + 1 < n ? (u32)in[i + 1] << 8 : 0);
    out[o++] = B64[v >> 18];
    out[o++] = B64[(v >> 12) & 63];
    out[o++] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  return o;
}
static int b64val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}
/** Decoded length, or -1 for anything that is not base64. `out` holds at least n / 4 * 3. */
static long b64dec(const char *in, unsigned long n, u8 *out) {
  unsigned long o = 0, i;
  if (n % 4 != 0) return -1;
  for (i = 0; i < n; i += 4) {
    int a = b64val(in[i]), b = b64val(in[i + 1]), c = b64val(in[i + 2]), d = b64val(in[i + 3]);
    int last = i + 4 == n;
    if (a < 0 || b < 0) return -1;
    if (last && in[i + 2] == '=' && in[i + 3] == '=') {
      out[o++] = (u8)(a << 2 | b >> 4);
    } else if (last && in[i + 3] == '=') {
      if (c < 0) return -1;
      out[o++] = (u8)(a << 2 | b >> 4);
      out[o++] = (u8)(b << 4 | c >> 2);
    } else {
      if (c < 0 || d < 0) return -1;
      out[o++] = (u8)(a << 2 | b >> 4);
      out[o++] = (u8)(b << 4 | c >> 2);
      out[o++] = (u8)(c << 6 | d);
    }
  }
  return (long)o;
}

/* ---- output to the host: lines queued, written in order by this one process ---- */

static int port = -1;
static char outq[65536];
static unsigned long outlen;

/** Write the queue to the port (blocking: the host always reads; this is the backpressure). */
static void flush(void) {
  unsigned long at = 0;
  while (at < outlen) {
    long n = sys3(SYS_write, port, outq + at, outlen - at);
    if (n == -EINTR) continue;
    if (n <= 0) break; /* the port is gone: what is queued cannot be delivered */
    at += (unsigned long)n;
  }
  outlen = 0;
}
static char *reserve(unsigned long n) {
  if (outlen + n > sizeof outq) flush();
  return outq + outlen;
}
/** "<op> <id>[ <n>]\n" */
static void emit(char op, u64 id, int with_n, u64 n) {
  char *p = reserve(64), *s = p;
  *p++ = op;
  *p++ = ' ';
  p += utoa(id, p);
  if (with_n) {
    *p++ = ' ';
    p += utoa(n, p);
  }
  *p++ = '\n';
  outlen += (unsigned long)(p - s);
}
/** "O <id> <fd> <base64>\n" for at most OUTPUT_CHUNK bytes. */
static void emit_output(u64 id, int fd, const u8 *data, unsigned long n) {
  char *p = reserve(64 + (OUTPUT_CHUNK + 2) / 3 * 4), *s = p;
  *p++ = 'O';
  *p++ = ' ';
  p += utoa(id, p);
  *p++ = ' ';
  *p++ = (char)('0' + fd);
  *p++ = ' ';
  p += b64enc(data, n, p);
  *p++ = '\n';
  outlen += (unsigned long)(p - s);
}
/** A message from the agent on the exec's stderr (one line). */
static void emit_error(u64 id, const char *a, const char *b) {
  u8 msg[512];
  unsigned long n = 0, la = slen(a), lb = slen(b);
  static const char pre[] = "corral: ";
  memcpy(msg, pre, sizeof pre - 1);
  n = sizeof pre - 1;
  if (la > 200) la = 200;
  if (lb > 200) lb = 200;
  memcpy(msg + n, a, la);
  n += la;
  memcpy(msg + n, b, lb);
  n += lb;
  msg[n++] = '\n';
  emit_output(id, 2, msg, n);
}

/* ---- execs ---- */

struct exec {
  int used;
  u64 id;
  int pid;      /* the command, > 0 until reaped */
  int pgid;     /* its session and process group (its pid), 0 once another process may own the number */
  int status;   /* wait status once reaped */
  int tty;      /* out[0] is the terminal's master, and stdin goes to it */
  int in;       /* stdin's write end (a pipe), -1 when none or closed */
  int out[2];   /* stdout and stderr read ends (with a terminal, out[0] only), -1 at end of file */
  int in_eof;   /* E came: close stdin once what is held is written */
  int in_gone;  /* the command closed its stdin: what comes is dropped (and credited) */
  int hup;      /* a terminal whose every slave end is closed: not polled until the command is reaped */
  u8 *buf;      /* stdin held while the pipe is full (mmap'd, STDIN_BUF bytes) */
  unsigned long buflen;
  u64 accepted, written; /* stdin bytes taken from the host, and passed on (or dropped) */
  u64 chunk_end[MAX_CHUNKS]; /* `accepted` at the end of each chunk not yet credited */
  int nchunks;
};

static struct exec execs[MAX_EXECS];
static char **agent_env;
static int devnull = -1;

static struct exec *find(u64 id) {
  for (int i = 0; i < MAX_EXECS; i++)
    if (execs[i].used && execs[i].id == id) return &execs[i];
  return 0;
}
static int stdin_fd(struct exec *e) { return e->tty ? e->out[0] : e->in; }

/** Credit (C) each chunk whose bytes have all been passed on. */
static void credit(struct exec *e) {
  while (e->nchunks > 0 && e->written >= e->chunk_end[0]) {
    emit('C', e->id, 0, 0);
    for (int i = 1; i < e->nchunks; i++) e->chunk_end[i - 1] = e->chunk_end[i];
    e->nchunks--;
  }
}

static void close_stdin(struct exec *e) {
  if (!e->tty) {
    closefd(e->in);
    e->in = -1;
  }
}

/** Pass held stdin on as far as the pipe takes it. */
static void pump_stdin(struct exec *e) {
  int fd = stdin_fd(e);
  while (e->buflen > 0 && !e->in_gone && fd >= 0) {
    long n = sys3(SYS_write, fd, e->buf, e->buflen);
    if (n == -EINTR) continue;
    if (n == -EAGAIN) break;
    if (n <= 0) {
      e->in_gone = 1; /* EPIPE: nobody reads it any more */
      break;
    }
    memmove(e->buf, e->buf + n, e->buflen - (unsigned long)n);
    e->buflen -= (unsigned long)n;
    e->written += (u64)n;
  }
  if (e->in_gone) {
    e->written += e->buflen;
    e->buflen = 0;
  }
  if (e->in_eof && e->buflen == 0) close_stdin(e);
  credit(e);
}

/** Stdin bytes of an I frame, as they arrive. */
static void feed(struct exec *e, const u8 *p, unsigned long n) {
  int fd = stdin_fd(e);
  if (e->in_gone || fd < 0 || e->buf == 0) {
    e->accepted += n;
    e->written += n;
    return;
  }
  if (n > STDIN_BUF - e->buflen) n = STDIN_BUF - e->buflen; /* a host past its window: dropped */
  memcpy(e->buf + e->buflen, p, n);
  e->buflen += n;
  e->accepted += n;
  pump_stdin(e);
}
static void chunk_done(struct exec *e) {
  if (e->nchunks < MAX_CHUNKS) e->chunk_end[e->nchunks++] = e->accepted;
  else e->chunk_end[MAX_CHUNKS - 1] = e->accepted;
  credit(e);
}

static void release(struct exec *e) {
  closefd(e->in);
  closefd(e->out[0]);
  closefd(e->out[1]);
  if (e->buf) sys2(SYS_munmap, e->buf, STDIN_BUF);
  memset(e, 0, sizeof *e);
}

static void finish(struct exec *e) {
  int st = e->status;
  int code = (st & 0x7f) == 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f);
  emit('R', e->id, 1, (u64)code);
  release(e);
}

/* ---- starting a command (in the child of the one fork) ---- */

static const char *errtext(long err) {
  switch (err) {
  case ENOENT: return "No such file or directory";
  case EACCES: return "Permission denied";
  case ENOTDIR: return "Not a directory";
  case ENOEXEC: return "Exec format error";
  case ENOMEM: return "Out of memory";
  case E2BIG: return "Argument list too long";
  case EAGAIN: return "Resource temporarily unavailable";
  default: return "error";
  }
}
/** In the child: one line on its stderr, then exit. */
static __attribute__((noreturn)) void child_fail(int code, const char *what, const char *name, long err) {
  char msg[600];
  unsigned long n = 0;
  const char *parts[] = {"corral: ", what, name, ": ", errtext(err), "\n"};
  for (unsigned i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    unsigned long l = slen(parts[i]);
    if (l > 250) l = 250;
    memcpy(msg + n, parts[i], l);
    n += l;
  }
  sys3(SYS_write, 2, msg, n);
  die(code);
}

/** execvp's search: PATH from the command's own environment; ENOEXEC runs the file with sh. */
static __attribute__((noreturn)) void run_command(char **argv, char **envp) {
  const char *file = argv[0], *path = "/bin:/usr/bin";
  char full[4096];
  long err = ENOENT, r;
  int seen_eacces = 0;
  unsigned long fl = slen(file);
  for (char **v = envp; *v; v++)
    if (sameprefix(*v, "PATH=", 5)) path = *v + 5;
  for (const char *p = file; *p; p++)
    if (*p == '/') path = 0;
  for (const char *dir = path;;) {
    const char *cand = file;
    if (path) {
      const char *end = dir;
      unsigned long dl;
      while (*end && *end != ':') end++;
      dl = (unsigned long)(end - dir);
      if (dl + 1 + fl + 1 > sizeof full) goto next;
      memcpy(full, dir, dl);
      if (dl == 0) full[dl++] = '.';
      full[dl] = '/';
      memcpy(full + dl + 1, file, fl + 1);
      cand = full;
    }
    r = sys3(SYS_execve, cand, argv, envp);
    if (r == -ENOEXEC) {
      /* A script without #!: run it with sh, as execvp does (argv has a free slot before it). */
      argv[-1] = "sh";
      argv[0] = (char *)cand;
      r = sys3(SYS_execve, "/bin/sh", argv - 1, envp);
      argv[0] = (char *)file;
    }
    if (r == -EACCES) seen_eacces = 1;
    else if (r != -ENOENT && r != -ENOTDIR) err = -r;
  next:
    if (!path) break;
    while (*dir && *dir != ':') dir++;
    if (!*dir) break;
    dir++;
  }
  if (err == ENOENT && seen_eacces) err = EACCES;
  if (err == ENOENT) child_fail(ST_NOT_FOUND, "", file, err);
  child_fail(ST_CANNOT_RUN, "", file, err);
}

struct spawn {
  char **argv, **envp;
  const char *cwd;
  int in, out, err; /* the command's fds 0, 1, 2 (with a terminal, all its slave) */
  int tty;
};

/** The child: a new session (so K kills its whole group), stdio, directory, then the command. */
static __attribute__((noreturn)) void child(struct spawn *s) {
  static const u64 none = 0;
  struct ksigaction dfl = {SIG_DFL, 0, 0};
  static const int reset[] = {SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM, SIGCHLD, SIGTSTP, SIGTTIN, SIGTTOU};
  int fd;
  for (unsigned i = 0; i < sizeof reset / sizeof reset[0]; i++) sys4(SYS_rt_sigaction, reset[i], &dfl, 0, 8);
  sys4(SYS_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);
  sys1(SYS_setsid, 0);
  if (s->tty) sys3(SYS_ioctl, s->in, TIOCSCTTY, 0);
  sys3(SYS_dup3, s->in, 0, 0);
  sys3(SYS_dup3, s->out, 1, 0);
  sys3(SYS_dup3, s->err, 2, 0);
  /* The agent is exempt from the OOM killer; what it runs is not (proc(5)). */
  fd = openf("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    sys3(SYS_write, fd, "0\n", 2);
    closefd(fd);
  }
  if (s->cwd) {
    long r = sys1(SYS_chdir, s->cwd);
    if (r < 0) child_fail(ST_CANNOT_RUN, "cd ", s->cwd, -r);
  }
  run_command(s->argv, s->envp);
}

/*
 * The child runs on a stack of its own (the agent's is the parent's, in use), in the agent's
 * memory (CLONE_VM), while the agent waits (CLONE_VFORK): as posix_spawn does, so an exec costs no
 * copy of the agent's page tables, no copy-on-write faults and no teardown of the copy at execve.
 * What the child writes (its stack, argv's free slot) is the agent's memory, which the agent does
 * not use until the child has exec'd or exited; its signal handlers, file table, directory and
 * session are its own (no CLONE_SIGHAND, CLONE_FILES, CLONE_FS). The agent installs no signal
 * handler (SIGPIPE is ignored, SIGCHLD blocked), so no handler can run on the borrowed memory.
 * One stack serves every child: the agent waits until each is done with it.
 */
static u8 child_stack[65536] __attribute__((aligned(16)));

/* long vfork_call(void (*fn)(struct spawn *), struct spawn *arg, void *stack_top): clone(2) with
   the new stack; the child, whose registers are the parent's but a0 = 0 and sp = the new stack,
   calls fn(arg) without touching the parent's stack; the parent returns the child's pid or -errno. */
long vfork_call(void (*fn)(struct spawn *), struct spawn *arg, void *stack_top);
__asm__(".text\n"
        ".global vfork_call\n"
        "vfork_call:\n"
        "  mv t0, a0\n"
        "  mv t1, a1\n"
        "  li a0, 0x4111\n" /* CLONE_VM | CLONE_VFORK | SIGCHLD */
        "  mv a1, a2\n"
        "  li a2, 0\n"
        "  li a3, 0\n"
        "  li a4, 0\n"
        "  li a7, 220\n" /* SYS_clone */
        "  ecall\n"
        "  bnez a0, 1f\n"
        "  mv a0, t1\n"
        "  jalr t0\n"
        "2: j 2b\n"
        "1: ret\n");

_Static_assert((CLONE_VM | CLONE_VFORK | SIGCHLD) == 0x4111 && SYS_clone == 220, "vfork_call's constants");

static long spawn_child(struct spawn *s) { return vfork_call(child, s, child_stack + sizeof child_stack); }

/* Scratch for one X frame: its decoded request and the pointer arrays (slot 0 of argv is the
   free slot run_command uses for sh). */
static u8 request[AGENT_MAX_LINE / 4 * 3 + 4];
static char *argv_buf[MAX_ARGS + 2];
static char *env_buf[MAX_ENV + 1];
static char *strs[1 + MAX_ENV + MAX_ARGS];

static int open_pty(int *master, int *slave, u16 rows, u16 cols) {
  int zero = 0;
  u32 n;
  struct winsize ws = {rows, cols, 0, 0};
  *master = openf("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (*master < 0) return *master;
  sys3(SYS_ioctl, *master, TIOCSPTLCK, &zero);
  *slave = (int)sys3(SYS_ioctl, *master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (*slave < 0 && sys3(SYS_ioctl, *master, TIOCGPTN, &n) == 0) {
    char path[32] = "/dev/pts/";
    path[9 + utoa(n, path + 9)] = 0;
    *slave = openf(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
  }
  if (*slave < 0) {
    closefd(*master);
    return *slave;
  }
  sys3(SYS_ioctl, *slave, TIOCSWINSZ, &ws);
  return 0;
}

/** X: start exec `id`. Answers A at once; a request it cannot run ends with one line and R 126. */
static void start_exec(u64 id, int want_stdin, u64 rows, u64 cols, u64 envc, u64 argc, const char *b64,
                       unsigned long b64len) {
  struct exec *e = 0;
  struct spawn s;
  long len, pid;
  unsigned long at = 0, ne = 0;
  int p_in[2] = {-1, -1}, p_out[2] = {-1, -1}, p_err[2] = {-1, -1}, master = -1, slave = -1;
  emit('A', id, 0, 0);
  for (int i = 0; i < MAX_EXECS; i++)
    if (!execs[i].used) {
      e = &execs[i];
      break;
    }
  if (!e) {
    emit_error(id, "too many execs at once in the guest", "");
    emit('R', id, 1, ST_CANNOT_RUN);
    return;
  }
  len = b64dec(b64, b64len, request);
  if (len < 0 || argc == 0 || argc > MAX_ARGS || envc > MAX_ENV || rows > 0xffff || cols > 0xffff ||
      (rows == 0) != (cols == 0)) {
    emit_error(id, "the agent could not read this exec's request", "");
    emit('R', id, 1, ST_CANNOT_RUN);
    return;
  }
  /* cwd, envc entries, argc arguments: each NUL-terminated. */
  u64 want = 1 + envc + argc, got = 0;
  while (got < want && at < (unsigned long)len) {
    strs[got++] = (char *)request + at;
    while (at < (unsigned long)len && request[at]) at++;
    if (at == (unsigned long)len) break;
    at++;
  }
  if (got != want || at != (unsigned long)len || request[len - 1] != 0) {
    emit_error(id, "the agent could not read this exec's request", "");
    emit('R', id, 1, ST_CANNOT_RUN);
    return;
  }
  /* The agent's environment, less what the request sets, then the request's. */
  for (char **v = agent_env; *v && ne < MAX_ENV; v++) {
    unsigned long k = 0;
    int overridden = 0;
    while ((*v)[k] && (*v)[k] != '=') k++;
    for (u64 j = 0; j < envc; j++)
      if (sameprefix(*v, strs[1 + j], k + 1)) overridden = 1;
    if (!overridden) env_buf[ne++] = *v;
  }
  for (u64 j = 0; j < envc && ne < MAX_ENV; j++) env_buf[ne++] = strs[1 + j];
  env_buf[ne] = 0;
  for (u64 j = 0; j < argc; j++) argv_buf[1 + j] = strs[1 + envc + j];
  argv_buf[1 + argc] = 0;

  s.argv = argv_buf + 1;
  s.envp = env_buf;
  s.cwd = strs[0][0] ? strs[0] : 0;
  s.tty = rows != 0;
  if (s.tty) {
    long r = open_pty(&master, &slave, (u16)rows, (u16)cols);
    if (r < 0) {
      emit_error(id, "no pseudo-terminal for this exec: ", errtext(-r));
      emit('R', id, 1, ST_CANNOT_RUN);
      return;
    }
    s.in = s.out = s.err = slave;
  } else {
    if ((want_stdin && sys2(SYS_pipe2, p_in, O_CLOEXEC) < 0) || sys2(SYS_pipe2, p_out, O_CLOEXEC) < 0 ||
        sys2(SYS_pipe2, p_err, O_CLOEXEC) < 0) {
      closefd(p_in[0]), closefd(p_in[1]), closefd(p_out[0]), closefd(p_out[1]), closefd(p_err[0]);
      emit_error(id, "could not start the command: out of file descriptors", "");
      emit('R', id, 1, ST_CANNOT_RUN);
      return;
    }
    s.in = want_stdin ? p_in[0] : devnull;
    s.out = p_out[1];
    s.err = p_err[1];
  }
  if (want_stdin || s.tty) {
    long m = sys6(SYS_mmap, 0, STDIN_BUF, PROT_RW, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    e->buf = m < 0 && m > -4096 ? 0 : (u8 *)m;
  }
  pid = spawn_child(&s);
  closefd(slave);
  closefd(p_in[0]);
  closefd(p_out[1]);
  closefd(p_err[1]);
  if (pid < 0) {
    closefd(master), closefd(p_in[1]), closefd(p_out[0]), closefd(p_err[0]);
    if (e->buf) sys2(SYS_munmap, e->buf, STDIN_BUF);
    e->buf = 0;
    emit_error(id, "could not start the command (fork: ", pid == -EAGAIN ? "too many processes or too little memory)" : "failed)");
    emit('R', id, 1, ST_CANNOT_RUN);
    return;
  }
  /* A number once this exec's group is reused by the new command can only mean the old group is empty. */
  for (int i = 0; i < MAX_EXECS; i++)
    if (execs[i].used && execs[i].pgid == pid) execs[i].pgid = 0;
  e->used = 1;
  e->id = id;
  e->pid = e->pgid = (int)pid;
  e->tty = s.tty;
  if (s.tty) {
    e->in = -1;
    e->out[0] = master;
    e->out[1] = -1;
  } else {
    e->in = want_stdin ? p_in[1] : -1;
    e->out[0] = p_out[0];
    e->out[1] = p_err[0];
    if (e->in >= 0) nonblock(e->in);
    nonblock(e->out[0]);
    nonblock(e->out[1]);
  }
  if (!want_stdin && !s.tty) e->in_gone = 1;
}

/** K: SIGKILL the exec's process group, and the command itself (before its setsid the group is not yet there). */
static void kill_exec(struct exec *e) {
  if (e->pgid > 0) sys2(SYS_kill, -e->pgid, SIGKILL);
  if (e->pid > 0) sys2(SYS_kill, e->pid, SIGKILL);
}

/** Read one chunk of an output stream; with a terminal, end of file is EIO (all slave ends closed). */
static int read_output(struct exec *e, int which) {
  u8 data[OUTPUT_CHUNK];
  long n = sys3(SYS_read, e->out[which], data, sizeof data);
  if (n == -EAGAIN || n == -EINTR) return 0;
  if (n <= 0) {
    if (!e->tty) {
      closefd(e->out[which]);
      e->out[which] = -1;
    }
    return -1;
  }
  emit_output(e->id, which + 1, data, (unsigned long)n);
  return 1;
}

static void reap(void) {
  for (;;) {
    int st = 0;
    long pid = sys4(SYS_wait4, -1, &st, WNOHANG, 0);
    if (pid <= 0) return;
    for (int i = 0; i < MAX_EXECS; i++)
      if (execs[i].used && execs[i].pid == pid) {
        execs[i].pid = 0;
        execs[i].status = st;
      }
  }
}

/** Finish what has ended: without a terminal, once the command is reaped and both streams are at
    end of file; with one, once the command is reaped (what it wrote is read first), as busybox
    telnetd -K did: a background job that keeps the terminal open does not keep the exec. */
static void settle(void) {
  for (int i = 0; i < MAX_EXECS; i++) {
    struct exec *e = &execs[i];
    if (!e->used || e->pid != 0) continue;
    if (e->tty) {
      int k = 0;
      while (k++ < 64 && read_output(e, 0) > 0) {
      }
      finish(e);
    } else if (e->out[0] < 0 && e->out[1] < 0) {
      finish(e);
    }
  }
}

/* ---- input from the host ---- */

static char inbuf[AGENT_MAX_LINE + 65536];
static unsigned long inlen;
static int discarding;             /* in an overlong line: dropped up to its newline */
static u64 data_left;              /* bytes of an I frame still to come */
static struct exec *data_exec;     /* ... for this exec (0: dropped) */

/** Space-separated fields of a line; returns their count (at most max). */
static int split(char *line, unsigned long n, char **f, unsigned long *fl, int max) {
  int k = 0;
  unsigned long i = 0;
  while (i < n && k < max) {
    unsigned long s = i;
    while (i < n && line[i] != ' ') i++;
    f[k] = line + s;
    fl[k++] = i - s;
    if (i < n) i++;
  }
  return k;
}
/** A decimal field; -1 if it is not one (or is beyond 2^53, where the host's ids end). */
static long long num(const char *s, unsigned long n) {
  long long v = 0;
  if (n == 0 || n > 16) return -1;
  for (unsigned long i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

/**
 * The T frame: the wall clock, then the hostname, set here by the agent (clock_settime(2),
 * sethostname(2)) instead of by `date` and `hostname` processes: a restored VM's first exec does
 * not wait behind two cold guest processes. Returns 0 or the errno.
 */
static long set_identity(const char *sec, unsigned long sl, const char *nsec, unsigned long nl, const char *host,
                         unsigned long hl) {
  long long s = num(sec, sl), ns = num(nsec, nl);
  u8 name[HOSTNAME_MAX + 3];
  long r, n = 0;
  if (s < 0 || ns < 0 || ns >= 1000000000LL) return EINVAL;
  if (!(hl == 1 && host[0] == '-')) {
    /* At most HOSTNAME_MAX bytes once decoded: 4 base64 characters per 3 bytes. */
    if (hl == 0 || hl > (HOSTNAME_MAX + 2) / 3 * 4) return EINVAL;
    n = b64dec(host, hl, name);
    if (n <= 0 || n > HOSTNAME_MAX) return EINVAL;
    for (long i = 0; i < n; i++)
      if (name[i] == 0) return EINVAL;
  }
  struct timespec ts = {(long)s, (long)ns};
  if ((r = sys2(SYS_clock_settime, CLOCK_REALTIME, (long)&ts)) < 0) return -r;
  if (n > 0 && (r = sys2(SYS_sethostname, (long)name, n)) < 0) return -r;
  return 0;
}

static void on_line(char *line, unsigned long n) {
  char *f[9];
  unsigned long fl[9];
  int k;
  long long id, a, b;
  struct exec *e;
  if (n > 0 && line[n - 1] == '\r') n--;
  k = split(line, n, f, fl, 9);
  if (k < 1 || fl[0] != 1) return;
  if (f[0][0] == 'S' && k == 1) {
    flush();
    sys1(SYS_sync, 0);
    /* Leave a root disk's ext4 clean, as a real shutdown does: remounted read-only, its journal
     * needs no replay at the next mount (a base image is later mounted read-only, and ext4
     * refuses that while a replay is pending). One file held open for writing makes the remount
     * fail with EBUSY: end the other processes (kill -1 spares this one and init) and retry.
     * On the initramfs the remount is as harmless. */
    for (int i = 0; i < 40; i++) {
      if (sys6(SYS_mount, (long)"none", (long)"/", 0, MS_REMOUNT | MS_RDONLY, 0, 0) == 0) break;
      if (i == 0) sys2(SYS_kill, -1, SIGTERM);
      if (i == 5) sys2(SYS_kill, -1, SIGKILL);
      sleep_ms(100);
    }
    sys4(SYS_reboot, REBOOT_MAGIC1, REBOOT_MAGIC2, REBOOT_POWER_OFF, 0);
    return;
  }
  if (k < 2 || (id = num(f[1], fl[1])) < 0) return;
  switch (f[0][0]) {
  case 'X': {
    /* X <id> <stdin> <rows> <cols> <envc> <argc> <request> */
    long long v[5];
    if (k != 8) return;
    for (int i = 0; i < 5; i++)
      if ((v[i] = num(f[2 + i], fl[2 + i])) < 0) return;
    start_exec((u64)id, v[0] == 1, (u64)v[1], (u64)v[2], (u64)v[3], (u64)v[4], f[7], fl[7]);
    return;
  }
  case 'I':
    /* A chunk is at most STDIN_CHUNK: a larger count is not taken (its bytes are read as lines). */
    if (k != 3 || (a = num(f[2], fl[2])) < 0 || a > STDIN_CHUNK) return;
    data_left = (u64)a;
    data_exec = find((u64)id);
    if (data_left == 0 && data_exec) chunk_done(data_exec);
    return;
  case 'E':
    if ((e = find((u64)id)) != 0 && !e->tty) {
      e->in_eof = 1;
      pump_stdin(e);
    }
    return;
  case 'W':
    if (k != 4 || (a = num(f[2], fl[2])) < 0 || (b = num(f[3], fl[3])) < 0 || a > 0xffff || b > 0xffff) return;
    if ((e = find((u64)id)) != 0 && e->tty) {
      struct winsize ws = {(u16)a, (u16)b, 0, 0};
      sys3(SYS_ioctl, e->out[0], TIOCSWINSZ, &ws); /* the kernel sends SIGWINCH (tty_do_resize) */
    }
    return;
  case 'K':
    if ((e = find((u64)id)) != 0) kill_exec(e);
    return;
  case 'P':
    emit('P', (u64)id, 0, 0);
    return;
  case 'T':
    /* T <id> <sec> <nsec> <hostname base64 | -> */
    if (k != 5) return;
    emit('T', (u64)id, 1, (u64)set_identity(f[2], fl[2], f[3], fl[3], f[4], fl[4]));
    return;
  }
}

/** Consume what the port delivered: lines, and the raw bytes that follow an I line. */
static void parse(void) {
  unsigned long at = 0;
  while (at < inlen) {
    if (data_left > 0) {
      unsigned long n = inlen - at;
      if (n > data_left) n = (unsigned long)data_left;
      if (data_exec) feed(data_exec, (u8 *)inbuf + at, n);
      at += n;
      data_left -= n;
      if (data_left == 0 && data_exec) chunk_done(data_exec);
      continue;
    }
    char *nl = 0;
    for (unsigned long i = at; i < inlen; i++)
      if (inbuf[i] == '\n') {
        nl = inbuf + i;
        break;
      }
    if (!nl) {
      if (discarding || inlen - at > AGENT_MAX_LINE) {
        discarding = 1;
        at = inlen;
      }
      break;
    }
    if (!discarding) on_line(inbuf + at, (unsigned long)(nl - (inbuf + at)));
    discarding = 0;
    at = (unsigned long)(nl - inbuf) + 1;
  }
  memmove(inbuf, inbuf + at, inlen - at);
  inlen -= at;
}

/* ---- start-up ---- */

/** Whether any entry of `dir` has a file `attr` reading `want` (one line); its name into `name`. */
static int find_sysfs(const char *dir, const char *attr, const char *want, char *name, unsigned long cap) {
  char dents[4096], path[512], val[128];
  int fd = openf(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), found = 0;
  long n;
  if (fd < 0) return 0;
  while (!found && (n = sys3(SYS_getdents64, fd, dents, sizeof dents)) > 0) {
    for (long off = 0; off < n && !found;) {
      struct dirent64 *d = (struct dirent64 *)(dents + off);
      unsigned long dl = slen(dir), nl = slen(d->name), al = slen(attr);
      off += d->reclen;
      if (d->name[0] == '.' || dl + 1 + nl + 1 + al + 1 > sizeof path) continue;
      memcpy(path, dir, dl);
      path[dl] = '/';
      memcpy(path + dl + 1, d->name, nl);
      path[dl + 1 + nl] = '/';
      memcpy(path + dl + 2 + nl, attr, al + 1);
      long vl = readsmall(path, val, sizeof val);
      if (vl <= 0) continue;
      if (val[vl - 1] == '\n') val[--vl] = 0;
      if ((unsigned long)vl == slen(want) && sameprefix(val, want, (unsigned long)vl)) {
        found = 1;
        if (name && nl < cap) memcpy(name, d->name, nl + 1);
      }
    }
  }
  closefd(fd);
  return found;
}

static void write_pid(void) {
  char t[24];
  int fd, n;
  sys3(SYS_mkdirat, AT_FDCWD, PID_DIR, 0755);
  fd = openf(PID_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return;
  n = utoa((u64)sys1(SYS_getpid, 0), t);
  t[n++] = '\n';
  sys3(SYS_write, fd, t, n);
  closefd(fd);
}

static struct pollfd pfd[2 + MAX_EXECS * 3];
/* What each pollfd is: exec index * 4 + 0 stdout, 1 stderr, 2 stdin. */
static int pwho[2 + MAX_EXECS * 3];

__attribute__((used)) void start_c(long *sp) {
  char name[256], dev[300] = "/dev/";
  static const u64 chld = 1UL << (SIGCHLD - 1);
  struct ksigaction ign = {SIG_IGN, 0, 0};
  int sfd, port_paused = 0;
  long argc = sp[0];
  agent_env = (char **)(sp + 1 + argc + 1);

  /* fds 0-2 open, so that no pipe of ours lands there and is lost to a dup3 in a child. */
  for (int fd = 0; fd >= 0 && fd < 3;)
    if ((fd = openf("/dev/null", O_RDWR)) > 2) closefd(fd);
  devnull = openf("/dev/null", O_RDWR | O_CLOEXEC);

  /* No virtio-console on this board (virtio 1.2 5: device ID 3): nothing to serve. */
  if (!find_sysfs("/sys/bus/virtio/devices", "device", "0x0003", 0, 0)) die(0);
  int i = 0;
  while (!find_sysfs("/sys/class/virtio-ports", "name", AGENT_PORT_NAME, name, sizeof name)) {
    if (++i >= 100) die(0);
    sleep_ms(200);
  }
  memcpy(dev + 5, name, slen(name) + 1);
  port = openf(dev, O_RDWR | O_CLOEXEC);
  if (port < 0) die(1);
  write_pid();

  /* Writes to a command that has gone fail with EPIPE instead of killing the agent. */
  sys4(SYS_rt_sigaction, SIGPIPE, &ign, 0, 8);
  /* Children are reaped through a signalfd (so the one poll sees them), orphans too. */
  sys4(SYS_rt_sigprocmask, SIG_BLOCK, &chld, 0, 8);
  sfd = (int)sys4(SYS_signalfd4, -1, &chld, 8, O_NONBLOCK | O_CLOEXEC);
  sys2(SYS_prctl, PR_SET_CHILD_SUBREAPER, 1);

  /* A restarted agent starts a fresh line: its killed predecessor may have left half of one. */
  {
    char *p = reserve(16);
    int n = 0;
    p[n++] = '\n';
    p[n++] = 'H';
    p[n++] = ' ';
    n += utoa(AGENT_VERSION, p + n);
    p[n++] = '\n';
    outlen += (unsigned long)n;
  }

  for (;;) {
    int np = 0;
    struct timespec pause = {0, 200000000L};
    flush();
    if (!port_paused && inlen < sizeof inbuf) {
      pfd[np].fd = port;
      pfd[np].events = POLLIN;
      pwho[np++] = -1;
    }
    if (sfd >= 0) {
      pfd[np].fd = sfd;
      pfd[np].events = POLLIN;
      pwho[np++] = -2;
    }
    for (int x = 0; x < MAX_EXECS; x++) {
      struct exec *e = &execs[x];
      if (!e->used) continue;
      for (int w = 0; w < 2; w++)
        if (e->out[w] >= 0 && !e->hup) {
          pfd[np].fd = e->out[w];
          pfd[np].events = POLLIN;
          pwho[np++] = x * 4 + w;
        }
      if (e->buflen > 0 && stdin_fd(e) >= 0) {
        pfd[np].fd = stdin_fd(e);
        pfd[np].events = POLLOUT;
        pwho[np++] = x * 4 + 2;
      }
    }
    /* Without a signalfd, children are looked for at least every 200 ms. */
    long r = sys4(SYS_ppoll, pfd, np, port_paused || sfd < 0 ? &pause : 0, 0);
    port_paused = 0;
    if (r < 0) continue;
    for (int k = 0; k < np; k++) {
      short ev = pfd[k].revents;
      if (!ev) continue;
      if (pwho[k] == -1) {
        long n = sys3(SYS_read, port, inbuf + inlen, sizeof inbuf - inlen);
        /* 0: the host is not connected (the port reads end of file): look again later. */
        if (n == 0 || (n < 0 && n != -EINTR && n != -EAGAIN)) port_paused = 1;
        if (n > 0) {
          inlen += (unsigned long)n;
          parse();
        }
      } else if (pwho[k] == -2) {
        u8 info[128];
        while (sys3(SYS_read, sfd, info, sizeof info) > 0) {
        }
        reap();
      } else {
        struct exec *e = &execs[pwho[k] / 4];
        int w = pwho[k] % 4;
        if (!e->used) continue;
        if (w == 2) pump_stdin(e);
        else if (ev & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
          if (read_output(e, w) < 0 && e->tty) e->hup = 1;
        }
      }
    }
    reap();
    settle();
  }
}

__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  mv a0, sp\n"
        "  andi sp, sp, -16\n"
        "  call start_c\n"
        "1: j 1b\n");
