/*
 * corral-init: the steps of starting a container that must run between fork and exec.
 *
 * Why this exists: Node cannot fork. Joining a PID namespace (setns) or creating one only
 * affects children created afterwards; setns(CLONE_NEWUSER) and unshare(CLONE_NEWUSER) refuse
 * a multi-threaded process (Node always has threads); and pivot_root, capability drops,
 * setuid, no_new_privs and seccomp must happen in the process that will exec the container's
 * program, after the fork and before the exec. So Corral's TypeScript side computes everything
 * (the order of mounts, flags, masks, BPF program) and hands this helper a flat "plan"; the
 * helper only executes it. It parses no JSON and makes no policy decisions.
 *
 * Protocol: argv[1] is the plan: records separated by '\n', fields by '\t' (the TypeScript side
 * rejects values containing either). fd 3 is the status channel: the helper writes lines
 * "pid N" (the container process, in the caller's PID namespace), "ready" (setup done, waiting
 * for start), "exit N" (wait status as a shell would report it) or "error MESSAGE".
 *
 * Process tree: this process (P) joins the cgroups and namespaces given by path, then clones
 * the container process (C) with the new namespaces. With "detach" P exits as soon as C is
 * set up, so C is adopted by the caller's subreaper (conmon, containerd-shim) as runc's init
 * is; otherwise P waits for C, forwards signals to it and reports its exit status.
 * OCI runtime spec: config.md (process, mounts), config-linux.md (namespaces, maskedPaths,
 * readonlyPaths, rootfsPropagation), runtime.md (create/start split via a blocking FIFO).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define STATUS_FD 3
#define MAX_FIELDS 12
#define MAX_RECORDS 4096

struct record { int n; char *f[MAX_FIELDS]; };
static struct record recs[MAX_RECORDS];
static int nrecs;
static pid_t child_pid;
static int status_open = 1;

static void say(const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  if (!status_open) { fprintf(stderr, "corral-init: %.*s", n, buf); return; }
  ssize_t w = write(STATUS_FD, buf, n);
  (void)w;
}

/* Report a failure with errno's text and end this process. */
static void die(const char *fmt, ...) {
  char msg[3000];
  int e = errno;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (e) say("error %s: %s", msg, strerror(e)); else say("error %s", msg);
  _exit(127);
}

static void parse(char *plan) {
  char *save = NULL;
  for (char *line = strtok_r(plan, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (nrecs == MAX_RECORDS) { errno = 0; die("plan has too many records"); }
    struct record *r = &recs[nrecs++];
    r->n = 0;
    char *p = line;
    while (r->n < MAX_FIELDS) {
      r->f[r->n++] = p;
      char *tab = strchr(p, '\t');
      if (!tab) break;
      *tab = 0;
      p = tab + 1;
    }
  }
}

static int is(const struct record *r, const char *op) { return strcmp(r->f[0], op) == 0; }
static const char *arg(const struct record *r, int i) {
  if (i >= r->n) { errno = 0; die("plan record '%s' lacks field %d", r->f[0], i); }
  return r->f[i];
}
static unsigned long long num(const struct record *r, int i) { return strtoull(arg(r, i), NULL, 0); }

static void write_file(const char *path, const char *data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) die("open %s", path);
  size_t len = strlen(data);
  if (write(fd, data, len) != (ssize_t)len) die("write %s to %s", data, path);
  close(fd);
}

static void mkdir_p(const char *path, mode_t mode) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, mode) < 0 && errno != EEXIST) die("mkdir %s", tmp);
    *p = '/';
  }
  if (mkdir(tmp, mode) < 0 && errno != EEXIST) die("mkdir %s", tmp);
}

/* Mount target: a directory, or for a bind mount of a file an empty file. */
static void make_target(const char *dst, const char *kind) {
  struct stat st;
  if (lstat(dst, &st) == 0) return;
  if (kind[0] == 'f') {
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dst);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) { *slash = 0; mkdir_p(parent, 0755); }
    int fd = open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) die("create mount target %s", dst);
    close(fd);
  } else if (kind[0] == 'd' || kind[0] == 's') {
    mkdir_p(dst, 0755);
  }
}

