/*
 * corral-oci: the runc-compatible executable engines run (bin/corral-oci execs this first).
 *
 * Why this exists: every `corral oci` call used to start Node (about 60 ms) and load Corral's
 * modules (about 35 ms) before doing a few milliseconds of work; podman and containerd make
 * several calls per container. This client starts in well under a millisecond and hands the
 * call to a resident Node server (src/containers/server/server.ts) over a Unix socket in the
 * runtime's --root directory, starting that server on demand. The server does the TypeScript
 * work and sends back what to print and the exit status. Steps that must run in the caller's
 * process tree come back as a helper plan: this client runs corral-init itself, so the
 * container stays a descendant of conmon / containerd-shim exactly as before, with this
 * process's stdio, and relays the helper's status channel (fd 3) to the server.
 *
 * Correctness first: whenever the server cannot be used (no socket and none can be started, a
 * socket owned by someone else, a path too long for sun_path, the server says the caller's
 * namespaces or PATH differ from its own, the connection drops before any reply), the client
 * execs Node with the same arguments as bin/corral-oci always did. CORRAL_OCI_SERVER=0 forces
 * that path.
 *
 * Frames (src/containers/server/protocol.ts, FRAME, TO_SERVER, TO_CLIENT): a 1-byte type,
 * a 4-byte little-endian length, the payload.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEADER 5
#define MAX_PAYLOAD (16u << 20)
#define SOCKET_NAME ".corral-oci.sock"
#define LOCK_NAME ".corral-oci.lock"

static char here[PATH_MAX];       /* dist/native */
static char **args;               /* argv + 1 */
static int nargs;
static sigset_t old_mask;         /* the caller's, restored for Node and the helper */
static struct sigaction old_pipe; /* SIGPIPE as the caller left it */

static void restore_signals(void) {
  sigprocmask(SIG_SETMASK, &old_mask, NULL);
  sigaction(SIGPIPE, &old_pipe, NULL);
}

/*
 * Run the call with Node, as bin/corral-oci did before this client existed: through bin/corral,
 * the launcher, which starts Node without parsing NODE_EXTRA_CA_CERTS and hands it back.
 */
static void fallback(void) {
  char launcher[PATH_MAX + 32];
  snprintf(launcher, sizeof launcher, "%s/../../bin/corral", here);
  char **av = calloc((size_t)nargs + 3, sizeof *av);
  if (!av) _exit(70);
  restore_signals();
  av[0] = launcher;
  av[1] = "oci";
  for (int i = 0; i < nargs; i++) av[2 + i] = args[i];
  execv(launcher, av);
  fprintf(stderr, "corral: cannot run %s: %s\n", launcher, strerror(errno));
  _exit(127);
}

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

static int send_frame(int fd, char type, const void *p, uint32_t n) {
  unsigned char h[HEADER] = {(unsigned char)type, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >> 24) & 0xff};
  return write_all(fd, h, HEADER) < 0 || (n && write_all(fd, p, n) < 0) ? -1 : 0;
}

static int send_u32(int fd, char type, uint32_t v) {
  unsigned char b[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff};
  return send_frame(fd, type, b, 4);
}

/* The state directory the call will use: --root, else runc's default for this caller. */
static int find_root(char *out, size_t size) {
  static const char *valued[] = {"--root", "--log", "--log-format", "--rootless", "--criu", NULL};
  for (int i = 0; i < nargs; i++) {
    const char *a = args[i];
    if (a[0] != '-') break;
    const char *v = NULL;
    if (!strcmp(a, "--root") || !strcmp(a, "-root")) v = i + 1 < nargs ? args[i + 1] : NULL;
    else if (!strncmp(a, "--root=", 7)) v = a + 7;
    else if (!strncmp(a, "-root=", 6)) v = a + 6;
    if (v) {
      if (v[0] == '/') return snprintf(out, size, "%s", v) < (int)size ? 0 : -1;
      char cwd[PATH_MAX];
      if (!getcwd(cwd, sizeof cwd)) return -1;
      return snprintf(out, size, "%s/%s", cwd, v) < (int)size ? 0 : -1;
    }
    for (int k = 0; valued[k]; k++) if (!strcmp(a, valued[k])) { i++; break; }
  }
  /* Root in the initial user namespace: /run/corral-oci (src/containers/runtime/rootless.ts). */
  char map[128] = "";
  int fd = open("/proc/self/uid_map", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = read(fd, map, sizeof map - 1);
    map[n > 0 ? n : 0] = 0;
    close(fd);
  }
  unsigned a = 1, b = 1, c = 0;
  char *nl = strchr(map, '\n');
  int identity = sscanf(map, "%u %u %u", &a, &b, &c) == 3 && a == 0 && b == 0 && c == 4294967295u && (!nl || nl[1] == 0);
  if (geteuid() == 0 && identity) return snprintf(out, size, "/run/corral-oci") < (int)size ? 0 : -1;
  const char *xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg && *xdg) return snprintf(out, size, "%s/corral-oci", xdg) < (int)size ? 0 : -1;
  return -1; /* the tmpdir default is Node's to compute */
}

