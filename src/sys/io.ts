/**
 * File calls node:fs lacks: advisory locks, space allocation, cache advice, and vectored I/O at an
 * offset. Each returns 0 (or a byte count) or the errno, as the disk backends want to decide per
 * error; preadv/pwritev allocate nothing per call (the disk path runs them per request).
 */
import { sys } from "./libc.js";
import { IOVEC, IOV_MAX } from "./layout.js";

/** flock(2); returns 0 or the errno. */
export function flock(fd: number, op: number): number {
  const c = sys();
  return c.flock(fd, op) === 0 ? 0 : c.errno();
}

/** fallocate(2); returns 0 or the errno. */
export function fallocate(fd: number, mode: number, offset: number, len: number): number {
  const c = sys();
  return c.fallocate(fd, mode, offset, len) === 0 ? 0 : c.errno();
}

/** posix_fadvise(2); returns 0 or the errno (it returns the error itself, not -1). */
export function fadvise(fd: number, offset: number, len: number, advice: number): number {
  return sys().posixFadvise(fd, offset, len, advice);
}

/** IOVEC as 32-bit words, for the one array every vectored call reuses. */
const IOVEC_WORDS = IOVEC.size / 4;
const iovecs = new Uint32Array(IOV_MAX * IOVEC_WORDS);

/**
 * Describe `bufs` (at most IOV_MAX) in `iovecs` by their host addresses. A buffer's bytes are found
 * once per backing ArrayBuffer (koffi.address), the rest by byteOffset: a request's segments are
 * all views of guest RAM. Backing stores of ArrayBuffers and wasm memories do not move, and the
 * call that uses the array follows at once. User-space addresses fit 47 bits, so doubles hold them.
 */
function fillIovec(bufs: readonly Uint8Array[], address: (b: Uint8Array) => bigint): void {
  let buffer: ArrayBufferLike | undefined;
  let base = 0;
  for (let i = 0; i < bufs.length; i++) {
    const b = bufs[i]!;
    let addr = 0;
    if (b.length > 0) {
      if (b.buffer !== buffer) {
        buffer = b.buffer;
        base = Number(address(b)) - b.byteOffset;
      }
      addr = base + b.byteOffset;
    }
    const w = IOVEC_WORDS * i;
    iovecs[w + IOVEC.base / 4] = addr >>> 0;
    iovecs[w + IOVEC.base / 4 + 1] = Math.floor(addr / 2 ** 32);
    iovecs[w + IOVEC.len / 4] = b.length;
    iovecs[w + IOVEC.len / 4 + 1] = 0;
  }
}

function vectored(call: "preadv" | "pwritev", fd: number, bufs: readonly Uint8Array[], offset: number): number {
  if (bufs.length > IOV_MAX) throw new RangeError(`${call}: ${bufs.length} buffers, at most ${IOV_MAX}`);
  const c = sys();
  fillIovec(bufs, c.address);
  const n = c[call](fd, iovecs, bufs.length, offset);
  return n >= 0 ? n : -c.errno();
}

/** preadv(2) into `bufs` (at most IOV_MAX) from `offset`: bytes read (short at end of file), or -errno. */
export function preadv(fd: number, bufs: readonly Uint8Array[], offset: number): number {
  return vectored("preadv", fd, bufs, offset);
}

/** pwritev(2) of `bufs` (at most IOV_MAX) at `offset`: bytes written (may be short), or -errno. */
export function pwritev(fd: number, bufs: readonly Uint8Array[], offset: number): number {
  return vectored("pwritev", fd, bufs, offset);
}