/* Flags a mount in a user namespace must keep on remount (mount_namespaces(7) "locked" flags:
 * nosuid, nodev, noexec and the atime flags inherited from a more privileged mount). */
static unsigned long locked_flags(const char *path) {
  struct statvfs sv;
  if (statvfs(path, &sv) < 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

static int remount_bind(const char *path, unsigned long flags) {
  if (mount(path, path, NULL, flags | MS_BIND | MS_REMOUNT, NULL) == 0) return 0;
  if (errno != EPERM) return -1;
  return mount(path, path, NULL, flags | locked_flags(path) | MS_BIND | MS_REMOUNT, NULL);
}

/* mount <src> <dst> <type> <flags> <data> <kind> : a bind mount's extra flags (MS_RDONLY...)
 * only take effect on a remount, so that is done as a second step (mount(2), "MS_BIND"). */
static void do_mount(const struct record *r) {
  const char *src = arg(r, 1), *dst = arg(r, 2), *type = arg(r, 3), *data = arg(r, 5);
  unsigned long flags = num(r, 4);
  make_target(dst, arg(r, 6));
  const char *t = type[0] ? type : NULL;
  const char *d = data[0] ? data : NULL;
  if (flags & MS_BIND) {
    if (mount(src, dst, t, flags & (MS_BIND | MS_REC), d) < 0) die("bind mount %s on %s", src, dst);
    unsigned long extra = flags & ~(MS_BIND | MS_REC);
    if (extra && mount(src, dst, t, extra | MS_BIND | MS_REMOUNT, d) < 0) {
      /* A locked mount (inside a user namespace) keeps nodev/nosuid/noexec it already had. */
      if (mount(src, dst, t, extra | MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, d) < 0)
        die("remount %s with flags 0x%lx", dst, extra);
    }
  } else if (mount(src, dst, t, flags, d) < 0) {
    /* Kind 's': sysfs belongs to the owner of the network namespace; where the kernel refuses
     * a new one, bind the host's read-only (what runc does rootless). */
    if (!(arg(r, 6)[0] == 's' && errno == EPERM)) die("mount %s (%s) on %s", src, type, dst);
    if (mount("/sys", dst, NULL, MS_BIND | MS_REC, NULL) < 0) die("bind /sys on %s", dst);
    if (remount_bind(dst, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) < 0) die("remount %s read-only", dst);
  }
}

static void do_mknod(const struct record *r) {
  const char *path = arg(r, 1), *host = arg(r, 7);
  mode_t mode = (mode_t)num(r, 2);
  if (mknod(path, mode, makedev(num(r, 3), num(r, 4))) == 0) {
    if (chown(path, (uid_t)num(r, 5), (gid_t)num(r, 6)) < 0) die("chown %s", path);
    if (chmod(path, mode & 07777) < 0) die("chmod %s", path);
    return;
  }
  if (errno == EEXIST) return;
  /* In a user namespace mknod is refused: bind the host's node instead (what runc does). */
  if (errno != EPERM) die("mknod %s", path);
  int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) die("create %s", path);
  close(fd);
  if (mount(host, path, NULL, MS_BIND, NULL) < 0) die("bind %s on %s", host, path);
}

static void do_pivot(const char *root) {
  /* pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only
   * the new root (pivot_root(2), NOTES). */
  int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  int newroot = open(root, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (oldroot < 0 || newroot < 0) die("open root %s", root);
  if (fchdir(newroot) < 0) die("chdir %s", root);
  if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root %s", root);
  if (fchdir(oldroot) < 0) die("fchdir old root");
  if (mount("", ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) die("make old root rslave");
  if (umount2(".", MNT_DETACH) < 0) die("detach old root");
  if (chdir("/") < 0) die("chdir /");
  close(oldroot);
  close(newroot);
}

static void do_chroot(const char *root) {
  if (chdir(root) < 0) die("chdir %s", root);
  if (mount(root, "/", NULL, MS_MOVE, NULL) < 0) die("move %s to /", root);
  if (chroot(".") < 0) die("chroot %s", root);
  if (chdir("/") < 0) die("chdir /");
}

/* OCI config-linux.md "Masked Paths": hide a file with /dev/null, a directory with an empty
 * read-only tmpfs. Paths that do not exist are skipped, as runc does. */
static void do_mask(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0) die("mask %s", path);
  } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
    die("mask %s", path);
  }
}

