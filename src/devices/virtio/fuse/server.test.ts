// The FUSE server on a real host directory, driven by requests built as the guest's kernel
// builds them: answers checked against the host's own view of the files, escapes refused.
import assert from "node:assert/strict";
import { constants } from "node:os";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { FuseServer } from "./server.js";
import * as P from "./protocol.js";

const E = constants.errno;
const scratch = mkdtempSync(join(tmpdir(), "corral-fuse-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;

/** A fresh share with `files` (name -> content) in it, outside which lives `outside/secret`. */
function share(files: Record<string, string> = {}): { dir: string; outside: string } {
  const base = join(scratch, String(dirs++));
  const dir = join(base, "share");
  const outside = join(base, "outside");
  mkdirSync(dir, { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, "secret"), "host secret");
  for (const [n, c] of Object.entries(files)) writeFileSync(join(dir, n), c);
  return { dir, outside };
}

const z = (s: string): Buffer => Buffer.from(`${s}\0`);
let unique = 1n;

/** A FUSE client as the guest's kernel is one: requests as bytes, replies parsed. */
class Client {
  constructor(readonly srv: FuseServer) {}
  call(op: number, nodeid: bigint | number, ...args: Uint8Array[]): { errno: number; data: Buffer } {
    const body = Buffer.concat(args);
    const h = Buffer.alloc(P.IN_HEADER.size);
    h.writeUInt32LE(P.IN_HEADER.size + body.length, P.IN_HEADER.len);
    h.writeUInt32LE(op, P.IN_HEADER.opcode);
    h.writeBigUInt64LE(unique++, P.IN_HEADER.unique);
    h.writeBigUInt64LE(BigInt(nodeid), P.IN_HEADER.nodeid);
    const r = this.srv.handle(Buffer.concat([h, body]), 1 << 20);
    if (r === null) return { errno: -1, data: Buffer.alloc(0) };
    const b = Buffer.from(r);
    assert.equal(b.readUInt32LE(0), b.length);
    return { errno: -b.readInt32LE(4) || 0, data: b.subarray(P.OUT_HEADER.size) };
  }
  ok(op: number, nodeid: bigint | number, ...args: Uint8Array[]): Buffer {
    const r = this.call(op, nodeid, ...args);
    assert.equal(r.errno, 0, `op ${op} failed with errno ${r.errno}`);
    return r.data;
  }
  init(): void {
    const i = Buffer.alloc(P.INIT_IN.size);
    i.writeUInt32LE(7, 0);
    i.writeUInt32LE(38, 4);
    i.writeUInt32LE(65536, 8);
    this.ok(P.Op.INIT, 0, i);
  }
  lookup(parent: bigint | number, name: string): { errno: number; id: bigint; mode: number; size: bigint } {
    const r = this.call(P.Op.LOOKUP, parent, z(name));
    if (r.errno !== 0) return { errno: r.errno, id: 0n, mode: 0, size: 0n };
    const a = P.ENTRY_OUT.attr;
    return {
      errno: 0,
      id: r.data.readBigUInt64LE(0),
      mode: r.data.readUInt32LE(a + P.ATTR.mode),
      size: r.data.readBigUInt64LE(a + P.ATTR.size_),
    };
  }
  open(id: bigint, flags: number): { errno: number; fh: bigint } {
    const o = Buffer.alloc(8);
    o.writeUInt32LE(flags, 0);
    const r = this.call(P.Op.OPEN, id, o);
    return { errno: r.errno, fh: r.errno === 0 ? r.data.readBigUInt64LE(0) : 0n };
  }
  create(
    parent: bigint | number,
    name: string,
    flags: number,
    mode: number,
  ): { errno: number; id: bigint; fh: bigint } {
    const c = Buffer.alloc(P.CREATE_IN.size);
    c.writeUInt32LE(flags, 0);
    c.writeUInt32LE(mode, 4);
    const r = this.call(P.Op.CREATE, parent, c, z(name));
    if (r.errno !== 0) return { errno: r.errno, id: 0n, fh: 0n };
    return { errno: 0, id: r.data.readBigUInt64LE(0), fh: r.data.readBigUInt64LE(P.ENTRY_OUT.size) };
  }
  write(id: bigint, fh: bigint, offset: number, data: string): number {
    const w = Buffer.alloc(P.WRITE_IN.size);
    w.writeBigUInt64LE(fh, 0);
    w.writeBigUInt64LE(BigInt(offset), 8);
    w.writeUInt32LE(Buffer.byteLength(data), 16);
    const r = this.call(P.Op.WRITE, id, w, Buffer.from(data));
    return r.errno !== 0 ? -r.errno : r.data.readUInt32LE(0);
  }
  read(id: bigint, fh: bigint, offset: number, size: number): Buffer {
    const q = Buffer.alloc(P.READ_IN.size);
    q.writeBigUInt64LE(fh, 0);
    q.writeBigUInt64LE(BigInt(offset), 8);
    q.writeUInt32LE(size, 16);
    return this.ok(P.Op.READ, id, q);
  }
  readdir(id: bigint | number, size: number): string[] {
    const fh = this.ok(P.Op.OPENDIR, id, Buffer.alloc(8)).readBigUInt64LE(0);
    const names: string[] = [];
    let off = 0n;
    for (;;) {
      const q = Buffer.alloc(P.READ_IN.size);
      q.writeBigUInt64LE(fh, 0);
      q.writeBigUInt64LE(off, 8);
      q.writeUInt32LE(size, 16);
      const d = this.ok(P.Op.READDIR, id, q);
      if (d.length === 0) break;
      for (let at = 0; at < d.length;) {
        const n = d.readUInt32LE(at + P.DIRENT.namelen);
        names.push(d.subarray(at + P.DIRENT.name, at + P.DIRENT.name + n).toString());
        off = d.readBigUInt64LE(at + P.DIRENT.off);
        at += P.direntSize(n);
      }
    }
    const rel = Buffer.alloc(P.RELEASE_IN.size);
    rel.writeBigUInt64LE(fh, 0);
    this.ok(P.Op.RELEASEDIR, id, rel);
    return names.sort();
  }
}

function client(dir: string, opts: { readOnly?: boolean; maxNodes?: number } = {}): Client {
  const c = new Client(new FuseServer({ root: dir, ...opts }));
  c.init();
  return c;
}

test("lookup, getattr, read and write agree with the host's files", () => {
  const { dir } = share({ hello: "hello world" });
  const c = client(dir);
  const f = c.lookup(1, "hello");
  assert.equal(f.errno, 0);
  assert.equal(f.size, BigInt(statSync(join(dir, "hello")).size));
  assert.equal(f.mode, statSync(join(dir, "hello")).mode);
  const o = c.open(f.id, 2);
  assert.equal(o.errno, 0);
  assert.equal(c.read(f.id, o.fh, 6, 100).toString(), "world");
  assert.equal(c.write(f.id, o.fh, 11, "!!"), 2);
  assert.equal(readFileSync(join(dir, "hello"), "utf8"), "hello world!!");
  const n = c.create(1, "new", 0o1 | 0o100, 0o640);
  assert.equal(n.errno, 0);
  assert.equal(statSync(join(dir, "new")).mode & 0o7777, 0o640, "the guest's mode, not the host's umask");
  c.write(n.id, n.fh, 0, "x");
  assert.equal(readFileSync(join(dir, "new"), "utf8"), "x");
  assert.deepEqual(c.readdir(1, 4096), [".", "..", "hello", "new"]);
  c.srv.close();
});

test("a listing resumes at the host's directory cookies across small READDIRs", () => {
  const files = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`file-with-a-long-name-${i}`, ""]));
  const { dir } = share(files);
  const c = client(dir);
  assert.deepEqual(c.readdir(1, 200), [".", "..", ...Object.keys(files)].sort());
  c.srv.close();
});

