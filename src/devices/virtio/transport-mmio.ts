/**
 * The virtio-mmio transport, version 2 ("modern", virtio 1.2 §4.2): the register window through
 * which a driver discovers a device, negotiates features, places its virtqueues and notifies them.
 * Generic over VirtioDevice; the device only sees queues, configuration space and notifications.
 */
import type { DtContext, DtNode, IrqLine, MmioDevice, MmioSize } from "../device.js";
import type { GuestMemory } from "../../machine/memory.js";
import type { VirtioDevice, VirtioDeviceContext } from "./device.js";
import { FeatureBit, Interrupt, Status, feature } from "./spec.js";
import { Virtqueue } from "./virtqueue.js";
import {
  SnapshotError,
  big,
  bool,
  corrupt,
  list,
  num,
  obj,
  type Json,
  type SavedState,
  type Snapshottable,
} from "../../snapshot/state.js";

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

/**
 * Features the transport itself implements for every device. VIRTIO_F_ACCESS_PLATFORM stays off:
 * guest addresses are guest-physical, no IOMMU (§6).
 */
export const TRANSPORT_FEATURES =
  feature(FeatureBit.VERSION_1) | feature(FeatureBit.RING_INDIRECT_DESC) | feature(FeatureBit.RING_EVENT_IDX);

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

interface QueueRegs {
  num: number;
  ready: boolean;
  desc: [number, number];
  driver: [number, number];
  device: [number, number];
  vq: Virtqueue | undefined;
}

const U32 = 0x1_0000_0000;
const hi32 = (v: bigint): number => Number((v >> 32n) & 0xffffffffn);
const lo32 = (v: bigint): number => Number(v & 0xffffffffn);

export class VirtioMmioTransport implements MmioDevice, Snapshottable {
  readonly size = VIRTIO_MMIO_SIZE;
  readonly name: string;
  private readonly device: VirtioDevice;
  private readonly mem: GuestMemory;
  private readonly irq: IrqLine;
  private readonly irqNumber: number;
  private readonly onError: (message: string) => void;
  private readonly offered: bigint;
  private status = 0;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private driverFeatures = 0n;
  private queueSel = 0;
  private interruptStatus = 0;
  private configGeneration = 0;
  private queues: QueueRegs[];
  /** Bumped by every reset, so a context from an earlier activation goes inert. */
  private epoch = 0;
  private active = false;
  /** Why DEVICE_NEEDS_RESET was last set (for tests and logs). */
  lastError: string | undefined;

  constructor(opts: VirtioMmioOptions) {
    this.device = opts.device;
    this.name = opts.device.name;
    this.mem = opts.memory;
    this.irq = opts.irq;
    this.irqNumber = opts.irqNumber;
    this.onError = opts.onError ?? (() => {});
    this.offered = opts.device.features | TRANSPORT_FEATURES;
    this.queues = this.freshQueues();
  }

  private freshQueues(): QueueRegs[] {
    return this.device.queueMaxSizes.map(() => ({
      num: 0,
      ready: false,
      desc: [0, 0],
      driver: [0, 0],
      device: [0, 0],
      vq: undefined,
    }));
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
    return this.status;
  }

  private get selected(): QueueRegs | undefined {
    return this.queues[this.queueSel];
  }

