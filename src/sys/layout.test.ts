// Every layout and constant in layout.ts, and the errno values errno.ts exports, against the
// host's C headers through gcc.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { compileC } from "../../tests/containers-lib/cc.js";
import { EACCES, EBUSY, EOPNOTSUPP, EPERM, EWOULDBLOCK, errnoName } from "./errno.js";
import * as L from "./layout.js";

const PROBE = `
#define _GNU_SOURCE
#include <stdio.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <net/if.h>
#include <linux/falloc.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>
#include <time.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#define P(name, v) printf("\\"%s\\": %llu,\\n", name, (unsigned long long)(v))
int main(void) {
  printf("{\\n");
  P("IOVEC.base", offsetof(struct iovec, iov_base)); P("IOVEC.len", offsetof(struct iovec, iov_len));
  P("IOVEC.size", sizeof(struct iovec)); P("IOV_MAX", IOV_MAX);
  P("IFREQ.name", offsetof(struct ifreq, ifr_name)); P("IFREQ.nameSize", IFNAMSIZ);
  P("IFREQ.flags", offsetof(struct ifreq, ifr_flags)); P("IFREQ.size", sizeof(struct ifreq));
  P("IFF_UP", IFF_UP); P("SIOCGIFFLAGS", SIOCGIFFLAGS); P("SIOCSIFFLAGS", SIOCSIFFLAGS);
  P("TUNSETIFF", TUNSETIFF); P("IFF_TAP", IFF_TAP); P("IFF_NO_PI", IFF_NO_PI);
  P("POLLFD.fd", offsetof(struct pollfd, fd)); P("POLLFD.events", offsetof(struct pollfd, events));
  P("POLLFD.revents", offsetof(struct pollfd, revents)); P("POLLFD.size", sizeof(struct pollfd)); P("POLLIN", POLLIN);
  P("AF_INET", AF_INET); P("SOCK_DGRAM", SOCK_DGRAM); P("SOCK_CLOEXEC", SOCK_CLOEXEC); P("CLONE_NEWNET", CLONE_NEWNET);
  P("LOCK_SH", LOCK_SH); P("LOCK_EX", LOCK_EX); P("LOCK_NB", LOCK_NB); P("LOCK_UN", LOCK_UN);
  P("FALLOC_FL_KEEP_SIZE", FALLOC_FL_KEEP_SIZE); P("FALLOC_FL_PUNCH_HOLE", FALLOC_FL_PUNCH_HOLE);
  P("POSIX_FADV_DONTNEED", POSIX_FADV_DONTNEED); P("MADV_DONTNEED", MADV_DONTNEED);
  P("MADV_REMOVE", MADV_REMOVE); P("MAP_SHARED", MAP_SHARED); P("MFD_CLOEXEC", MFD_CLOEXEC);
  P("MADV_MERGEABLE", MADV_MERGEABLE); P("MADV_UNMERGEABLE", MADV_UNMERGEABLE);
  P("MADV_POPULATE_READ", MADV_POPULATE_READ); P("MADV_POPULATE_WRITE", MADV_POPULATE_WRITE);
  P("PROT_READ", PROT_READ); P("PROT_WRITE", PROT_WRITE); P("MAP_PRIVATE", MAP_PRIVATE); P("MAP_FIXED", MAP_FIXED);
  P("O_CREAT", O_CREAT); P("O_EXCL", O_EXCL); P("O_NOFOLLOW", O_NOFOLLOW); P("O_DIRECTORY", O_DIRECTORY);
  P("O_CLOEXEC", O_CLOEXEC); P("O_PATH", O_PATH); P("AT_REMOVEDIR", AT_REMOVEDIR);
  P("AT_SYMLINK_FOLLOW", AT_SYMLINK_FOLLOW); P("AT_EMPTY_PATH", AT_EMPTY_PATH); P("SYS_openat2", SYS_openat2);
  P("OPEN_HOW.flags", offsetof(struct open_how, flags)); P("OPEN_HOW.mode", offsetof(struct open_how, mode));
  P("OPEN_HOW.resolve", offsetof(struct open_how, resolve)); P("OPEN_HOW.size", sizeof(struct open_how));
  P("RESOLVE_NO_MAGICLINKS", RESOLVE_NO_MAGICLINKS); P("RESOLVE_NO_SYMLINKS", RESOLVE_NO_SYMLINKS);
  P("RESOLVE_BENEATH", RESOLVE_BENEATH);
  P("TIMESPEC.sec", offsetof(struct timespec, tv_sec)); P("TIMESPEC.nsec", offsetof(struct timespec, tv_nsec));
  P("TIMESPEC.size", sizeof(struct timespec)); P("UTIME_NOW", UTIME_NOW); P("UTIME_OMIT", UTIME_OMIT);
  P("DIRENT64.ino", offsetof(struct dirent64, d_ino)); P("DIRENT64.off", offsetof(struct dirent64, d_off));
  P("DIRENT64.reclen", offsetof(struct dirent64, d_reclen)); P("DIRENT64.type", offsetof(struct dirent64, d_type));
  P("DIRENT64.name", offsetof(struct dirent64, d_name));
  P("SEEK_SET", SEEK_SET); P("SEEK_DATA", SEEK_DATA); P("SEEK_HOLE", SEEK_HOLE);
  P("MNT_DETACH", MNT_DETACH); P("PR_SET_CHILD_SUBREAPER", PR_SET_CHILD_SUBREAPER);
  P("EPERM", EPERM); P("EACCES", EACCES); P("EBUSY", EBUSY); P("EOPNOTSUPP", EOPNOTSUPP); P("EWOULDBLOCK", EWOULDBLOCK);
  printf("\\"end\\": 0}\\n");
  return 0;
}
`;

