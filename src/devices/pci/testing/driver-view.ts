/**
 * A guest's view of one virtio-pci function, for tests: it enumerates the function through ECAM
 * as Linux's PCI core and virtio_pci_modern_dev.c do (size and place the BARs, enable memory and
 * bus mastering, walk the capability list to the virtio structures), then offers the result
 * under virtio-mmio's register offsets, so the mock driver (virtio/testing/mock-driver.ts) and
 * the fuzz suite every device runs (virtio/testing/fuzz.ts) drive the PCI transport unchanged.
 * Every access goes through the bridge's ECAM and memory windows, as the guest's do.
 */
import type { IrqLine, MmioDevice, MmioSize } from "../../device.js";
import type { GuestRam } from "../../../machine/memory.js";
import type { VirtioDevice } from "../../virtio/device.js";
import { Reg } from "../../virtio/transport-mmio.js";
import { PCIE_MEMMAP, PciHostBridge } from "../host-bridge.js";
import { CapId, Command, VIRTIO_PCI_COMMON, VIRTIO_PCI_CAP, VirtioPciCap } from "../layout.js";
import { VirtioPciFunction } from "../virtio-pci.js";
import type { MsiSend } from "../msix.js";

const C = VIRTIO_PCI_COMMON.fields;
const DEV = 1;
const cfg = (reg: number): number => (DEV << 15) | reg;

export class PciDriverView implements MmioDevice {
  readonly name: string;
  readonly size = 0x1000;
  readonly bridge: PciHostBridge;
  readonly fn: VirtioPciFunction;
  /** Where each virtio structure is, as a CPU address. */
  readonly at: Record<"common" | "notify" | "isr" | "device", number> = { common: 0, notify: 0, isr: 0, device: 0 };
  notifyMultiplier = 0;
  private isr = 0;

  constructor(device: VirtioDevice, memory: GuestRam, irq: IrqLine, msi: MsiSend = () => {}) {
    this.name = device.name;
    this.bridge = new PciHostBridge({ intx: [irq, irq, irq, irq], ramEnd: memory.base + memory.size });
    this.fn = new VirtioPciFunction({ device, memory, msi });
    this.bridge.attach(DEV, 0, this.fn.fn);
    const e = this.bridge.ecam;
    // Place every BAR: 32-bit ones in the low window, 64-bit ones in the high one.
    const bars: number[] = [];
    let low = PCIE_MEMMAP.mmio.base;
    let high = this.bridge.mmioHigh.busBase;
    for (let i = 0; i < 6; i++) {
      const reg = 0x10 + 4 * i;
      e.write(cfg(reg), 4, 0xffffffff);
      const v = e.read(cfg(reg), 4);
      if (v === 0) continue;
      const is64 = (v & 6) === 4;
      const size = (~(v & ~0xf) >>> 0) + 1;
      if (is64) {
        e.write(cfg(reg), 4, high % 2 ** 32);
        e.write(cfg(reg + 4), 4, Math.floor(high / 2 ** 32));
        bars[i] = high;
        high += size;
        i++;
      } else {
        e.write(cfg(reg), 4, low);
        bars[i] = low;
        low += size;
      }
    }
    e.write(cfg(4), 2, Command.MEMORY | Command.BUS_MASTER);
    for (let p = e.read(cfg(0x34), 1); p !== 0; p = e.read(cfg(p + 1), 1)) {
      if (e.read(cfg(p), 1) !== CapId.VENDOR) continue;
      const type = e.read(cfg(p + VIRTIO_PCI_CAP.fields.cfgType.offset), 1);
      const addr = (bars[e.read(cfg(p + VIRTIO_PCI_CAP.fields.bar.offset), 1)] ?? 0) + e.read(cfg(p + 8), 4);
      if (type === VirtioPciCap.COMMON) this.at.common = addr;
      else if (type === VirtioPciCap.ISR) this.at.isr = addr;
      else if (type === VirtioPciCap.DEVICE) this.at.device = addr;
      else if (type === VirtioPciCap.NOTIFY) {
        this.at.notify = addr;
        this.notifyMultiplier = e.read(cfg(p + VIRTIO_PCI_CAP.size), 4);
      }
    }
  }

