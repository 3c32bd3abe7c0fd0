/**
 * Corral's default seccomp profile for `corral container run` (an OCI `linux.seccomp` value,
 * config-linux.md "Seccomp"), compiled like any other by ./compile.ts.
 *
 * Its shape follows the engines' defaults (Docker's profiles/seccomp/default.json, podman's
 * containers/common seccomp.json) for a container holding the engines' default capabilities
 * (security/capabilities.ts ENGINE_DEFAULT_CAPABILITIES, no CAP_SYS_ADMIN): an allowlist, EPERM
 * for everything else, and argument filters where one call does both harmless and dangerous
 * things. It is at least as strict as theirs, and stricter in two places:
 *  - io_uring_setup/enter/register get ENOSYS (libraries fall back to ordinary I/O): io_uring
 *    reaches much kernel code past the syscall filter and has been a steady source of exploits.
 *  - Only x86_64 calls exist here: i386 (int 0x80) and x32 calls are killed by the compiler.
 *  - adjtimex/clock_adjtime are left out (their read-only mode is rarely used in containers).
 * Calls newer than the table (fchmodat2, mseal...) get ENOSYS from the compiler's stub, so libc
 * falls back to their older forms.
 * Denied by omission, among others: keyctl, add_key, request_key (the kernel keyring is not
 * namespaced), unshare, setns, mount, umount2, pivot_root, open_tree/move_mount/fs* (new
 * namespaces and mounts: a nested user namespace would hand the container CAP_SYS_ADMIN over
 * them), bpf, perf_event_open, userfaultfd, kexec_*, *_module, swapon/off, reboot, acct,
 * settimeofday/clock_settime/adjtimex writes, iopl/ioperm, lookup_dcookie, quotactl,
 * name_to_handle_at's twin open_by_handle_at, ptrace's process_madvise/pidfd_getfd/kcmp.
 */
import { SYSCALLS_X86_64 } from "./syscalls-x86_64.js";

/** Linux's CLONE_NEW* flags (include/uapi/linux/sched.h): a clone with any of them makes a namespace. */
const CLONE_NEW_ANY =
  0x00020000 /* NEWNS */ |
  0x02000000 /* NEWCGROUP */ |
  0x04000000 /* NEWUTS */ |
  0x08000000 /* NEWIPC */ |
  0x10000000 /* NEWUSER */ |
  0x20000000 /* NEWPID */ |
  0x40000000; /* NEWNET */

/** personality(2) values programs use (include/uapi/linux/personality.h). */
const PERSONALITIES = [
  0x0, // PER_LINUX
  0x8, // PER_LINUX32 (linux32/setarch i686)
  0x20000, // UNAME26
  0x20008, // UNAME26 | PER_LINUX32
  0xffffffff, // query the current persona without changing it
];

const AF_VSOCK = 40; // include/linux/socket.h: reaches the hypervisor's side, not the container's network
const ENOSYS = 38;
const EPERM = 1;