  read(offset: number, size: MmioSize): number {
    if (offset >= Reg.CONFIG) {
      const off = offset - Reg.CONFIG;
      return off + size <= this.device.configSize ? this.device.readConfig(off, size) >>> 0 : 0;
    }
    // §4.2.2.2: control registers are accessed 32 bits wide and aligned; anything else reads 0.
    if (size !== 4 || offset % 4 !== 0) return 0;
    const q = this.selected;
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
        return this.deviceFeaturesSel === 0
          ? lo32(this.offered)
          : this.deviceFeaturesSel === 1
            ? hi32(this.offered)
            : 0;
      case Reg.QUEUE_NUM_MAX:
        return this.device.queueMaxSizes[this.queueSel] ?? 0;
      case Reg.QUEUE_READY:
        return q?.ready ? 1 : 0;
      case Reg.INTERRUPT_STATUS:
        return this.interruptStatus;
      case Reg.STATUS:
        return this.status;
      case Reg.SHM_LEN_LOW:
      case Reg.SHM_LEN_HIGH:
      case Reg.SHM_BASE_LOW:
      case Reg.SHM_BASE_HIGH:
        // No shared memory regions: a non-existent region reads as length -1 (§4.2.2).
        return 0xffffffff;
      case Reg.CONFIG_GENERATION:
        return this.configGeneration;
      default:
        return 0;
    }
  }

  write(offset: number, size: MmioSize, value: number): void {
    value >>>= 0;
    if (offset >= Reg.CONFIG) {
      const off = offset - Reg.CONFIG;
      if (off + size <= this.device.configSize) this.guard(() => this.device.writeConfig(off, size, value));
      return;
    }
    if (size !== 4 || offset % 4 !== 0) return;
    const q = this.selected;
    // §4.2.2.3: queue layout registers are fixed while the queue is ready.
    const qw = q !== undefined && !q.ready ? q : undefined;
    switch (offset) {
      case Reg.DEVICE_FEATURES_SEL:
        this.deviceFeaturesSel = value;
        return;
      case Reg.DRIVER_FEATURES:
        this.writeDriverFeatures(value);
        return;
      case Reg.DRIVER_FEATURES_SEL:
        this.driverFeaturesSel = value;
        return;
      case Reg.QUEUE_SEL:
        this.queueSel = value;
        return;
      case Reg.QUEUE_NUM:
        if (qw) qw.num = value;
        return;
      case Reg.QUEUE_READY:
        if (q) this.setQueueReady(q, value === 1);
        return;
      case Reg.QUEUE_NOTIFY:
        this.notify(value & 0xffff);
        return;
      case Reg.INTERRUPT_ACK:
        this.setInterrupt(this.interruptStatus & ~value);
        return;
      case Reg.STATUS:
        this.writeStatus(value & 0xff);
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

  private writeDriverFeatures(value: number): void {
    // §3.1.1: features are fixed once FEATURES_OK is set.
    if (this.status & Status.FEATURES_OK) return;
    if (this.driverFeaturesSel === 0) this.driverFeatures = (this.driverFeatures & ~0xffffffffn) | BigInt(value);
    else if (this.driverFeaturesSel === 1)
      this.driverFeatures = (this.driverFeatures & 0xffffffffn) | (BigInt(value) << 32n);
  }

  private writeStatus(value: number): void {
    if (value === 0) {
      this.reset();
      return;
    }
    // DEVICE_NEEDS_RESET is the device's bit; the driver never clears bits except by reset (§2.1).
    let next = this.status | (value & ~Status.DEVICE_NEEDS_RESET);
    if (next & Status.FEATURES_OK && !(this.status & Status.FEATURES_OK)) {
      // §3.1.1 step 5-6: refuse a feature set we did not offer or one without VERSION_1 by
      // leaving FEATURES_OK clear; the driver reads it back and gives up.
      const unknown = this.driverFeatures & ~this.offered;
      if (unknown !== 0n || !(this.driverFeatures & feature(FeatureBit.VERSION_1))) next &= ~Status.FEATURES_OK;
    }
    const wasOk = (this.status & Status.DRIVER_OK) !== 0;
    this.status = next;
    if (!wasOk && next & Status.DRIVER_OK && next & Status.FEATURES_OK) this.activate();
  }

  private setQueueReady(q: QueueRegs, ready: boolean): void {
    if (!ready) {
      q.ready = false;
      q.vq = undefined;
      return;
    }
    if (q.ready) return;
    const join = (p: [number, number]): number => p[1] * U32 + p[0];
    const maxSize = this.device.queueMaxSizes[this.queueSel] ?? 0;
    const cfg = {
      size: q.num,
      descAddr: join(q.desc),
      driverAddr: join(q.driver),
      deviceAddr: join(q.device),
      eventIdx: (this.driverFeatures & feature(FeatureBit.RING_EVENT_IDX)) !== 0n,
      indirect: (this.driverFeatures & feature(FeatureBit.RING_INDIRECT_DESC)) !== 0n,
    };
    const vq = Virtqueue.create(this.mem, cfg, maxSize);
    if (typeof vq === "string") {
      this.needsReset(`queue ${this.queueSel}: ${vq}`);
      return;
    }
    const index = this.queueSel;
    vq.onBroken = (reason) => this.needsReset(`queue ${index}: ${reason}`);
    q.vq = vq;
    q.ready = true;
  }

  /**
   * The registers (status, features, queue addresses, interrupt status, config generation), each
   * queue's ring indices (virtqueue.ts) and the device's own state. Refused for a device that
   * cannot save its state (its host side is a connection that cannot be carried over).
   */
  saveState(): SavedState {
    const dev = this.device;
    if (!dev.saveState)
      throw new SnapshotError(
        "SNAPSHOT_UNSUPPORTED",
        `device ${this.name} (virtio device type ${dev.deviceId}) cannot be saved in a snapshot yet: start the VM without it to snapshot it`,
      );
    return {
      status: this.status,
      deviceFeaturesSel: this.deviceFeaturesSel,
      driverFeaturesSel: this.driverFeaturesSel,
      driverFeatures: String(this.driverFeatures),
      queueSel: this.queueSel,
      interruptStatus: this.interruptStatus,
      configGeneration: this.configGeneration,
      active: this.active,
      queues: this.queues.map((q) => ({
        num: q.num,
        ready: q.ready,
        desc: [...q.desc],
        driver: [...q.driver],
        device: [...q.device],
        vq: q.vq ? q.vq.saveState() : null,
      })),
      device: dev.saveState(),
    };
  }

  restoreState(s: SavedState): void {
    const dev = this.device;
    if (!dev.restoreState) throw corrupt(`device ${this.name} cannot be restored`);
    this.status = num(s, "status");
    this.deviceFeaturesSel = num(s, "deviceFeaturesSel");
    this.driverFeaturesSel = num(s, "driverFeaturesSel");
    this.driverFeatures = big(s, "driverFeatures");
    this.queueSel = num(s, "queueSel");
    this.interruptStatus = num(s, "interruptStatus");
    this.configGeneration = num(s, "configGeneration");
    const qs = list(s, "queues");
    if (qs.length !== this.queues.length)
      throw corrupt(`${this.name} has ${qs.length} queues, not ${this.queues.length}`);
    const pair = (q: SavedState, k: string): [number, number] => {
      const v = list(q, k);
      if (v.length !== 2 || typeof v[0] !== "number" || typeof v[1] !== "number") throw corrupt(`${this.name} ${k}`);
      return [v[0], v[1]];
    };
    this.queues = qs.map((j: Json, i) => {
      if (typeof j !== "object" || j === null || Array.isArray(j)) throw corrupt(`${this.name} queue ${i}`);
      const q = j as SavedState;
      const regs: QueueRegs = {
        num: num(q, "num"),
        ready: false,
        desc: pair(q, "desc"),
        driver: pair(q, "driver"),
        device: pair(q, "device"),
        vq: undefined,
      };
      if (bool(q, "ready")) {
        const sel = this.queueSel;
        this.queueSel = i;
        this.setQueueReady(regs, true);
        this.queueSel = sel;
        if (!regs.vq) throw corrupt(`${this.name} queue ${i} does not fit guest RAM`);
        const v = obj(q, "vq");
        const broken = v["broken"];
        regs.vq.restoreState({
          lastAvail: num(v, "lastAvail"),
          usedIdx: num(v, "usedIdx"),
          signalledUsed: num(v, "signalledUsed"),
          broken: typeof broken === "string" ? broken : null,
        });
      }
      return regs;
    });
    this.active = bool(s, "active");
    dev.restoreState(obj(s, "device"), this.active ? this.context() : undefined);
  }

  /** The context a device uses from DRIVER_OK until the next reset. */
  private context(): VirtioDeviceContext {
    const epoch = this.epoch;
    const live = (): boolean => epoch === this.epoch;
    const ctx: VirtioDeviceContext = {
      memory: this.mem,
      features: this.driverFeatures,
      queue: (i) => (live() ? this.queues[i]?.vq : undefined),
      signalUsed: (i) => {
        if (live() && this.queues[i]?.vq?.needsInterrupt())
          this.setInterrupt(this.interruptStatus | Interrupt.USED_BUFFER);
      },
      configChanged: () => {
        if (!live()) return;
        this.configGeneration = (this.configGeneration + 1) >>> 0;
        this.setInterrupt(this.interruptStatus | Interrupt.CONFIG_CHANGE);
      },
      needsReset: (reason) => {
        if (live()) this.needsReset(reason);
      },
    };
    return ctx;
  }

  private activate(): void {
    const ctx = this.context();
    this.active = true;
    this.guard(() => this.device.activate(ctx));
  }

  private notify(index: number): void {
    const q = this.queues[index];
    if (!this.active || this.status & Status.DEVICE_NEEDS_RESET || !q?.ready) return;
    this.guard(() => this.device.notify(index));
  }

  /** Run device code; a throw (a device bug, never guest data) becomes DEVICE_NEEDS_RESET. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.needsReset(`device error: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** §2.1.2: the device entered an error state; tell the driver with a configuration interrupt. */
  private needsReset(reason: string): void {
    this.lastError = reason;
    this.onError(`${this.name}: ${reason}`);
    if (this.status & Status.DEVICE_NEEDS_RESET) return;
    this.status |= Status.DEVICE_NEEDS_RESET;
    this.setInterrupt(this.interruptStatus | Interrupt.CONFIG_CHANGE);
  }

  private setInterrupt(value: number): void {
    const was = this.interruptStatus;
    this.interruptStatus = value & (Interrupt.USED_BUFFER | Interrupt.CONFIG_CHANGE);
    if ((was !== 0) !== (this.interruptStatus !== 0)) this.irq.set(this.interruptStatus !== 0);
  }

  /** §2.4 device reset: back to the state after power-on. */
  reset(): void {
    this.epoch++;
    this.active = false;
    this.status = 0;
    this.driverFeatures = 0n;
    this.deviceFeaturesSel = 0;
    this.driverFeaturesSel = 0;
    this.queueSel = 0;
    this.queues = this.freshQueues();
    this.setInterrupt(0);
    this.guard(() => this.device.reset());
    // A throw from device.reset() sets NEEDS_RESET; that would be wrong right after a reset.
    this.status &= ~Status.DEVICE_NEEDS_RESET;
  }

  close(): void {
    this.device.close();
  }
}
