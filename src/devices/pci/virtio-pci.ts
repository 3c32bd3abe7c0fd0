/**
 * The virtio PCI transport (virtio 1.2 §4.1), modern only: a PCI function with vendor 0x1af4 and
 * device 0x1040 + the virtio type, whose vendor-specific capabilities point into BAR 4 at the
 * common configuration, the notification area, the ISR status and the device configuration, plus
 * the PCI configuration access capability (§4.1.4.9). MSI-X (BAR 1) gives each queue and the
 * configuration its own vector; without it (Linux on a board with no MSI controller) the
 * function interrupts on INTA# and the driver reads the ISR status.
 *
 * The layout follows QEMU's virtio-pci so a guest sees the same: BAR 1 the MSI-X table at 0 and
 * PBA at 0x800, BAR 4 (64-bit, prefetchable, 16 KiB) common 0x0000, ISR 0x1000, device 0x2000,
 * notify 0x3000 with a multiplier of 4. Everything else (status, features, queues, interrupt
 * status, snapshots) is transport-core.ts, shared with virtio-mmio.
 */
import type { MmioSize } from "../device.js";
import type { GuestMemory } from "../../machine/memory.js";
import type { VirtioDevice } from "../virtio/device.js";
import { DeviceId } from "../virtio/spec.js";
import { VirtioCore, type VirtioInterrupt } from "../virtio/transport-core.js";
import { PciFunction, type BarRegion } from "./function.js";
import { Msix, type MsiSend } from "./msix.js";
import {
  CapId,
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_PCI_CAP,
  VIRTIO_PCI_CFG_CAP_SIZE,
  VIRTIO_PCI_COMMON,
  VIRTIO_PCI_DEVICE_BASE,
  VIRTIO_PCI_NOTIFY_CAP_SIZE,
  VIRTIO_PCI_VENDOR,
  VirtioPciCap,
} from "./layout.js";

const MSIX_BAR = 1;
const MSIX_PBA = 0x800;
const MODERN_BAR = 4;
const REGION = 0x1000;
const COMMON_AT = 0x0000;
const ISR_AT = 0x1000;
const DEVICE_AT = 0x2000;
const NOTIFY_AT = 0x3000;
/** §4.1.4.4: queue i's notify address is NOTIFY_AT + i * multiplier. */
const NOTIFY_MULTIPLIER = 4;

/** Class codes QEMU gives each device (include/hw/pci/pci_ids.h), so lspci names them the same. */
const CLASS_OF: Readonly<Record<number, number>> = {
  [DeviceId.NET]: 0x020000, // network, Ethernet
  [DeviceId.BLOCK]: 0x010000, // mass storage, SCSI
  [DeviceId.CONSOLE]: 0x078000, // communication, other
  [DeviceId.ENTROPY]: 0x00ff00, // PCI_CLASS_OTHERS (base class 0, subclass 0xff)
  [DeviceId.BALLOON]: 0x00ff00,
  [DeviceId.SOCKET]: 0x078000,
  [DeviceId.FS]: 0x018000, // mass storage, other
};

export interface VirtioPciOptions {
  device: VirtioDevice;
  memory: GuestMemory;
  /** Where MSI-X messages go (the root complex's write into the system bus). */
  msi: MsiSend;
  onError?: (message: string) => void;
  /** An SR-IOV virtual function: where its BARs decode (sriov.ts); no INTx pin (PCIe §9.3.4.1.14). */
  virtualFunction?: { barBase(index: number): number | undefined };
}

/** The BARs every virtio-pci function has, which an SR-IOV PF's VF BARn repeat (sriov.ts). */
export const VIRTIO_PCI_BARS = [
  { index: MSIX_BAR, kind: "mem32", size: 0x1000 },
  { index: MODERN_BAR, kind: "mem64", size: 4 * REGION, prefetchable: true },
] as const;

const F = VIRTIO_PCI_COMMON.fields;

