/**
 * Test helpers that speak virtio-blk through the mock driver, the way Linux's virtio_blk.c lays out
 * requests: header in one buffer, data in its own, status byte last.
 */
import type { DiskBackend } from "../../../disk/backend.js";
import { BLK_DWZ_SEGMENT, BLK_REQ_HEADER, VirtioBlk, type BlkOptions } from "../blk.js";
import { VirtioMmioTransport } from "../transport-mmio.js";
import { MockDriver, MockIrq, makeRam } from "./mock-driver.js";

export function blkHeader(type: number, sector: number | bigint): Uint8Array {
  const h = new Uint8Array(BLK_REQ_HEADER.size);
  const v = new DataView(h.buffer);
  v.setUint32(BLK_REQ_HEADER.type, type, true);
  v.setBigUint64(BLK_REQ_HEADER.sector, BigInt(sector), true);
  return h;
}

export function dwzSegments(segs: readonly { sector: number; count: number; flags?: number }[]): Uint8Array {
  const b = new Uint8Array(BLK_DWZ_SEGMENT.size * segs.length);
  const v = new DataView(b.buffer);
  segs.forEach((s, i) => {
    const at = i * BLK_DWZ_SEGMENT.size;
    v.setBigUint64(at + BLK_DWZ_SEGMENT.sector, BigInt(s.sector), true);
    v.setUint32(at + BLK_DWZ_SEGMENT.numSectors, s.count, true);
    v.setUint32(at + BLK_DWZ_SEGMENT.flags, s.flags ?? 0, true);
  });
  return b;
}

export interface BlkRig {
  drv: MockDriver;
  blk: VirtioBlk;
  transport: VirtioMmioTransport;
  /** Read `sectors` sectors at `sector`: status and data. */
  read(sector: number, sectors: number, indirect?: boolean): { status: number; data: Uint8Array; len: number };
  write(sector: number, data: Uint8Array, indirect?: boolean): number;
  /** Send a request with arbitrary parts; returns the status byte and the used length. */
  raw(
    out: Uint8Array[],
    inLens: number[],
  ): { status: number | undefined; len: number | undefined; writable: Uint8Array[] };
}

export function blkRig(disk: DiskBackend, opts: Partial<BlkOptions> = {}, ramSize = 4 << 20): BlkRig {
  const ram = makeRam(ramSize);
  const irq = new MockIrq();
  const blk = new VirtioBlk({ ...opts, disk });
  const transport = new VirtioMmioTransport({ device: blk, memory: ram, irq, irqNumber: 1 });
  const drv = new MockDriver(ram, transport, irq);
  drv.init();
  const raw = (out: Uint8Array[], inLens: number[], indirect = false) => {
    const r = drv.request(0, out, inLens, indirect);
    const last = r.writable[r.writable.length - 1];
    return { status: last?.[last.length - 1], len: r.used?.len, writable: r.writable };
  };
  return {
    drv,
    blk,
    transport,
    read(sector, sectors, indirect = false) {
      const r = raw([blkHeader(0, sector)], [sectors * 512, 1], indirect);
      return { status: r.status ?? -1, data: r.writable[0]!, len: r.len ?? -1 };
    },
    write(sector, data, indirect = false) {
      return raw([blkHeader(1, sector), data], [1], indirect).status ?? -1;
    },
    raw,
  };
}
