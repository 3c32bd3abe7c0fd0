/**
 * virtio-blk, the block device (virtio 1.2 §5.2), over a DiskBackend. One request queue; requests
 * complete synchronously during the notify (the emulated CPU is waiting on the MMIO write anyway).
 *
 * A request is a header (§5.2.6: type, reserved, sector), data, and a status byte the device
 * writes last. Framing is not assumed (§2.6.4): the header is the first 16 readable bytes and the
 * status is the last writable byte. Requests that are malformed get VIRTIO_BLK_S_IOERR (or UNSUPP
 * for unknown types and flags); a chain without a writable byte cannot carry a status and is
 * returned with length 0.
 */
import type { VirtioDevice, VirtioDeviceContext } from "./device.js";
import type { Chain } from "./virtqueue.js";
import { ConfigSpace } from "./config-space.js";
import { forEachRange, readSegments, writeSegments } from "./chain-io.js";
import { SECTOR_SIZE, type DiskBackend } from "../../disk/backend.js";
import { DeviceId, feature } from "./spec.js";
import type { GuestMemory } from "../../machine/memory.js";
import { RateLimiter, type RateLimit } from "./rate-limit.js";

/** §5.2.3 feature bits. */
export const BlkFeature = {
  SIZE_MAX: 1,
  SEG_MAX: 2,
  GEOMETRY: 4,
  RO: 5,
  BLK_SIZE: 6,
  FLUSH: 9,
  TOPOLOGY: 10,
  CONFIG_WCE: 11,
  MQ: 12,
  DISCARD: 13,
  WRITE_ZEROES: 14,
} as const;

/** §5.2.6 request types. */
export const BlkType = {
  IN: 0,
  OUT: 1,
  FLUSH: 4,
  GET_ID: 8,
  GET_LIFETIME: 10,
  DISCARD: 11,
  WRITE_ZEROES: 13,
  SECURE_ERASE: 14,
} as const;

/** §5.2.6 status values. */
export const BlkStatus = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;

/** §5.2.4 struct virtio_blk_config: offsets of the fields this device fills. */
export const BLK_CONFIG = {
  size: 60,
  capacity: 0,
  sizeMax: 8,
  segMax: 12,
  geometry: 16,
  blkSize: 20,
  topology: 24,
  writeback: 32,
  numQueues: 34,
  maxDiscardSectors: 36,
  maxDiscardSeg: 40,
  discardSectorAlignment: 44,
  maxWriteZeroesSectors: 48,
  maxWriteZeroesSeg: 52,
  writeZeroesMayUnmap: 56,
} as const;

/** §5.2.6 struct virtio_blk_req header (type, reserved, sector). */
export const BLK_REQ_HEADER = { size: 16, type: 0, reserved: 4, sector: 8 } as const;
/** §5.2.6 struct virtio_blk_discard_write_zeroes. */
export const BLK_DWZ_SEGMENT = { size: 16, sector: 0, numSectors: 8, flags: 12 } as const;
/** §5.2.6: GET_ID answers with 20 bytes. */
export const BLK_ID_BYTES = 20;

const DWZ_FLAG_UNMAP = 1;
/** Largest discard / write-zeroes range per segment (2 GiB in sectors) and segments per request. */
const MAX_DWZ_SECTORS = 1 << 22;
const MAX_DWZ_SEG = 32;

export interface BlkOptions {
  disk: DiskBackend;
  name?: string;
  /** GET_ID answer, at most 20 bytes of ASCII (default: "corral-" + name). */
  serial?: string;
  /** QueueNumMax of the request queue (default 256). */
  queueSize?: number;
  /** Bandwidth and request-rate limits (rate-limit.ts); changeable later with setLimit. */
  limit?: RateLimit | undefined;
}

export interface BlkStats {
  requests: number;
  errors: number;
}

class RequestError extends Error {
  constructor(readonly status: number) {
    super(`virtio-blk status ${status}`);
  }
}

export class VirtioBlk implements VirtioDevice {
  readonly deviceId = DeviceId.BLOCK;
  readonly name: string;
  readonly features: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = BLK_CONFIG.size;
  readonly stats: BlkStats = { requests: 0, errors: 0 };
  private disk: DiskBackend;
  private readonly config = new ConfigSpace(BLK_CONFIG.size);
  private readonly serial: Uint8Array;
  private readonly capacity: number;
  private ctx: VirtioDeviceContext | undefined;
  /** Requests beyond the limit stay in the ring until the timer lets them through. */
  readonly limiter: RateLimiter;

