/**
 * The virtio-mmio transport, version 2 ("modern", virtio 1.2 §4.2): the register window through
 * which a driver discovers a device, negotiates features, places its virtqueues and notifies them.
 * Generic over VirtioDevice; the device only sees queues, configuration space and notifications.
 */
import type { DtContext, DtNode, IrqLine, MmioDevice, MmioSize } from "../device.js";
import type { GuestMemory } from "../../machine/memory.js";
import type { VirtioDevice } from "./device.js";
import { VirtioCore } from "./transport-core.js";
import type { SavedState, Snapshottable } from "../../snapshot/state.js";

/** §4.2.2 MMIO Device Register Layout (offsets from the window base). */
export const Reg = {
  MAGIC_VALUE: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  SHM_SEL: 0x0ac,
  SHM_LEN_LOW: 0x0b0,
  SHM_LEN_HIGH: 0x0b4,
  SHM_BASE_LOW: 0x0b8,
  SHM_BASE_HIGH: 0x0bc,
  QUEUE_RESET: 0x0c0,
  CONFIG_GENERATION: 0x0fc,
  CONFIG: 0x100,
} as const;

export const VIRTIO_MMIO_MAGIC = 0x74726976; // "virt"
export const VIRTIO_MMIO_VERSION = 2;
/** VendorID is free-form (§4.2.2); "CRRL" read as a little-endian word. */
export const CORRAL_VENDOR_ID = 0x4c525243;
export const VIRTIO_MMIO_SIZE = 0x1000;

export interface VirtioMmioOptions {
  device: VirtioDevice;
  memory: GuestMemory;
  /** The interrupt input (a PLIC source); level, high while InterruptStatus != 0. */
  irq: IrqLine;
  /** The PLIC source number, for the device tree. */
  irqNumber: number;
  /** Told why the device set DEVICE_NEEDS_RESET or failed a request (for logs). */
  onError?: (message: string) => void;
}

const U32 = 0x1_0000_0000;

export class VirtioMmioTransport implements MmioDevice, Snapshottable {
  readonly size = VIRTIO_MMIO_SIZE;
  readonly name: string;
  private readonly device: VirtioDevice;
  private readonly irqNumber: number;
  /** Status, features, queues and interrupts: everything but the register layout. */
  readonly core: VirtioCore;

  constructor(opts: VirtioMmioOptions) {
    this.device = opts.device;
    this.name = opts.device.name;
    this.irqNumber = opts.irqNumber;
    const irq = opts.irq;
    this.core = new VirtioCore({
      device: opts.device,
      memory: opts.memory,
      level: (high) => irq.set(high),
      onError: opts.onError,
    });
  }

  /** Why DEVICE_NEEDS_RESET was last set (for tests and logs). */
  get lastError(): string | undefined {
    return this.core.lastError;
  }

  /** The DT node QEMU's virt board gives each virtio-mmio slot (#address-cells = #size-cells = 2). */
  describe(base: number, ctx: DtContext): DtNode {
    return {
      name: `virtio_mmio@${base.toString(16)}`,
      props: {
        compatible: "virtio,mmio",
        reg: [Math.floor(base / U32), base % U32, 0, VIRTIO_MMIO_SIZE],
        interrupts: ctx.irqCells(this.irqNumber),
        "interrupt-parent": [ctx.irqParent],
      },
    };
  }

  get deviceStatus(): number {
    return this.core.status;
  }

  read(offset: number, size: MmioSize): number {
    if (offset >= Reg.CONFIG) {
      const off = offset - Reg.CONFIG;
      return off + size <= this.device.configSize ? this.device.readConfig(off, size) >>> 0 : 0;
    }
    // §4.2.2.2: control registers are accessed 32 bits wide and aligned; anything else reads 0.
    if (size !== 4 || offset % 4 !== 0) return 0;
    const c = this.core;
    switch (offset) {
      case Reg.MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
      case Reg.VERSION:
        return VIRTIO_MMIO_VERSION;
      case Reg.DEVICE_ID:
        return this.device.deviceId;
      case Reg.VENDOR_ID:
        return CORRAL_VENDOR_ID;
      case Reg.DEVICE_FEATURES:
        return c.deviceFeaturesWord();
      case Reg.QUEUE_NUM_MAX:
        return this.device.queueMaxSizes[c.queueSel] ?? 0;
      case Reg.QUEUE_READY:
        return c.selected?.ready ? 1 : 0;
      case Reg.INTERRUPT_STATUS:
        return c.interruptStatus;
      case Reg.STATUS:
        return c.status;
      case Reg.SHM_LEN_LOW:
      case Reg.SHM_LEN_HIGH:
      case Reg.SHM_BASE_LOW:
      case Reg.SHM_BASE_HIGH:
        // No shared memory regions: a non-existent region reads as length -1 (§4.2.2).
        return 0xffffffff;
      case Reg.CONFIG_GENERATION:
        return c.configGeneration;
      default:
        return 0;
    }
  }

  write(offset: number, size: MmioSize, value: number): void {
    value >>>= 0;
    const c = this.core;
    if (offset >= Reg.CONFIG) {
      const off = offset - Reg.CONFIG;
      if (off + size <= this.device.configSize) c.guard(() => this.device.writeConfig(off, size, value));
      return;
    }
    if (size !== 4 || offset % 4 !== 0) return;
    const q = c.selected;
    // §4.2.2.3: queue layout registers are fixed while the queue is ready.
    const qw = c.writableQueue;
    switch (offset) {
      case Reg.DEVICE_FEATURES_SEL:
        c.deviceFeaturesSel = value;
        return;
      case Reg.DRIVER_FEATURES:
        c.writeDriverFeatures(value);
        return;
      case Reg.DRIVER_FEATURES_SEL:
        c.driverFeaturesSel = value;
        return;
      case Reg.QUEUE_SEL:
        c.queueSel = value;
        return;
      case Reg.QUEUE_NUM:
        if (qw) qw.num = value;
        return;
      case Reg.QUEUE_READY:
        if (q) c.setQueueReady(q, value === 1);
        return;
      case Reg.QUEUE_NOTIFY:
        c.notify(value & 0xffff);
        return;
      case Reg.INTERRUPT_ACK:
        c.setInterrupt(c.interruptStatus & ~value);
        return;
      case Reg.STATUS:
        c.writeStatus(value & 0xff);
        return;
      case Reg.QUEUE_DESC_LOW:
      case Reg.QUEUE_DESC_HIGH:
        if (qw) qw.desc[offset === Reg.QUEUE_DESC_LOW ? 0 : 1] = value;
        return;
      case Reg.QUEUE_DRIVER_LOW:
      case Reg.QUEUE_DRIVER_HIGH:
        if (qw) qw.driver[offset === Reg.QUEUE_DRIVER_LOW ? 0 : 1] = value;
        return;
      case Reg.QUEUE_DEVICE_LOW:
      case Reg.QUEUE_DEVICE_HIGH:
        if (qw) qw.device[offset === Reg.QUEUE_DEVICE_LOW ? 0 : 1] = value;
        return;
      default:
        // SHMSel, QueueReset (RING_RESET is not offered) and read-only registers: ignored.
        return;
    }
  }

  /** The transport's and the device's state (transport-core.ts); refused for a device that cannot save its own. */
  saveState(): SavedState {
    return this.core.saveState();
  }

  restoreState(s: SavedState): void {
    this.core.restoreState(s);
  }

  /** §2.4 device reset: back to the state after power-on. */
  reset(): void {
    this.core.reset();
  }

  close(): void {
    this.core.close();
  }
}