test("struct layouts and constants match the host's C headers", () => {
  const prog = compileC("sys-layout", PROBE);
  try {
    const r = spawnSync(prog.exe, { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const c = JSON.parse(r.stdout) as Record<string, number>;
    const structs = {
      IOVEC: L.IOVEC,
      IFREQ: L.IFREQ,
      POLLFD: L.POLLFD,
      OPEN_HOW: L.OPEN_HOW,
      TIMESPEC: L.TIMESPEC,
      DIRENT64: L.DIRENT64,
    } as const;
    for (const [name, layout] of Object.entries(structs)) {
      for (const [field, v] of Object.entries(layout)) assert.equal(v, c[`${name}.${field}`], `${name}.${field}`);
    }
    const scalars = {
      IOV_MAX: L.IOV_MAX,
      IFF_UP: L.IFF_UP,
      SIOCGIFFLAGS: L.SIOCGIFFLAGS,
      SIOCSIFFLAGS: L.SIOCSIFFLAGS,
      TUNSETIFF: L.TUNSETIFF,
      IFF_TAP: L.IFF_TAP,
      IFF_NO_PI: L.IFF_NO_PI,
      POLLIN: L.POLLIN,
      AF_INET: L.AF_INET,
      SOCK_DGRAM: L.SOCK_DGRAM,
      SOCK_CLOEXEC: L.SOCK_CLOEXEC,
      CLONE_NEWNET: L.CLONE_NEWNET,
      LOCK_SH: L.LOCK_SH,
      LOCK_EX: L.LOCK_EX,
      LOCK_NB: L.LOCK_NB,
      LOCK_UN: L.LOCK_UN,
      FALLOC_FL_KEEP_SIZE: L.FALLOC_FL_KEEP_SIZE,
      FALLOC_FL_PUNCH_HOLE: L.FALLOC_FL_PUNCH_HOLE,
      POSIX_FADV_DONTNEED: L.POSIX_FADV_DONTNEED,
      MADV_DONTNEED: L.MADV_DONTNEED,
      MADV_REMOVE: L.MADV_REMOVE,
      MAP_SHARED: L.MAP_SHARED,
      MFD_CLOEXEC: L.MFD_CLOEXEC,
      MADV_MERGEABLE: L.MADV_MERGEABLE,
      MADV_UNMERGEABLE: L.MADV_UNMERGEABLE,
      MADV_POPULATE_READ: L.MADV_POPULATE_READ,
      MADV_POPULATE_WRITE: L.MADV_POPULATE_WRITE,
      PROT_READ: L.PROT_READ,
      PROT_WRITE: L.PROT_WRITE,
      MAP_PRIVATE: L.MAP_PRIVATE,
      MAP_FIXED: L.MAP_FIXED,
      MNT_DETACH: L.MNT_DETACH,
      O_CREAT: L.O_CREAT,
      O_EXCL: L.O_EXCL,
      O_NOFOLLOW: L.O_NOFOLLOW,
      O_DIRECTORY: L.O_DIRECTORY,
      O_CLOEXEC: L.O_CLOEXEC,
      O_PATH: L.O_PATH,
      AT_REMOVEDIR: L.AT_REMOVEDIR,
      AT_SYMLINK_FOLLOW: L.AT_SYMLINK_FOLLOW,
      AT_EMPTY_PATH: L.AT_EMPTY_PATH,
      SYS_openat2: L.SYS_openat2,
      RESOLVE_NO_MAGICLINKS: L.RESOLVE_NO_MAGICLINKS,
      RESOLVE_NO_SYMLINKS: L.RESOLVE_NO_SYMLINKS,
      RESOLVE_BENEATH: L.RESOLVE_BENEATH,
      UTIME_NOW: L.UTIME_NOW,
      UTIME_OMIT: L.UTIME_OMIT,
      SEEK_SET: L.SEEK_SET,
      SEEK_DATA: L.SEEK_DATA,
      SEEK_HOLE: L.SEEK_HOLE,
      PR_SET_CHILD_SUBREAPER: L.PR_SET_CHILD_SUBREAPER,
      EPERM,
      EACCES,
      EBUSY,
      EOPNOTSUPP,
      EWOULDBLOCK,
    };
    for (const [name, v] of Object.entries(scalars)) assert.equal(v, c[name], name);
    assert.equal(L.MAX_IFNAME, c["IFREQ.nameSize"]! - 1);
  } finally {
    prog.cleanup();
  }
});

test("errno names come from the host's table; an unknown number is shown as a number", () => {
  assert.equal(errnoName(EACCES), "EACCES");
  assert.equal(errnoName(EPERM), "EPERM");
  assert.equal(errnoName(99999), "errno 99999");
});