export class VirtioPciFunction {
  readonly name: string;
  readonly fn: PciFunction;
  readonly core: VirtioCore;
  readonly msix: Msix;
  private readonly device: VirtioDevice;
  private configVector = VIRTIO_MSI_NO_VECTOR;
  private queueVectors: number[];
  private readonly common = new DataView(new ArrayBuffer(VIRTIO_PCI_COMMON.size + 4));

  constructor(o: VirtioPciOptions) {
    const dev = o.device;
    this.device = dev;
    this.name = dev.name;
    this.fn = new PciFunction(dev.name, {
      vendorId: VIRTIO_PCI_VENDOR,
      deviceId: VIRTIO_PCI_DEVICE_BASE + dev.deviceId,
      classCode: CLASS_OF[dev.deviceId] ?? 0x00ff00,
      // §4.1.2.1: non-transitional devices have revision 1 or higher.
      revisionId: 1,
      subsystemVendorId: VIRTIO_PCI_VENDOR,
      subsystemId: 0x1100,
      interruptPin: o.virtualFunction ? 0 : 1,
      ...(o.virtualFunction ? { virtualFunction: o.virtualFunction } : {}),
    });
    this.queueVectors = dev.queueMaxSizes.map(() => VIRTIO_MSI_NO_VECTOR);
    this.core = new VirtioCore({
      device: dev,
      memory: o.memory,
      level: (high) => this.fn.setIntx(high),
      message: (why) => this.message(why),
      onError: o.onError,
      // §4.1.4.3: queue_size reads the maximum until the driver writes a smaller one.
      initialQueueSize: (max) => max,
    });
    this.msix = new Msix(this.fn, {
      vectors: dev.queueMaxSizes.length + 1,
      bar: MSIX_BAR,
      pbaOffset: MSIX_PBA,
      send: o.msi,
    });
    const [msixBar, modernBar] = VIRTIO_PCI_BARS;
    this.fn.setBar(MSIX_BAR, { ...msixBar, region: this.msix });
    this.fn.setBar(MODERN_BAR, { ...modernBar, region: this.modernRegion() });
    this.addCap(VirtioPciCap.COMMON, COMMON_AT, VIRTIO_PCI_COMMON.size);
    this.addCap(VirtioPciCap.ISR, ISR_AT, 1);
    this.addCap(VirtioPciCap.DEVICE, DEVICE_AT, Math.max(dev.configSize, 4));
    const notify = this.addCap(
      VirtioPciCap.NOTIFY,
      NOTIFY_AT,
      dev.queueMaxSizes.length * NOTIFY_MULTIPLIER,
      VIRTIO_PCI_NOTIFY_CAP_SIZE,
    );
    this.fn.raw.setUint32(notify + VIRTIO_PCI_CAP.size, NOTIFY_MULTIPLIER, true);
    this.addCfgAccessCap();
  }

  private addCap(type: number, offset: number, length: number, capLen = VIRTIO_PCI_CAP.size): number {
    const at = this.fn.addCapability(CapId.VENDOR, capLen);
    const v = this.fn.raw;
    const c = VIRTIO_PCI_CAP.fields;
    v.setUint8(at + c.capLen.offset, capLen);
    v.setUint8(at + c.cfgType.offset, type);
    v.setUint8(at + c.bar.offset, MODERN_BAR);
    v.setUint32(at + c.offset.offset, offset, true);
    v.setUint32(at + c.length.offset, length, true);
    return at;
  }

