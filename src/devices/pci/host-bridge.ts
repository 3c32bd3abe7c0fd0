/**
 * The PCI Express host bridge of QEMU's virt board (hw/pci-host/gpex.c's layout): configuration
 * space through ECAM (PCIe §7.2.2: bus << 20 | device << 15 | function << 12 | register), an I/O
 * window and two memory windows that forward CPU accesses to whichever function's BAR decodes
 * them, and INTx A-D on four PLIC sources with the standard swizzle (PCI-to-PCI bridge spec §9.1:
 * pin (A..D) + device number, modulo 4).
 *
 * Like a real root complex it forwards only what falls in its windows: a BAR the guest places on
 * RAM or outside every window decodes nothing, RAM stays RAM. Where BARs overlap, the lowest
 * function number decodes (behaviour the PCI spec leaves undefined). Reads that no function
 * claims return all ones (an Unsupported Request, PCIe §2.3.2), writes are dropped.
 */
import type { DtContext, DtNode, IrqLine, MmioDevice, MmioSize } from "../device.js";
import { regCells } from "../bus.js";
import { PciFunction } from "./function.js";
import { CONFIG_SIZE } from "./layout.js";

/** QEMU virt's PCIe addresses (hw/riscv/virt.c, virt_memmap and virt_high_pcie_memmap). */
export const PCIE_MEMMAP = {
  ecam: { base: 0x3000_0000, size: 0x1000_0000 },
  pio: { base: 0x0300_0000, size: 0x1_0000 },
  mmio: { base: 0x4000_0000, size: 0x4000_0000 },
  /** 16 GiB above RAM, at the first 16 GiB boundary (QEMU: ROUND_UP(RAM end, size)). */
  mmioHighSize: 0x4_0000_0000,
} as const;
/** QEMU virt's PCIE_IRQ: INTA..INTD are PLIC sources 32..35. */
export const PCIE_IRQ_BASE = 32;
export const PCIE_INTX_LINES = 4;
/** Device numbers on bus 0: 0 is the host bridge function, 1..31 are for devices. */
export const PCI_DEVICES_PER_BUS = 32;

const ALL_ONES = (size: MmioSize): number => (size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff);

export interface PciHostBridgeOptions {
  /** The wired sources INTA..INTD of the PLIC or APLIC (each level-triggered, shared). */
  intx: readonly IrqLine[];
  /** Where guest RAM ends: the 64-bit window goes above it. */
  ramEnd: number;
}

/** Which functions currently drive which shared INTx line. */
class SharedLine {
  private readonly asserted = new Set<PciFunction>();
  constructor(private readonly line: IrqLine) {}
  set(fn: PciFunction, level: boolean): void {
    const was = this.asserted.size > 0;
    if (level) this.asserted.add(fn);
    else this.asserted.delete(fn);
    const now = this.asserted.size > 0;
    if (now !== was) this.line.set(now);
  }
}

export class PciHostBridge {
  /** bus 0 functions by devfn (device << 3 | function). */
  private readonly functions = new Map<number, PciFunction>();
  private sorted: PciFunction[] = [];
  private readonly lines: SharedLine[];
  readonly ecam: Ecam;
  readonly pio: PciWindow;
  readonly mmio: PciWindow;
  readonly mmioHigh: PciWindow;
  private readonly owned: { close(): void }[] = [];

  /** Close `x` with the bridge (the functions' devices: the bus closes the bridge, not them). */
  own(x: { close(): void }): void {
    this.owned.push(x);
  }