test("names are one component: '..', '.', '/' and empty names are refused", () => {
  const { dir } = share({ a: "" });
  const c = client(dir);
  for (const bad of ["..", ".", "a/../../outside", "../outside", ""])
    assert.equal(c.lookup(1, bad).errno, E.EINVAL, bad);
  assert.equal(c.lookup(1, "x".repeat(256)).errno, E.ENAMETOOLONG);
  assert.equal(c.create(1, "../outside/evil", 0o101, 0o644).errno, E.EINVAL);
  c.srv.close();
});

test("symlinks out of the share are served as links, never followed on the host", () => {
  const { dir, outside } = share();
  symlinkSync(join(outside, "secret"), join(dir, "abs"));
  symlinkSync("../outside", join(dir, "rel"));
  symlinkSync(join(outside, "new-file"), join(dir, "dangling"));
  const c = client(dir);
  const abs = c.lookup(1, "abs");
  assert.equal(abs.mode & 0o170000, 0o120000, "a symlink node");
  assert.equal(c.ok(P.Op.READLINK, abs.id).toString(), join(outside, "secret"));
  assert.equal(c.open(abs.id, 0).errno, E.EACCES, "a symlink node is never opened on the host");
  const rel = c.lookup(1, "rel");
  assert.equal(c.lookup(rel.id, "secret").errno, E.ENOTDIR, "no lookup through a symlink");
  // O_CREAT on a dangling link to outside: refused, nothing made out there.
  assert.equal(c.create(1, "dangling", 0o101, 0o644).errno, E.ELOOP);
  assert.ok(!existsSync(join(outside, "new-file")));
  c.srv.close();
});

