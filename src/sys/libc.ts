/**
 * The C library, loaded once through koffi, and every function of it Corral calls. Raw bindings
 * only: each returns what C returns (-1 and errno, or an error number). The typed wrappers beside
 * this file (io.ts, mem.ts, net.ts, fs.ts, proc.ts) give them meaning; nothing outside src/sys
 * touches koffi. koffi and libc are loaded on first use, so importing a module that may call
 * into libc does not load the native module.
 */
import { createRequire } from "node:module";
import type Koffi from "koffi";
import { SYS_openat2 } from "./layout.js";

/** struct pollfd as koffi marshals it (layout: POLLFD in layout.ts). */
export interface PollFd {
  fd: number;
  events: number;
  revents: number;
}

export interface Libc {
  flock(fd: number, op: number): number;
  fallocate(fd: number, mode: number, offset: number, len: number): number;
  posixFadvise(fd: number, offset: number, len: number, advice: number): number;
  /** `iov` is an array of struct iovec (IOVEC in layout.ts) that koffi passes by address, uncopied. */
  preadv(fd: number, iov: Uint32Array, count: number, offset: number): number;
  pwritev(fd: number, iov: Uint32Array, count: number, offset: number): number;
  madvise(addr: bigint, len: number, advice: number): number;
  /** glibc's malloc_trim(3): 1 when memory was given back to the system. */
  mallocTrim(pad: number): number;
  /** mmap(2); returns the mapping's address, or MAP_FAILED (2^64 - 1) with errno. */
  mmap(addr: bigint, len: number, prot: number, flags: number, fd: number, offset: number): bigint;
  /** memfd_create(2): an anonymous file in memory, or -1 with errno. */
  memfdCreate(name: string, flags: number): number;
  mkfifo(path: string, mode: number): number;
  mount(src: string | null, dst: string, type: string | null, flags: number, data: string | null): number;
  umount2(target: string, flags: number): number;
  prctl(option: number, a2: number, a3: number, a4: number, a5: number): number;
  setns(fd: number, nstype: number): number;
  socket(domain: number, type: number, protocol: number): number;
  /** ioctl(2) with a pointer argument: `arg` is passed by address. */
  ioctl(fd: number, request: number, arg: Buffer): number;
  /** poll(2) on a koffi worker thread; koffi copies `fds` into memory of its own for the call. */
  pollAsync(fds: PollFd, nfds: number, timeoutMs: number, cb: (err: unknown, res: number) => void): void;
  /** openat2(2) through syscall(2) (glibc has no wrapper): `how` is a struct open_how (OPEN_HOW). */
  openat2(dirfd: number, path: Uint8Array, how: Uint8Array): number;
  /** The *at calls of the shared-folder server; paths are NUL-terminated bytes (names need not be UTF-8). */
  mkdirat(dirfd: number, path: Uint8Array, mode: number): number;
  mknodat(dirfd: number, path: Uint8Array, mode: number, dev: number): number;
  symlinkat(target: Uint8Array, dirfd: number, path: Uint8Array): number;
  readlinkat(dirfd: number, path: Uint8Array, buf: Uint8Array, size: number): number;
  unlinkat(dirfd: number, path: Uint8Array, flags: number): number;
  renameat2(olddirfd: number, oldpath: Uint8Array, newdirfd: number, newpath: Uint8Array, flags: number): number;
  linkat(olddirfd: number, oldpath: Uint8Array, newdirfd: number, newpath: Uint8Array, flags: number): number;
  /** `times` is two struct timespec (TIMESPEC). */
  utimensat(dirfd: number, path: Uint8Array, times: Uint8Array, flags: number): number;
  getdents64(fd: number, buf: Uint8Array, size: number): number;
  lseek(fd: number, offset: bigint, whence: number): bigint;
  /** errno as the last call on this thread left it (koffi saves it right after each call). */
  errno(): number;
  /** The host address of a buffer's first byte (of the ArrayBuffer, or of the view's own bytes). */
  address(buf: ArrayBufferLike | ArrayBufferView): bigint;
}

let libc: Libc | undefined;

/** The bindings; throws when koffi or libc cannot be loaded (callers that can do without catch it). */
export function sys(): Libc {
  return (libc ??= bind());
}