static void do_readonly(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) return;
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) die("bind %s", path);
  if (remount_bind(path, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC) < 0) die("remount %s read-only", path);
}

/* Terminal: create a pty inside the container and pass its master to the console socket
 * (runc's --console-socket protocol: one SCM_RIGHTS message). */
static void setup_console(int sock) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) die("open /dev/ptmx");
  int unlock = 0, ptn = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) die("unlock pty");
  if (ioctl(master, TIOCGPTN, &ptn) < 0) die("pty number");
  char name[64];
  snprintf(name, sizeof name, "/dev/pts/%d", ptn);
  int slave = open(name, O_RDWR | O_NOCTTY);
  if (slave < 0) die("open %s", name);
  char cbuf[CMSG_SPACE(sizeof(int))];
  memset(cbuf, 0, sizeof cbuf);
  struct iovec iov = { .iov_base = name, .iov_len = strlen(name) };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &master, sizeof(int));
  if (sendmsg(sock, &msg, 0) < 0) die("send pty to console socket");
  close(master);
  close(sock);
  for (int i = 0; i < 3; i++) if (dup2(slave, i) < 0) die("dup pty");
  if (ioctl(0, TIOCSCTTY, 0) < 0) die("set controlling terminal");
  if (slave > 2) close(slave);
}

static int connect_console(const char *path) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  if (s < 0 || strlen(path) >= sizeof a.sun_path) die("console socket %s", path);
  strcpy(a.sun_path, path);
  if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect console socket %s", path);
  return s;
}

static int resolve_exec(char *out, size_t outlen, const char *file, char **envp) {
  if (strchr(file, '/')) { snprintf(out, outlen, "%s", file); return access(out, X_OK); }
  const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (char **e = envp; *e; e++) if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
  const char *p = path;
  while (*p) {
    const char *colon = strchrnul(p, ':');
    snprintf(out, outlen, "%.*s/%s", (int)(colon - p), p, file);
    if (access(out, X_OK) == 0) return 0;
    p = *colon ? colon + 1 : colon;
  }
  errno = ENOENT;
  return -1;
}

static int hexval(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

static void load_seccomp(const char *hex, unsigned long flags) {
  size_t len = strlen(hex) / 2;
  unsigned char *buf = malloc(len);
  if (!buf) die("seccomp buffer");
  for (size_t i = 0; i < len; i++) buf[i] = (unsigned char)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
  struct sock_fprog prog = { .len = (unsigned short)(len / sizeof(struct sock_filter)), .filter = (struct sock_filter *)buf };
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0) die("load seccomp filter");
}

/* Load the filter in a throwaway child: the kernel's verdict on it, before "ready". */
static void check_seccomp(const char *hex, unsigned long flags) {
  pid_t t = fork();
  if (t < 0) die("fork to check the seccomp filter");
  if (t == 0) {
    load_seccomp(hex, flags); /* on failure die() reports the error on the status channel */
    _exit(0);
  }
  int st;
  while (waitpid(t, &st, 0) < 0) if (errno != EINTR) die("wait for the seccomp check");
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) _exit(127);
}

struct capset5 { unsigned long long b, e, p, i, a; int set; };

static void apply_caps(const struct capset5 *c) {
  if (!c->set) return;
  struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
  struct __user_cap_data_struct d[2] = {
    { .effective = (uint32_t)c->e, .permitted = (uint32_t)c->p, .inheritable = (uint32_t)c->i },
    { .effective = (uint32_t)(c->e >> 32), .permitted = (uint32_t)(c->p >> 32), .inheritable = (uint32_t)(c->i >> 32) },
  };
  if (syscall(SYS_capset, &h, d) < 0) die("capset");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) die("clear ambient caps");
  /* A capability missing from the inheritable set cannot be ambient (capabilities(7)); runc
   * skips such entries too, so a config with ambient but no inheritable still starts. */
  for (int cap = 0; cap < 64; cap++)
    if ((c->a >> cap) & 1 && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EPERM) die("raise ambient cap %d", cap);
}