  /**
   * §4.1.4.9 VIRTIO_PCI_CAP_PCI_CFG: a window through configuration space onto a BAR. The driver
   * writes bar, offset and length into the capability, then reads or writes pci_cfg_data.
   */
  private addCfgAccessCap(): void {
    const at = this.addCap(VirtioPciCap.PCI_CFG, 0, 0, VIRTIO_PCI_CFG_CAP_SIZE);
    const c = VIRTIO_PCI_CAP.fields;
    this.fn.makeWritable(at + c.bar.offset, 0xff);
    for (let i = 0; i < 4; i++) {
      this.fn.makeWritable(at + c.offset.offset + i, 0xff);
      this.fn.makeWritable(at + c.length.offset + i, 0xff);
    }
    const data = at + VIRTIO_PCI_CAP.size;
    const target = (): { region: BarRegion; offset: number; size: MmioSize } | undefined => {
      const v = this.fn.raw;
      const bar = v.getUint8(at + c.bar.offset);
      const offset = v.getUint32(at + c.offset.offset, true);
      const len = v.getUint32(at + c.length.offset, true);
      if (len !== 1 && len !== 2 && len !== 4) return undefined;
      if (offset % len !== 0) return undefined;
      if (bar === MODERN_BAR && offset + len <= 4 * REGION) return { region: this.modernRegion(), offset, size: len };
      if (bar === MSIX_BAR && offset + len <= 0x1000) return { region: this.msix, offset, size: len };
      return undefined;
    };
    this.fn.hookRead(data, 4, () => {
      const t = target();
      return t ? t.region.read(t.offset, t.size) : 0;
    });
    for (let i = 0; i < 4; i++) this.fn.makeWritable(data + i, 0xff);
    this.fn.hook(data, 4, () => {
      const t = target();
      if (t) t.region.write(t.offset, t.size, this.fn.raw.getUint32(data, true));
    });
  }

  private message(why: VirtioInterrupt): boolean {
    if (!this.msix.enabled) return false;
    const vector = why.kind === "used" ? (this.queueVectors[why.queue] ?? VIRTIO_MSI_NO_VECTOR) : this.configVector;
    // §4.1.5.1.2: with MSI-X on and NO_VECTOR, that event interrupts nobody.
    if (vector !== VIRTIO_MSI_NO_VECTOR) this.msix.signal(vector);
    return true;
  }

  private modernRegionCache: BarRegion | undefined;

  /** BAR 4: the four structures, one 4 KiB page each. */
  private modernRegion(): BarRegion {
    this.modernRegionCache ??= {
      read: (offset, size) => {
        const at = offset & (REGION - 1);
        switch (offset - at) {
          case COMMON_AT:
            return this.readCommon(at, size);
          case ISR_AT:
            return at === 0 ? this.readIsr() : 0;
          case DEVICE_AT:
            return at + size <= this.device.configSize ? this.device.readConfig(at, size) >>> 0 : 0;
          default:
            return 0;
        }
      },
      write: (offset, size, value) => {
        const at = offset & (REGION - 1);
        switch (offset - at) {
          case COMMON_AT:
            this.writeCommon(at, size, value >>> 0);
            return;
          case DEVICE_AT:
            if (at + size <= this.device.configSize)
              this.core.guard(() => this.device.writeConfig(at, size, value >>> 0));
            return;
          case NOTIFY_AT:
            // §4.1.5.2: the queue index is in the address (queue_notify_off = index). A function
            // without Bus Master Enable may not touch guest memory (PCI 3.0 §6.2.2): ignored.
            if (at % NOTIFY_MULTIPLIER === 0 && this.fn.busMaster) this.core.notify(at / NOTIFY_MULTIPLIER);
            return;
          default:
            return; // the ISR status is read-only
        }
      },
    };
    return this.modernRegionCache;
  }

  /** §4.1.4.5: reading the ISR status clears it and deasserts INTx. */
  private readIsr(): number {
    const v = this.core.interruptStatus;
    this.core.setInterrupt(0);
    return v;
  }