static void mkdirs(const char *path) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s", path);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    mkdir(p, 0711);
    *s = '/';
  }
  mkdir(p, 0711);
}

/* Connect if the socket exists, is a socket, and belongs to this user; -1 otherwise. */
static int try_connect(const char *sock) {
  struct stat st;
  if (lstat(sock, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) return -1;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return fd;
  close(fd);
  return -1;
}

/*
 * Start `bin/corral oci --root R server run` detached: its own session, stdio on
 * /dev/null, cwd /, no inherited descriptors (an engine's pipes must not be held open by it),
 * default signal dispositions. The lock makes concurrent first calls start one server.
 */
static int start_server(const char *root, const char *sock) {
  char lock[PATH_MAX + 32];
  snprintf(lock, sizeof lock, "%s/%s", root, LOCK_NAME);
  int lk = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lk < 0 || flock(lk, LOCK_EX) < 0) return -1;
  int fd = try_connect(sock);
  if (fd >= 0) { close(lk); return fd; }
  pid_t p = fork();
  if (p < 0) { close(lk); return -1; }
  if (p == 0) {
    setsid();
    if (fork() != 0) _exit(0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) { dup2(nul, 0); dup2(nul, 1); dup2(nul, 2); }
    close_range(3, ~0u, 0);
    if (chdir("/") < 0) _exit(1);
    char launcher[PATH_MAX + 32];
    snprintf(launcher, sizeof launcher, "%s/../../bin/corral", here);
    execl(launcher, launcher, "oci", "--root", root, "server", "run", (char *)NULL);
    _exit(127);
  }
  waitpid(p, NULL, 0);
  /* Node's start-up plus loading the runtime: usually 100 to 200 ms; give it 5 s. */
  for (int i = 0; i < 1000 && fd < 0; i++) {
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
    fd = try_connect(sock);
  }
  close(lk);
  return fd;
}

static void ns_entry(char *buf, size_t size, size_t *len, const char *key, const char *ns) {
  char path[64], link[128];
  snprintf(path, sizeof path, "/proc/self/ns/%s", ns);
  ssize_t n = readlink(path, link, sizeof link - 1);
  link[n > 0 ? n : 0] = 0;
  *len += (size_t)snprintf(buf + *len, size - *len, "%s=%s", key, link) + 1;
}

static int send_request(int fd) {
  size_t total = 0;
  for (int i = 0; i < nargs; i++) total += strlen(args[i]) + 1;
  char *a = malloc(total + 1), *w = a;
  if (!a) return -1;
  for (int i = 0; i < nargs; i++) w = stpcpy(w, args[i]) + 1;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return -1;
  const char *path = getenv("PATH");
  size_t esize = (path ? strlen(path) : 0) + 1024, elen = 0;
  char *env = malloc(esize);
  if (!env) return -1;
  elen += (size_t)snprintf(env, esize, "PATH=%s", path ? path : "") + 1;
  ns_entry(env, esize, &elen, "NS_USER", "user");
  ns_entry(env, esize, &elen, "NS_MNT", "mnt");
  ns_entry(env, esize, &elen, "NS_PID", "pid");
  int r = send_frame(fd, 'A', a, (uint32_t)total) | send_frame(fd, 'C', cwd, (uint32_t)strlen(cwd)) |
          send_frame(fd, 'E', env, (uint32_t)elen) | send_frame(fd, 'G', NULL, 0);
  free(a);
  free(env);
  return r;
}

/* Run corral-init with the plan, stdio shared with this process, status channel on fd 3. */
static pid_t spawn_helper(int sock, char *plan, int *status_fd) {
  char helper[PATH_MAX + 32];
  const char *env = getenv("CORRAL_INIT");
  if (env && *env) snprintf(helper, sizeof helper, "%s", env);
  else snprintf(helper, sizeof helper, "%s/corral-init", here);
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    restore_signals();
    if (p[1] == 3) fcntl(3, F_SETFD, 0);
    else if (dup2(p[1], 3) < 0) _exit(127);
    execl(helper, helper, plan, (char *)NULL);
    fprintf(stderr, "corral: cannot run %s: %s\n", helper, strerror(errno));
    _exit(127);
  }
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    char msg[PATH_MAX + 64];
    int n = snprintf(msg, sizeof msg, "cannot start %s: %s", helper, strerror(errno));
    send_frame(sock, 'Y', msg, (uint32_t)n);
    return -1;
  }
  *status_fd = p[0];
  return pid;
}