  constructor(opts: BlkOptions) {
    this.disk = opts.disk;
    this.limiter = new RateLimiter(opts.limit, undefined, () => this.serve());
    this.name = opts.name ?? "blk0";
    const queueSize = opts.queueSize ?? 256;
    this.queueMaxSizes = [queueSize];
    this.capacity = Math.floor(opts.disk.size / SECTOR_SIZE);
    this.serial = new Uint8Array(BLK_ID_BYTES);
    this.serial.set(new TextEncoder().encode(opts.serial ?? `corral-${this.name}`).subarray(0, BLK_ID_BYTES));
    let f = feature(BlkFeature.SEG_MAX) | feature(BlkFeature.BLK_SIZE) | feature(BlkFeature.FLUSH);
    if (opts.disk.readOnly) f |= feature(BlkFeature.RO);
    else f |= feature(BlkFeature.DISCARD) | feature(BlkFeature.WRITE_ZEROES);
    this.features = f;
    const c = this.config;
    c.set64(BLK_CONFIG.capacity, BigInt(this.capacity));
    // Header and status take two descriptors of a chain no longer than the queue (§2.7.5.3.1).
    c.set32(BLK_CONFIG.segMax, queueSize - 2);
    c.set32(BLK_CONFIG.blkSize, SECTOR_SIZE);
    c.set16(BLK_CONFIG.numQueues, 1);
    c.set32(BLK_CONFIG.maxDiscardSectors, MAX_DWZ_SECTORS);
    c.set32(BLK_CONFIG.maxDiscardSeg, MAX_DWZ_SEG);
    c.set32(BLK_CONFIG.discardSectorAlignment, 8);
    c.set32(BLK_CONFIG.maxWriteZeroesSectors, MAX_DWZ_SECTORS);
    c.set32(BLK_CONFIG.maxWriteZeroesSeg, MAX_DWZ_SEG);
    c.set8(BLK_CONFIG.writeZeroesMayUnmap, 1);
  }

  readConfig(offset: number, size: 1 | 2 | 4): number {
    return this.config.read(offset, size);
  }

  /** `writeback` is only writable with CONFIG_WCE, which is not offered: all fields are read-only. */
  writeConfig(): void {}

  activate(ctx: VirtioDeviceContext): void {
    this.ctx = ctx;
  }

  notify(index: number): void {
    if (index === 0 && !this.limiter.waiting) this.serve();
  }

  /** New limits for a running disk; requests held back by the old ones go at the new pace. */
  setLimit(limit: RateLimit | undefined): void {
    this.limiter.set(limit);
    this.serve();
  }

  /** Serve the request queue until it is empty or the limiter says wait (then a timer resumes). */
  private serve(): void {
    const ctx = this.ctx;
    const vq = ctx?.queue(0);
    if (!ctx || !vq) return;
    let served = false;
    for (let chain; this.limiter.allows() && (chain = vq.pop()); served = true)
      vq.push(chain.head, this.handle(ctx.memory, chain));
    if (served) ctx.signalUsed(0);
  }

  /**
   * Requests complete before notify() returns: nothing in flight, nothing to save but the link.
   * Requests a rate limit held back stay in the ring; the restored device serves them once the
   * restore is done (the guest will not notify for them again). Its limiter starts full.
   */
  saveState(): Record<string, never> {
    return {};
  }
  restoreState(_s: unknown, ctx: VirtioDeviceContext | undefined): void {
    this.ctx = ctx;
    if (ctx) setImmediate(() => this.serve());
  }

  /** The image the guest's writes go to (a snapshot freezes it: src/snapshot/disks.ts). */
  get backend(): DiskBackend {
    return this.disk;
  }
  /**
   * Continue on `disk`, which shows the same bytes (an overlay on the image just frozen). Called
   * while the machine is paused, with every request of the old backend complete and flushed.
   */
  replaceBackend(disk: DiskBackend): void {
    if (disk.size !== this.disk.size) throw new Error(`${this.name}: new backend has another size`);
    this.disk = disk;
  }

  /** Serve one request; returns the used length (data bytes written + the status byte). */
  private handle(mem: GuestMemory, chain: Chain): number {
    this.stats.requests++;
    if (chain.writableLen < 1) {
      this.stats.errors++;
      return 0;
    }
    let status: number = BlkStatus.OK;
    let written = 0;
    try {
      written = this.execute(mem, chain);
    } catch (e) {
      // RequestError carries a protocol status; anything else is a host I/O failure.
      status = e instanceof RequestError ? e.status : BlkStatus.IOERR;
      this.stats.errors++;
    }
    writeSegments(mem, chain.writable, chain.writableLen - 1, Uint8Array.of(status));
    // What moved: the data of a read or a write (the header and status are not the disk's bytes).
    this.limiter.charge(written + Math.max(0, chain.readableLen - BLK_REQ_HEADER.size));
    return written + 1;
  }

