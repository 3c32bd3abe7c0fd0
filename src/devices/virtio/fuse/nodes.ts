/**
 * The shared folder's table of inodes and open files: what FUSE node ids and file handles mean.
 * Node ids and handles are Corral's own small numbers, never host pointers, fds or paths; each
 * node holds an O_PATH fd of its host inode, so a name is resolved once, by LOOKUP, under its
 * parent's fd, and never again as a path. Both tables are bounded: a guest that pins more gets
 * ENFILE, not more host fds.
 */
import { closeSync, fstatSync, type BigIntStats } from "node:fs";

/** One host inode the guest knows by a node id (a LOOKUP it has not forgotten). */
export interface Node {
  readonly id: number;
  /** An O_PATH fd of the host inode (of the link itself for a symlink). */
  readonly fd: number;
  /** "dev:ino", so that two names of one file (hard links) are one node. */
  readonly key: string;
  /** S_IFMT bits: an inode never changes type. */
  readonly type: number;
  /** LOOKUPs not yet FORGOTten (fuse_forget_in.nlookup counts down to zero). */
  refs: number;
}

/** An open file or directory (OPEN, CREATE, OPENDIR) until RELEASE(DIR). */
export interface Handle {
  readonly fd: number;
  readonly node: Node;
  readonly dir: boolean;
  /** Opened for writing (a read-only share opens none). */
  readonly write: boolean;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

export function keyOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}`;
}

export class NodeTable {
  private readonly byId = new Map<number, Node>();
  private readonly byKey = new Map<string, Node>();
  private readonly handles = new Map<number, Handle>();
  private nextId = 2;
  private nextFh = 1;

  constructor(
    readonly root: Node,
    private readonly maxNodes: number,
    private readonly maxHandles: number,
  ) {
    this.byId.set(root.id, root);
    this.byKey.set(root.key, root);
  }

  get(id: number): Node | undefined {
    return this.byId.get(id);
  }

  get nodeCount(): number {
    return this.byId.size;
  }

  get handleCount(): number {
    return this.handles.size;
  }

  /**
   * The node of the inode `fd` (an O_PATH fd this table now owns: closed if the inode already
   * has a node, or if the table is full), its lookup count raised by one; undefined when full.
   */
  adopt(fd: number): Node | undefined {
    const st = fstatSync(fd, { bigint: true });
    const key = keyOf(st);
    const known = this.byKey.get(key);
    if (known) {
      closeSync(fd);
      known.refs++;
      return known;
    }
    if (this.byId.size >= this.maxNodes) {
      closeSync(fd);
      return undefined;
    }
    const node: Node = { id: this.nextId++, fd, key, type: Number(st.mode) & S_IFMT, refs: 1 };
    this.byId.set(node.id, node);
    this.byKey.set(key, node);
    return node;
  }

  /** FORGET: drop `n` lookups of node `id`; at zero its fd is closed (the root stays). */
  forget(id: number, n: bigint): void {
    const node = this.byId.get(id);
    if (!node || node === this.root) return;
    node.refs = n >= BigInt(node.refs) ? 0 : node.refs - Number(n);
    if (node.refs > 0) return;
    this.byId.delete(id);
    this.byKey.delete(node.key);
    closeSync(node.fd);
  }

  /** A new handle for `fd` (owned by the table from now on), or undefined when full (fd closed). */
  open(fd: number, node: Node, dir: boolean, write: boolean): number | undefined {
    if (this.handles.size >= this.maxHandles) {
      closeSync(fd);
      return undefined;
    }
    const fh = this.nextFh++;
    this.handles.set(fh, { fd, node, dir, write });
    return fh;
  }

  handle(fh: bigint, dir: boolean): Handle | undefined {
    if (fh > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    const h = this.handles.get(Number(fh));
    return h && h.dir === dir ? h : undefined;
  }

  release(fh: bigint, dir: boolean): boolean {
    const h = this.handle(fh, dir);
    if (!h) return false;
    this.handles.delete(Number(fh));
    closeSync(h.fd);
    return true;
  }

  /** DESTROY or device reset: every handle and node but the root is closed. */
  clear(): void {
    for (const h of this.handles.values()) closeSync(h.fd);
    this.handles.clear();
    for (const n of this.byId.values()) if (n !== this.root) closeSync(n.fd);
    this.byId.clear();
    this.byKey.clear();
    this.byId.set(this.root.id, this.root);
    this.byKey.set(this.root.key, this.root);
  }

  /** Everything, the root too (the device is closed). */
  close(): void {
    this.clear();
    this.byId.clear();
    this.byKey.clear();
    closeSync(this.root.fd);
  }
}
