/**
 * A FUSE file system server (Linux include/uapi/linux/fuse.h, Documentation/filesystems/fuse.rst)
 * over one host directory, for virtio-fs (../fs.ts). Requests are bytes from an untrusted guest:
 * each is parsed against the sizes in protocol.ts before use, and answered with an errno when it
 * is short, names an unknown node or handle, or asks for an unknown operation (ENOSYS).
 *
 * Confinement (docs/security.md, "Shared folders"): every name the guest sends is one path
 * component, checked here (no '/', not '.' or '..', no NUL, at most 255 bytes), and resolved by
 * openat2 under its parent's held O_PATH fd with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS and
 * O_NOFOLLOW: a symlink is served as a symlink (its target is the guest kernel's business) and is
 * never followed on the host, so no symlink, "..", or rename race can lead out of the share. An
 * inode is opened for I/O by reopening its own fd (/proc/self/fd/N), never by a path again, and
 * only regular files and directories are opened. The guest cannot make set-user/group-ID files
 * or device nodes on the host, nor change owners. A read-only share answers EROFS to every write.
 */
import {
  chmodSync,
  closeSync,
  fchmodSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readSync,
  statfsSync,
  writeSync,
  constants as fsConstants,
  type BigIntStats,
} from "node:fs";
import { constants } from "node:os";
import * as sysfs from "../../../sys/fs.js";
import { fallocate } from "../../../sys/io.js";
import {
  AT_EMPTY_PATH,
  AT_FDCWD,
  AT_REMOVEDIR,
  AT_SYMLINK_FOLLOW,
  DIRENT64,
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_EXCL,
  O_NOFOLLOW,
  O_PATH,
  RESOLVE_BENEATH,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_SYMLINKS,
  SEEK_SET,
  UTIME_NOW,
  UTIME_OMIT,
} from "../../../sys/layout.js";
import { NodeTable, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, keyOf, type Node } from "./nodes.js";
import * as P from "./protocol.js";

/**
 * errno values as the guest knows them: Linux's asm-generic numbers, which x86-64 and riscv64
 * share, so the host's os.constants.errno serve for both.
 */
const E = constants.errno;

/** The largest WRITE (and READ) payload, negotiated in INIT as max_write and max_pages. */
export const MAX_WRITE = 128 * 1024;
const MAX_PAGES = MAX_WRITE / 4096;
/** Bounds on what one guest may pin on the host (each node and handle is one host fd). */
export const DEFAULT_MAX_NODES = 8192;
export const DEFAULT_MAX_HANDLES = 1024;
/** How long the guest may cache names and attributes: short, as the host may change the folder too. */
const VALID_SECONDS = 1n;
const NAME_MAX = 255;
/** Mode bits the guest may set on the host: permissions and the sticky bit, never set-user/group-ID. */
const MODE_BITS = 0o1777;
/** Open flags passed on to the host: access mode, append, non-blocking, sync. */
const OPEN_FLAGS_KEPT = 0o3 | 0o2000 | 0o4000 | 0o4010000;
const { O_TRUNC, O_WRONLY } = fsConstants;
const O_ACCMODE = 0o3;
/** renameat2 flags the guest may ask for: RENAME_NOREPLACE and RENAME_EXCHANGE (not WHITEOUT). */
const RENAME_FLAGS = 0x1 | 0x2;
/** fallocate modes passed on: KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE. */
const FALLOC_MODES = 0x01 | 0x02 | 0x10;
const S_IFIFO = 0o010000;
const S_IFSOCK = 0o140000;
const RESOLVE = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

export interface FuseServerOptions {
  /** The shared host directory. */
  root: string;
  readOnly?: boolean;
  maxNodes?: number;
  maxHandles?: number;
}

/** A request's answer: bytes after the out header, an errno, or none (FORGET, BATCH_FORGET). */
type Answer = { data: Uint8Array } | { errno: number } | null;

class Fail extends Error {
  constructor(readonly errno: number) {
    super(`errno ${errno}`);
  }
}

/** Throw Fail(-r) when `r` is a negative errno, else return it. */
function check(r: number): number {
  if (r < 0) throw new Fail(-r);
  return r;
}

