/**
 * A raw disk image: the file's bytes are the disk's bytes. Read-write images are locked
 * exclusively, read-only ones shared (lock.ts). Discard punches holes, so a guest's fstrim
 * gives the space back to the host file system.
 */
import { closeSync, fdatasyncSync, fstatSync } from "node:fs";
import {
  DiskReadOnlyError,
  SECTOR_SIZE,
  openImage,
  preadFull,
  preadvFull,
  pwriteFull,
  pwritevFull,
  type DiskBackend,
} from "./backend.js";
import { lockImage } from "./lock.js";
import { EOPNOTSUPP } from "../sys/errno.js";
import { fallocate } from "../sys/io.js";
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE } from "../sys/layout.js";
import { DiskError } from "./errors.js";

export interface RawDiskOptions {
  readOnly?: boolean;
}

/** Zeroes written per call when the file system cannot punch holes. */
const ZERO_CHUNK = 1 << 20;

export class RawDisk implements DiskBackend {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    readonly size: number,
    readonly readOnly: boolean,
  ) {
    this.fd = fd;
  }

  /** Open and lock `path`. Throws DISK_NOT_FOUND, DISK_UNREADABLE, DISK_NOT_A_FILE or DISK_IN_USE. */
  static open(path: string, opts: RawDiskOptions = {}): RawDisk {
    const readOnly = opts.readOnly ?? false;
    const fd = openImage(path, readOnly);
    try {
      const st = fstatSync(fd);
      lockImage(fd, path, readOnly ? "shared" : "exclusive");
      // The guest sees whole sectors; a partial last sector is not addressable.
      return new RawDisk(path, fd, st.size - (st.size % SECTOR_SIZE), readOnly);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** The open file (write-behind's worker writes to it too, write-behind.ts). */
  get handle(): number {
    if (this.fd === undefined) throw new DiskError("DISK_CLOSED", `disk image ${this.path} is closed`);
    return this.fd;
  }

  read(offset: number, dst: Uint8Array): void {
    preadFull(this.handle, dst, offset);
  }

  write(offset: number, src: Uint8Array): void {
    if (this.readOnly) throw new DiskReadOnlyError(this.path);
    pwriteFull(this.handle, src, offset);
  }

  readv(offset: number, dsts: readonly Uint8Array[]): void {
    preadvFull(this.handle, dsts, offset);
  }

  writev(offset: number, srcs: readonly Uint8Array[]): void {
    if (this.readOnly) throw new DiskReadOnlyError(this.path);
    pwritevFull(this.handle, srcs, offset);
  }

  flush(): void {
    if (!this.readOnly) fdatasyncSync(this.handle);
  }

  discard(offset: number, len: number): void {
    if (this.readOnly) throw new DiskReadOnlyError(this.path);
    // A hint (§5.2.6.2): where holes are unsupported the data simply stays.
    const err = fallocate(this.handle, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len);
    if (err !== 0 && err !== EOPNOTSUPP)
      throw new DiskError("DISK_IO", `discard on ${this.path} failed (errno ${err})`);
  }

  writeZeroes(offset: number, len: number): void {
    if (this.readOnly) throw new DiskReadOnlyError(this.path);
    // A punched hole reads as zeros; fall back to writing zeros.
    const err = fallocate(this.handle, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len);
    if (err === 0) return;
    if (err !== EOPNOTSUPP) throw new DiskError("DISK_IO", `write-zeroes on ${this.path} failed (errno ${err})`);
    const zeros = new Uint8Array(Math.min(len, ZERO_CHUNK));
    for (let at = 0; at < len; at += zeros.length)
      pwriteFull(this.handle, zeros.subarray(0, Math.min(zeros.length, len - at)), offset + at);
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      if (!this.readOnly) fdatasyncSync(fd);
    } finally {
      closeSync(fd); // also releases the flock
    }
  }
}