  /** Close what the bridge owns, last first; the first failure is thrown once all are closed. */
  close(): void {
    let failure: unknown;
    for (const x of this.owned.splice(0).reverse()) {
      try {
        x.close();
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure !== undefined) throw failure;
  }

  constructor(o: PciHostBridgeOptions) {
    if (o.intx.length !== PCIE_INTX_LINES) throw new RangeError("the host bridge needs four INTx lines");
    this.lines = o.intx.map((l) => new SharedLine(l));
    this.ecam = new Ecam(this);
    this.pio = new PciWindow("pcie-pio", PCIE_MEMMAP.pio.size, "io", 0, this);
    this.mmio = new PciWindow("pcie-mmio", PCIE_MEMMAP.mmio.size, "mem", PCIE_MEMMAP.mmio.base, this);
    const highBase = Math.ceil(o.ramEnd / PCIE_MEMMAP.mmioHighSize) * PCIE_MEMMAP.mmioHighSize;
    this.mmioHigh = new PciWindow("pcie-mmio-high", PCIE_MEMMAP.mmioHighSize, "mem", highBase, this);
    // 00:00.0, the host bridge itself, as QEMU's gpex shows it (Red Hat's QEMU PCIe host bridge
    // ID, class 06 00 00): Linux lists it and leaves it alone.
    this.attach(
      0,
      0,
      new PciFunction("pcie-host", {
        vendorId: 0x1b36,
        deviceId: 0x0008,
        classCode: 0x060000,
        revisionId: 0,
        subsystemVendorId: 0x1af4,
        subsystemId: 0x1100,
        interruptPin: 0,
        conventional: true,
      }),
    );
  }

  /** Where the I/O and memory windows sit in the CPU's address space (the ECAM at PCIE_MEMMAP.ecam). */
  get windows(): [number, PciWindow][] {
    return [
      [PCIE_MEMMAP.pio.base, this.pio],
      [PCIE_MEMMAP.mmio.base, this.mmio],
      [this.mmioHigh.busBase, this.mmioHigh],
    ];
  }

  /** Put `fn` at bus 0 device `dev` function `func`; its INTx pin goes to the swizzled line. */
  attach(dev: number, func: number, fn: PciFunction): void {
    const devfn = (dev << 3) | func;
    if (dev < 0 || dev >= PCI_DEVICES_PER_BUS || func < 0 || func > 7 || this.functions.has(devfn))
      throw new RangeError(`PCI slot ${dev}.${func} is taken or does not exist`);
    this.functions.set(devfn, fn);
    this.sorted = [...this.functions.entries()].sort((a, b) => a[0] - b[0]).map(([, f]) => f);
    const pin = fn.readConfig(0x3d, 1);
    if (pin >= 1 && pin <= 4) {
      const line = this.lines[(pin - 1 + dev) % PCIE_INTX_LINES]!;
      fn.onIntx = (level) => line.set(fn, level);
    }
  }

  /** Remove the function at `dev`.`func` (hot-unplug, or SR-IOV's VF disable); its INTx drops. */
  detach(dev: number, func: number): void {
    const devfn = (dev << 3) | func;
    const fn = this.functions.get(devfn);
    if (!fn) return;
    fn.setIntx(false);
    fn.onIntx = () => {};
    this.functions.delete(devfn);
    this.sorted = this.sorted.filter((f) => f !== fn);
  }

  function(bus: number, devfn: number): PciFunction | undefined {
    return bus === 0 ? this.functions.get(devfn) : undefined;
  }

  /** The function and offset whose BAR decodes bus address `addr` in `space`. */
  decode(space: "mem" | "io", addr: number, len: number): ReturnType<PciFunction["decode"]> {
    for (const fn of this.sorted) {
      const hit = fn.decode(space, addr, len);
      if (hit) return hit;
    }
    return undefined;
  }

  /** Whether a CPU address falls in one of the bridge's windows (an MSI aimed there is dropped). */
  covers(addr: number): boolean {
    const e = PCIE_MEMMAP.ecam;
    if (addr >= e.base && addr < e.base + e.size) return true;
    return this.windows.some(([base, d]) => addr >= base && addr < base + d.size);
  }

  /**
   * The node QEMU 7.2 writes for its gpex bridge (Linux Documentation/devicetree/bindings/pci/
   * host-generic-pci.yaml): ECAM reg, bus-range, ranges for I/O and the two memory windows, and
   * an interrupt-map of every device number's four pins onto the PLIC.
   */
  describe(ctx: DtContext): DtNode {
    const hi = (v: number): number => Math.floor(v / 0x1_0000_0000);
    const lo = (v: number): number => v % 0x1_0000_0000;
    // PCI addresses (Open Firmware PCI bus binding §2.2.1.1): phys.hi says the space: 0x01 I/O,
    // 0x02 32-bit memory, 0x03 64-bit memory.
    const range = (space: number, bus: number, cpu: number, size: number): number[] => [
      space << 24,
      hi(bus),
      lo(bus),
      hi(cpu),
      lo(cpu),
      hi(size),
      lo(size),
    ];
    const high = this.mmioHigh.busBase;
    const map: number[] = [];
    // QEMU lists device numbers 0..3 only: with mask 0x1800 (device bits 1:0), every device
    // number maps like one of those (the swizzle has period 4).
    for (let dev = 0; dev < PCIE_INTX_LINES; dev++)
      for (let pin = 0; pin < PCIE_INTX_LINES; pin++)
        map.push(
          dev << 11,
          0,
          0,
          pin + 1,
          ctx.irqParent,
          ...ctx.irqCells(PCIE_IRQ_BASE + ((pin + dev) % PCIE_INTX_LINES)),
        );
    const props: DtNode["props"] = {
      "interrupt-map-mask": [0x1800, 0, 0, 7],
      "interrupt-map": map,
      ranges: [
        ...range(0x01, 0, PCIE_MEMMAP.pio.base, PCIE_MEMMAP.pio.size),
        ...range(0x02, PCIE_MEMMAP.mmio.base, PCIE_MEMMAP.mmio.base, PCIE_MEMMAP.mmio.size),
        ...range(0x03, high, high, PCIE_MEMMAP.mmioHighSize),
      ],
      reg: regCells(PCIE_MEMMAP.ecam.base, PCIE_MEMMAP.ecam.size),
      "dma-coherent": null,
      "bus-range": [0, PCIE_MEMMAP.ecam.size / (1 << 20) - 1],
      "linux,pci-domain": [0],
      device_type: "pci",
      compatible: "pci-host-ecam-generic",
      "#size-cells": [2],
      "#interrupt-cells": [1],
      "#address-cells": [3],
    };
    // With an IMSIC (--irqchip aia) MSI-X messages reach it, and Linux uses them instead of INTx.
    if (ctx.msiParent !== undefined) props["msi-parent"] = [ctx.msiParent];
    return { name: `pci@${PCIE_MEMMAP.ecam.base.toString(16)}`, props };
  }
}

/** ECAM (PCIe §7.2.2): 1 MiB per bus, 4 KiB per function. */
export class Ecam implements MmioDevice {
  readonly name = "pcie-ecam";
  readonly size = PCIE_MEMMAP.ecam.size;
  constructor(private readonly bridge: PciHostBridge) {}

