/**
 * The Single Root I/O Virtualization extended capability of a physical function (PCIe Base spec
 * 4.0 §9.3.3). Software reads TotalVFs, sizes the VF BARs as it sizes BARs (each reports one VF's
 * size; VF k decodes at VF BARn + k * size), writes NumVFs and the System Page Size, then sets VF
 * Enable and VF MSE: the `enable` callback makes NumVFs functions appear at routing IDs PF +
 * First VF Offset + k * VF Stride; clearing VF Enable removes them (`disable`).
 *
 * What the spec leaves undefined stays harmless: NumVFs is read-only while VF Enable is set (its
 * writes are ignored), NumVFs above TotalVFs enables TotalVFs functions, a System Page Size that
 * is not one supported size is ignored. Linux's drivers/pci/iov.c (sriov_init, sriov_enable)
 * reads TotalVFs, the page sizes, the VF BARs, then offset and stride after each NumVFs write.
 */
import type { PciFunction } from "./function.js";
import { type BarKind } from "./function.js";
import { ExtCapId, SRIOV_CAP, SriovControl } from "./layout.js";

/** One VF BAR, as each VF's BAR of the same index is (the transport's layout). */
export interface VfBar {
  index: number;
  kind: Exclude<BarKind, "io">;
  size: number;
  prefetchable?: boolean;
}

export interface SriovOptions {
  totalVfs: number;
  /** The VFs' Device ID (§9.3.3.11); each VF's own Device ID register reads FFFFh. */
  vfDeviceId: number;
  /** Routing ID of VF k: the PF's + firstVfOffset + k * vfStride (§9.3.3.9, §9.3.3.10). */
  firstVfOffset: number;
  vfStride: number;
  bars: readonly VfBar[];
  /** VF Enable set with `count` VFs: make them present. */
  enable(count: number): void;
  /** VF Enable cleared: remove them (§9.3.3.3.1: as if they were reset). */
  disable(): void;
}

const F = SRIOV_CAP.fields;
/** 4 KiB, 8 KiB, 64 KiB, 256 KiB, 1 MiB, 4 MiB: what the spec requires a PF to support (§9.3.3.12). */
const SUPPORTED_PAGE_SIZES = 0x553;
const SRIOV_VERSION = 1;

export class SriovCapability {
  readonly offset: number;
  private readonly fn: PciFunction;
  private readonly o: SriovOptions;
  private enabledCount = 0;
  private numVfsHeld = 0;

  constructor(fn: PciFunction, o: SriovOptions) {
    if (o.totalVfs < 1 || o.totalVfs > 0xffff) throw new RangeError(`SR-IOV with ${o.totalVfs} VFs`);
    this.fn = fn;
    this.o = o;
    const at = fn.addExtCapability(ExtCapId.SRIOV, SRIOV_VERSION, SRIOV_CAP.size);
    this.offset = at;
    const v = fn.raw;
    // Capabilities: no VF Migration, no ARI Capable Hierarchy Preserved, no interrupt message number.
    v.setUint16(at + F.initialVfs.offset, o.totalVfs, true);
    v.setUint16(at + F.totalVfs.offset, o.totalVfs, true);
    v.setUint16(at + F.firstVfOffset.offset, o.firstVfOffset, true);
    v.setUint16(at + F.vfStride.offset, o.vfStride, true);
    v.setUint16(at + F.vfDeviceId.offset, o.vfDeviceId, true);
    v.setUint32(at + F.supportedPageSizes.offset, SUPPORTED_PAGE_SIZES, true);
    v.setUint32(at + F.systemPageSize.offset, 1, true);
    // Control: VF Enable, VF MSE and ARI Capable Hierarchy are software's (migration is not offered).
    const ctl = SriovControl.VF_ENABLE | SriovControl.VF_MSE | SriovControl.ARI_CAPABLE_HIERARCHY;
    fn.makeWritable(at + F.control.offset, ctl);
    fn.makeWritable(at + F.numVfs.offset, 0xff);
    fn.makeWritable(at + F.numVfs.offset + 1, 0xff);
    for (let i = 0; i < 4; i++) fn.makeWritable(at + F.systemPageSize.offset + i, 0xff);
    for (const b of o.bars) {
      if (b.index < 0 || b.index > 5 || (b.kind === "mem64" && b.index === 5))
        throw new RangeError(`VF BAR ${b.index}`);
      v.setUint32(this.barAt(b.index), (b.kind === "mem64" ? 0x4 : 0) | (b.prefetchable ? 0x8 : 0), true);
    }
    this.sizeBars();
    fn.hook(at + F.control.offset, 2, () => this.controlWritten());
    fn.hook(at + F.numVfs.offset, 2, () => this.numVfsWritten());
    fn.hook(at + F.systemPageSize.offset, 4, () => this.pageSizeWritten());
  }

