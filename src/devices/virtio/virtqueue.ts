/**
 * The device side of a split virtqueue (virtio 1.2 §2.7): descriptor table, available ring (written
 * by the driver) and used ring (written by the device).
 *
 * The guest is untrusted. Everything read from the rings is validated before use:
 * - a queue whose geometry is wrong (size, ring addresses) is never created (the transport reports
 *   DEVICE_NEEDS_RESET);
 * - a queue that breaks a ring invariant later (available index running ahead by more than the
 *   queue size, a head index >= size) is marked broken: `onBroken` fires once and the queue stops;
 * - a chain that is malformed (loops, leaves guest RAM, readable after writable, nested or
 *   misshapen indirect tables) fails that request alone: it is returned to the driver in the used
 *   ring with length 0 and no byte of its buffers is touched.
 * Nothing here throws because of guest data.
 */
import type { GuestMemory } from "../../machine/memory.js";
import {
  RING_ALIGN,
  VIRTQ_AVAIL,
  VIRTQ_AVAIL_ENTRY_SIZE,
  VIRTQ_DESC,
  VIRTQ_USED,
  VIRTQ_USED_ELEM,
  availEventOffset,
  ringSizes,
  usedEventOffset,
} from "./layout.js";
import { DescFlag, MAX_QUEUE_SIZE, VRING_AVAIL_F_NO_INTERRUPT, VRING_USED_F_NO_NOTIFY } from "./spec.js";

/** One guest buffer of a chain: `len` bytes at guest-physical `addr`, already inside guest RAM. */
export interface Segment {
  readonly addr: number;
  readonly len: number;
}

/** A validated descriptor chain: driver-to-device buffers first, then device-to-driver buffers. */
export interface Chain {
  readonly head: number;
  readonly readable: readonly Segment[];
  readonly writable: readonly Segment[];
  readonly readableLen: number;
  readonly writableLen: number;
  /** Entries of the queue's own descriptor table it occupies (an indirect table counts as one). */
  readonly ringDescs: number;
}

/** Where the driver put the queue and what was negotiated for it. */
export interface QueueConfig {
  readonly size: number;
  readonly descAddr: number;
  readonly driverAddr: number;
  readonly deviceAddr: number;
  /** VIRTIO_F_RING_EVENT_IDX negotiated (§2.7.10). */
  readonly eventIdx: boolean;
  /** VIRTIO_F_RING_INDIRECT_DESC negotiated (§2.7.5.3). */
  readonly indirect: boolean;
}

/**
 * §2.7.10 / Linux vring_need_event: interrupt (or notify) when the other side's event index lies
 * in the window of entries added since the last decision, (old, new], all arithmetic mod 2^16.
 */