  describe(_base: number, ctx: DtContext): DtNode {
    return this.bridge.describe(ctx);
  }

  close(): void {
    this.bridge.close();
  }

  read(offset: number, size: MmioSize): number {
    const fn = this.bridge.function(offset >>> 20, (offset >>> 12) & 0xff);
    // An absent function reads all ones: how software finds there is none (PCIe §2.3.2).
    if (!fn || offset % size !== 0) return ALL_ONES(size);
    return fn.readConfig(offset % CONFIG_SIZE, size);
  }

  write(offset: number, size: MmioSize, value: number): void {
    const fn = this.bridge.function(offset >>> 20, (offset >>> 12) & 0xff);
    if (fn && offset % size === 0) fn.writeConfig(offset % CONFIG_SIZE, size, value >>> 0);
  }
}

/** One of the bridge's address windows: CPU address base + offset is bus address busBase + offset. */
export class PciWindow implements MmioDevice {
  constructor(
    readonly name: string,
    readonly size: number,
    private readonly space: "mem" | "io",
    readonly busBase: number,
    private readonly bridge: PciHostBridge,
  ) {}

  read(offset: number, size: MmioSize): number {
    const hit = this.bridge.decode(this.space, this.busBase + offset, size);
    return hit ? hit.region.read(hit.offset, size) >>> 0 : ALL_ONES(size);
  }

  write(offset: number, size: MmioSize, value: number): void {
    const hit = this.bridge.decode(this.space, this.busBase + offset, size);
    if (hit) hit.region.write(hit.offset, size, value >>> 0);
  }
}
