/**
 * A copy-on-write overlay over a read-only base image (format: docs/overlay-format.md). Writes go
 * to clusters of the overlay file; clusters never written read from the base. Many VMs can share
 * one base, each with its own overlay.
 *
 * Crash consistency (the host process may be killed at any instant): a table entry on disk only
 * ever points at data that is already durable. A new cluster is written at the end of the file;
 * its entry stays in memory ("dirty") until a commit: fdatasync (the data), write the dirty table
 * entries, fdatasync (the table). A kill before the commit leaves an orphaned cluster at the end of
 * the file (wasted space, never read); a kill during it leaves every 8-byte entry old or new, each
 * valid. Writes into already allocated clusters happen in place. FLUSH commits, so data the guest
 * flushed survives. Full host disk: the failing pwrite is reported (the guest sees IOERR) and no
 * entry is changed, so the overlay stays consistent.
 */
import { closeSync, fdatasyncSync, fstatSync, fsyncSync, linkSync, openSync, statSync, unlinkSync } from "node:fs";
import { dirname, resolve } from "node:path";
import {
  DiskReadOnlyError,
  SECTOR_SIZE,
  eachAt,
  openError,
  openImage,
  preadFull,
  pwriteFull,
  type DiskBackend,
} from "./backend.js";
import {
  DEFAULT_CLUSTER_SIZE,
  ENTRY_SIZE,
  ENTRY_UNALLOCATED,
  ENTRY_ZERO,
  OVERLAY_HEADER_SIZE,
  checkEntry,
  checkExtent,
  decodeHeader,
  encodeHeader,
  planLayout,
  type OverlayHeader,
} from "./overlay-format.js";
import { lockImage } from "./lock.js";
import {
  baseIdentity,
  checkIdentity,
  headerSha256,
  overlayIdentity,
  writeRecord,
  type OverlayIdentity,
} from "./record.js";
import { DiskError } from "./errors.js";

export interface OverlayCreateOptions {
  /** Cluster size in bytes, a power of two from 4 KiB to 2 MiB (default 64 KiB). */
  clusterSize?: number;
  /** Disk size the guest sees (default: the base size rounded up to whole sectors). */
  size?: number;
}

/** Commit dirty table entries once this many have accumulated, without waiting for a FLUSH. */
const DIRTY_LIMIT = 4096;
const TABLE_PAGE = 4096;

export class OverlayDisk implements DiskBackend {
  readonly size: number;
  private fd: number | undefined;
  private baseFd: number | undefined;
  private readonly cluster: number;
  /** Cluster table in memory: what the disk is now (entries not yet committed included). */
  private readonly table: Float64Array;
  private readonly dirty = new Set<number>();
  /** Where the next new cluster goes. */
  private nextFree: number;

  private constructor(
    readonly path: string,
    readonly readOnly: boolean,
    private readonly header: OverlayHeader,
    /** What Corral records about this overlay (record.ts). */
    readonly identity: OverlayIdentity,
    fd: number,
    baseFd: number,
    table: Float64Array,
    fileSize: number,
  ) {
    this.fd = fd;
    this.baseFd = baseFd;
    this.size = header.virtualSize;
    this.cluster = header.clusterSize;
    this.table = table;
    this.nextFree = Math.max(header.dataOffset, Math.ceil(fileSize / this.cluster) * this.cluster);
  }

