/**
 * One PCI function: its 4 KiB configuration space (a type 0 header, the capability list from
 * 0x40 and the extended capability list from 0x100), its BARs and its INTx pin. Every register
 * is bytes plus a mask of the bits software may write (PCI 3.0 §6.1: reserved and read-only bits
 * ignore writes), so nonsense from the guest lands only where the spec lets it.
 *
 * A function knows its number only through the bridge that holds it (host-bridge.ts, keyed by
 * device and function number), so a physical function can later add virtual functions (SR-IOV)
 * as more PciFunction objects, each with its own configuration space and BARs.
 */
import type { MmioSize } from "../device.js";
import {
  BAR_COUNT,
  Bar,
  CONFIG_SIZE,
  CapId,
  Command,
  EXT_CAP_START,
  PCIE_CAP,
  PCIE_TYPE_RC_INTEGRATED_ENDPOINT,
  StatusBit,
  TYPE0_HEADER,
} from "./layout.js";

/** What sits behind a BAR: offsets are relative to the BAR's base. */
export interface BarRegion {
  read(offset: number, size: MmioSize): number;
  write(offset: number, size: MmioSize, value: number): void;
}

export type BarKind = "mem32" | "mem64" | "io";

export interface BarSpec {
  kind: BarKind;
  /** A power of two: at least 16 bytes for memory, 4 for I/O (PCI 3.0 §6.2.5.1). */
  size: number;
  prefetchable?: boolean;
  region: BarRegion;
}

export interface PciFunctionIds {
  vendorId: number;
  deviceId: number;
  /** Base class, subclass and programming interface as one 24-bit value. */
  classCode: number;
  revisionId: number;
  subsystemVendorId: number;
  subsystemId: number;
  /** 1 = INTA# (the only pin a single-function device uses); 0 for none. */
  interruptPin: number;
  /** Without the PCI Express capability (a conventional function, as QEMU's host bridge function is). */
  conventional?: boolean;
  /**
   * An SR-IOV virtual function (PCIe §9.3.4): its Vendor and Device ID read FFFFh, its BARs and
   * Memory Space Enable are read-only zero, and where its BARs decode is its physical function's
   * SR-IOV capability's business (VF BARn + index * size, while VF MSE is set): `barBase`.
   */
  virtualFunction?: { barBase(index: number): number | undefined };
}

const HDR = TYPE0_HEADER.fields;
/** The first capability goes after the header (PCI 3.0 §6.7: capabilities live in 0x40..0xff). */
const CAP_START = 0x40;

/** A span of configuration space whose writes someone watches. */
interface WriteHook {
  start: number;
  end: number;
  fn: (offset: number, size: MmioSize) => void;
}

export class PciFunction {
  readonly name: string;
  private readonly cfg = new Uint8Array(CONFIG_SIZE);
  private readonly view = new DataView(this.cfg.buffer);
  /** Bits software may change (1 = writable). */
  private readonly wmask = new Uint8Array(CONFIG_SIZE);
  /** Bits cleared by writing 1 (status error bits). */
  private readonly w1c = new Uint8Array(CONFIG_SIZE);
  private readonly bars: (BarSpec | undefined)[] = new Array<BarSpec | undefined>(BAR_COUNT).fill(undefined);
  private readonly hooks: WriteHook[] = [];
  /** Spans whose reads someone else answers (a window onto a BAR, virtio §4.1.4.9). */
  private readonly readHooks: { start: number; end: number; fn: (offset: number, size: MmioSize) => number }[] = [];
  private nextCap = CAP_START;
  private lastCap = -1;
  private nextExt = EXT_CAP_START;
  private lastExt = -1;
  private intxWanted = false;
  private readonly vf: PciFunctionIds["virtualFunction"];
  /** Told when the INTx level the function drives changes (host-bridge.ts routes it to the PLIC). */
  onIntx: (level: boolean) => void = () => {};

  constructor(name: string, ids: PciFunctionIds) {
    this.name = name;
    this.vf = ids.virtualFunction;
    this.set(HDR.vendorId, this.vf ? 0xffff : ids.vendorId);
    this.set(HDR.deviceId, this.vf ? 0xffff : ids.deviceId);
    this.set(HDR.revisionId, ids.revisionId);
    this.set(HDR.classCode, ids.classCode);
    this.set(HDR.subsystemVendorId, ids.subsystemVendorId);
    this.set(HDR.subsystemId, ids.subsystemId);
    this.set(HDR.interruptPin, ids.interruptPin);
    // A VF's I/O and Memory Space Enable are read-only zero (§9.3.4.1.3): VF MSE in its PF rules.
    const cmd = (this.vf ? 0 : Command.IO | Command.MEMORY) | Command.BUS_MASTER | Command.PARITY | Command.SERR;
    this.setMask(HDR.command, cmd | (ids.interruptPin ? Command.INTX_DISABLE : 0));
    // Interrupt Line is a scratch register for software (PCI 3.0 §6.2.4); cache line size too.
    this.setMask(HDR.interruptLine, 0xff);
    this.setMask(HDR.cacheLineSize, 0xff);
    // Status: the error bits (15..11, 8) are write-1-to-clear; none is ever set here.
    this.w1c[HDR.status.offset + 1] = 0xf9;
    this.w1c[HDR.status.offset] = 0x00;
    this.hook(HDR.command.offset, 2, () => this.updateIntx());
    if (!ids.conventional) this.addPcieCapability();
  }

