/**
 * A mock guest driver for device tests: it does over a GuestRam and an MmioDevice what Linux's
 * virtio_mmio.c and virtio_ring.c do (the rust-vmm virtio-queue "mock" idea): reset, acknowledge,
 * negotiate features, place split virtqueues in guest RAM, add buffers (direct or indirect), kick,
 * and reap the used ring. It also exposes raw ring access so tests can write malformed tables.
 */
import type { IrqLine, MmioDevice } from "../../device.js";
import { GuestRam, RAM_BASE } from "../../../machine/memory.js";
import {
  VIRTQ_AVAIL,
  VIRTQ_AVAIL_ENTRY_SIZE,
  VIRTQ_DESC,
  VIRTQ_USED,
  VIRTQ_USED_ELEM,
  availEventOffset,
  ringSizes,
  usedEventOffset,
} from "../layout.js";
import { DescFlag, FeatureBit, Status, feature } from "../spec.js";
import { Reg } from "../transport-mmio.js";
import { vringNeedEvent } from "../virtqueue.js";

/** An IrqLine that records its level, like a PLIC input. */
export class MockIrq implements IrqLine {
  level = false;
  raised = 0;
  set(level: boolean): void {
    if (level && !this.level) this.raised++;
    this.level = level;
  }
}

export interface RawDesc {
  addr: number | bigint;
  len: number;
  flags: number;
  next: number;
}

export interface DriverQueue {
  readonly index: number;
  readonly size: number;
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  /** Free-running 16-bit index of the next available-ring slot. */
  availIdx: number;
  /** Used entries reaped so far (free-running 16-bit). */
  lastUsed: number;
  /** Free descriptor indices. */
  free: number[];
  /** Descriptors held by each outstanding head (to free on completion). */
  held: Map<number, number[]>;
}

export interface UsedElem {
  id: number;
  len: number;
}

/** A device-writable buffer the driver posted: where it is, to read it back after completion. */
export interface PostedBuffer {
  addr: number;
  len: number;
}

export interface InitOptions {
  /** Features the driver accepts if offered (default: VERSION_1, INDIRECT_DESC, EVENT_IDX + `extra`). */
  want?: bigint;
  /** Queue sizes to set up, by queue index (default: each queue's QueueNumMax). */
  sizes?: readonly number[];
}

export class MockDriver {
  private next: number;
  readonly queues: DriverQueue[] = [];
  features = 0n;

  constructor(
    readonly ram: GuestRam,
    readonly dev: MmioDevice,
    readonly irq: MockIrq,
  ) {
    this.next = ram.base;
  }

  /** Bump allocator over guest RAM (never freed; tests are short). */
  alloc(len: number, align = 16): number {
    const addr = Math.ceil(this.next / align) * align;
    if (addr + len > this.ram.end) throw new RangeError("mock driver: guest RAM exhausted");
    this.next = addr + len;
    return addr;
  }

  reg(offset: number): number {
    return this.dev.read(offset, 4);
  }
  setReg(offset: number, value: number): void {
    this.dev.write(offset, 4, value >>> 0);
  }
  get status(): number {
    return this.reg(Reg.STATUS);
  }

  deviceFeatures(): bigint {
    this.setReg(Reg.DEVICE_FEATURES_SEL, 0);
    const lo = BigInt(this.reg(Reg.DEVICE_FEATURES));
    this.setReg(Reg.DEVICE_FEATURES_SEL, 1);
    return (BigInt(this.reg(Reg.DEVICE_FEATURES)) << 32n) | lo;
  }

