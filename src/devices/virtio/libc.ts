/**
 * The few libc calls the disk backends need that node:fs lacks, through koffi. Raw bindings only;
 * disk-lock.ts and disk-raw.ts wrap them. koffi is loaded on first use, so importing a device
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

/** errno values used by callers (asm-generic/errno-base.h, errno.h). */
export const EWOULDBLOCK = 11;
export const EOPNOTSUPP = 95;
export const ENOSPC = 28;

interface Libc {
  flock: (fd: number, op: number) => number;
  fallocate: (fd: number, mode: number, offset: number, len: number) => number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  const lib = koffi().load("libc.so.6");
  const flock = lib.func("int flock(int fd, int operation)");
  const fallocate = lib.func("int fallocate(int fd, int mode, int64_t offset, int64_t len)");
  libc = {
    flock: (fd, op) => flock(fd, op) as number,
    fallocate: (fd, mode, offset, len) => fallocate(fd, mode, offset, len) as number,
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