  /** A field's value (little-endian, PCI 3.0 §6.1). */
  private set(f: { offset: number; size: number }, v: number): void {
    for (let i = 0; i < f.size; i++) this.cfg[f.offset + i] = (v >>> (8 * i)) & 0xff;
  }

  private setMask(f: { offset: number; size: number }, m: number): void {
    for (let i = 0; i < f.size; i++) this.wmask[f.offset + i] = (m >>> (8 * i)) & 0xff;
  }

  /** Watch writes to [offset, offset + size). */
  hook(offset: number, size: number, fn: (offset: number, size: MmioSize) => void): void {
    this.hooks.push({ start: offset, end: offset + size, fn });
  }

  /** Answer reads of [offset, offset + size) with `fn` (offset relative to the span). */
  hookRead(offset: number, size: number, fn: (offset: number, size: MmioSize) => number): void {
    this.readHooks.push({ start: offset, end: offset + size, fn });
  }

  /**
   * Add a capability of `length` bytes (its first two, ID and next pointer, included) to the
   * list at 0x34 (PCI 3.0 §6.7); returns its offset. `writable` marks bits software may change,
   * by offset within the capability.
   */
  addCapability(id: number, length: number, writable: Readonly<Record<number, number>> = {}): number {
    const at = this.nextCap;
    if (at + length > EXT_CAP_START) throw new RangeError(`${this.name}: no room for capability ${id}`);
    this.cfg[at] = id;
    if (this.lastCap < 0) {
      this.cfg[HDR.capabilitiesPointer.offset] = at;
      this.cfg[HDR.status.offset] = (this.cfg[HDR.status.offset] ?? 0) | StatusBit.CAP_LIST;
    } else this.cfg[this.lastCap + 1] = at;
    for (const [off, mask] of Object.entries(writable)) this.wmask[at + Number(off)] = mask;
    this.lastCap = at;
    this.nextCap = (at + length + 3) & ~3;
    return at;
  }

  /** Add an extended capability (PCIe §7.6: ID 16 bits, version 4, next 12); returns its offset. */
  addExtCapability(id: number, version: number, length: number): number {
    const at = this.nextExt;
    if (at + length > CONFIG_SIZE) throw new RangeError(`${this.name}: no room for extended capability ${id}`);
    this.view.setUint32(at, (id & 0xffff) | ((version & 0xf) << 16), true);
    if (this.lastExt >= 0) {
      const prev = this.view.getUint32(this.lastExt, true);
      this.view.setUint32(this.lastExt, (prev & 0xfffff) | (at << 20), true);
    }
    this.lastExt = at;
    this.nextExt = (at + length + 3) & ~3;
    return at;
  }

  /** Make bits of a capability's byte writable after it was added. */
  makeWritable(offset: number, mask: number): void {
    this.wmask[offset] = mask & 0xff;
  }

  /**
   * PCI Express Capability, version 2, as a Root Complex Integrated Endpoint (PCIe §7.5.3): it
   * sits on the root bus without a link, and makes Linux read the extended space (0x100..0xfff).
   */
  private addPcieCapability(): void {
    const at = this.addCapability(CapId.PCIE, PCIE_CAP.size);
    const f = PCIE_CAP.fields;
    this.view.setUint16(at + f.capabilities.offset, 2 | (PCIE_TYPE_RC_INTEGRATED_ENDPOINT << 4), true);
    // Device Capabilities: max payload 128 bytes (0), role-based error reporting (bit 15).
    this.view.setUint32(at + f.deviceCap.offset, 1 << 15, true);
    // Device Control: the error-reporting enables (bits 0..3), relaxed ordering (4), max payload
    // and read request sizes (7:5, 14:12), no snoop (11) are software's; their values do nothing here.
    this.wmask[at + f.deviceControl.offset] = 0xff;
    this.wmask[at + f.deviceControl.offset + 1] = 0x78;
    this.view.setUint16(at + f.deviceControl.offset, 0x2810, true);
  }