export function vringNeedEvent(eventIdx: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - eventIdx - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Why a queue configuration cannot be used, or undefined when it can. */
export function checkQueueConfig(mem: GuestMemory, cfg: QueueConfig, maxSize: number): string | undefined {
  const { size } = cfg;
  if (!isPowerOfTwo(size) || size > MAX_QUEUE_SIZE)
    return `queue size ${size} is not a power of two <= ${MAX_QUEUE_SIZE}`;
  if (size > maxSize) return `queue size ${size} exceeds QueueNumMax ${maxSize}`;
  const sizes = ringSizes(size);
  const parts: [string, number, number, number][] = [
    ["descriptor table", cfg.descAddr, sizes.desc, RING_ALIGN.desc],
    ["available ring", cfg.driverAddr, sizes.avail, RING_ALIGN.avail],
    ["used ring", cfg.deviceAddr, sizes.used, RING_ALIGN.used],
  ];
  for (const [what, addr, len, align] of parts) {
    if (addr % align !== 0) return `${what} at 0x${addr.toString(16)} is not ${align}-byte aligned`;
    if (!mem.contains(addr, len)) return `${what} at 0x${addr.toString(16)}+${len} is outside guest RAM`;
  }
  return undefined;
}

class BadChain extends Error {}

export class Virtqueue {
  /** Next available-ring slot the device will read (free-running 16-bit). */
  private lastAvail = 0;
  /** Next used-ring slot the device will write (free-running 16-bit). */
  private usedIdx = 0;
  /** usedIdx when needsInterrupt() last decided. */
  private signalledUsed = 0;
  private brokenReason: string | undefined;
  /** Chains refused as malformed (returned with length 0). */
  badChains = 0;
  /** Called once when the queue breaks; the transport sets DEVICE_NEEDS_RESET. */
  onBroken: (reason: string) => void = () => {};

  private constructor(
    private readonly mem: GuestMemory,
    readonly config: QueueConfig,
  ) {}

  /** A queue, or the reason the configuration is unusable (see checkQueueConfig). */
  static create(mem: GuestMemory, cfg: QueueConfig, maxSize: number): Virtqueue | string {
    return checkQueueConfig(mem, cfg, maxSize) ?? new Virtqueue(mem, cfg);
  }

  /**
   * The device's side of the rings (§2.7.13, §2.7.14): where it will read the next available entry
   * and write the next used one. Everything else is in guest RAM; the configuration comes back
   * through the transport's registers.
   */
  saveState(): { lastAvail: number; usedIdx: number; signalledUsed: number; broken: string | null } {
    return {
      lastAvail: this.lastAvail,
      usedIdx: this.usedIdx,
      signalledUsed: this.signalledUsed,
      broken: this.brokenReason ?? null,
    };
  }
  restoreState(s: { lastAvail: number; usedIdx: number; signalledUsed: number; broken: string | null }): void {
    this.lastAvail = s.lastAvail & 0xffff;
    this.usedIdx = s.usedIdx & 0xffff;
    this.signalledUsed = s.signalledUsed & 0xffff;
    this.brokenReason = s.broken ?? undefined;
  }

  get size(): number {
    return this.config.size;
  }

  get broken(): string | undefined {
    return this.brokenReason;
  }

  private fail(reason: string): null {
    if (this.brokenReason === undefined) {
      this.brokenReason = reason;
      this.onBroken(reason);
    }
    return null;
  }

  private availIdx(): number {
    return this.mem.readU16(this.config.driverAddr + VIRTQ_AVAIL.fields.idx.offset);
  }

  /** True when the driver has made chains available that pop() has not taken yet. */
  hasAvailable(): boolean {
    return this.brokenReason === undefined && this.availIdx() !== this.lastAvail;
  }

  /**
   * The next valid available chain, or null when there is none (or the queue is broken).
   * Malformed chains met on the way are completed with length 0 and skipped.
   */
  pop(): Chain | null {
    for (;;) {
      if (this.brokenReason !== undefined) return null;
      const { size, driverAddr } = this.config;
      const pending = (this.availIdx() - this.lastAvail) & 0xffff;
      if (pending === 0) return null;
      // §2.7.13.3: the driver can have at most `size` chains outstanding.
      if (pending > size)
        return this.fail(`available index ran ${pending} entries ahead of the device (queue size ${size})`);
      const slot = driverAddr + VIRTQ_AVAIL.fields.ring.offset + VIRTQ_AVAIL_ENTRY_SIZE * (this.lastAvail % size);
      const head = this.mem.readU16(slot);
      this.lastAvail = (this.lastAvail + 1) & 0xffff;
      this.publishAvailEvent();
      if (head >= size) return this.fail(`available ring names descriptor ${head}, queue size is ${size}`);
      try {
        return this.walk(head);
      } catch (e) {
        if (!(e instanceof BadChain)) throw e;
        this.badChains++;
        this.push(head, 0);
      }
    }
  }

  /**
   * With EVENT_IDX the device asks to be notified when the driver adds the entry after the ones it
   * has consumed (§2.7.10): avail_event = next slot to read.
   */
  private publishAvailEvent(): void {
    if (!this.config.eventIdx) return;
    this.mem.writeU16(this.config.deviceAddr + availEventOffset(this.config.size), this.lastAvail);
  }

  /** Follow a chain from `head`, validating every descriptor (§2.7.5, §2.7.5.3). */
  /**
   * The chain at `head` walked again from guest RAM: a restored device's buffers it had taken off
   * the ring before the snapshot (the driver leaves them alone until they are used, §2.7.13).
   * Null when it is no longer a valid chain (then the device forgets it).
   */
  chainAt(head: number): Chain | null {
    if (!Number.isInteger(head) || head < 0 || head >= this.config.size) return null;
    try {
      return this.walk(head);
    } catch {
      return null;
    }
  }

  private walk(head: number): Chain {
    const { size, descAddr, indirect } = this.config;
    const readable: Segment[] = [];
    const writable: Segment[] = [];
    let readableLen = 0;
    let writableLen = 0;
    let table = descAddr;
    let tableSize = size;
    let inIndirect = false;
    let idx = head;
    let count = 0;
    let ringDescs = 0;
    for (;;) {
      if (!inIndirect) ringDescs++;
      const d = table + VIRTQ_DESC.size * idx;
      const rawAddr = this.mem.readU64(d + VIRTQ_DESC.fields.addr.offset);
      const len = this.mem.readU32(d + VIRTQ_DESC.fields.len.offset);
      const flags = this.mem.readU16(d + VIRTQ_DESC.fields.flags.offset);
      const next = this.mem.readU16(d + VIRTQ_DESC.fields.next.offset);
      if (rawAddr > BigInt(Number.MAX_SAFE_INTEGER)) throw new BadChain("address beyond 2^53");
      const addr = Number(rawAddr);
      if (flags & DescFlag.INDIRECT) {
        if (!indirect) throw new BadChain("indirect descriptor without VIRTIO_F_RING_INDIRECT_DESC");
        if (inIndirect) throw new BadChain("indirect table inside an indirect table");
        if (flags & DescFlag.NEXT) throw new BadChain("indirect descriptor with NEXT");
        if (len === 0 || len % VIRTQ_DESC.size !== 0) throw new BadChain(`indirect table length ${len}`);
        // §2.7.5.3.1: a chain, indirect entries included, is never longer than the queue.
        if (len / VIRTQ_DESC.size > size) throw new BadChain("indirect table larger than the queue");
        if (!this.mem.contains(addr, len)) throw new BadChain("indirect table outside guest RAM");
        table = addr;
        tableSize = len / VIRTQ_DESC.size;
        inIndirect = true;
        idx = 0;
        continue;
      }
      // Counting descriptors bounds every walk, loops included.
      if (++count > size) throw new BadChain("chain longer than the queue (a loop?)");
      if (!this.mem.contains(addr, len)) throw new BadChain("buffer outside guest RAM");
      if (flags & DescFlag.WRITE) {
        writable.push({ addr, len });
        writableLen += len;
      } else {
        // §2.7.4.2: device-readable buffers all come before device-writable ones.
        if (writable.length > 0) throw new BadChain("readable buffer after a writable one");
        readable.push({ addr, len });
        readableLen += len;
      }
      if (!(flags & DescFlag.NEXT)) break;
      if (next >= tableSize) throw new BadChain(`next index ${next} outside a table of ${tableSize}`);
      idx = next;
    }
    return { head, readable, writable, readableLen, writableLen, ringDescs };
  }

  /** Return chain `head` to the driver, saying `writtenLen` bytes of its writable part were written. */
  push(head: number, writtenLen: number): void {
    if (this.brokenReason !== undefined) return;
    const { size, deviceAddr } = this.config;
    const elem = deviceAddr + VIRTQ_USED.fields.ring.offset + VIRTQ_USED_ELEM.size * (this.usedIdx % size);
    this.mem.writeU32(elem + VIRTQ_USED_ELEM.fields.id.offset, head);
    this.mem.writeU32(elem + VIRTQ_USED_ELEM.fields.len.offset, writtenLen);
    this.usedIdx = (this.usedIdx + 1) & 0xffff;
    // The element is written before the index that publishes it (§2.7.8.2).
    this.mem.writeU16(deviceAddr + VIRTQ_USED.fields.idx.offset, this.usedIdx);
  }

  /**
   * Whether the driver wants an interrupt for the chains pushed since the last call (§2.7.7):
   * with EVENT_IDX, when used_event was crossed; otherwise unless VRING_AVAIL_F_NO_INTERRUPT.
   */
  needsInterrupt(): boolean {
    const old = this.signalledUsed;
    const now = this.usedIdx;
    this.signalledUsed = now;
    if (old === now || this.brokenReason !== undefined) return false;
    const { driverAddr, size } = this.config;
    if (this.config.eventIdx) return vringNeedEvent(this.mem.readU16(driverAddr + usedEventOffset(size)), now, old);
    return (this.mem.readU16(driverAddr + VIRTQ_AVAIL.fields.flags.offset) & VRING_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /**
   * Ask the driver not to notify (kick) this queue, or to notify again (§2.7.10). Without EVENT_IDX
   * this is the VRING_USED_F_NO_NOTIFY flag; with it, avail_event already says when to kick.
   */
  setNotifications(enabled: boolean): void {
    if (this.brokenReason !== undefined || this.config.eventIdx) return;
    this.mem.writeU16(this.config.deviceAddr + VIRTQ_USED.fields.flags.offset, enabled ? 0 : VRING_USED_F_NO_NOTIFY);
  }
}