test("a directory swapped for a symlink after its lookup leads nowhere outside", () => {
  const { dir, outside } = share();
  mkdirSync(join(dir, "d"));
  const c = client(dir);
  const d = c.lookup(1, "d");
  renameSync(join(dir, "d"), join(dir, "d.old"));
  symlinkSync(outside, join(dir, "d"));
  // The node is the directory it was (now d.old), held by its fd, not the path "d".
  assert.equal(c.lookup(d.id, "secret").errno, E.ENOENT);
  assert.equal(c.create(d.id, "made", 0o101, 0o644).errno, 0);
  assert.ok(existsSync(join(dir, "d.old", "made")) && !existsSync(join(outside, "made")));
  // And a fresh lookup of "d" is the symlink itself.
  assert.equal(c.lookup(1, "d").mode & 0o170000, 0o120000);
  c.srv.close();
});

test("a read-only share refuses every write with EROFS and changes nothing", () => {
  const { dir } = share({ f: "data" });
  mkdirSync(join(dir, "sub"));
  const c = client(dir, { readOnly: true });
  const f = c.lookup(1, "f");
  assert.equal(c.open(f.id, 1).errno, E.EROFS);
  assert.equal(c.open(f.id, 2).errno, E.EROFS);
  assert.equal(c.open(f.id, 0o1000).errno, E.EROFS, "O_TRUNC");
  const ro = c.open(f.id, 0);
  assert.equal(ro.errno, 0);
  assert.equal(c.write(f.id, ro.fh, 0, "x"), -E.EROFS);
  assert.equal(c.create(1, "n", 0o101, 0o644).errno, E.EROFS);
  const mk = Buffer.alloc(P.MKDIR_IN.size);
  assert.equal(c.call(P.Op.MKDIR, 1, mk, z("d")).errno, E.EROFS);
  assert.equal(c.call(P.Op.UNLINK, 1, z("f")).errno, E.EROFS);
  assert.equal(c.call(P.Op.RMDIR, 1, z("sub")).errno, E.EROFS);
  assert.equal(c.call(P.Op.SYMLINK, 1, z("l"), z("f")).errno, E.EROFS);
  assert.equal(c.call(P.Op.RENAME, 1, Buffer.alloc(8, 0).fill(0), z("f"), z("g")).errno, E.EROFS);
  const sa = Buffer.alloc(P.SETATTR_IN.size);
  sa.writeUInt32LE(P.Fattr.SIZE, 0);
  assert.equal(c.call(P.Op.SETATTR, f.id, sa).errno, E.EROFS);
  assert.equal(readFileSync(join(dir, "f"), "utf8"), "data");
  assert.ok(!existsSync(join(dir, "n")) && !existsSync(join(dir, "d")) && existsSync(join(dir, "sub")));
  c.srv.close();
});