  /** Declare BAR `index` (a 64-bit BAR also takes index + 1). */
  setBar(index: number, bar: BarSpec): void {
    const min = bar.kind === "io" ? 4 : 16;
    if (bar.size < min || (bar.size & (bar.size - 1)) !== 0 || index < 0 || index >= BAR_COUNT)
      throw new RangeError(`${this.name}: BAR ${index} of ${bar.size} bytes`);
    if (bar.kind === "mem64" && index === BAR_COUNT - 1) throw new RangeError(`${this.name}: BAR 5 cannot be 64-bit`);
    this.bars[index] = bar;
    if (this.vf) return; // read-only zero (§9.3.4.1.11): the PF's VF BARn are sized and placed instead
    const at = HDR.bar0.offset + 4 * index;
    const low =
      bar.kind === "io" ? Bar.IO : (bar.kind === "mem64" ? Bar.MEM_64 : 0) | (bar.prefetchable ? Bar.PREFETCH : 0);
    // Sizing (PCI 3.0 §6.2.5.1): the low bits are read-only, so writing all ones reads back
    // ~(size - 1) | type bits, and software derives the size.
    this.view.setUint32(at, low, true);
    const mask = (~(bar.size - 1) & (bar.kind === "io" ? 0xfffffffc : 0xfffffff0)) >>> 0;
    this.setMask({ offset: at, size: 4 }, mask);
    if (bar.kind === "mem64") this.setMask({ offset: at + 4, size: 4 }, 0xffffffff);
  }

  /** The bus address BAR `index` decodes, if software placed it and the command register enables its space. */
  barBase(index: number): number | undefined {
    const bar = this.bars[index];
    if (!bar) return undefined;
    if (this.vf) return this.vf.barBase(index);
    const cmd = this.view.getUint16(HDR.command.offset, true);
    if (!(cmd & (bar.kind === "io" ? Command.IO : Command.MEMORY))) return undefined;
    const at = HDR.bar0.offset + 4 * index;
    const low = this.view.getUint32(at, true) & (bar.kind === "io" ? 0xfffffffc : 0xfffffff0);
    const high = bar.kind === "mem64" ? this.view.getUint32(at + 4, true) : 0;
    return high * 0x1_0000_0000 + low;
  }

  /** The region behind `addr` of `space` (bus addresses), if one of this function's enabled BARs decodes it. */
  decode(space: "mem" | "io", addr: number, len: number): { region: BarRegion; offset: number } | undefined {
    for (let i = 0; i < BAR_COUNT; i++) {
      const bar = this.bars[i];
      if (!bar || (bar.kind === "io") !== (space === "io")) continue;
      const base = this.barBase(i);
      // An unplaced BAR reads 0: software has not assigned it (Linux never assigns bus address 0).
      if (base === undefined || base === 0) continue;
      if (addr >= base && addr + len <= base + bar.size) return { region: bar.region, offset: addr - base };
    }
    return undefined;
  }

  get command(): number {
    return this.view.getUint16(HDR.command.offset, true);
  }

  get busMaster(): boolean {
    return (this.command & Command.BUS_MASTER) !== 0;
  }

  /** Read `size` bytes of configuration space at `offset` (a naturally aligned access). */
  readConfig(offset: number, size: MmioSize): number {
    if (offset < 0 || offset + size > CONFIG_SIZE) return size === 4 ? 0xffffffff : (1 << (8 * size)) - 1;
    for (const h of this.readHooks)
      if (offset >= h.start && offset + size <= h.end) return h.fn(offset - h.start, size) >>> 0;
    if (size === 1) return this.view.getUint8(offset);
    if (size === 2) return this.view.getUint16(offset, true);
    return this.view.getUint32(offset, true);
  }

  /** Write configuration space: only writable bits change, write-1-to-clear bits clear. */
  writeConfig(offset: number, size: MmioSize, value: number): void {
    if (offset < 0 || offset + size > CONFIG_SIZE) return;
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      const b = (value >>> (8 * i)) & 0xff;
      const m = this.wmask[at] ?? 0;
      const c = this.w1c[at] ?? 0;
      this.cfg[at] = (((this.cfg[at] ?? 0) & ~m) | (b & m)) & ~(b & c);
    }
    for (const h of this.hooks) if (offset < h.end && offset + size > h.start) h.fn(offset, size);
  }

  /** Raw access for the function's own capabilities (MSI-X, virtio's cfg access window). */
  get raw(): DataView {
    return this.view;
  }

  /** The device drives its INTx pin (level); the Interrupt Status bit follows it (PCI 3.0 §6.2.3). */
  setIntx(level: boolean): void {
    this.intxWanted = level;
    this.updateIntx();
  }

  private intxOut = false;

  private updateIntx(): void {
    const st = HDR.status.offset;
    this.cfg[st] = ((this.cfg[st] ?? 0) & ~StatusBit.INTERRUPT) | (this.intxWanted ? StatusBit.INTERRUPT : 0);
    // Interrupt Disable (PCI 3.0 §6.2.2, bit 10) holds the pin deasserted, e.g. while MSI-X is on.
    const out = this.intxWanted && !(this.command & Command.INTX_DISABLE) && this.cfg[HDR.interruptPin.offset] !== 0;
    if (out === this.intxOut) return;
    this.intxOut = out;
    this.onIntx(out);
  }

  /** Back to power-on state for the parts software changes (command register: nothing decodes). */
  resetCommand(): void {
    this.view.setUint16(HDR.command.offset, 0, true);
    this.updateIntx();
  }
}
