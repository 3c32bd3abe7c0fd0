/**
 * The FUSE protocol as virtio-fs carries it (virtio 1.2 §5.11; Linux include/uapi/linux/fuse.h,
 * protocol 7.38): opcodes, flags and the byte layout of every structure Corral reads or writes,
 * declared once as field offsets (little-endian: the guest is riscv64). protocol.test.ts checks
 * each offset and size against the host's <linux/fuse.h>.
 */

export const FUSE_KERNEL_VERSION = 7;
/** The minor version Corral speaks: the structures below are those of 7.38. */
export const FUSE_KERNEL_MINOR_VERSION = 38;
export const FUSE_ROOT_ID = 1;

/** enum fuse_opcode. */
export const Op = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  DESTROY: 38,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
} as const;

/** fuse_init_in/out flags Corral negotiates. */
export const InitFlag = {
  BIG_WRITES: 1 << 5,
  DO_READDIRPLUS: 1 << 13,
  MAX_PAGES: 1 << 22,
} as const;

/** fuse_setattr_in.valid bits. */
export const Fattr = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  CTIME: 1 << 10,
  KILL_SUIDGID: 1 << 11,
} as const;

export const FUSE_FSYNC_FDATASYNC = 1;

/** Offsets of each structure's fields; `size` is sizeof. */
export const IN_HEADER = {
  len: 0,
  opcode: 4,
  unique: 8,
  nodeid: 16,
  uid: 24,
  gid: 28,
  pid: 32,
  totalExtlen: 36,
  size: 40,
};
export const OUT_HEADER = { len: 0, error: 4, unique: 8, size: 16 };
export const ATTR = {
  ino: 0,
  size_: 8,
  blocks: 16,
  atime: 24,
  mtime: 32,
  ctime: 40,
  atimensec: 48,
  mtimensec: 52,
  ctimensec: 56,
  mode: 60,
  nlink: 64,
  uid: 68,
  gid: 72,
  rdev: 76,
  blksize: 80,
  flags: 84,
  size: 88,
} as const;
export const ENTRY_OUT = {
  nodeid: 0,
  generation: 8,
  entryValid: 16,
  attrValid: 24,
  entryValidNsec: 32,
  attrValidNsec: 36,
  attr: 40,
  size: 128,
};
export const ATTR_OUT = { attrValid: 0, attrValidNsec: 8, attr: 16, size: 104 };
export const INIT_IN = { major: 0, minor: 4, maxReadahead: 8, flags: 12, flags2: 16, size: 64 };
export const INIT_OUT = {
  major: 0,
  minor: 4,
  maxReadahead: 8,
  flags: 12,
  maxBackground: 16,
  congestionThreshold: 18,
  maxWrite: 20,
  timeGran: 24,
  maxPages: 28,
  mapAlignment: 30,
  flags2: 32,
  size: 64,
};
export const FORGET_IN = { nlookup: 0, size: 8 };
export const BATCH_FORGET_IN = { count: 0, size: 8 };
export const FORGET_ONE = { nodeid: 0, nlookup: 8, size: 16 };
export const GETATTR_IN = { getattrFlags: 0, fh: 8, size: 16 };
export const SETATTR_IN = {
  valid: 0,
  fh: 8,
  size_: 16,
  atime: 32,
  mtime: 40,
  atimensec: 56,
  mtimensec: 60,
  mode: 68,
  uid: 76,
  gid: 80,
  size: 88,
};
export const MKNOD_IN = { mode: 0, rdev: 4, umask: 8, size: 16 };
export const MKDIR_IN = { mode: 0, umask: 4, size: 8 };
export const RENAME_IN = { newdir: 0, size: 8 };
export const RENAME2_IN = { newdir: 0, flags: 8, size: 16 };
export const LINK_IN = { oldnodeid: 0, size: 8 };
export const OPEN_IN = { flags: 0, openFlags: 4, size: 8 };
export const CREATE_IN = { flags: 0, mode: 4, umask: 8, openFlags: 12, size: 16 };
export const OPEN_OUT = { fh: 0, openFlags: 8, size: 16 };
export const RELEASE_IN = { fh: 0, flags: 8, size: 24 };
export const FLUSH_IN = { fh: 0, size: 24 };
export const READ_IN = { fh: 0, offset: 8, size_: 16, size: 40 };
export const WRITE_IN = { fh: 0, offset: 8, size_: 16, size: 40 };
export const WRITE_OUT = { size_: 0, size: 8 };
export const KSTATFS = {
  blocks: 0,
  bfree: 8,
  bavail: 16,
  files: 24,
  ffree: 32,
  bsize: 40,
  namelen: 44,
  frsize: 48,
  size: 80,
};
export const FSYNC_IN = { fh: 0, fsyncFlags: 8, size: 16 };
export const ACCESS_IN = { mask: 0, size: 8 };
export const FALLOCATE_IN = { fh: 0, offset: 8, length: 16, mode: 24, size: 32 };
export const LSEEK_IN = { fh: 0, offset: 8, whence: 16, size: 24 };
export const LSEEK_OUT = { offset: 0, size: 8 };
export const DIRENT = { ino: 0, off: 8, namelen: 16, type: 20, name: 24 };

/** FUSE_REC_ALIGN: directory records are padded to 8 bytes. */
export function direntSize(namelen: number): number {
  return (DIRENT.name + namelen + 7) & ~7;
}