  private barAt(index: number): number {
    return this.offset + F.vfBar0.offset + 4 * index;
  }

  get control(): number {
    return this.fn.raw.getUint16(this.offset + F.control.offset, true);
  }

  get numVfs(): number {
    return this.fn.raw.getUint16(this.offset + F.numVfs.offset, true);
  }

  /** VFs present now. */
  get activeVfs(): number {
    return this.enabledCount;
  }

  /** The System Page Size in bytes: 4 KiB << the set bit (§9.3.3.13). */
  private get pageSize(): number {
    const sps = this.fn.raw.getUint32(this.offset + F.systemPageSize.offset, true);
    return 4096 * sps;
  }

  /** One VF's BAR size: at least a system page, so each VF's space is page aligned (§9.3.3.14). */
  private vfBarSize(b: VfBar): number {
    return Math.max(b.size, this.pageSize);
  }

  /** The VF BARs' writable bits follow their size: writing all ones reads back ~(size - 1) (§9.3.3.14). */
  private sizeBars(): void {
    for (const b of this.o.bars) {
      const size = this.vfBarSize(b);
      const at = this.barAt(b.index);
      const lowMask = size >= 0x1_0000_0000 ? 0 : (~(size - 1) & 0xfffffff0) >>> 0;
      for (let i = 0; i < 4; i++) this.fn.makeWritable(at + i, (lowMask >>> (8 * i)) & 0xff);
      if (b.kind === "mem64") for (let i = 0; i < 4; i++) this.fn.makeWritable(at + 4 + i, 0xff);
      // Bits now read-only go back to zero, as a freshly sized BAR reads.
      const v = this.fn.raw;
      v.setUint32(at, (v.getUint32(at, true) & lowMask) | (v.getUint32(at, true) & 0xf), true);
    }
  }

  /** Where VF `vf`'s BAR `index` decodes: only with VF MSE set and the VF present. */
  vfBarBase(index: number, vf: number): number | undefined {
    const b = this.o.bars.find((x) => x.index === index);
    if (!b || vf >= this.enabledCount || !(this.control & SriovControl.VF_MSE)) return undefined;
    const v = this.fn.raw;
    const at = this.barAt(index);
    const low = v.getUint32(at, true) & 0xfffffff0;
    const high = b.kind === "mem64" ? v.getUint32(at + 4, true) : 0;
    const base = high * 0x1_0000_0000 + low;
    // Not placed yet (Linux never assigns bus address 0), as for a function's own BARs.
    return base === 0 ? undefined : base + vf * this.vfBarSize(b);
  }

  private controlWritten(): void {
    const on = (this.control & SriovControl.VF_ENABLE) !== 0;
    if (on && this.enabledCount === 0) {
      const n = Math.min(this.numVfs, this.o.totalVfs);
      if (n === 0) return;
      this.enabledCount = n;
      this.o.enable(n);
    } else if (!on && this.enabledCount > 0) {
      this.enabledCount = 0;
      this.o.disable();
    }
  }

  /** §9.3.3.7: NumVFs may change only while VF Enable is clear; a write meanwhile is ignored. */
  private numVfsWritten(): void {
    if (this.control & SriovControl.VF_ENABLE)
      this.fn.raw.setUint16(this.offset + F.numVfs.offset, this.numVfsHeld, true);
    else this.numVfsHeld = this.numVfs;
  }

  /** §9.3.3.13: one supported size, written while VF Enable is clear; anything else is ignored. */
  private pageSizeWritten(): void {
    const v = this.fn.raw;
    const at = this.offset + F.systemPageSize.offset;
    const w = v.getUint32(at, true);
    const ok = w !== 0 && (w & (w - 1)) === 0 && (w & SUPPORTED_PAGE_SIZES) !== 0;
    if (!ok || this.control & SriovControl.VF_ENABLE) v.setUint32(at, this.heldPageSize, true);
    else this.heldPageSize = w;
    this.sizeBars();
  }

  private heldPageSize = 1;
}
