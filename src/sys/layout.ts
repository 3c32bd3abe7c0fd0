/**
 * Struct layouts and constants of the Linux/glibc ABI Corral passes to libc, for x86-64 and the
 * other LP64 Linux targets (s390 differs in POSIX_FADV_DONTNEED). Each is checked against the
 * host's C headers by layout.test.ts.
 */

/** struct iovec (sys/uio.h): void *iov_base; size_t iov_len. Byte offsets. */
export const IOVEC = Object.freeze({ base: 0, len: 8, size: 16 });
/** The most buffers one preadv/pwritev takes (IOV_MAX, limits.h). */
export const IOV_MAX = 1024;

/** struct ifreq (linux/if.h): char ifr_name[IFNAMSIZ]; then a union whose first member is short ifr_flags. */
export const IFREQ = Object.freeze({ name: 0, nameSize: 16, flags: 16, size: 40 });
/** IFNAMSIZ minus the NUL. */
export const MAX_IFNAME = IFREQ.nameSize - 1;
/** Interface flags (linux/if.h) and the ioctls that get and set them (linux/sockios.h, netdevice(7)). */
export const IFF_UP = 0x1;
export const SIOCGIFFLAGS = 0x8913;
export const SIOCSIFFLAGS = 0x8914;

/** _IOW('T', 202, int) (linux/if_tun.h) and its flags (Documentation/networking/tuntap.rst). */
export const TUNSETIFF = 0x400454ca;
export const IFF_TAP = 0x0002;
export const IFF_NO_PI = 0x1000;

/** struct pollfd (poll.h) and POLLIN. */
export const POLLFD = Object.freeze({ fd: 0, events: 4, revents: 6, size: 8 });
export const POLLIN = 1;

/** socket(2) arguments (sys/socket.h). */
export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0o2000000;
/** setns(2) namespace type (sched.h). */
export const CLONE_NEWNET = 0x40000000;

/** flock(2) operations (sys/file.h). */
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/** fallocate(2) modes (linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;

/** posix_fadvise(2) advice (fcntl.h). */
export const POSIX_FADV_DONTNEED = 4;

/** madvise(2) advice (asm-generic/mman-common.h). */
export const MADV_DONTNEED = 4;
/** Free the range's pages and their backing store in a shared file mapping (shmem): later reads see zeros. */
export const MADV_REMOVE = 9;
/** The range may be merged with identical pages by KSM (Documentation/admin-guide/mm/ksm.rst); and back. */
export const MADV_MERGEABLE = 12;
export const MADV_UNMERGEABLE = 13;
/** Fault the range's pages in now, readable or writable, as reads or writes would, in one call (Linux 5.14). */
export const MADV_POPULATE_READ = 22;
export const MADV_POPULATE_WRITE = 23;

/**
 * /proc/PID/pagemap: one 64-bit entry per virtual page (Documentation/admin-guide/mm/pagemap.rst).
 * Bit 63: present in RAM; bit 62: swapped out; bit 61: a file page or shared anonymous one (a page
 * of a private file mapping that was written has been copied into an anonymous one: bit 61 clear).
 */
export const PAGEMAP_ENTRY = 8;
export const PAGEMAP_PRESENT = 1n << 63n;
export const PAGEMAP_SWAPPED = 1n << 62n;
export const PAGEMAP_FILE = 1n << 61n;

/** mmap(2) protections and flags (asm-generic/mman-common.h, linux/mman.h). */
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;

/** memfd_create(2) flag (linux/memfd.h): the file is closed in programs this process executes. */
export const MFD_CLOEXEC = 1;

/** umount2(2) flag (sys/mount.h). */
export const MNT_DETACH = 2;

/** prctl(2) option (linux/prctl.h): orphaned descendants are re-parented to this process. */
export const PR_SET_CHILD_SUBREAPER = 36;

/** open(2) flags (asm-generic/fcntl.h, the same on x86-64 and riscv64). */
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOFOLLOW = 0o400000;
export const O_DIRECTORY = 0o200000;
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;
/** *at(2) flags (linux/fcntl.h). */
export const AT_FDCWD = -100;
export const AT_REMOVEDIR = 0x200;
export const AT_SYMLINK_FOLLOW = 0x400;
export const AT_EMPTY_PATH = 0x1000;

/** openat2(2): its syscall number (the same on every architecture since Linux 5.6) and struct open_how. */
export const SYS_openat2 = 437;
export const OPEN_HOW = Object.freeze({ flags: 0, mode: 8, resolve: 16, size: 24 });
/** open_how.resolve bits (linux/openat2.h). */
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;

/** struct timespec (time.h) and the special tv_nsec values of utimensat(2). */
export const TIMESPEC = Object.freeze({ sec: 0, nsec: 8, size: 16 });
export const UTIME_NOW = (1 << 30) - 1;
export const UTIME_OMIT = (1 << 30) - 2;

/** struct linux_dirent64 as getdents64(2) fills it (dirent.h's struct dirent64 has the same head). */
export const DIRENT64 = Object.freeze({ ino: 0, off: 8, reclen: 16, type: 18, name: 19 });

/** lseek(2) whence values (unistd.h). */
export const SEEK_SET = 0;
export const SEEK_DATA = 3;
export const SEEK_HOLE = 4;