/** Allowed without conditions, grouped by what they are for. */
const ALLOWED: readonly (readonly string[])[] = [
  // Files and directories.
  [
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "open",
    "openat",
    "openat2",
    "creat",
    "close",
    "close_range",
    "lseek",
    "dup",
    "dup2",
    "dup3",
    "fcntl",
    "flock",
    "fsync",
    "fdatasync",
    "sync",
    "syncfs",
    "sync_file_range",
    "truncate",
    "ftruncate",
    "fallocate",
    "fadvise64",
    "readahead",
    "stat",
    "fstat",
    "lstat",
    "newfstatat",
    "statx",
    "statfs",
    "fstatfs",
    "access",
    "faccessat",
    "faccessat2",
    "getdents",
    "getdents64",
    "getcwd",
    "chdir",
    "fchdir",
    "pipe",
    "pipe2",
    "mkdir",
    "mkdirat",
    "rmdir",
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
    "unlink",
    "unlinkat",
    "symlink",
    "symlinkat",
    "readlink",
    "readlinkat",
    "chmod",
    "fchmod",
    "fchmodat",
    "chown",
    "fchown",
    "lchown",
    "fchownat",
    "umask",
    "utime",
    "utimes",
    "utimensat",
    "futimesat",
    "mknod",
    "mknodat",
    "getxattr",
    "lgetxattr",
    "fgetxattr",
    "setxattr",
    "lsetxattr",
    "fsetxattr",
    "listxattr",
    "llistxattr",
    "flistxattr",
    "removexattr",
    "lremovexattr",
    "fremovexattr",
    "copy_file_range",
    "sendfile",
    "splice",
    "tee",
    "vmsplice",
    "ioctl",
    "inotify_init",
    "inotify_init1",
    "inotify_add_watch",
    "inotify_rm_watch",
    "fanotify_mark",
    "memfd_create",
    "name_to_handle_at",
    "chroot",
  ],
  // Waiting and events.
  [
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd",
    "eventfd2",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "futex",
    "futex_waitv",
    "set_robust_list",
    "get_robust_list",
    "io_setup",
    "io_destroy",
    "io_submit",
    "io_cancel",
    "io_getevents",
    "io_pgetevents",
  ],
  // Memory.
  [
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "mincore",
    "msync",
    "mlock",
    "mlock2",
    "munlock",
    "mlockall",
    "munlockall",
    "membarrier",
    "remap_file_pages",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "memfd_secret",
    "process_mrelease",
  ],
  // Processes, threads, identity, limits (clone and personality: see the argument rules).
  [
    "fork",
    "vfork",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "wait4",
    "waitid",
    "getpid",
    "getppid",
    "gettid",
    "getpgid",
    "setpgid",
    "getpgrp",
    "getsid",
    "setsid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setgroups",
    "capget",
    "capset",
    "prctl",
    "arch_prctl",
    "modify_ldt",
    "set_tid_address",
    "get_thread_area",
    "set_thread_area",
    "rseq",
    "getrlimit",
    "setrlimit",
    "prlimit64",
    "getrusage",
    "getpriority",
    "setpriority",
    "ioprio_get",
    "ioprio_set",
    "sched_yield",
    "sched_getaffinity",
    "sched_setaffinity",
    "sched_getparam",
    "sched_setparam",
    "sched_getscheduler",
    "sched_setscheduler",
    "sched_getattr",
    "sched_setattr",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_rr_get_interval",
    "getcpu",
    "uname",
    "sysinfo",
    "getrandom",
    "seccomp",
    "landlock_create_ruleset",
    "landlock_add_rule",
    "landlock_restrict_self",
    "pidfd_open",
    "pidfd_send_signal",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
  ],
  // Signals.
  [
    "kill",
    "tkill",
    "tgkill",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigpending",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "rt_sigreturn",
    "sigaltstack",
    "pause",
    "restart_syscall",
  ],
  // Time (reading it; setting it needs CAP_SYS_TIME, which containers lack).
  [
    "time",
    "gettimeofday",
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "nanosleep",
    "alarm",
    "getitimer",
    "setitimer",
    "times",
    "timer_create",
    "timer_settime",
    "timer_gettime",
    "timer_getoverrun",
    "timer_delete",
  ],
  // Sockets (socket itself: see the argument rules).
  [
    "socketpair",
    "bind",
    "listen",
    "accept",
    "accept4",
    "connect",
    "getsockname",
    "getpeername",
    "getsockopt",
    "setsockopt",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
  ],
  // System V and POSIX IPC (namespaced by the container's IPC namespace).
  [
    "shmget",
    "shmat",
    "shmctl",
    "shmdt",
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "mq_open",
    "mq_unlink",
    "mq_timedsend",
    "mq_timedreceive",
    "mq_notify",
    "mq_getsetattr",
  ],
];

export interface ProfileRule {
  names: string[];
  action: "SCMP_ACT_ALLOW" | "SCMP_ACT_ERRNO";
  errnoRet?: number;
  args?: {
    index: number;
    value: number;
    valueTwo?: number;
    op: "SCMP_CMP_EQ" | "SCMP_CMP_NE" | "SCMP_CMP_MASKED_EQ";
  }[];
}

export interface SeccompProfile {
  defaultAction: "SCMP_ACT_ERRNO";
  defaultErrnoRet: number;
  architectures: string[];
  syscalls: ProfileRule[];
}

/** The profile as an OCI `linux.seccomp` object: a fresh copy each call, the caller may change it. */
export function defaultSeccompProfile(): SeccompProfile {
  return {
    defaultAction: "SCMP_ACT_ERRNO",
    defaultErrnoRet: EPERM,
    architectures: ["SCMP_ARCH_X86_64"],
    syscalls: [
      { names: ALLOWED.flat(), action: "SCMP_ACT_ALLOW" },
      // clone: threads and processes, but no new namespace (that needs CAP_SYS_ADMIN in the engines' profiles too).
      {
        names: ["clone"],
        action: "SCMP_ACT_ALLOW",
        args: [{ index: 0, value: CLONE_NEW_ANY, valueTwo: 0, op: "SCMP_CMP_MASKED_EQ" }],
      },
      // clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes libc fall back to clone.
      { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS },
      { names: ["io_uring_setup", "io_uring_enter", "io_uring_register"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS },
      // One rule per value: a repeated argument index is ORed (runc's semantics, compile.ts).
      {
        names: ["personality"],
        action: "SCMP_ACT_ALLOW",
        args: PERSONALITIES.map((value) => ({ index: 0, value, op: "SCMP_CMP_EQ" as const })),
      },
      { names: ["socket"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: AF_VSOCK, op: "SCMP_CMP_NE" }] },
    ],
  };
}

/** Names in the profile that the x86_64 table lacks (none: profile.test.ts checks it). */
export function unknownProfileNames(p: SeccompProfile): string[] {
  return p.syscalls.flatMap((r) => r.names).filter((n) => SYSCALLS_X86_64[n] === undefined);
}
