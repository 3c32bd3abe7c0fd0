/**
 * File system calls Node does not offer: FIFOs and mounts (each throws a SysError on failure), and
 * the *at calls of the shared-folder server (each returns -errno).
 */
import { SysError } from "./errno.js";
import { sys } from "./libc.js";
import { MNT_DETACH, OPEN_HOW, TIMESPEC } from "./layout.js";

export function mkfifo(path: string, mode: number): void {
  const c = sys();
  if (c.mkfifo(path, mode) !== 0) throw new SysError("OCI_STATE_FAILED", `mkfifo ${path}`, c.errno());
}

export function mount(src: string | null, dst: string, type: string | null, flags: number, data: string | null): void {
  const c = sys();
  if (c.mount(src, dst, type, flags, data) !== 0)
    throw new SysError("MOUNT_FAILED", `mount ${type ?? ""} on ${dst}`, c.errno());
}

export function umount(target: string, flags = MNT_DETACH): void {
  const c = sys();
  if (c.umount2(target, flags) !== 0) throw new SysError("MOUNT_FAILED", `umount ${target}`, c.errno());
}

/*
 * The *at calls a server of a host directory needs (src/devices/virtio/fuse/): every name is
 * resolved relative to a directory fd the caller holds, never as a path from the root. Names are
 * bytes (a guest's names need not be UTF-8): `cstr` NUL-terminates them. Each returns its result
 * (0, an fd, a byte count, an offset) or -errno, as the server answers the guest with the errno.
 */

/** `name` as a NUL-terminated C string. */
export function cstr(name: Uint8Array | string): Uint8Array {
  const b = typeof name === "string" ? Buffer.from(name, "utf8") : name;
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

const EMPTY = cstr("");

function ret(n: number): number {
  return n >= 0 ? n : -sys().errno();
}

/**
 * openat2(2): open `name` under `dirfd` with `flags` and `resolve` (RESOLVE_* bits, e.g.
 * RESOLVE_BENEATH so that nothing, not even a symlink or "..", leads out of `dirfd`). An fd or -errno.
 */
export function openat2(dirfd: number, name: Uint8Array, flags: number, mode: number, resolve: number): number {
  const how = Buffer.alloc(OPEN_HOW.size);
  how.writeBigUInt64LE(BigInt(flags), OPEN_HOW.flags);
  how.writeBigUInt64LE(BigInt(mode), OPEN_HOW.mode);
  how.writeBigUInt64LE(BigInt(resolve), OPEN_HOW.resolve);
  return ret(sys().openat2(dirfd, cstr(name), how));
}

export function mkdirat(dirfd: number, name: Uint8Array, mode: number): number {
  return ret(sys().mkdirat(dirfd, cstr(name), mode));
}

export function mknodat(dirfd: number, name: Uint8Array, mode: number, dev: number): number {
  return ret(sys().mknodat(dirfd, cstr(name), mode, dev));
}

export function symlinkat(target: Uint8Array, dirfd: number, name: Uint8Array): number {
  return ret(sys().symlinkat(cstr(target), dirfd, cstr(name)));
}

/** The target of the symlink `fd` (an O_PATH fd of the link itself), or -errno. */
export function readlinkFd(fd: number, max = 4096): Uint8Array | number {
  const buf = new Uint8Array(max);
  const n = sys().readlinkat(fd, EMPTY, buf, max);
  return n >= 0 ? buf.subarray(0, n) : -sys().errno();
}

export function unlinkat(dirfd: number, name: Uint8Array, flags: number): number {
  return ret(sys().unlinkat(dirfd, cstr(name), flags));
}

export function renameat2(od: number, oldName: Uint8Array, nd: number, newName: Uint8Array, flags: number): number {
  return ret(sys().renameat2(od, cstr(oldName), nd, cstr(newName), flags));
}

/** linkat(2) with `oldPath` relative to `od` ("" with AT_EMPTY_PATH: the file `od` itself). */
export function linkat(
  od: number,
  oldPath: Uint8Array | string,
  nd: number,
  newName: Uint8Array,
  flags: number,
): number {
  return ret(sys().linkat(od, cstr(oldPath), nd, cstr(newName), flags));
}

/** A time for utimensat: seconds and nanoseconds, or UTIME_NOW / UTIME_OMIT in `nsec`. */
export interface TimeSpec {
  sec: bigint;
  nsec: number;
}

/** utimensat(2) on `path` (a string such as /proc/self/fd/N, or "" with AT_EMPTY_PATH). */
export function utimensat(dirfd: number, path: string, atime: TimeSpec, mtime: TimeSpec, flags: number): number {
  const t = Buffer.alloc(2 * TIMESPEC.size);
  [atime, mtime].forEach((ts, i) => {
    t.writeBigInt64LE(ts.sec, i * TIMESPEC.size + TIMESPEC.sec);
    t.writeBigInt64LE(BigInt(ts.nsec), i * TIMESPEC.size + TIMESPEC.nsec);
  });
  return ret(sys().utimensat(dirfd, cstr(path), t, flags));
}

/** getdents64(2) into `buf`: bytes filled (0 at the end) or -errno. */
export function getdents64(fd: number, buf: Uint8Array): number {
  return ret(sys().getdents64(fd, buf, buf.length));
}

/** lseek(2) with 64-bit offsets (directory cookies use all of them): the new offset or -errno. */
export function lseek(fd: number, offset: bigint, whence: number): bigint {
  const n = sys().lseek(fd, offset, whence);
  return n >= 0n ? n : -BigInt(sys().errno());
}