  /** A CPU access at `addr`, through whichever window holds it. */
  private bus(addr: number): { dev: MmioDevice; off: number } {
    for (const [base, w] of this.bridge.windows)
      if (addr >= base && addr < base + w.size) return { dev: w, off: addr - base };
    throw new RangeError(`0x${addr.toString(16)} is in no window`);
  }
  load(addr: number, size: MmioSize): number {
    const b = this.bus(addr);
    return b.dev.read(b.off, size);
  }
  store(addr: number, size: MmioSize, v: number): void {
    const b = this.bus(addr);
    b.dev.write(b.off, size, v);
  }

  read(offset: number, size: MmioSize): number {
    const c = this.at.common;
    if (offset >= Reg.CONFIG) return this.load(this.at.device + offset - Reg.CONFIG, size);
    switch (offset) {
      case Reg.MAGIC_VALUE:
        return 0x74726976;
      case Reg.VERSION:
        return 2;
      case Reg.DEVICE_ID:
        return this.bridge.ecam.read(cfg(2), 2) - 0x1040;
      case Reg.DEVICE_FEATURES:
        return this.load(c + C.deviceFeature.offset, 4);
      case Reg.QUEUE_NUM_MAX:
        return this.load(c + C.queueSize.offset, 2);
      case Reg.QUEUE_READY:
        return this.load(c + C.queueEnable.offset, 2);
      case Reg.INTERRUPT_STATUS:
        // The ISR status clears on read (§4.1.4.5); keep it until the mock driver acknowledges.
        this.isr |= this.load(this.at.isr, 1);
        return this.isr;
      case Reg.STATUS:
        return this.load(c + C.deviceStatus.offset, 1);
      case Reg.CONFIG_GENERATION:
        return this.load(c + C.configGeneration.offset, 1);
      case Reg.SHM_LEN_LOW:
      case Reg.SHM_LEN_HIGH:
        return 0xffffffff;
      default:
        return 0;
    }
  }

  write(offset: number, size: MmioSize, value: number): void {
    const c = this.at.common;
    if (offset >= Reg.CONFIG) {
      this.store(this.at.device + offset - Reg.CONFIG, size, value);
      return;
    }
    const w32 = (f: { offset: number }, v = value): void => this.store(c + f.offset, 4, v);
    const w16 = (f: { offset: number }): void => this.store(c + f.offset, 2, value & 0xffff);
    switch (offset) {
      case Reg.DEVICE_FEATURES_SEL:
        return w32(C.deviceFeatureSelect);
      case Reg.DRIVER_FEATURES_SEL:
        return w32(C.driverFeatureSelect);
      case Reg.DRIVER_FEATURES:
        return w32(C.driverFeature);
      case Reg.QUEUE_SEL:
        return w16(C.queueSelect);
      case Reg.QUEUE_NUM:
        return w16(C.queueSize);
      case Reg.QUEUE_READY:
        return w16(C.queueEnable);
      case Reg.QUEUE_NOTIFY:
        return this.store(this.at.notify + (value & 0xffff) * this.notifyMultiplier, 2, value & 0xffff);
      case Reg.INTERRUPT_ACK:
        this.isr &= ~value;
        return;
      case Reg.STATUS:
        return this.store(c + C.deviceStatus.offset, 1, value & 0xff);
      case Reg.QUEUE_DESC_LOW:
        return w32(C.queueDesc);
      case Reg.QUEUE_DESC_HIGH:
        return this.store(c + C.queueDesc.offset + 4, 4, value);
      case Reg.QUEUE_DRIVER_LOW:
        return w32(C.queueDriver);
      case Reg.QUEUE_DRIVER_HIGH:
        return this.store(c + C.queueDriver.offset + 4, 4, value);
      case Reg.QUEUE_DEVICE_LOW:
        return w32(C.queueDevice);
      case Reg.QUEUE_DEVICE_HIGH:
        return this.store(c + C.queueDevice.offset + 4, 4, value);
      default:
        return;
    }
  }

  reset(): void {
    this.store(this.at.common + C.deviceStatus.offset, 1, 0);
  }
}