  /** The virtio_mmio probe + virtio_dev_probe sequence (§3.1.1). Returns the negotiated features. */
  init(opts: InitOptions = {}): bigint {
    if (this.reg(Reg.MAGIC_VALUE) !== 0x74726976 || this.reg(Reg.VERSION) !== 2)
      throw new Error("not a virtio-mmio v2 device");
    this.setReg(Reg.STATUS, 0);
    this.setReg(Reg.STATUS, Status.ACKNOWLEDGE);
    this.setReg(Reg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER);
    const want =
      opts.want ??
      feature(FeatureBit.VERSION_1) | feature(FeatureBit.RING_INDIRECT_DESC) | feature(FeatureBit.RING_EVENT_IDX);
    this.features = this.deviceFeatures() & want;
    this.writeFeatures(this.features);
    this.setReg(Reg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
    if (!(this.status & Status.FEATURES_OK)) throw new Error("device refused the features");
    this.queues.length = 0;
    for (let i = 0; ; i++) {
      this.setReg(Reg.QUEUE_SEL, i);
      const max = this.reg(Reg.QUEUE_NUM_MAX);
      if (max === 0) break;
      this.setupQueue(i, opts.sizes?.[i] ?? max);
    }
    this.setReg(Reg.STATUS, this.status | Status.DRIVER_OK);
    return this.features;
  }

  writeFeatures(f: bigint): void {
    this.setReg(Reg.DRIVER_FEATURES_SEL, 0);
    this.setReg(Reg.DRIVER_FEATURES, Number(f & 0xffffffffn));
    this.setReg(Reg.DRIVER_FEATURES_SEL, 1);
    this.setReg(Reg.DRIVER_FEATURES, Number(f >> 32n));
  }

  /** Place queue `index` in RAM and enable it (what vm_setup_vq does). */
  setupQueue(index: number, size: number): DriverQueue {
    const s = ringSizes(size);
    const q: DriverQueue = {
      index,
      size,
      desc: this.alloc(s.desc, 16),
      avail: this.alloc(s.avail, 2),
      used: this.alloc(s.used, 4),
      availIdx: 0,
      lastUsed: 0,
      free: Array.from({ length: size }, (_, i) => i),
      held: new Map(),
    };
    this.setReg(Reg.QUEUE_SEL, index);
    this.setReg(Reg.QUEUE_NUM, size);
    const split = (a: number): [number, number] => [a % 0x1_0000_0000, Math.floor(a / 0x1_0000_0000)];
    const [dl, dh] = split(q.desc);
    const [al, ah] = split(q.avail);
    const [ul, uh] = split(q.used);
    this.setReg(Reg.QUEUE_DESC_LOW, dl);
    this.setReg(Reg.QUEUE_DESC_HIGH, dh);
    this.setReg(Reg.QUEUE_DRIVER_LOW, al);
    this.setReg(Reg.QUEUE_DRIVER_HIGH, ah);
    this.setReg(Reg.QUEUE_DEVICE_LOW, ul);
    this.setReg(Reg.QUEUE_DEVICE_HIGH, uh);
    this.setReg(Reg.QUEUE_READY, 1);
    this.queues[index] = q;
    return q;
  }

  queue(index: number): DriverQueue {
    const q = this.queues[index];
    if (!q) throw new Error(`queue ${index} not set up`);
    return q;
  }

  writeDesc(table: number, idx: number, d: RawDesc): void {
    const at = table + VIRTQ_DESC.size * idx;
    this.ram.writeU64(at + VIRTQ_DESC.fields.addr.offset, BigInt(d.addr));
    this.ram.writeU32(at + VIRTQ_DESC.fields.len.offset, d.len);
    this.ram.writeU16(at + VIRTQ_DESC.fields.flags.offset, d.flags);
    this.ram.writeU16(at + VIRTQ_DESC.fields.next.offset, d.next);
  }

  /** Put `head` in the next available slot and publish it (virtqueue_add's final steps). */
  publish(q: DriverQueue, head: number): void {
    this.ram.writeU16(q.avail + VIRTQ_AVAIL.fields.ring.offset + VIRTQ_AVAIL_ENTRY_SIZE * (q.availIdx % q.size), head);
    q.availIdx = (q.availIdx + 1) & 0xffff;
    this.ram.writeU16(q.avail + VIRTQ_AVAIL.fields.idx.offset, q.availIdx);
  }

  /**
   * Add a chain: `out` buffers the device reads, then `inLens` buffers it writes. With
   * `indirect`, the chain goes in an indirect table (one ring descriptor). Returns the head and the
   * writable buffers' addresses.
   */
  add(
    index: number,
    out: readonly Uint8Array[],
    inLens: readonly number[],
    indirect = false,
  ): { head: number; writable: PostedBuffer[] } {
    const q = this.queue(index);
    const bufs: RawDesc[] = [];
    const writable: PostedBuffer[] = [];
    for (const b of out) {
      const addr = this.alloc(Math.max(b.length, 1), 8);
      this.ram.write(addr, b);
      bufs.push({ addr, len: b.length, flags: 0, next: 0 });
    }
    for (const len of inLens) {
      const addr = this.alloc(Math.max(len, 1), 8);
      this.ram.fill(addr, len, 0xee);
      bufs.push({ addr, len, flags: DescFlag.WRITE, next: 0 });
      writable.push({ addr, len });
    }
    if (indirect) {
      const table = this.alloc(VIRTQ_DESC.size * bufs.length, 16);
      bufs.forEach((d, i) => {
        const last = i === bufs.length - 1;
        this.writeDesc(table, i, { ...d, flags: d.flags | (last ? 0 : DescFlag.NEXT), next: last ? 0 : i + 1 });
      });
      const head = this.take(q, 1)[0]!;
      this.writeDesc(q.desc, head, {
        addr: table,
        len: VIRTQ_DESC.size * bufs.length,
        flags: DescFlag.INDIRECT,
        next: 0,
      });
      q.held.set(head, [head]);
      this.publish(q, head);
      return { head, writable };
    }
    const ids = this.take(q, bufs.length);
    bufs.forEach((d, i) => {
      const last = i === bufs.length - 1;
      this.writeDesc(q.desc, ids[i]!, {
        ...d,
        flags: d.flags | (last ? 0 : DescFlag.NEXT),
        next: last ? 0 : ids[i + 1]!,
      });
    });
    const head = ids[0]!;
    q.held.set(head, ids);
    this.publish(q, head);
    return { head, writable };
  }

  private take(q: DriverQueue, n: number): number[] {
    if (q.free.length < n) throw new Error(`queue ${q.index}: no free descriptors`);
    return q.free.splice(0, n);
  }

  /** Notify the device; with EVENT_IDX only when avail_event says so, unless `force`. */
  kick(index: number, force = true): boolean {
    const q = this.queue(index);
    if (!force && this.features & feature(FeatureBit.RING_EVENT_IDX)) {
      const availEvent = this.ram.readU16(q.used + availEventOffset(q.size));
      if (!vringNeedEvent(availEvent, q.availIdx, (q.availIdx - 1) & 0xffff)) return false;
    }
    this.setReg(Reg.QUEUE_NOTIFY, index);
    return true;
  }

  /** Ask for an interrupt at the next used entry (virtqueue_enable_cb with EVENT_IDX). */
  armUsedEvent(index: number, after = 0): void {
    const q = this.queue(index);
    this.ram.writeU16(q.avail + usedEventOffset(q.size), (q.lastUsed + after) & 0xffff);
  }

  usedIdx(index: number): number {
    return this.ram.readU16(this.queue(index).used + VIRTQ_USED.fields.idx.offset);
  }

  /** Reap new used elements, freeing their descriptors (virtqueue_get_buf). */
  reap(index: number): UsedElem[] {
    const q = this.queue(index);
    const out: UsedElem[] = [];
    const end = this.usedIdx(index);
    while (q.lastUsed !== end) {
      const at = q.used + VIRTQ_USED.fields.ring.offset + VIRTQ_USED_ELEM.size * (q.lastUsed % q.size);
      const id = this.ram.readU32(at + VIRTQ_USED_ELEM.fields.id.offset);
      out.push({ id, len: this.ram.readU32(at + VIRTQ_USED_ELEM.fields.len.offset) });
      q.lastUsed = (q.lastUsed + 1) & 0xffff;
      const ids = q.held.get(id);
      if (ids) {
        q.free.push(...ids);
        q.held.delete(id);
      }
    }
    return out;
  }

  /** The interrupt handler: read InterruptStatus and acknowledge it (vm_interrupt). */
  ackInterrupt(): number {
    const s = this.reg(Reg.INTERRUPT_STATUS);
    this.setReg(Reg.INTERRUPT_ACK, s);
    return s;
  }

  readBuf(b: PostedBuffer): Uint8Array {
    return this.ram.slice(b.addr, b.len).slice();
  }

  /** Add one request, kick, and return its completion (the device completes synchronously). */
  request(
    index: number,
    out: readonly Uint8Array[],
    inLens: readonly number[],
    indirect = false,
  ): { used: UsedElem | undefined; writable: Uint8Array[] } {
    const { head, writable } = this.add(index, out, inLens, indirect);
    this.kick(index);
    const used = this.reap(index).find((u) => u.id === head);
    return { used, writable: writable.map((b) => this.readBuf(b)) };
  }
}

/** A GuestRam of `size` bytes with the mock driver's allocations starting at its base. */
export function makeRam(size = 1 << 20): GuestRam {
  return new GuestRam(size, RAM_BASE);
}