static void drop_bounding(const struct capset5 *c) {
  if (!c->set) return;
  for (int cap = 0; cap < 64; cap++) {
    if ((c->b >> cap) & 1) continue;
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) <= 0) continue; /* unknown to this kernel, or gone */
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) die("drop bounding cap %d", cap);
  }
}

/* newuidmap/newgidmap PID ID HOSTID SIZE...: the setuid tools of the uidmap package write maps
 * beyond the caller's own id after checking /etc/subuid and /etc/subgid. */
static void run_idmap_tool(const char *tool, pid_t pid, char *map) {
  char *argv[3 * 340 + 3];
  char pidstr[32];
  int n = 0;
  snprintf(pidstr, sizeof pidstr, "%d", pid);
  argv[n++] = (char *)tool;
  argv[n++] = pidstr;
  char *save = NULL;
  for (char *tok = strtok_r(map, " \n", &save); tok && n < (int)(sizeof argv / sizeof argv[0]) - 1; tok = strtok_r(NULL, " \n", &save)) argv[n++] = tok;
  argv[n] = NULL;
  pid_t t = fork();
  if (t < 0) die("fork %s", tool);
  if (t == 0) {
    execv(tool, argv);
    _exit(127);
  }
  int st;
  while (waitpid(t, &st, 0) < 0) if (errno != EINTR) die("wait for %s", tool);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) { errno = 0; die("%s %s failed (status %d); check /etc/subuid and /etc/subgid", tool, pidstr, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st)); }
}