int main(int argc, char **argv) {
  args = argv + 1;
  nargs = argc - 1;
  ssize_t n = readlink("/proc/self/exe", here, sizeof here - 1);
  if (n <= 0) return 70;
  here[n] = 0;
  *strrchr(here, '/') = 0;
  sigprocmask(SIG_SETMASK, NULL, &old_mask);
  struct sigaction ign = {.sa_handler = SIG_IGN};
  sigaction(SIGPIPE, &ign, &old_pipe);
  const char *opt = getenv("CORRAL_OCI_SERVER");
  if ((opt && !strcmp(opt, "0")) || getenv("CORRAL_DEBUG_PLAN")) fallback();
  char root[PATH_MAX], sock[PATH_MAX + 32];
  if (find_root(root, sizeof root) < 0) fallback();
  int sn = snprintf(sock, sizeof sock, "%s/%s", root, SOCKET_NAME);
  if (sn >= (int)sizeof((struct sockaddr_un *)0)->sun_path) fallback();
  int fd = try_connect(sock);
  if (fd < 0) {
    struct stat st;
    /* A socket of another user's server: not ours to use or replace. */
    if (lstat(sock, &st) == 0 && st.st_uid != geteuid()) fallback();
    mkdirs(root);
    fd = start_server(root, sock);
  }
  if (fd < 0 || send_request(fd) < 0) fallback();

  /* Signals arrive on a descriptor so one poll loop serves the socket, helper and signals. */
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGHUP);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);

  unsigned char *buf = malloc(HEADER + 65536);
  size_t cap = HEADER + 65536, have = 0;
  char line[4096];
  size_t linelen = 0;
  int status_fd = -1, replied = 0;
  pid_t helper = -1;
  if (!buf || sfd < 0) fallback();
  for (;;) {
    struct pollfd p[3] = {{fd, POLLIN, 0}, {sfd, POLLIN, 0}, {status_fd, POLLIN, 0}};
    if (poll(p, status_fd >= 0 ? 3 : 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 70;
    }
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
          int st;
          if (helper > 0 && waitpid(helper, &st, WNOHANG) == helper) {
            helper = -1;
            send_u32(fd, 'H', WIFEXITED(st) ? (uint32_t)WEXITSTATUS(st) : 128u + (uint32_t)WTERMSIG(st));
          }
          while (waitpid(-1, NULL, WNOHANG) > 0) {}
        } else send_u32(fd, 'K', si.ssi_signo);
      }
    }
    if (status_fd >= 0 && (p[2].revents & (POLLIN | POLLHUP))) {
      char c[512];
      ssize_t r = read(status_fd, c, sizeof c);
      if (r <= 0) {
        close(status_fd);
        status_fd = -1;
        send_frame(fd, 'Z', NULL, 0);
      }
      for (ssize_t i = 0; i < r; i++) {
        if (c[i] == '\n' || linelen == sizeof line) { send_frame(fd, 'S', line, (uint32_t)linelen); linelen = 0; }
        if (c[i] != '\n') line[linelen++] = c[i];
      }
    }
    if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t r = read(fd, buf + have, cap - have);
    if (r <= 0) {
      /* Nothing was done for this call yet: Node can do it. Otherwise the server failed midway. */
      if (!replied) fallback();
      fprintf(stderr, "corral: the resident corral-oci server closed the connection before the call ended; see 'corral oci server status'\n");
      return 1;
    }
    have += (size_t)r;
    while (have >= HEADER) {
      uint32_t len = buf[1] | buf[2] << 8 | buf[3] << 16 | (uint32_t)buf[4] << 24;
      if (len > MAX_PAYLOAD) return 70;
      if (HEADER + len > cap) {
        cap = HEADER + len + 1;
        buf = realloc(buf, cap);
        if (!buf) return 70;
      }
      if (have < HEADER + len) break;
      char type = (char)buf[0];
      unsigned char *pl = buf + HEADER;
      replied = 1;
      if (type == 'O') write_all(1, pl, len);
      else if (type == 'R') write_all(2, pl, len);
      else if (type == 'F') fallback();
      else if (type == 'X') return len >= 4 ? (int)(pl[0] | pl[1] << 8 | pl[2] << 16 | (uint32_t)pl[3] << 24) : 70;
      else if (type == 'P') {
        char *plan = malloc(len + 1);
        if (!plan) return 70;
        memcpy(plan, pl, len);
        plan[len] = 0;
        helper = spawn_helper(fd, plan, &status_fd);
        free(plan);
      }
      memmove(buf, buf + HEADER + len, have - HEADER - len);
      have -= HEADER + len;
    }
  }
}