/** The errno of a node:fs failure (its `code`), rethrowing anything that is not a system error. */
function errnoOf(e: unknown): number {
  if (e instanceof Fail) return e.errno;
  const code = (e as { code?: unknown }).code;
  if (typeof code === "string" && code in E) return E[code as keyof typeof E];
  throw e;
}

/** A file offset from the guest as a number (node:fs positions), or EFBIG. */
function fileOffset(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Fail(E.EFBIG);
  return Number(v);
}

const procFd = (fd: number): string => `/proc/self/fd/${fd}`;

/** One request's body: field reads bounded by its length (a short body fails with EINVAL). */
class Body {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number): void {
    if (this.bytes.length < n) throw new Fail(E.EINVAL);
  }
  u32(off: number): number {
    this.need(off + 4);
    return this.view.getUint32(off, true);
  }
  u64(off: number): bigint {
    this.need(off + 8);
    return this.view.getBigUint64(off, true);
  }
  /** The NUL-terminated string at `off` and the offset after its NUL. */
  cstr(off: number): [Uint8Array, number] {
    const end = this.bytes.indexOf(0, off);
    if (off > this.bytes.length || end < 0) throw new Fail(E.EINVAL);
    return [this.bytes.subarray(off, end), end + 1];
  }
  /** A file name from the guest: one path component, or EINVAL/ENAMETOOLONG. */
  name(off: number): [Uint8Array, number] {
    const [n, next] = this.cstr(off);
    checkName(n);
    return [n, next];
  }
}

/** One path component: not empty, not "." or "..", no '/', at most NAME_MAX bytes. */
export function checkName(n: Uint8Array): void {
  if (n.length === 0 || n.includes(0x2f) || (n[0] === 0x2e && (n.length === 1 || (n.length === 2 && n[1] === 0x2e))))
    throw new Fail(E.EINVAL);
  if (n.length > NAME_MAX) throw new Fail(E.ENAMETOOLONG);
}

function out(size: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(size);
  return { bytes, view: new DataView(bytes.buffer) };
}

function putAttr(v: DataView, at: number, st: BigIntStats): void {
  const A = P.ATTR;
  const sec = (ns: bigint): bigint => (ns >= 0n ? ns / 1_000_000_000n : 0n);
  const nsec = (ns: bigint): number => (ns >= 0n ? Number(ns % 1_000_000_000n) : 0);
  v.setBigUint64(at + A.ino, st.ino, true);
  v.setBigUint64(at + A.size_, st.size, true);
  v.setBigUint64(at + A.blocks, st.blocks, true);
  v.setBigUint64(at + A.atime, sec(st.atimeNs), true);
  v.setBigUint64(at + A.mtime, sec(st.mtimeNs), true);
  v.setBigUint64(at + A.ctime, sec(st.ctimeNs), true);
  v.setUint32(at + A.atimensec, nsec(st.atimeNs), true);
  v.setUint32(at + A.mtimensec, nsec(st.mtimeNs), true);
  v.setUint32(at + A.ctimensec, nsec(st.ctimeNs), true);
  v.setUint32(at + A.mode, Number(st.mode), true);
  v.setUint32(at + A.nlink, Number(st.nlink), true);
  v.setUint32(at + A.uid, Number(st.uid), true);
  v.setUint32(at + A.gid, Number(st.gid), true);
  // dev_t as new_encode_dev: the same bits as glibc's for majors < 4096 and minors < 2^20.
  v.setUint32(at + A.rdev, Number(st.rdev & 0xffffffffn), true);
  v.setUint32(at + A.blksize, Number(st.blksize), true);
}

export class FuseServer {
  readonly readOnly: boolean;
  private readonly nodes: NodeTable;
  private initialized = false;