static void forward(int sig) { if (child_pid > 0) kill(child_pid, sig); }

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "corral-init is started by corral; it is not a command\n"); return 2; }
  if (fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC) < 0) { fprintf(stderr, "corral-init: no status channel\n"); return 2; }
  parse(argv[1]);

  /* Process settings, collected from the plan and applied in a fixed order below. */
  char *args[1024], *envs[1024];
  int nargs = 0, nenvs = 0, detach = 0, nnp = 0, terminal = 0, userns_new = 0, userns_join = 0;
  const char *cwd = "/", *seccomp = NULL, *fifo_dir = NULL, *console = NULL;
  unsigned long clone_flags = 0, seccomp_flags = 0;
  uid_t uid = 0; gid_t gid = 0; gid_t gids[256]; int ngids = 0, has_user = 0;
  char uidmap[4096] = "", gidmap[4096] = "";
  const char *newuidmap = NULL, *newgidmap = NULL, *setgroups_mode = NULL;
  struct capset5 caps = { 0 };
  int umask_val = -1;

  for (int i = 0; i < nrecs; i++) {
    struct record *r = &recs[i];
    if (is(r, "arg") && nargs < 1023) args[nargs++] = r->f[1];
    else if (is(r, "env") && nenvs < 1023) envs[nenvs++] = r->f[1];
    else if (is(r, "cwd")) cwd = arg(r, 1);
    else if (is(r, "detach")) detach = 1;
    else if (is(r, "nnp")) nnp = 1;
    else if (is(r, "terminal")) terminal = 1;
    else if (is(r, "seccomp")) { seccomp = arg(r, 1); seccomp_flags = num(r, 2); }
    else if (is(r, "fifo")) fifo_dir = arg(r, 1);
    else if (is(r, "console")) console = arg(r, 1);
    else if (is(r, "clone")) clone_flags = num(r, 1);
    else if (is(r, "umask")) umask_val = (int)num(r, 1);
    else if (is(r, "user")) { has_user = 1; uid = (uid_t)num(r, 1); gid = (gid_t)num(r, 2); }
    else if (is(r, "gid") && ngids < 256) gids[ngids++] = (gid_t)num(r, 1);
    else if (is(r, "uidmap")) { strncat(uidmap, arg(r, 1), sizeof uidmap - strlen(uidmap) - 2); strcat(uidmap, "\n"); }
    else if (is(r, "gidmap")) { strncat(gidmap, arg(r, 1), sizeof gidmap - strlen(gidmap) - 2); strcat(gidmap, "\n"); }
    else if (is(r, "newuidmap")) newuidmap = arg(r, 1);
    else if (is(r, "newgidmap")) newgidmap = arg(r, 1);
    else if (is(r, "setgroups")) setgroups_mode = arg(r, 1);
    else if (is(r, "caps")) { caps = (struct capset5){ num(r, 1), num(r, 2), num(r, 3), num(r, 4), num(r, 5), 1 }; }
  }
  args[nargs] = NULL;
  envs[nenvs] = NULL;
  if (nargs == 0) { errno = 0; die("no process args"); }
  userns_new = (clone_flags & CLONE_NEWUSER) != 0;

  /* The console socket is a path on the caller's side: connect before joining a mount
   * namespace (exec), where the path would resolve inside the container. */
  int fifo_fd = -1, console_fd = -1;
  if (console) console_fd = connect_console(console);

  /* Stage P: cgroups, oom score, namespaces to join, all inherited by the clone. */
  for (int i = 0; i < nrecs; i++) {
    struct record *r = &recs[i];
    if (is(r, "cgroup")) {
      char pid[32];
      snprintf(pid, sizeof pid, "%d", getpid());
      write_file(arg(r, 1), pid);
    } else if (is(r, "oom")) {
      write_file("/proc/self/oom_score_adj", arg(r, 1));
    } else if (is(r, "setns")) {
      int fd = open(arg(r, 1), O_RDONLY | O_CLOEXEC);
      if (fd < 0) die("open namespace %s", arg(r, 1));
      if (setns(fd, (int)num(r, 2)) < 0) die("join namespace %s", arg(r, 1));
      if (num(r, 2) == CLONE_NEWUSER) userns_join = 1;
      close(fd);
    }
  }
  if (fifo_dir && (fifo_fd = open(fifo_dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) die("open %s", fifo_dir);

  int sync[2];
  if (pipe2(sync, O_CLOEXEC) < 0) die("pipe");
  pid_t pid = (pid_t)syscall(SYS_clone, clone_flags | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) die("clone with flags 0x%lx", clone_flags);
  if (pid > 0) {
    child_pid = pid;
    close(sync[0]);
    if (userns_new) {
      /* user_namespaces(7): only a process outside the namespace may write its maps. */
      char p[64];
      if (newuidmap) run_idmap_tool(newuidmap, pid, uidmap);
      else if (uidmap[0]) { snprintf(p, sizeof p, "/proc/%d/uid_map", pid); write_file(p, uidmap); }
      if (setgroups_mode) { snprintf(p, sizeof p, "/proc/%d/setgroups", pid); write_file(p, setgroups_mode); }
      if (newgidmap) run_idmap_tool(newgidmap, pid, gidmap);
      else if (gidmap[0]) { snprintf(p, sizeof p, "/proc/%d/gid_map", pid); write_file(p, gidmap); }
    }
    if (write(sync[1], "1", 1) != 1) die("sync with container");
    close(sync[1]);
    say("pid %d", pid);
    if (detach) _exit(0);
    struct sigaction sa = { .sa_handler = forward };
    sigemptyset(&sa.sa_mask);
    int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
    int st;
    while (waitpid(pid, &st, 0) < 0) if (errno != EINTR) die("wait for container");
    say("exit %d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    return 0;
  }

  /* Stage C: the container process. */
  close(sync[1]);
  char b;
  if (read(sync[0], &b, 1) != 1) { errno = 0; die("parent went away before the namespace maps were written"); }
  close(sync[0]);
  if ((userns_new || userns_join) && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) die("become root in the user namespace");
  if (setsid() < 0 && errno != EPERM) die("setsid");

  for (int i = 0; i < nrecs; i++) {
    struct record *r = &recs[i];
    if (is(r, "hostname")) { if (sethostname(arg(r, 1), strlen(arg(r, 1))) < 0) die("sethostname"); }
    else if (is(r, "domainname")) { if (setdomainname(arg(r, 1), strlen(arg(r, 1))) < 0) die("setdomainname"); }
    else if (is(r, "mount")) do_mount(r);
    else if (is(r, "prop")) { if (mount("", arg(r, 1), NULL, num(r, 2), NULL) < 0) die("set propagation of %s", arg(r, 1)); }
    else if (is(r, "mknod")) do_mknod(r);
    else if (is(r, "mkdir")) mkdir_p(arg(r, 1), (mode_t)num(r, 2));
    else if (is(r, "symlink")) { if (symlink(arg(r, 1), arg(r, 2)) < 0 && errno != EEXIST) die("symlink %s", arg(r, 2)); }
    else if (is(r, "pivot")) do_pivot(arg(r, 1));
    else if (is(r, "chroot")) do_chroot(arg(r, 1));
    else if (is(r, "chrootonly")) {
      /* No mount namespace of its own: chroot(2) alone, nothing moved in the shared mount table. */
      if (chdir(arg(r, 1)) < 0 || chroot(".") < 0 || chdir("/") < 0) die("chroot %s", arg(r, 1));
    }
    else if (is(r, "chdir")) { if (chdir(arg(r, 1)) < 0) die("chdir %s", arg(r, 1)); }
    else if (is(r, "mask")) do_mask(arg(r, 1));
    else if (is(r, "ropath")) do_readonly(arg(r, 1));
    else if (is(r, "rootro")) { if (remount_bind("/", MS_RDONLY) < 0) die("remount / read-only"); }
    else if (is(r, "sysctl")) write_file(arg(r, 1), arg(r, 2));
    else if (is(r, "rlimit")) {
      struct rlimit rl = { num(r, 2), num(r, 3) };
      if (setrlimit((int)num(r, 1), &rl) < 0) die("setrlimit %s", arg(r, 1));
    }
  }
  if (terminal) { if (console_fd < 0) { errno = 0; die("a terminal needs --console-socket"); } setup_console(console_fd); }
  if (umask_val >= 0) umask((mode_t)umask_val);
  char exe[4096];
  if (resolve_exec(exe, sizeof exe, args[0], envs) < 0) die("executable %s not found in the container", args[0]);
  drop_bounding(&caps);
  /* Every step that can fail runs before "ready", so create reports its error (as runc's init
   * does before it closes its sync pipe); after "ready" come only the wait for start and exec.
   * Without no_new_privs, seccomp needs CAP_SYS_ADMIN: load it before dropping privileges. */
  if (seccomp && !nnp) load_seccomp(seccomp, seccomp_flags);
  if (has_user) {
    if (setgroups((size_t)ngids, gids) < 0 && errno != EPERM) die("setgroups");
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) die("keepcaps");
    if (setresgid(gid, gid, gid) < 0) die("setgid %u", gid);
    if (setresuid(uid, uid, uid) < 0) die("setuid %u", uid);
  }
  apply_caps(&caps);
  if (chdir(cwd) < 0) die("chdir %s", cwd);
  if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("no_new_privs");
  /* With no_new_privs the filter is loaded last, right before exec, so that it governs as few
   * of the runtime's own calls as possible (runc does the same); a child loads it first so that
   * a filter the kernel refuses fails create, not the start that nobody watches. */
  if (seccomp && nnp) check_seccomp(seccomp, seccomp_flags);
  say("ready");
  close(STATUS_FD);
  status_open = 0;

  if (fifo_fd >= 0) {
    /* runtime.md "start": block until `start` opens the FIFO for reading. openat on the
     * state directory opened before pivot_root reaches it from inside the new root. */
    int f = openat(fifo_fd, "exec.fifo", O_WRONLY | O_CLOEXEC);
    if (f < 0) die("open exec fifo");
    if (write(f, "0", 1) != 1) die("write exec fifo");
    close(f);
    close(fifo_fd);
  }
  if (seccomp && nnp) load_seccomp(seccomp, seccomp_flags);
  execve(exe, args, envs);
  die("exec %s", exe);
}