  /** The common configuration as bytes, then the `size` bytes at `at` (any naturally aligned access). */
  private readCommon(at: number, size: MmioSize): number {
    if (at % size !== 0 || at + size > VIRTIO_PCI_COMMON.size) return 0;
    const c = this.core;
    const v = this.common;
    const q = c.selected;
    const sel = c.queueSel;
    v.setUint32(F.deviceFeatureSelect.offset, c.deviceFeaturesSel, true);
    v.setUint32(F.deviceFeature.offset, c.deviceFeaturesWord(), true);
    v.setUint32(F.driverFeatureSelect.offset, c.driverFeaturesSel, true);
    v.setUint32(F.driverFeature.offset, c.driverFeaturesWord(), true);
    v.setUint16(F.configMsixVector.offset, this.configVector, true);
    v.setUint16(F.numQueues.offset, c.queues.length, true);
    v.setUint8(F.deviceStatus.offset, c.status);
    v.setUint8(F.configGeneration.offset, c.configGeneration & 0xff);
    v.setUint16(F.queueSelect.offset, sel, true);
    v.setUint16(F.queueSize.offset, q ? q.num : 0, true);
    v.setUint16(
      F.queueMsixVector.offset,
      q ? (this.queueVectors[sel] ?? VIRTIO_MSI_NO_VECTOR) : VIRTIO_MSI_NO_VECTOR,
      true,
    );
    v.setUint16(F.queueEnable.offset, q?.ready ? 1 : 0, true);
    v.setUint16(F.queueNotifyOff.offset, q ? sel : 0, true);
    const pair = (f: { offset: number }, p: [number, number] | undefined): void => {
      v.setUint32(f.offset, p ? p[0] : 0, true);
      v.setUint32(f.offset + 4, p ? p[1] : 0, true);
    };
    pair(F.queueDesc, q?.desc);
    pair(F.queueDriver, q?.driver);
    pair(F.queueDevice, q?.device);
    v.setUint16(F.queueNotifConfigData.offset, q ? sel : 0, true);
    v.setUint16(F.queueReset.offset, 0, true);
    return size === 1 ? v.getUint8(at) : size === 2 ? v.getUint16(at, true) : v.getUint32(at, true);
  }

  /**
   * A write to the common configuration: only a field at its own width (or a 64-bit field's
   * halves) does anything (§4.1.3.1: drivers access fields at their width); the rest is ignored.
   */
  private writeCommon(at: number, size: MmioSize, value: number): void {
    const c = this.core;
    const q = c.selected;
    const is = (f: { offset: number; size: number }): boolean => at === f.offset && size === f.size;
    const half = (f: { offset: number }): 0 | 1 | undefined =>
      size === 4 && (at === f.offset || at === f.offset + 4) ? (at === f.offset ? 0 : 1) : undefined;
    if (is(F.deviceFeatureSelect)) c.deviceFeaturesSel = value;
    else if (is(F.driverFeatureSelect)) c.driverFeaturesSel = value;
    else if (is(F.driverFeature)) c.writeDriverFeatures(value);
    else if (is(F.configMsixVector)) this.configVector = this.mapVector(value);
    else if (is(F.deviceStatus)) {
      c.writeStatus(value & 0xff);
      if ((value & 0xff) === 0) this.resetVectors();
    } else if (is(F.queueSelect)) c.queueSel = value;
    else if (!q) return;
    else if (is(F.queueSize)) {
      // §4.1.4.3.2: a size the device cannot take is the driver's error; the ring's check refuses it.
      const w = c.writableQueue;
      if (w) w.num = value;
    } else if (is(F.queueMsixVector)) this.queueVectors[c.queueSel] = this.mapVector(value);
    else if (is(F.queueEnable)) {
      // §4.1.4.3.2: the driver never writes 0 here (queue_reset does that, not offered).
      if (value === 1) c.setQueueReady(q, true);
    } else {
      const w = c.writableQueue;
      if (!w) return;
      const d = half(F.queueDesc);
      const r = half(F.queueDriver);
      const u = half(F.queueDevice);
      if (d !== undefined) w.desc[d] = value;
      else if (r !== undefined) w.driver[r] = value;
      else if (u !== undefined) w.device[u] = value;
    }
  }

  /** §4.1.5.1.2: a vector beyond the MSI-X table cannot be mapped: it reads back NO_VECTOR. */
  private mapVector(v: number): number {
    return v < this.msix.vectors ? v : VIRTIO_MSI_NO_VECTOR;
  }

  private resetVectors(): void {
    this.configVector = VIRTIO_MSI_NO_VECTOR;
    this.queueVectors = this.queueVectors.map(() => VIRTIO_MSI_NO_VECTOR);
  }

  close(): void {
    this.core.close();
  }
}