  /** Opens `root` (throws the node:fs error when it is missing or not a directory). */
  constructor(opts: FuseServerOptions) {
    this.readOnly = opts.readOnly === true;
    const fd = openSync(opts.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    const st = fstatSync(fd, { bigint: true });
    const root: Node = { id: P.FUSE_ROOT_ID, fd, key: keyOf(st), type: S_IFDIR, refs: 1 };
    this.nodes = new NodeTable(root, opts.maxNodes ?? DEFAULT_MAX_NODES, opts.maxHandles ?? DEFAULT_MAX_HANDLES);
  }

  get nodeCount(): number {
    return this.nodes.nodeCount;
  }
  get handleCount(): number {
    return this.nodes.handleCount;
  }

  /**
   * Serve one request (its readable bytes) whose reply may take `room` bytes: the reply (out
   * header included), or null when the operation has none or the request has no header at all.
   */
  handle(req: Uint8Array, room: number): Uint8Array | null {
    const H = P.IN_HEADER;
    if (req.length < H.size) return null;
    const hv = new DataView(req.buffer, req.byteOffset, H.size);
    const len = hv.getUint32(H.len, true);
    const opcode = hv.getUint32(H.opcode, true);
    const unique = hv.getBigUint64(H.unique, true);
    const nodeid = hv.getBigUint64(H.nodeid, true);
    const extlen = hv.getUint16(H.totalExtlen, true) * 8;
    let answer: Answer;
    if (len < H.size || len > req.length || len - H.size < extlen) answer = { errno: E.EINVAL };
    else {
      const body = new Body(req.subarray(H.size, len - extlen));
      try {
        answer = this.dispatch(opcode, nodeid, body, room - P.OUT_HEADER.size);
      } catch (e) {
        answer = { errno: errnoOf(e) };
      }
    }
    if (answer === null) return null;
    const data = "data" in answer ? answer.data : new Uint8Array(0);
    const o = out(P.OUT_HEADER.size + data.length);
    o.view.setUint32(P.OUT_HEADER.len, o.bytes.length, true);
    o.view.setInt32(P.OUT_HEADER.error, "errno" in answer ? -answer.errno : 0, true);
    o.view.setBigUint64(P.OUT_HEADER.unique, unique, true);
    o.bytes.set(data, P.OUT_HEADER.size);
    return o.bytes;
  }

  /** DESTROY, a device reset or close: every handle and node but the root is dropped. */
  reset(): void {
    this.nodes.clear();
    this.initialized = false;
  }

  close(): void {
    this.nodes.close();
  }

  private node(id: bigint): Node {
    const n = id <= BigInt(Number.MAX_SAFE_INTEGER) ? this.nodes.get(Number(id)) : undefined;
    if (!n) throw new Fail(E.ESTALE);
    return n;
  }

  private dir(id: bigint): Node {
    const n = this.node(id);
    if (n.type !== S_IFDIR) throw new Fail(E.ENOTDIR);
    return n;
  }

  private writable(): void {
    if (this.readOnly) throw new Fail(E.EROFS);
  }

  private dispatch(op: number, nodeid: bigint, b: Body, room: number): Answer {
    if (op === P.Op.INIT) return this.init(b);
    if (!this.initialized) return { errno: E.EIO };
    switch (op) {
      case P.Op.LOOKUP:
        return this.entry(this.lookup(this.dir(nodeid), b.name(0)[0]));
      case P.Op.FORGET:
        this.nodes.forget(Number(nodeid), b.u64(P.FORGET_IN.nlookup));
        return null;
      case P.Op.BATCH_FORGET:
        return this.batchForget(b);
      case P.Op.GETATTR:
        return this.attr(this.node(nodeid));
      case P.Op.SETATTR:
        return this.setattr(this.node(nodeid), b);
      case P.Op.READLINK: {
        const n = this.node(nodeid);
        if (n.type !== S_IFLNK) return { errno: E.EINVAL };
        const t = sysfs.readlinkFd(n.fd);
        return typeof t === "number" ? { errno: -t } : { data: t };
      }
      case P.Op.SYMLINK: {
        this.writable();
        const parent = this.dir(nodeid);
        const [name, next] = b.name(0);
        const [target] = b.cstr(next);
        if (target.length === 0 || target.length > 4095) return { errno: E.EINVAL };
        check(sysfs.symlinkat(target, parent.fd, name));
        return this.entry(this.lookup(parent, name));
      }
      case P.Op.MKNOD:
        return this.mknod(nodeid, b);
      case P.Op.MKDIR: {
        this.writable();
        const parent = this.dir(nodeid);
        const [name] = b.name(P.MKDIR_IN.size);
        const mode = b.u32(P.MKDIR_IN.mode) & MODE_BITS;
        check(sysfs.mkdirat(parent.fd, name, mode));
        return this.created(parent, name, mode);
      }
      case P.Op.UNLINK:
      case P.Op.RMDIR: {
        this.writable();
        const parent = this.dir(nodeid);
        check(sysfs.unlinkat(parent.fd, b.name(0)[0], op === P.Op.RMDIR ? AT_REMOVEDIR : 0));
        return { data: new Uint8Array(0) };
      }
      case P.Op.RENAME:
      case P.Op.RENAME2:
        return this.rename(op, nodeid, b);
      case P.Op.LINK:
        return this.link(nodeid, b);
      case P.Op.OPEN:
        return this.open(this.node(nodeid), b.u32(P.OPEN_IN.flags));
      case P.Op.CREATE:
        return this.create(nodeid, b);
      case P.Op.READ:
        return this.read(b, room);
      case P.Op.WRITE:
        return this.write(b);
      case P.Op.STATFS:
        return this.statfs();
      case P.Op.RELEASE:
      case P.Op.RELEASEDIR:
        this.nodes.release(b.u64(P.RELEASE_IN.fh), op === P.Op.RELEASEDIR);
        return { data: new Uint8Array(0) };
      case P.Op.FLUSH:
        if (!this.nodes.handle(b.u64(P.FLUSH_IN.fh), false)) return { errno: E.EBADF };
        return { data: new Uint8Array(0) };
      case P.Op.FSYNC:
      case P.Op.FSYNCDIR: {
        const h = this.nodes.handle(b.u64(P.FSYNC_IN.fh), op === P.Op.FSYNCDIR);
        if (!h) return { errno: E.EBADF };
        if (b.u32(P.FSYNC_IN.fsyncFlags) & P.FUSE_FSYNC_FDATASYNC) fdatasyncSync(h.fd);
        else fsyncSync(h.fd);
        return { data: new Uint8Array(0) };
      }
      case P.Op.OPENDIR: {
        const n = this.dir(nodeid);
        const fh = this.nodes.open(openSync(procFd(n.fd), O_DIRECTORY | O_CLOEXEC), n, true, false);
        return fh === undefined ? { errno: E.ENFILE } : this.openOut(fh);
      }
      case P.Op.READDIR:
        return this.readdir(b, room);
      case P.Op.ACCESS: {
        // The guest mounts with default_permissions (its kernel checks modes itself): only a write
        // to a read-only share is refused here.
        this.node(nodeid);
        if (this.readOnly && b.u32(P.ACCESS_IN.mask) & 2) return { errno: E.EROFS };
        return { data: new Uint8Array(0) };
      }
      case P.Op.DESTROY:
        this.reset();
        return { data: new Uint8Array(0) };
      case P.Op.FALLOCATE:
        return this.fallocate(b);
      case P.Op.LSEEK:
        return this.lseek(b);
      case P.Op.SETXATTR:
      case P.Op.REMOVEXATTR:
        if (this.readOnly) return { errno: E.EROFS };
        return { errno: E.ENOSYS };
      default:
        // GETXATTR, LISTXATTR (Linux then answers EOPNOTSUPP itself and stops asking),
        // READDIRPLUS (not offered in INIT), locks, ioctl, poll, DAX mappings, anything unknown.
        return { errno: E.ENOSYS };
    }
  }

  private init(b: Body): Answer {
    const major = b.u32(P.INIT_IN.major);
    if (major !== P.FUSE_KERNEL_VERSION) return { errno: E.EPROTO };
    const minor = Math.min(b.u32(P.INIT_IN.minor), P.FUSE_KERNEL_MINOR_VERSION);
    const flags = b.u32(P.INIT_IN.flags) & (P.InitFlag.BIG_WRITES | P.InitFlag.MAX_PAGES);
    const o = out(P.INIT_OUT.size);
    o.view.setUint32(P.INIT_OUT.major, P.FUSE_KERNEL_VERSION, true);
    o.view.setUint32(P.INIT_OUT.minor, minor, true);
    o.view.setUint32(P.INIT_OUT.maxReadahead, Math.min(b.u32(P.INIT_IN.maxReadahead), MAX_WRITE), true);
    o.view.setUint32(P.INIT_OUT.flags, flags, true);
    o.view.setUint16(P.INIT_OUT.maxBackground, 16, true);
    o.view.setUint16(P.INIT_OUT.congestionThreshold, 12, true);
    o.view.setUint32(P.INIT_OUT.maxWrite, MAX_WRITE, true);
    o.view.setUint32(P.INIT_OUT.timeGran, 1, true);
    o.view.setUint16(P.INIT_OUT.maxPages, MAX_PAGES, true);
    this.nodes.clear();
    this.initialized = true;
    return { data: o.bytes };
  }

  /** The node of `name` under `parent`, its lookup count raised (the guest owes a FORGET). */
  private lookup(parent: Node, name: Uint8Array): Node {
    const fd = check(sysfs.openat2(parent.fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0, RESOLVE));
    const n = this.nodes.adopt(fd);
    if (!n) throw new Fail(E.ENFILE);
    return n;
  }

  private entry(n: Node): Answer {
    let st: BigIntStats;
    try {
      st = fstatSync(n.fd, { bigint: true });
    } catch (e) {
      this.nodes.forget(n.id, 1n);
      throw e;
    }
    const o = out(P.ENTRY_OUT.size);
    o.view.setBigUint64(P.ENTRY_OUT.nodeid, BigInt(n.id), true);
    o.view.setBigUint64(P.ENTRY_OUT.entryValid, VALID_SECONDS, true);
    o.view.setBigUint64(P.ENTRY_OUT.attrValid, VALID_SECONDS, true);
    putAttr(o.view, P.ENTRY_OUT.attr, st);
    return { data: o.bytes };
  }

  private attr(n: Node): Answer {
    const o = out(P.ATTR_OUT.size);
    o.view.setBigUint64(P.ATTR_OUT.attrValid, VALID_SECONDS, true);
    putAttr(o.view, P.ATTR_OUT.attr, fstatSync(n.fd, { bigint: true }));
    return { data: o.bytes };
  }

  /** A node just made by the guest: exact `mode` (the host's umask is not the guest's), then its entry. */
  private created(parent: Node, name: Uint8Array, mode: number): Answer {
    const n = this.lookup(parent, name);
    if (n.type !== S_IFLNK) chmodNode(n, mode);
    return this.entry(n);
  }

  private batchForget(b: Body): Answer {
    const count = b.u32(P.BATCH_FORGET_IN.count);
    const F = P.FORGET_ONE;
    for (let i = 0; i < count; i++) {
      const at = P.BATCH_FORGET_IN.size + i * F.size;
      if (at + F.size > b.bytes.length) break;
      this.nodes.forget(Number(b.u64(at + F.nodeid)), b.u64(at + F.nlookup));
    }
    return null;
  }

  private setattr(n: Node, b: Body): Answer {
    const S = P.SETATTR_IN;
    const valid = b.u32(S.valid);
    b.need(S.size);
    const changes = P.Fattr.MODE | P.Fattr.UID | P.Fattr.GID | P.Fattr.SIZE | P.Fattr.ATIME | P.Fattr.MTIME;
    if (valid & changes) this.writable();
    const st = fstatSync(n.fd, { bigint: true });
    if (valid & (P.Fattr.UID | P.Fattr.GID)) {
      // Files in the share belong to the user running Corral: the guest may not give them away.
      const sameUid = !(valid & P.Fattr.UID) || BigInt(b.u32(S.uid)) === st.uid;
      const sameGid = !(valid & P.Fattr.GID) || BigInt(b.u32(S.gid)) === st.gid;
      if (!sameUid || !sameGid) return { errno: E.EPERM };
    }
    if (valid & (P.Fattr.MODE | P.Fattr.SIZE | P.Fattr.ATIME | P.Fattr.MTIME) && n.type === S_IFLNK)
      return { errno: E.EOPNOTSUPP };
    if (valid & P.Fattr.MODE) chmodNode(n, b.u32(S.mode) & MODE_BITS);
    if (valid & P.Fattr.SIZE) {
      const size = b.u64(S.size_);
      if (size > BigInt(Number.MAX_SAFE_INTEGER)) return { errno: E.EFBIG };
      if (n.type !== S_IFREG) return { errno: n.type === S_IFDIR ? E.EISDIR : E.EINVAL };
      const h = valid & P.Fattr.FH ? this.nodes.handle(b.u64(S.fh), false) : undefined;
      if (h && h.node === n && h.write) ftruncateSync(h.fd, Number(size));
      else {
        const fd = openSync(procFd(n.fd), O_WRONLY | O_CLOEXEC);
        try {
          ftruncateSync(fd, Number(size));
        } finally {
          closeSync(fd);
        }
      }
    }
    if (valid & (P.Fattr.ATIME | P.Fattr.MTIME)) {
      const ts = (set: number, now: number, secAt: number, nsecAt: number): sysfs.TimeSpec =>
        !(valid & set)
          ? { sec: 0n, nsec: UTIME_OMIT }
          : valid & now
            ? { sec: 0n, nsec: UTIME_NOW }
            : { sec: b.u64(secAt), nsec: b.u32(nsecAt) % 1_000_000_000 };
      const atime = ts(P.Fattr.ATIME, P.Fattr.ATIME_NOW, S.atime, S.atimensec);
      const mtime = ts(P.Fattr.MTIME, P.Fattr.MTIME_NOW, S.mtime, S.mtimensec);
      if (atime.sec > 2n ** 62n || mtime.sec > 2n ** 62n) return { errno: E.EINVAL };
      check(sysfs.utimensat(AT_FDCWD, procFd(n.fd), atime, mtime, 0));
    }
    return this.attr(n);
  }

  private mknod(nodeid: bigint, b: Body): Answer {
    this.writable();
    const parent = this.dir(nodeid);
    const [name] = b.name(P.MKNOD_IN.size);
    const mode = b.u32(P.MKNOD_IN.mode);
    const type = mode & S_IFMT;
    // Regular files, FIFOs and sockets only: a device node made by the guest would be a device
    // of the host's for whoever opens it there.
    if (type !== S_IFREG && type !== S_IFIFO && type !== S_IFSOCK) return { errno: E.EPERM };
    check(sysfs.mknodat(parent.fd, name, type | (mode & MODE_BITS), 0));
    return this.created(parent, name, mode & MODE_BITS);
  }

  private rename(op: number, nodeid: bigint, b: Body): Answer {
    this.writable();
    const from = this.dir(nodeid);
    const fixed = op === P.Op.RENAME2 ? P.RENAME2_IN.size : P.RENAME_IN.size;
    const to = this.dir(b.u64(P.RENAME_IN.newdir));
    const flags = op === P.Op.RENAME2 ? b.u32(P.RENAME2_IN.flags) : 0;
    if (flags & ~RENAME_FLAGS) return { errno: E.EINVAL };
    const [oldName, next] = b.name(fixed);
    const [newName] = b.name(next);
    check(sysfs.renameat2(from.fd, oldName, to.fd, newName, flags));
    return { data: new Uint8Array(0) };
  }

  private link(nodeid: bigint, b: Body): Answer {
    this.writable();
    const parent = this.dir(nodeid);
    const target = this.node(b.u64(P.LINK_IN.oldnodeid));
    const [name] = b.name(P.LINK_IN.size);
    if (target.type === S_IFDIR) return { errno: E.EPERM };
    // AT_EMPTY_PATH links the inode itself (needs CAP_DAC_READ_SEARCH); else through its
    // /proc/self/fd link, which for anything but a symlink lands on the inode too.
    let r = sysfs.linkat(target.fd, "", parent.fd, name, AT_EMPTY_PATH);
    if (r === -E.ENOENT || r === -E.EPERM) {
      if (target.type === S_IFLNK) return { errno: E.EPERM };
      r = sysfs.linkat(AT_FDCWD, procFd(target.fd), parent.fd, name, AT_SYMLINK_FOLLOW);
    }
    check(r);
    return this.entry(this.lookup(parent, name));
  }

  /** Host open flags for the guest's, or EROFS/EINVAL. */
  private openFlags(flags: number): number {
    const acc = flags & O_ACCMODE;
    if (acc === O_ACCMODE) throw new Fail(E.EINVAL);
    if (acc !== 0 || flags & O_TRUNC) this.writable();
    return (flags & OPEN_FLAGS_KEPT) | (flags & O_TRUNC) | O_CLOEXEC;
  }

  private open(n: Node, flags: number): Answer {
    if (n.type !== S_IFREG) return { errno: n.type === S_IFDIR ? E.EISDIR : E.EACCES };
    const host = this.openFlags(flags);
    const fd = openSync(procFd(n.fd), host);
    const fh = this.nodes.open(fd, n, false, (host & O_ACCMODE) !== 0);
    return fh === undefined ? { errno: E.ENFILE } : this.openOut(fh);
  }

  private openOut(fh: number): Answer {
    const o = out(P.OPEN_OUT.size);
    o.view.setBigUint64(P.OPEN_OUT.fh, BigInt(fh), true);
    return { data: o.bytes };
  }

  private create(nodeid: bigint, b: Body): Answer {
    this.writable();
    const parent = this.dir(nodeid);
    const C = P.CREATE_IN;
    const [name] = b.name(C.size);
    const flags = b.u32(C.flags);
    const mode = b.u32(C.mode) & MODE_BITS;
    const host = this.openFlags(flags) & ~O_TRUNC;
    // O_EXCL first, so the mode is set only on a file this request made; O_NOFOLLOW and
    // RESOLVE_NO_SYMLINKS: an existing symlink by that name is never followed to create elsewhere.
    let fd = sysfs.openat2(parent.fd, name, host | O_CREAT | O_EXCL | O_NOFOLLOW, mode, RESOLVE);
    const made = fd >= 0;
    if (fd === -E.EEXIST && !(flags & O_EXCL))
      fd = sysfs.openat2(parent.fd, name, host | (flags & O_TRUNC) | O_NOFOLLOW, 0, RESOLVE);
    check(fd);
    let node: Node | undefined;
    try {
      if (made) fchmodSync(fd, mode);
      node = this.nodes.adopt(openSync(procFd(fd), O_PATH | O_CLOEXEC));
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    if (!node) {
      closeSync(fd);
      return { errno: E.ENFILE };
    }
    if (node.type !== S_IFREG) {
      closeSync(fd);
      this.nodes.forget(node.id, 1n);
      return { errno: E.EISDIR };
    }
    const fh = this.nodes.open(fd, node, false, (host & O_ACCMODE) !== 0);
    if (fh === undefined) {
      this.nodes.forget(node.id, 1n);
      return { errno: E.ENFILE };
    }
    const entry = this.entry(node) as { data: Uint8Array };
    const open = this.openOut(fh) as { data: Uint8Array };
    const both = new Uint8Array(entry.data.length + open.data.length);
    both.set(entry.data);
    both.set(open.data, entry.data.length);
    return { data: both };
  }

  private read(b: Body, room: number): Answer {
    const h = this.nodes.handle(b.u64(P.READ_IN.fh), false);
    if (!h) return { errno: E.EBADF };
    const offset = b.u64(P.READ_IN.offset);
    const size = Math.min(b.u32(P.READ_IN.size_), MAX_WRITE, Math.max(room, 0));
    const buf = new Uint8Array(size);
    const n = size === 0 ? 0 : readSync(h.fd, buf, 0, size, fileOffset(offset));
    return { data: buf.subarray(0, n) };
  }

  private write(b: Body): Answer {
    this.writable();
    const W = P.WRITE_IN;
    const h = this.nodes.handle(b.u64(W.fh), false);
    if (!h) return { errno: E.EBADF };
    const size = b.u32(W.size_);
    if (size > MAX_WRITE) return { errno: E.EINVAL };
    b.need(W.size + size);
    const n = writeSync(h.fd, b.bytes, W.size, size, fileOffset(b.u64(W.offset)));
    const o = out(P.WRITE_OUT.size);
    o.view.setUint32(P.WRITE_OUT.size_, n, true);
    return { data: o.bytes };
  }

  private statfs(): Answer {
    const s = statfsSync(procFd(this.nodes.root.fd), { bigint: true });
    const K = P.KSTATFS;
    const o = out(K.size);
    o.view.setBigUint64(K.blocks, s.blocks, true);
    o.view.setBigUint64(K.bfree, s.bfree, true);
    o.view.setBigUint64(K.bavail, s.bavail, true);
    o.view.setBigUint64(K.files, s.files, true);
    o.view.setBigUint64(K.ffree, s.ffree, true);
    o.view.setUint32(K.bsize, Number(s.bsize), true);
    o.view.setUint32(K.namelen, NAME_MAX, true);
    o.view.setUint32(K.frsize, Number(s.bsize), true);
    return { data: o.bytes };
  }

  /**
   * READDIR: entries from the host directory's own offset cookies (getdents64's d_off, passed
   * back as fuse_dirent.off), so a listing resumes where the guest left it whatever the host
   * file system's cookies are.
   */
  private readdir(b: Body, room: number): Answer {
    const h = this.nodes.handle(b.u64(P.READ_IN.fh), true);
    if (!h) return { errno: E.EBADF };
    const size = Math.min(b.u32(P.READ_IN.size_), MAX_WRITE, Math.max(room, 0));
    const offset = b.u64(P.READ_IN.offset);
    if (offset > 2n ** 63n - 1n) return { errno: E.EINVAL };
    const pos = sysfs.lseek(h.fd, offset, SEEK_SET);
    if (pos < 0n) return { errno: Number(-pos) };
    const dst = new Uint8Array(size);
    const dv = new DataView(dst.buffer);
    const src = new Uint8Array(Math.max(4096, Math.min(size * 2, 64 * 1024)));
    const sv = new DataView(src.buffer);
    let used = 0;
    for (;;) {
      const n = check(sysfs.getdents64(h.fd, src));
      if (n === 0) break;
      for (let at = 0; at < n;) {
        const reclen = sv.getUint16(at + DIRENT64.reclen, true);
        const nameEnd = src.indexOf(0, at + DIRENT64.name);
        const name = src.subarray(at + DIRENT64.name, nameEnd < 0 || nameEnd > at + reclen ? at + reclen : nameEnd);
        const rec = P.direntSize(name.length);
        if (used + rec > size) return { data: dst.subarray(0, used) };
        dv.setBigUint64(used + P.DIRENT.ino, sv.getBigUint64(at + DIRENT64.ino, true), true);
        dv.setBigUint64(used + P.DIRENT.off, sv.getBigUint64(at + DIRENT64.off, true), true);
        dv.setUint32(used + P.DIRENT.namelen, name.length, true);
        dv.setUint32(used + P.DIRENT.type, src[at + DIRENT64.type]!, true);
        dst.set(name, used + P.DIRENT.name);
        used += rec;
        at += reclen;
      }
    }
    return { data: dst.subarray(0, used) };
  }

  private fallocate(b: Body): Answer {
    this.writable();
    const F = P.FALLOCATE_IN;
    const h = this.nodes.handle(b.u64(F.fh), false);
    if (!h) return { errno: E.EBADF };
    const mode = b.u32(F.mode);
    if (mode & ~FALLOC_MODES) return { errno: E.EOPNOTSUPP };
    const offset = b.u64(F.offset);
    const length = b.u64(F.length);
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    if (offset > max || length > max) return { errno: E.EFBIG };
    const r = fallocate(h.fd, mode, Number(offset), Number(length));
    return r === 0 ? { data: new Uint8Array(0) } : { errno: r };
  }

  private lseek(b: Body): Answer {
    const L = P.LSEEK_IN;
    const h = this.nodes.handle(b.u64(L.fh), false);
    if (!h) return { errno: E.EBADF };
    const whence = b.u32(L.whence);
    // SEEK_SET/CUR/END the guest kernel answers itself; DATA (3) and HOLE (4) need the host's file.
    if (whence !== 3 && whence !== 4) return { errno: E.EINVAL };
    const offset = b.u64(L.offset);
    if (offset > 2n ** 63n - 1n) return { errno: E.ENXIO };
    const r = sysfs.lseek(h.fd, offset, whence);
    if (r < 0n) return { errno: Number(-r) };
    const o = out(P.LSEEK_OUT.size);
    o.view.setBigUint64(P.LSEEK_OUT.offset, r, true);
    return { data: o.bytes };
  }
}

/** chmod through the node's /proc/self/fd link, which lands on the inode (never a symlink here). */
function chmodNode(n: Node, mode: number): void {
  chmodSync(procFd(n.fd), mode);
}