test("the guest cannot make device nodes or set-user-ID files, nor give files away", () => {
  const { dir } = share({ f: "" });
  const c = client(dir);
  const mk = Buffer.alloc(P.MKNOD_IN.size);
  mk.writeUInt32LE(0o020000 | 0o666, 0); // S_IFCHR
  mk.writeUInt32LE((1 << 8) | 1, 4); // 1:1, /dev/mem
  assert.equal(c.call(P.Op.MKNOD, 1, mk, z("mem")).errno, E.EPERM);
  assert.ok(!existsSync(join(dir, "mem")));
  const f = c.lookup(1, "f");
  const sa = Buffer.alloc(P.SETATTR_IN.size);
  sa.writeUInt32LE(P.Fattr.MODE, 0);
  sa.writeUInt32LE(0o104755, P.SETATTR_IN.mode);
  c.ok(P.Op.SETATTR, f.id, sa);
  assert.equal(statSync(join(dir, "f")).mode & 0o7777, 0o755, "set-user-ID dropped");
  sa.writeUInt32LE(P.Fattr.UID, 0);
  sa.writeUInt32LE(12345, P.SETATTR_IN.uid);
  assert.equal(c.call(P.Op.SETATTR, f.id, sa).errno, E.EPERM);
  c.srv.close();
});

test("node ids are bounded: past the limit LOOKUP answers ENFILE until the guest forgets one", () => {
  const { dir } = share({ a: "", b: "", c: "" });
  const c = client(dir, { maxNodes: 3 });
  const a = c.lookup(1, "a");
  assert.equal(c.lookup(1, "b").errno, 0);
  assert.equal(c.lookup(1, "c").errno, E.ENFILE);
  assert.equal(c.lookup(1, "a").id, a.id, "a second lookup of one inode is the same node");
  const fg = Buffer.alloc(8);
  fg.writeBigUInt64LE(2n, 0);
  assert.equal(c.call(P.Op.FORGET, a.id, fg).errno, -1, "FORGET has no reply");
  assert.equal(c.srv.nodeCount, 2);
  assert.equal(c.lookup(1, "c").errno, 0);
  assert.equal(c.call(P.Op.GETATTR, a.id, Buffer.alloc(16)).errno, E.ESTALE, "a forgotten id is stale");
  c.srv.close();
});

test("malformed and unknown requests are answered with an errno", () => {
  const { dir } = share();
  const srv = new FuseServer({ root: dir });
  const c = new Client(srv);
  assert.equal(c.call(P.Op.GETATTR, 1, Buffer.alloc(16)).errno, E.EIO, "before INIT");
  c.init();
  assert.equal(c.call(999, 1).errno, E.ENOSYS);
  assert.equal(c.call(P.Op.GETXATTR, 1, Buffer.alloc(8), z("user.x")).errno, E.ENOSYS);
  assert.equal(c.call(P.Op.LOOKUP, 1, Buffer.from("noterminator")).errno, E.EINVAL);
  assert.equal(c.call(P.Op.READ, 1, Buffer.alloc(4)).errno, E.EINVAL, "short body");
  assert.equal(c.call(P.Op.GETATTR, 1n << 60n, Buffer.alloc(16)).errno, E.ESTALE);
  assert.equal(srv.handle(new Uint8Array(10), 100), null, "no header: no reply");
  const h = Buffer.alloc(P.IN_HEADER.size);
  h.writeUInt32LE(4096, 0); // longer than the request
  h.writeUInt32LE(P.Op.GETATTR, 4);
  assert.equal(Buffer.from(srv.handle(h, 100)!).readInt32LE(4), -E.EINVAL);
  srv.close();
});