function bind(): Libc {
  const k = createRequire(import.meta.url)("koffi") as typeof Koffi;
  const so = k.load("libc.so.6");
  const f = (proto: string) => so.func(proto);
  const flock = f("int flock(int fd, int operation)");
  const fallocate = f("int fallocate(int fd, int mode, int64_t offset, int64_t len)");
  const fadvise = f("int posix_fadvise(int fd, int64_t offset, int64_t len, int advice)");
  const preadv = f("intptr_t preadv(int fd, const void *iov, int iovcnt, int64_t offset)");
  const pwritev = f("intptr_t pwritev(int fd, const void *iov, int iovcnt, int64_t offset)");
  const madvise = f("int madvise(uintptr_t addr, size_t length, int advice)");
  // glibc's own: a C library without it (musl) gets a stand-in that trims nothing.
  let mallocTrim: (pad: number) => unknown = () => 0;
  try {
    mallocTrim = f("int malloc_trim(size_t pad)");
  } catch {
    // keep the stand-in
  }
  const mmap = f("uintptr_t mmap(uintptr_t addr, size_t length, int prot, int flags, int fd, int64_t offset)");
  const memfdCreate = f("int memfd_create(const char *name, unsigned int flags)");
  const mkfifo = f("int mkfifo(const char *path, uint32_t mode)");
  const mount = f(
    "int mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)",
  );
  const umount2 = f("int umount2(const char *target, int flags)");
  const prctl = f("int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)");
  const setns = f("int setns(int fd, int nstype)");
  const socket = f("int socket(int domain, int type, int protocol)");
  const ioctl = f("int ioctl(int fd, unsigned long request, void *arg)");
  const openat2 = so.func(
    "long syscall(long nr, int dirfd, const uint8_t *path, const uint8_t *how, unsigned long size)",
  );
  const mkdirat = f("int mkdirat(int dirfd, const uint8_t *path, uint32_t mode)");
  const mknodat = f("int mknodat(int dirfd, const uint8_t *path, uint32_t mode, uint64_t dev)");
  const symlinkat = f("int symlinkat(const uint8_t *target, int dirfd, const uint8_t *path)");
  const readlinkat = f("intptr_t readlinkat(int dirfd, const uint8_t *path, _Out_ uint8_t *buf, size_t size)");
  const unlinkat = f("int unlinkat(int dirfd, const uint8_t *path, int flags)");
  const renameat2 = f("int renameat2(int od, const uint8_t *op, int nd, const uint8_t *np, unsigned int flags)");
  const linkat = f("int linkat(int od, const uint8_t *op, int nd, const uint8_t *np, int flags)");
  const utimensat = f("int utimensat(int dirfd, const uint8_t *path, const uint8_t *times, int flags)");
  const getdents64 = f("intptr_t getdents64(int fd, _Out_ uint8_t *buf, size_t size)");
  const lseek = f("int64_t lseek(int fd, int64_t offset, int whence)");
  // A koffi struct, not a Buffer: koffi copies it for the asynchronous call, so nothing the
  // garbage collector may move or free reaches the worker thread.
  k.struct("corral_pollfd", { fd: "int", events: "short", revents: "short" });
  const poll = f("int poll(_Inout_ corral_pollfd *fds, unsigned long nfds, int timeout)");
  return {
    flock: (fd, op) => flock(fd, op) as number,
    fallocate: (fd, mode, offset, len) => fallocate(fd, mode, offset, len) as number,
    posixFadvise: (fd, offset, len, advice) => fadvise(fd, offset, len, advice) as number,
    preadv: (fd, iov, count, offset) => preadv(fd, iov, count, offset) as number,
    pwritev: (fd, iov, count, offset) => pwritev(fd, iov, count, offset) as number,
    madvise: (addr, len, advice) => madvise(addr, len, advice) as number,
    mallocTrim: (pad) => mallocTrim(pad) as number,
    mmap: (addr, len, prot, flags, fd, offset) => BigInt(mmap(addr, len, prot, flags, fd, offset) as number | bigint),
    memfdCreate: (name, flags) => memfdCreate(name, flags) as number,
    mkfifo: (path, mode) => mkfifo(path, mode) as number,
    mount: (src, dst, type, flags, data) => mount(src, dst, type, flags, data) as number,
    umount2: (target, flags) => umount2(target, flags) as number,
    prctl: (option, a2, a3, a4, a5) => prctl(option, a2, a3, a4, a5) as number,
    setns: (fd, nstype) => setns(fd, nstype) as number,
    socket: (domain, type, protocol) => socket(domain, type, protocol) as number,
    ioctl: (fd, request, arg) => ioctl(fd, request, arg) as number,
    pollAsync: (fds, nfds, timeoutMs, cb) => poll.async(fds, nfds, timeoutMs, cb),
    openat2: (dirfd, path, how) => openat2(SYS_openat2, dirfd, path, how, how.length) as number,
    mkdirat: (dirfd, path, mode) => mkdirat(dirfd, path, mode) as number,
    mknodat: (dirfd, path, mode, dev) => mknodat(dirfd, path, mode, dev) as number,
    symlinkat: (target, dirfd, path) => symlinkat(target, dirfd, path) as number,
    readlinkat: (dirfd, path, buf, size) => readlinkat(dirfd, path, buf, size) as number,
    unlinkat: (dirfd, path, flags) => unlinkat(dirfd, path, flags) as number,
    renameat2: (od, op, nd, np, flags) => renameat2(od, op, nd, np, flags) as number,
    linkat: (od, op, nd, np, flags) => linkat(od, op, nd, np, flags) as number,
    utimensat: (dirfd, path, times, flags) => utimensat(dirfd, path, times, flags) as number,
    getdents64: (fd, buf, size) => getdents64(fd, buf, size) as number,
    lseek: (fd, offset, whence) => BigInt(lseek(fd, offset, whence) as number | bigint),
    errno: () => k.errno(),
    address: (buf) => k.address(buf),
  };
}