  /**
   * Create an overlay at `path` over `basePath` (the base is recorded by absolute path, size and
   * mtime) and Corral's record of it (record.ts). The file appears atomically (written under a
   * temporary name, synced, renamed).
   */
  static create(path: string, basePath: string, opts: OverlayCreateOptions = {}): void {
    const base = resolve(basePath);
    let st;
    try {
      st = statSync(base, { bigint: true });
    } catch (e) {
      throw openError(base, e, true);
    }
    if (!st.isFile()) throw new DiskError("DISK_NOT_A_FILE", `base image ${base} is not a regular file`);
    const baseSize = Number(st.size);
    const clusterSize = opts.clusterSize ?? DEFAULT_CLUSTER_SIZE;
    const virtualSize = opts.size ?? Math.ceil(baseSize / SECTOR_SIZE) * SECTOR_SIZE;
    if (virtualSize % SECTOR_SIZE !== 0 || virtualSize <= 0)
      throw new DiskError("OVERLAY_BAD_SIZE", `overlay size ${virtualSize} is not a positive multiple of 512 bytes`);
    const header: OverlayHeader = {
      virtualSize,
      clusterSize,
      ...planLayout(virtualSize, clusterSize),
      baseSize,
      baseMtimeNs: st.mtimeNs,
      basePath: base,
    };
    const bytes = encodeHeader(header);
    decodeHeader(path, bytes); // the same checks a later open makes (cluster size, ...)
    const tmp = `${path}.tmp-${process.pid}`;
    const fd = openSync(tmp, "wx");
    let identity: OverlayIdentity;
    try {
      identity = overlayIdentity(fstatSync(fd, { bigint: true }), bytes, baseIdentity(base, st));
      pwriteFull(fd, bytes, 0);
      // The table is written as real zeros, not left sparse: committing entries later never needs
      // new blocks, so a full host disk cannot fail a table update.
      const zeros = new Uint8Array(1 << 20);
      const tableEnd = header.dataOffset;
      for (let at = OVERLAY_HEADER_SIZE; at < tableEnd; at += zeros.length)
        pwriteFull(fd, zeros.subarray(0, Math.min(zeros.length, tableEnd - at)), at);
      fsyncSync(fd);
    } catch (e) {
      closeSync(fd);
      unlinkSync(tmp);
      throw e;
    }
    closeSync(fd);
    // link(2) publishes the finished file atomically and, unlike rename, never replaces one.
    try {
      linkSync(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST")
        throw new DiskError("OVERLAY_EXISTS", `overlay ${path} already exists; remove it first or pick another name`);
      throw e;
    } finally {
      unlinkSync(tmp);
    }
    // The record is what makes Corral open this file as an overlay (record.ts); the file is
    // not an overlay without it.
    try {
      writeRecord(path, { version: 1, format: "overlay", overlay: identity });
    } catch (e) {
      unlinkSync(path);
      throw e;
    }
    const dir = openSync(dirname(resolve(path)), "r");
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }

  /**
   * Open an overlay: checks the header, that header and table lie inside the file, the base (size
   * and mtime unchanged) and every table entry. With `expect` (Corral's record, record.ts),
   * the header must also be the one Corral wrote, checked before the base it names is opened, and
   * the base the very file recorded.
   */
  static open(path: string, opts: { readOnly?: boolean; expect?: OverlayIdentity | undefined } = {}): OverlayDisk {
    const readOnly = opts.readOnly ?? false;
    const fd = openImage(path, readOnly);
    let baseFd: number | undefined;
    try {
      lockImage(fd, path, readOnly ? "shared" : "exclusive");
      const st = fstatSync(fd, { bigint: true });
      const fileSize = Number(st.size);
      const head = new Uint8Array(OVERLAY_HEADER_SIZE);
      preadFull(fd, head, 0);
      const h = decodeHeader(path, head.subarray(0, Math.min(fileSize, OVERLAY_HEADER_SIZE)));
      checkExtent(path, h, fileSize);
      const want = opts.expect;
      if (want) checkIdentity(path, want, { ...want, headerSha256: headerSha256(head) });
      baseFd = openImage(h.basePath, true);
      // The base is shared by every overlay on it; nobody may write it meanwhile.
      lockImage(baseFd, h.basePath, "shared");
      const bst = fstatSync(baseFd, { bigint: true });
      const identity = overlayIdentity(st, head, baseIdentity(h.basePath, bst));
      if (want) checkIdentity(path, want, identity);
      if (Number(bst.size) !== h.baseSize || bst.mtimeNs !== h.baseMtimeNs) {
        throw new DiskError(
          "OVERLAY_BASE_CHANGED",
          `base image ${h.basePath} changed since overlay ${path} was made on it (size or modification time differ); recreate the overlay`,
        );
      }
      const raw = new Uint8Array(h.tableEntries * ENTRY_SIZE);
      preadFull(fd, raw, h.tableOffset);
      const view = new DataView(raw.buffer);
      const table = new Float64Array(h.tableEntries);
      // One bit per data cluster of the file: two entries sharing one would make a write to
      // either show in both (a bit per cluster: 2 MiB for a 1 TiB file of 64 KiB clusters).
      const used = new Uint8Array(Math.ceil((fileSize - h.dataOffset) / h.clusterSize / 8));
      for (let i = 0; i < h.tableEntries; i++) {
        const e = view.getBigUint64(i * ENTRY_SIZE, true);
        const n = e > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(e);
        let bad = n < 0 ? "entry out of range" : checkEntry(n, h, fileSize);
        if (!bad && n !== ENTRY_UNALLOCATED && n !== ENTRY_ZERO) {
          const c = (n - h.dataOffset) / h.clusterSize;
          if (used[c >> 3]! & (1 << (c & 7))) bad = `entry ${n} is another cluster's data too`;
          used[c >> 3]! |= 1 << (c & 7);
        }
        if (bad)
          throw new DiskError(
            "OVERLAY_CORRUPT",
            `overlay ${path} is damaged (cluster ${i}: ${bad}); recreate it from its base image`,
          );
        table[i] = n;
      }
      return new OverlayDisk(path, readOnly, h, identity, fd, baseFd, table, fileSize);
    } catch (e) {
      closeSync(fd);
      if (baseFd !== undefined) closeSync(baseFd);
      throw e;
    }
  }

  private get handle(): number {
    if (this.fd === undefined) throw new DiskError("DISK_CLOSED", `overlay ${this.path} is closed`);
    return this.fd;
  }

  /** Fill `dst` with base bytes at `offset`; beyond the base's end the disk reads as zeros. */
  private readBase(offset: number, dst: Uint8Array): void {
    const inBase = Math.max(0, Math.min(dst.length, this.header.baseSize - offset));
    if (inBase > 0 && this.baseFd !== undefined) preadFull(this.baseFd, dst.subarray(0, inBase), offset);
    dst.fill(0, inBase);
  }

  /** Call fn(cluster index, offset in cluster, position in the request, length) for each cluster piece. */
  private each(offset: number, len: number, fn: (ci: number, within: number, at: number, n: number) => void): void {
    for (let at = 0; at < len;) {
      const pos = offset + at;
      const ci = Math.floor(pos / this.cluster);
      const within = pos - ci * this.cluster;
      const n = Math.min(this.cluster - within, len - at);
      fn(ci, within, at, n);
      at += n;
    }
  }

  read(offset: number, dst: Uint8Array): void {
    const fd = this.handle;
    this.each(offset, dst.length, (ci, within, at, n) => {
      const e = this.table[ci]!;
      const piece = dst.subarray(at, at + n);
      if (e === ENTRY_UNALLOCATED) this.readBase(offset + at, piece);
      else if (e === ENTRY_ZERO) piece.fill(0);
      else preadFull(fd, piece, e + within);
    });
  }

  readv(offset: number, dsts: readonly Uint8Array[]): void {
    eachAt(offset, dsts, (b, at) => this.read(at, b));
  }

  writev(offset: number, srcs: readonly Uint8Array[]): void {
    eachAt(offset, srcs, (b, at) => this.write(at, b));
  }

  write(offset: number, src: Uint8Array): void {
    if (this.readOnly) throw new DiskReadOnlyError(this.path);
    const fd = this.handle;
    this.each(offset, src.length, (ci, within, at, n) => {
      const e = this.table[ci]!;
      const piece = src.subarray(at, at + n);
      if (e !== ENTRY_UNALLOCATED && e !== ENTRY_ZERO) {
        pwriteFull(fd, piece, e + within);
        return;
      }
      // Copy on write: the whole new cluster is old content (base or zeros) patched with the write.
      let data = piece;
      if (n !== this.cluster) {
        data = new Uint8Array(this.cluster);
        if (e === ENTRY_UNALLOCATED) this.readBase(ci * this.cluster, data);
        data.set(piece, within);
      }
      const where = this.nextFree;
      pwriteFull(fd, data, where); // ENOSPC lands here: no entry changes, the guest gets IOERR
      this.nextFree = where + this.cluster;
      this.table[ci] = where;
      this.dirty.add(ci);
    });
    if (this.dirty.size >= DIRTY_LIMIT) this.commit();
  }

  /** Make data durable, then the table entries that point at it (see the file comment). */
  private commit(): void {
    const fd = this.handle;
    fdatasyncSync(fd);
    if (this.dirty.size === 0) return;
    const pages = new Set<number>();
    for (const ci of this.dirty) pages.add(Math.floor((ci * ENTRY_SIZE) / TABLE_PAGE));
    const tableBytes = this.header.tableEntries * ENTRY_SIZE;
    for (const p of [...pages].sort((a, b) => a - b)) {
      const start = p * TABLE_PAGE;
      const len = Math.min(TABLE_PAGE, tableBytes - start);
      const buf = new Uint8Array(len);
      const view = new DataView(buf.buffer);
      for (let i = 0; i < len / ENTRY_SIZE; i++)
        view.setBigUint64(i * ENTRY_SIZE, BigInt(this.table[start / ENTRY_SIZE + i]!), true);
      pwriteFull(fd, buf, this.header.tableOffset + start);
    }
    fdatasyncSync(fd);
    this.dirty.clear();
  }

  flush(): void {
    if (!this.readOnly) this.commit();
  }

  /**
   * Whole clusters become ZERO entries (their old data cluster is abandoned: the format never reuses
   * space, see docs/overlay-format.md); partial clusters get zeros written.
   */
  writeZeroes(offset: number, len: number): void {
    if (this.readOnly) throw new DiskReadOnlyError(this.path);
    let zeros: Uint8Array | undefined;
    this.each(offset, len, (ci, _within, at, n) => {
      if (n === this.cluster) {
        if (this.table[ci] !== ENTRY_ZERO) {
          this.table[ci] = ENTRY_ZERO;
          this.dirty.add(ci);
        }
        return;
      }
      if (this.table[ci] === ENTRY_ZERO) return;
      zeros ??= new Uint8Array(this.cluster);
      this.write(offset + at, zeros.subarray(0, n));
    });
    if (this.dirty.size >= DIRTY_LIMIT) this.commit();
  }

  /** Discarded ranges read as zeros afterwards (the base must not show through again). */
  discard(offset: number, len: number): void {
    this.writeZeroes(offset, len);
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    try {
      if (!this.readOnly) this.commit();
    } catch {
      // Uncommitted entries are lost, as after a crash; the file stays consistent.
    } finally {
      this.fd = undefined;
      closeSync(fd);
      if (this.baseFd !== undefined) closeSync(this.baseFd);
      this.baseFd = undefined;
    }
  }
}
