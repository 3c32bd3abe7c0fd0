/**
 * What every virtio transport shares (virtio 1.2 §2 and §3): device status, feature negotiation,
 * the virtqueues' configuration and activation, interrupt status and the device's context. A
 * transport (transport-mmio.ts §4.2, pci/virtio-pci.ts §4.1) only decodes its registers onto
 * this one model, so every device works over every transport unchanged.
 */
import type { GuestMemory } from "../../machine/memory.js";
import type { VirtioDevice, VirtioDeviceContext } from "./device.js";
import { FeatureBit, Interrupt, Status, feature } from "./spec.js";
import { Virtqueue } from "./virtqueue.js";
import { SnapshotError, big, bool, corrupt, list, num, obj, type Json, type SavedState } from "../../snapshot/state.js";

/**
 * Features the transport itself implements for every device. VIRTIO_F_ACCESS_PLATFORM stays off:
 * guest addresses are guest-physical, no IOMMU (§6).
 */
export const TRANSPORT_FEATURES =
  feature(FeatureBit.VERSION_1) | feature(FeatureBit.RING_INDIRECT_DESC) | feature(FeatureBit.RING_EVENT_IDX);

export interface QueueRegs {
  num: number;
  ready: boolean;
  desc: [number, number];
  driver: [number, number];
  device: [number, number];
  vq: Virtqueue | undefined;
}

/** Why the device interrupts: a used buffer on queue `queue`, or a configuration change. */
export type VirtioInterrupt = { kind: "used"; queue: number } | { kind: "config" };

export interface VirtioCoreOptions {
  device: VirtioDevice;
  memory: GuestMemory;
  /**
   * Deliver an interrupt another way than the interrupt status (virtio-pci's MSI-X vectors,
   * §4.1.5.1.2); true when delivered, else the status bit is set and `level` follows it.
   */
  message?: (why: VirtioInterrupt) => boolean;
  /** The level of the wired interrupt: high while the interrupt status is not 0. */
  level: (high: boolean) => void;
  onError?: ((message: string) => void) | undefined;
  /** Queue size before the driver writes one (virtio-pci: the maximum, §4.1.4.3; mmio: 0). */
  initialQueueSize?: (max: number) => number;
}

const U32 = 0x1_0000_0000;

export class VirtioCore {
  readonly device: VirtioDevice;
  readonly name: string;
  readonly offered: bigint;
  private readonly mem: GuestMemory;
  private readonly message: (why: VirtioInterrupt) => boolean;
  private readonly level: (high: boolean) => void;
  private readonly onError: (message: string) => void;
  private readonly initialQueueSize: (max: number) => number;
  status = 0;
  deviceFeaturesSel = 0;
  driverFeaturesSel = 0;
  driverFeatures = 0n;
  queueSel = 0;
  interruptStatus = 0;
  configGeneration = 0;
  queues: QueueRegs[];
  /** Bumped by every reset, so a context from an earlier activation goes inert. */
  private epoch = 0;
  private active = false;
  /** Why DEVICE_NEEDS_RESET was last set (for tests and logs). */
  lastError: string | undefined;

  constructor(o: VirtioCoreOptions) {
    this.device = o.device;
    this.name = o.device.name;
    this.mem = o.memory;
    this.message = o.message ?? (() => false);
    this.level = o.level;
    this.onError = o.onError ?? (() => {});
    this.initialQueueSize = o.initialQueueSize ?? (() => 0);
    this.offered = o.device.features | TRANSPORT_FEATURES;
    this.queues = this.freshQueues();
  }

  private freshQueues(): QueueRegs[] {
    return this.device.queueMaxSizes.map((max) => ({
      num: this.initialQueueSize(max),
      ready: false,
      desc: [0, 0],
      driver: [0, 0],
      device: [0, 0],
      vq: undefined,
    }));
  }

  get selected(): QueueRegs | undefined {
    return this.queues[this.queueSel];
  }

  /** The selected 32 bits of the offered features (DeviceFeaturesSel). */
  deviceFeaturesWord(): number {
    const sel = this.deviceFeaturesSel;
    return sel > 1 ? 0 : Number((this.offered >> BigInt(32 * sel)) & 0xffffffffn);
  }

  /** The selected 32 bits of the driver's features, as last written. */
  driverFeaturesWord(): number {
    const sel = this.driverFeaturesSel;
    return sel > 1 ? 0 : Number((this.driverFeatures >> BigInt(32 * sel)) & 0xffffffffn);
  }

  writeDriverFeatures(value: number): void {
    // §3.1.1: features are fixed once FEATURES_OK is set.
    if (this.status & Status.FEATURES_OK) return;
    if (this.driverFeaturesSel === 0) this.driverFeatures = (this.driverFeatures & ~0xffffffffn) | BigInt(value >>> 0);
    else if (this.driverFeaturesSel === 1)
      this.driverFeatures = (this.driverFeatures & 0xffffffffn) | (BigInt(value >>> 0) << 32n);
  }

  writeStatus(value: number): void {
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

  /** The selected queue's layout registers, writable only while it is not ready (§4.2.2.3, §4.1.4.3.2). */
  get writableQueue(): QueueRegs | undefined {
    const q = this.selected;
    return q !== undefined && !q.ready ? q : undefined;
  }

  setQueueReady(q: QueueRegs, ready: boolean, index = this.queueSel): void {
    if (!ready) {
      q.ready = false;
      q.vq = undefined;
      return;
    }
    if (q.ready) return;
    const join = (p: [number, number]): number => p[1] * U32 + p[0];
    const maxSize = this.device.queueMaxSizes[index] ?? 0;
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
      this.needsReset(`queue ${index}: ${vq}`);
      return;
    }
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
        this.setQueueReady(regs, true, i);
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
        if (live() && this.queues[i]?.vq?.needsInterrupt()) this.interrupt({ kind: "used", queue: i });
      },
      configChanged: () => {
        if (!live()) return;
        this.configGeneration = (this.configGeneration + 1) >>> 0;
        this.interrupt({ kind: "config" });
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

  notify(index: number): void {
    const q = this.queues[index];
    if (!this.active || this.status & Status.DEVICE_NEEDS_RESET || !q?.ready) return;
    this.guard(() => this.device.notify(index));
  }

  /** Run device code; a throw (a device bug, never guest data) becomes DEVICE_NEEDS_RESET. */
  guard(fn: () => void): void {
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
    this.interrupt({ kind: "config" });
  }

  private interrupt(why: VirtioInterrupt): void {
    if (this.message(why)) return;
    this.setInterrupt(this.interruptStatus | (why.kind === "used" ? Interrupt.USED_BUFFER : Interrupt.CONFIG_CHANGE));
  }

  /** Set the interrupt status (an acknowledgement clears bits); the wired level follows it. */
  setInterrupt(value: number): void {
    const was = this.interruptStatus;
    this.interruptStatus = value & (Interrupt.USED_BUFFER | Interrupt.CONFIG_CHANGE);
    if ((was !== 0) !== (this.interruptStatus !== 0)) this.level(this.interruptStatus !== 0);
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
