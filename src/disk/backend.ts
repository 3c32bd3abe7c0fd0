/**
 * What virtio-blk needs from a disk image: synchronous byte-addressed I/O. Implementations:
 * raw.ts (a raw image file) and overlay.ts (a copy-on-write overlay over a read-only
 * base). Methods throw on host I/O errors (ENOSPC, EIO, ...); the device turns any throw into
 * VIRTIO_BLK_S_IOERR for that request and keeps running.
 */
import { closeSync, constants, fstatSync, openSync, readSync, writeSync, type Stats } from "node:fs";
import { getSystemErrorName } from "node:util";
import { CorralError } from "../errors.js";
import { preadv, pwritev } from "../sys/io.js";
import { IOV_MAX } from "../sys/layout.js";
import { DiskError } from "./errors.js";

export interface DiskBackend {
  /** The image file, for messages. */
  readonly path: string;
  /** Size the guest sees, in bytes; a multiple of 512. */
  readonly size: number;
  readonly readOnly: boolean;
  /** Fill `dst` from byte `offset`; the range lies inside `size`. */
  read(offset: number, dst: Uint8Array): void;
  /** Store `src` at byte `offset`; the range lies inside `size`. Not durable before flush(). */
  write(offset: number, src: Uint8Array): void;
  /** Fill `dsts` one after another from byte `offset` (a request's scattered guest buffers). */
  readv(offset: number, dsts: readonly Uint8Array[]): void;
  /** Store `srcs` one after another at byte `offset`. Not durable before flush(). */
  writev(offset: number, srcs: readonly Uint8Array[]): void;
  /** Make every completed write durable (survives a host crash or the process being killed). */
  flush(): void;
  /** The guest no longer needs the range: the backend may free it (reads then return zeros or old data). */
  discard(offset: number, len: number): void;
  /** The range reads as zeros afterwards. */
  writeZeroes(offset: number, len: number): void;
  /** Flush what can be flushed and release the file and its lock. Idempotent. */
  close(): void;
}

export const SECTOR_SIZE = 512;

/** A write to a disk opened read-only. */
export class DiskReadOnlyError extends CorralError {
  constructor(path: string) {
    super("DISK_READ_ONLY", `disk image ${path} is attached read-only; attach it without ",ro" to write`);
  }
}

/** Turn an fs error from opening an image into a CorralError that says what to do. */
export function openError(path: string, e: unknown, readOnly: boolean): CorralError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return new DiskError("DISK_NOT_FOUND", `disk image ${path} does not exist; check the path or create it first`, {
        cause: e,
      });
    case "EACCES":
    case "EPERM":
      return new DiskError(
        "DISK_UNREADABLE",
        `disk image ${path} cannot be opened ${readOnly ? "for reading" : "for writing"} (permission denied); fix its permissions${readOnly ? "" : ' or attach it read-only with ",ro"'}`,
        { cause: e },
      );
    case "EROFS":
      return new DiskError(
        "DISK_UNREADABLE",
        `disk image ${path} is on a read-only file system; attach it read-only with ",ro"`,
        { cause: e },
      );
    case "EISDIR":
      return new DiskError("DISK_NOT_A_FILE", `disk image ${path} is a directory; give the path of an image file`, {
        cause: e,
      });
    default:
      return new DiskError(
        "DISK_UNREADABLE",
        `disk image ${path} cannot be opened: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
  }
}

/** What a file that is not a regular file is, for messages. */
function fileKind(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isBlockDevice()) return "a block device";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/**
 * Open an image file read-only or for reading and writing; errors as openError says. O_NONBLOCK
 * makes opening a FIFO return at once instead of waiting for a writer (open(2)); it changes
 * nothing for a regular file, and anything else is refused here, on the descriptor itself.
 */
export function openImage(path: string, readOnly: boolean): number {
  let fd: number;
  try {
    fd = openSync(path, (readOnly ? constants.O_RDONLY : constants.O_RDWR) | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    throw openError(path, e, readOnly);
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    // Corral attaches image files only.
    throw new DiskError("DISK_NOT_A_FILE", `disk image ${path} is ${fileKind(st)}; give the path of an image file`);
  }
  return fd;
}

/** pread until `dst` is full; bytes past end of file read as zeros. */
export function preadFull(fd: number, dst: Uint8Array, position: number): void {
  let done = 0;
  while (done < dst.length) {
    const n = readSync(fd, dst, done, dst.length - done, position + done);
    if (n === 0) {
      dst.fill(0, done);
      return;
    }
    done += n;
  }
}

/** pwrite until all of `src` is written. */
export function pwriteFull(fd: number, src: Uint8Array, position: number): void {
  let done = 0;
  while (done < src.length) done += writeSync(fd, src, done, src.length - done, position + done);
}

/** Call `fn(buf, position)` for each of `bufs` laid end to end from `offset`. */
export function eachAt(
  offset: number,
  bufs: readonly Uint8Array[],
  fn: (buf: Uint8Array, position: number) => void,
): void {
  let at = offset;
  for (const b of bufs) {
    fn(b, at);
    at += b.length;
  }
}

/**
 * One vectored call per IOV_MAX buffers, finishing a short transfer (end of file, a signal, a full
 * disk) buffer by buffer with `each`, which reports the error or zero-fills. One preadv for a
 * 1 MiB request instead of 256 readSync calls: each of those cost about 1.6 µs of binding.
 */
function vectoredFull(
  call: typeof preadv,
  fd: number,
  bufs: readonly Uint8Array[],
  position: number,
  each: (fd: number, buf: Uint8Array, position: number) => void,
): void {
  for (let first = 0; first < bufs.length; first += IOV_MAX) {
    const group = bufs.length <= IOV_MAX ? bufs : bufs.slice(first, first + IOV_MAX);
    const total = group.reduce((n, b) => n + b.length, 0);
    const n = call(fd, group, position);
    if (n < 0) {
      const name = getSystemErrorName(n);
      throw Object.assign(new Error(`${call.name} failed: ${name}`), { code: name, errno: n });
    }
    if (n < total) {
      let skip = n;
      eachAt(position, group, (b, at) => {
        if (skip >= b.length) skip -= b.length;
        else {
          each(fd, b.subarray(skip), at + skip);
          skip = 0;
        }
      });
    }
    position += total;
  }
}

/** preadv until every buffer of `dsts` is full; bytes past end of file read as zeros. */
export function preadvFull(fd: number, dsts: readonly Uint8Array[], position: number): void {
  vectoredFull(preadv, fd, dsts, position, preadFull);
}

/** pwritev until all of `srcs` is written. */
export function pwritevFull(fd: number, srcs: readonly Uint8Array[], position: number): void {
  vectoredFull(pwritev, fd, srcs, position, pwriteFull);
}
