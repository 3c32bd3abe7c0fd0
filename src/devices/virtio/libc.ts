/**
 * The few libc calls the disk backends need that node:fs lacks, through koffi. Thin bindings only;
 * disk-lock.ts, disk.ts and disk-raw.ts wrap them. koffi is loaded on first use, so importing a device
 * does not load the native module.
 */
import { createRequire } from "node:module";
import type Koffi from "koffi";

type KoffiModule = typeof Koffi;
let koffiModule: KoffiModule | undefined;
function koffi(): KoffiModule {
  koffiModule ??= createRequire(import.meta.url)("koffi") as KoffiModule;
  return koffiModule;
}

/** flock(2) operations. */
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/** fallocate(2) modes (linux/falloc.h). */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const FALLOC_FL_ZERO_RANGE = 0x10;

/** posix_fadvise(2) advice (x86-64 and most architectures; s390 differs). */
export const POSIX_FADV_DONTNEED = 4;

/** errno values used by callers (asm-generic/errno-base.h, errno.h). */
export const EWOULDBLOCK = 11;
export const EOPNOTSUPP = 95;
export const ENOSPC = 28;

/** The most buffers one preadv/pwritev takes (IOV_MAX, limits.h). */
export const IOV_MAX = 1024;

interface Libc {
  flock: (fd: number, op: number) => number;
  fallocate: (fd: number, mode: number, offset: number, len: number) => number;
  fadvise: (fd: number, offset: number, len: number, advice: number) => number;
  preadv: (fd: number, iov: Uint32Array, count: number, offset: number) => number;
  pwritev: (fd: number, iov: Uint32Array, count: number, offset: number) => number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  const lib = koffi().load("libc.so.6");
  const flock = lib.func("int flock(int fd, int operation)");
  const fallocate = lib.func("int fallocate(int fd, int mode, int64_t offset, int64_t len)");
  const fadvise = lib.func("int posix_fadvise(int fd, int64_t offset, int64_t len, int advice)");
  // The iovec array is a typed array koffi passes by address (no copy); see fillIovec.
  const preadv = lib.func("intptr_t preadv(int fd, const void *iov, int iovcnt, int64_t offset)");
  const pwritev = lib.func("intptr_t pwritev(int fd, const void *iov, int iovcnt, int64_t offset)");
  libc = {
    flock: (fd, op) => flock(fd, op) as number,
    fallocate: (fd, mode, offset, len) => fallocate(fd, mode, offset, len) as number,
    fadvise: (fd, offset, len, advice) => fadvise(fd, offset, len, advice) as number,
    preadv: (fd, iov, count, offset) => preadv(fd, iov, count, offset) as number,
    pwritev: (fd, iov, count, offset) => pwritev(fd, iov, count, offset) as number,
  };
  return libc;
}

/** flock(2); returns 0 or the errno. */
export function flock(fd: number, op: number): number {
  return load().flock(fd, op) === 0 ? 0 : koffi().errno();
}

/** fallocate(2); returns 0 or the errno. */
export function fallocate(fd: number, mode: number, offset: number, len: number): number {
  return load().fallocate(fd, mode, offset, len) === 0 ? 0 : koffi().errno();
}

/** posix_fadvise(2); returns 0 or the errno (it returns the error itself, not -1). */
export function fadvise(fd: number, offset: number, len: number, advice: number): number {
  return load().fadvise(fd, offset, len, advice);
}

/** `struct iovec { void *iov_base; size_t iov_len; }` on LP64: four 32-bit words each. */
const iovecs = new Uint32Array(IOV_MAX * 4);

/**
 * Describe `bufs` (at most IOV_MAX) in `iovecs` by their host addresses. A buffer's bytes are found
 * once per backing ArrayBuffer (koffi.address), the rest by byteOffset: a request's segments are
 * all views of guest RAM. Backing stores of ArrayBuffers and wasm memories do not move, and the
 * call that uses the array follows at once. User-space addresses fit 47 bits, so doubles hold them.
 */
function fillIovec(bufs: readonly Uint8Array[]): void {
  let buffer: ArrayBufferLike | undefined;
  let base = 0;
  for (let i = 0; i < bufs.length; i++) {
    const b = bufs[i]!;
    let addr = 0;
    if (b.length > 0) {
      if (b.buffer !== buffer) {
        buffer = b.buffer;
        base = Number(koffi().address(b)) - b.byteOffset;
      }
      addr = base + b.byteOffset;
    }
    const w = 4 * i;
    iovecs[w] = addr >>> 0;
    iovecs[w + 1] = Math.floor(addr / 2 ** 32);
    iovecs[w + 2] = b.length;
    iovecs[w + 3] = 0;
  }
}

function vectored(call: "preadv" | "pwritev", fd: number, bufs: readonly Uint8Array[], offset: number): number {
  if (bufs.length > IOV_MAX) throw new RangeError(`${call}: ${bufs.length} buffers, at most ${IOV_MAX}`);
  const c = load();
  fillIovec(bufs);
  const n = c[call](fd, iovecs, bufs.length, offset);
  return n >= 0 ? n : -koffi().errno();
}

/** preadv(2) into `bufs` (at most IOV_MAX) from `offset`: bytes read (short at end of file), or -errno. */
export function preadv(fd: number, bufs: readonly Uint8Array[], offset: number): number {
  return vectored("preadv", fd, bufs, offset);
}

/** pwritev(2) of `bufs` (at most IOV_MAX) at `offset`: bytes written (may be short), or -errno. */
export function pwritev(fd: number, bufs: readonly Uint8Array[], offset: number): number {
  return vectored("pwritev", fd, bufs, offset);
}