  private execute(mem: GuestMemory, chain: Chain): number {
    if (chain.readableLen < BLK_REQ_HEADER.size) throw new RequestError(BlkStatus.IOERR);
    const hdr = new Uint8Array(BLK_REQ_HEADER.size);
    readSegments(mem, chain.readable, 0, hdr);
    const view = new DataView(hdr.buffer);
    const type = view.getUint32(BLK_REQ_HEADER.type, true);
    const sector = view.getBigUint64(BLK_REQ_HEADER.sector, true);
    const dataIn = chain.writableLen - 1;
    const dataOut = chain.readableLen - BLK_REQ_HEADER.size;
    switch (type) {
      // Data moves straight between the image and the guest's buffers in one vectored call (no
      // bounce buffer: a 1 MiB request used to allocate, zero and copy a 1 MiB one).
      case BlkType.IN: {
        if (dataOut !== 0 || dataIn % SECTOR_SIZE !== 0) throw new RequestError(BlkStatus.IOERR);
        const pos = this.range(sector, dataIn / SECTOR_SIZE);
        const dsts: Uint8Array[] = [];
        forEachRange(chain.writable, 0, dataIn, (addr, n) => dsts.push(mem.dmaTarget(addr, n)));
        this.disk.readv(pos, dsts);
        return dataIn;
      }
      case BlkType.OUT: {
        if (dataIn !== 0 || dataOut % SECTOR_SIZE !== 0 || this.disk.readOnly) throw new RequestError(BlkStatus.IOERR);
        const pos = this.range(sector, dataOut / SECTOR_SIZE);
        const srcs: Uint8Array[] = [];
        forEachRange(chain.readable, BLK_REQ_HEADER.size, dataOut, (addr, n) => srcs.push(mem.slice(addr, n)));
        this.disk.writev(pos, srcs);
        return 0;
      }
      case BlkType.FLUSH:
        if (dataOut !== 0 || dataIn !== 0) throw new RequestError(BlkStatus.IOERR);
        this.disk.flush();
        return 0;
      case BlkType.GET_ID: {
        if (dataOut !== 0) throw new RequestError(BlkStatus.IOERR);
        return writeSegments(mem, chain.writable, 0, this.serial.subarray(0, Math.min(dataIn, BLK_ID_BYTES)));
      }
      case BlkType.DISCARD:
      case BlkType.WRITE_ZEROES:
        this.discardOrZero(mem, chain, type === BlkType.DISCARD);
        return 0;
      default:
        throw new RequestError(BlkStatus.UNSUPP);
    }
  }

  /** §5.2.6.2: a list of {sector, num_sectors, flags} segments after the header. */
  private discardOrZero(mem: GuestMemory, chain: Chain, discard: boolean): void {
    const bytes = chain.readableLen - BLK_REQ_HEADER.size;
    if (this.disk.readOnly || chain.writableLen !== 1) throw new RequestError(BlkStatus.IOERR);
    const n = bytes / BLK_DWZ_SEGMENT.size;
    if (bytes === 0 || !Number.isInteger(n) || n > MAX_DWZ_SEG) throw new RequestError(BlkStatus.IOERR);
    const segs = new Uint8Array(bytes);
    readSegments(mem, chain.readable, BLK_REQ_HEADER.size, segs);
    const view = new DataView(segs.buffer);
    const ranges: [number, number][] = [];
    for (let i = 0; i < n; i++) {
      const at = i * BLK_DWZ_SEGMENT.size;
      const sector = view.getBigUint64(at + BLK_DWZ_SEGMENT.sector, true);
      const count = view.getUint32(at + BLK_DWZ_SEGMENT.numSectors, true);
      const flags = view.getUint32(at + BLK_DWZ_SEGMENT.flags, true);
      // Discard takes no flags; write-zeroes only UNMAP (§5.2.6.2).
      if (flags & ~(discard ? 0 : DWZ_FLAG_UNMAP)) throw new RequestError(BlkStatus.UNSUPP);
      if (count > MAX_DWZ_SECTORS) throw new RequestError(BlkStatus.IOERR);
      ranges.push([this.range(sector, count), count * SECTOR_SIZE]);
    }
    for (const [pos, len] of ranges) {
      if (discard) this.disk.discard(pos, len);
      else this.disk.writeZeroes(pos, len);
    }
  }

  /** Byte offset of `sectors` sectors at `sector`, or IOERR when they do not fit the disk. */
  private range(sector: bigint, sectors: number): number {
    if (sector > BigInt(this.capacity) || Number(sector) + sectors > this.capacity)
      throw new RequestError(BlkStatus.IOERR);
    return Number(sector) * SECTOR_SIZE;
  }

  reset(): void {
    this.ctx = undefined;
    this.limiter.cancel();
  }

  close(): void {
    this.ctx = undefined;
    this.limiter.cancel();
    this.disk.close();
  }
}
