import { regCells, WordRegisterDevice } from "./bus.js";
import type { DtContext, DtNode, IrqLine, WiredIrqController } from "./device.js";
import { arr, bool, corrupt, fill, num, type SavedState, type Snapshottable } from "../snapshot/state.js";

/**
 * Register layout of an APLIC interrupt domain's control region (AIA spec, chapter "Advanced
 * Platform-Level Interrupt Controller", table "The registers of the first 16 KiB of an interrupt
 * domain's memory-mapped control region"). Every register is 32 bits wide.
 */
export const APLIC_LAYOUT = {
  domaincfg: 0x0000,
  /** sourcecfg[i] at 0x0004 + 4 * (i - 1), i = 1..1023. */
  sourcecfg: 0x0004,
  /** Root (machine-level) domain only. */
  mmsiaddrcfg: 0x1bc0,
  mmsiaddrcfgh: 0x1bc4,
  smsiaddrcfg: 0x1bc8,
  smsiaddrcfgh: 0x1bcc,
  setip: 0x1c00,
  setipnum: 0x1cdc,
  inClrip: 0x1d00,
  clripnum: 0x1ddc,
  setie: 0x1e00,
  setienum: 0x1edc,
  clrie: 0x1f00,
  clrienum: 0x1fdc,
  setipnumLe: 0x2000,
  setipnumBe: 0x2004,
  genmsi: 0x3000,
  /** target[i] at 0x3004 + 4 * (i - 1). */
  target: 0x3004,
  /** QEMU virt's window per domain: 0x4000 + 32 bytes of IDC per possible hart (VIRT_CPUS_MAX 512). */
  size: 0x8000,
} as const;

/** QEMU virt: VIRT_APLIC_M and VIRT_APLIC_S (hw/riscv/virt.c). */
export const APLIC_M_BASE = 0x0c00_0000;
export const APLIC_S_BASE = 0x0d00_0000;
/** Sources 1..96 (QEMU VIRT_IRQCHIP_NUM_SOURCES; "riscv,num-sources" = 96). */
export const APLIC_NUM_SOURCES = 96;

/** domaincfg (AIA spec, "Domain configuration"): bits 31:24 read 0x80; IE; DM; BE read-only 0. */
const DOMAINCFG_FIXED = 0x8000_0000;
const DOMAINCFG_IE = 1 << 8;
const DOMAINCFG_DM = 1 << 2;
/** sourcecfg: D (delegate) and, with D, the child index; without it, SM (source mode). */
const SOURCECFG_D = 1 << 10;
const SOURCECFG_CHILD = 0x3ff;
/** 1 is Detached (the wire ignored; pending only by setip/setipnum), 2 and 3 reserved. */
const SM_INACTIVE = 0;
const SM_EDGE1 = 4;
const SM_EDGE0 = 5;
const SM_LEVEL1 = 6;
const SM_LEVEL0 = 7;
/** target in MSI delivery mode: hart index 31:18, guest index 17:12 (no H: read-only zero), EIID 10:0. */
const TARGET_HART = 0xfffc_0000;
const TARGET_EIID = 0x7ff;
/** mmsiaddrcfgh: L 31, HHXS 28:24, LHXS 22:20, HHXW 18:16, LHXW 15:12, high base PPN 11:0. */
const MSICFGH_L = 1 << 31;
const MMSICFGH_MASK = 0x1f77_ffff;
const SMSICFGH_MASK = 0x0070_0fff;

const WORDS = Math.ceil((APLIC_NUM_SOURCES + 1) / 32);

/** Where the APLIC's MSIs go: a 32-bit little-endian write at a physical address (the system bus). */
export type MsiSink = (addr: number, data: number) => void;

/**
 * One interrupt domain of an APLIC in MSI delivery mode (domaincfg.DM reads 1 and cannot be
 * changed: Corral's APLIC, like QEMU's with aia=aplic-imsic, has no IDCs). The root domain is
 * machine level and receives the wires; it may delegate each source to its one child, the
 * supervisor-level domain, which Linux drives.
 *
 * An active source whose pending and enable bits are set while domaincfg.IE is on is forwarded
 * at once as an MSI (hart index and EIID from its target register, address from the root's
 * MSI address configuration) and its pending bit cleared ("Interrupt forwarding by MSIs").
 */
export class AplicDomain extends WordRegisterDevice implements Snapshottable, WiredIrqController {
  readonly name: string;
  readonly size = APLIC_LAYOUT.size;
  private child: AplicDomain | undefined;
  private readonly sourcecfg = new Uint32Array(APLIC_NUM_SOURCES + 1);
  private readonly target = new Uint32Array(APLIC_NUM_SOURCES + 1);
  private readonly pending = new Uint32Array(WORDS);
  private readonly enable = new Uint32Array(WORDS);
  /** The wires' levels; kept by the root, read by the child. */
  private readonly wire = new Uint32Array(WORDS);
  private ie = false;
  private genmsiValue = 0;
  /** Root only: mmsiaddrcfg, mmsiaddrcfgh, smsiaddrcfg, smsiaddrcfgh. */
  private readonly msicfg = new Uint32Array(4);
  /**
   * Root only: an MSI of either domain is being written. One the write itself would cause (an MSI
   * address aimed back at an APLIC register) stays pending until the next event instead, so a
   * misprogrammed APLIC neither recurses nor spins.
   */
  private sending = false;

  constructor(
    readonly level: "m" | "s",
    private readonly root: AplicDomain | undefined,
    private readonly sink: MsiSink,
  ) {
    super();
    this.name = `aplic-${level}`;
    if (root) root.child = this;
  }

  /** The root domain's wire for source `n` (1..96): what a device raises. */
  irq(n: number): IrqLine {
    if (this.root) throw new RangeError("wires go into the root APLIC domain");
    if (!Number.isInteger(n) || n < 1 || n > APLIC_NUM_SOURCES)
      throw new RangeError(`APLIC source ${n} does not exist (valid: 1..${APLIC_NUM_SOURCES})`);
    const w = n >>> 5;
    const bit = 1 << (n & 31);
    return {
      set: (high: boolean): void => {
        const old = this.wire[w] as number;
        const now = high ? old | bit : old & ~bit;
        if (now === old) return;
        const owner = this.owner(n);
        const before = owner.rectified(n);
        this.wire[w] = now;
        owner.inputChanged(n, before);
      },
    };
  }

  /**
   * What firmware does before it starts an S-mode kernel with no M-level driver of its own
   * (OpenSBI's aplic_cold_irqchip_init): the MSI addresses of both levels' IMSICs, every source
   * delegated to the supervisor domain, and the root's delivery on.
   */
  setupAsFirmware(imsicM: number, imsicS: number, harts: number): void {
    if (this.root || !this.child) throw new RangeError("firmware setup is the root domain's");
    const lhxw = harts > 1 ? 32 - Math.clz32(harts - 1) : 0;
    this.msicfg[0] = imsicM / 4096;
    this.msicfg[1] = lhxw << 12;
    this.msicfg[2] = imsicS / 4096;
    this.msicfg[3] = 0;
    for (let i = 1; i <= APLIC_NUM_SOURCES; i++) this.writeSourcecfg(i, SOURCECFG_D);
    this.ie = true;
  }

  describe(base: number, ctx: DtContext): DtNode {
    const aia = ctx.aia;
    if (!aia) throw new RangeError("an APLIC needs the AIA phandles in the DT context");
    // QEMU's nodes (hw/riscv/virt.c create_fdt_one_aplic), MSI mode.
    const props: DtNode["props"] = {
      phandle: [this.root ? ctx.irqParent : aia.aplicM],
    };
    if (!this.root) {
      // QEMU 7.2 writes the delegation under the name "riscv,delegate" (OpenSBI reads it).
      props["riscv,delegate"] = [ctx.irqParent, 1, APLIC_NUM_SOURCES];
      props["riscv,children"] = [ctx.irqParent];
    }
    Object.assign(props, {
      "riscv,num-sources": [APLIC_NUM_SOURCES],
      reg: regCells(base, this.size),
      "msi-parent": [this.root ? aia.imsicS : aia.imsicM],
      "interrupt-controller": null,
      "#interrupt-cells": [2],
      compatible: "riscv,aplic",
    });
    if (!this.root && aia.hideMachineLevel) props.status = "disabled";
    return { name: `aplic@${base.toString(16)}`, props };
  }

  // ---- Sources: activity, modes, rectified inputs ----

  /** Whether source i reaches this domain at all (the child: only what the root delegates to it). */
  private reaches(i: number): boolean {
    if (i < 1 || i > APLIC_NUM_SOURCES) return false;
    return this.root === undefined || this.root.delegated(i);
  }
  private delegated(i: number): boolean {
    return ((this.sourcecfg[i] as number) & (SOURCECFG_D | SOURCECFG_CHILD)) === SOURCECFG_D;
  }
  /** The source mode, SM_INACTIVE for a source that is delegated, not here, or off. */
  private mode(i: number): number {
    if (!this.reaches(i)) return SM_INACTIVE;
    const c = this.sourcecfg[i] as number;
    return c & SOURCECFG_D ? SM_INACTIVE : c & 7;
  }
  /** The domain whose source i is (the child when the root delegates it). */
  private owner(i: number): AplicDomain {
    return this.child !== undefined && this.delegated(i) ? this.child : this;
  }
  private wireHigh(i: number): boolean {
    const w = (this.root ?? this).wire;
    return ((w[i >>> 5] as number) & (1 << (i & 31))) !== 0;
  }
  /** Rectified input value ("Source configurations"): the wire, inverted for Edge0/Level0; 0 when inactive or detached. */
  private rectified(i: number): boolean {
    switch (this.mode(i)) {
      case SM_EDGE1:
      case SM_LEVEL1:
        return this.wireHigh(i);
      case SM_EDGE0:
      case SM_LEVEL0:
        return !this.wireHigh(i);
      default:
        return false;
    }
  }
  private isLevel(sm: number): boolean {
    return sm === SM_LEVEL1 || sm === SM_LEVEL0;
  }

  /** "Precise effects on interrupt-pending bits", MSI delivery mode: a wire changed. */
  private inputChanged(i: number, before: boolean): void {
    const now = this.rectified(i);
    if (now === before) return;
    if (now) this.setPendingBit(i);
    else if (this.isLevel(this.mode(i))) this.clearPendingBit(i);
  }

  // ---- Pending and enable bits ----

  private setPendingBit(i: number): void {
    this.pending[i >>> 5] = (this.pending[i >>> 5] as number) | (1 << (i & 31));
    this.forward(i);
  }
  private clearPendingBit(i: number): void {
    this.pending[i >>> 5] = (this.pending[i >>> 5] as number) & ~(1 << (i & 31));
  }
  /** setip/setipnum: Detached and edge sources always, level sources only while their input is asserted. */
  private trySetPending(i: number): void {
    const sm = this.mode(i);
    if (sm === SM_INACTIVE || (this.isLevel(sm) && !this.rectified(i))) return;
    this.setPendingBit(i);
  }
  private tryClearPending(i: number): void {
    if (this.mode(i) !== SM_INACTIVE) this.clearPendingBit(i);
  }
  private setEnable(i: number, on: boolean): void {
    if (this.mode(i) === SM_INACTIVE) return;
    const w = i >>> 5;
    const bit = 1 << (i & 31);
    this.enable[w] = on ? (this.enable[w] as number) | bit : (this.enable[w] as number) & ~bit;
    if (on) this.forward(i);
  }

  /** Send source i's MSI if it is pending, enabled, and the domain's delivery is on; its pending bit clears. */
  private forward(i: number): void {
    if (!this.ie || (this.root ?? this).sending) return;
    const w = i >>> 5;
    const bit = 1 << (i & 31);
    if (((this.pending[w] as number) & (this.enable[w] as number) & bit) === 0) return;
    this.pending[w] = (this.pending[w] as number) & ~bit;
    const t = this.target[i] as number;
    this.send(t >>> 18, t & TARGET_EIID);
  }
  private forwardAll(): void {
    for (let i = 1; i <= APLIC_NUM_SOURCES; i++) this.forward(i);
  }

  /**
   * An MSI to hart `hart` at this domain's level ("Addresses and data for outgoing MSIs"): the
   * address from the root's mmsiaddrcfg(h) for machine level, smsiaddrcfg(h) with mmsiaddrcfgh's
   * hart index fields for supervisor level; data = EIID, little-endian.
   */
  private send(hart: number, eiid: number): void {
    const r = this.root ?? this;
    const mh = r.msicfg[1] as number;
    const lhxw = (mh >>> 12) & 0xf;
    const hhxw = (mh >>> 16) & 0x7;
    const hhxs = (mh >>> 24) & 0x1f;
    const lo = this.level === "m" ? 0 : 2;
    const ppn = (BigInt(r.msicfg[lo + 1]! & 0xfff) << 32n) | BigInt(r.msicfg[lo]!);
    const lhxs = BigInt((r.msicfg[lo + 1]! >>> 20) & 0x7);
    const g = BigInt((hart >>> lhxw) & ((1 << hhxw) - 1));
    const h = BigInt(hart & ((1 << lhxw) - 1));
    const addr = (ppn | (g << BigInt(hhxs + 12)) | (h << lhxs)) << 12n;
    if (addr > BigInt(Number.MAX_SAFE_INTEGER)) return;
    r.sending = true;
    try {
      this.sink(Number(addr), eiid);
    } finally {
      r.sending = false;
    }
  }

  // ---- Registers ----

  private writeSourcecfg(i: number, v: number): void {
    if (!this.reaches(i)) return;
    const wasDelegated = this.delegated(i);
    const before = this.rectified(i);
    let nv: number;
    if (v & SOURCECFG_D) {
      // A leaf domain cannot delegate: the whole register becomes zero.
      nv = this.child ? v & (SOURCECFG_D | SOURCECFG_CHILD) : 0;
    } else {
      const sm = v & 7;
      nv = sm === 2 || sm === 3 ? SM_INACTIVE : sm; // reserved modes: WARL, inactive
    }
    this.sourcecfg[i] = nv;
    if (this.mode(i) === SM_INACTIVE) {
      // Inactive: pending, enable and target are read-only zeros.
      this.clearPendingBit(i);
      this.enable[i >>> 5] = (this.enable[i >>> 5] as number) & ~(1 << (i & 31));
      this.target[i] = 0;
    }
    if (this.child && wasDelegated !== this.delegated(i)) this.child.dropSource(i);
    // A level source asserted under its new mode becomes pending (the spec allows either).
    if (!before && this.rectified(i) && this.isLevel(this.mode(i))) this.setPendingBit(i);
  }

  /** The root took source i back or gave it anew: it starts from zero here. */
  private dropSource(i: number): void {
    this.sourcecfg[i] = 0;
    this.target[i] = 0;
    this.clearPendingBit(i);
    this.enable[i >>> 5] = (this.enable[i >>> 5] as number) & ~(1 << (i & 31));
  }

  protected read32(offset: number): number {
    const L = APLIC_LAYOUT;
    if (offset === L.domaincfg) return (DOMAINCFG_FIXED | (this.ie ? DOMAINCFG_IE : 0) | DOMAINCFG_DM) >>> 0;
    if (offset < 0x1000) {
      const i = (offset - L.sourcecfg) / 4 + 1;
      return this.reaches(i) ? (this.sourcecfg[i] as number) : 0;
    }
    if (offset >= L.mmsiaddrcfg && offset <= L.smsiaddrcfgh)
      return this.root ? 0 : (this.msicfg[(offset - L.mmsiaddrcfg) >>> 2] as number);
    if (offset >= L.setip && offset < L.setip + 0x80) return this.activeWord(this.pending, (offset - L.setip) >>> 2);
    if (offset >= L.inClrip && offset < L.inClrip + 0x80) return this.rectifiedWord((offset - L.inClrip) >>> 2);
    if (offset >= L.setie && offset < L.setie + 0x80) return this.activeWord(this.enable, (offset - L.setie) >>> 2);
    if (offset === L.genmsi) return this.genmsiValue;
    if (offset >= L.target && offset < 0x4000) {
      const i = (offset - L.target) / 4 + 1;
      return this.mode(i) === SM_INACTIVE ? 0 : (this.target[i] as number);
    }
    return 0; // clrie, the *num registers, setipnum_le/_be and reserved bytes read zero
  }

  protected write32(offset: number, v: number): void {
    const L = APLIC_LAYOUT;
    if (offset === L.domaincfg) {
      this.ie = (v & DOMAINCFG_IE) !== 0;
      if (this.ie) this.forwardAll();
    } else if (offset < 0x1000) {
      this.writeSourcecfg((offset - L.sourcecfg) / 4 + 1, v);
    } else if (offset >= L.mmsiaddrcfg && offset <= L.smsiaddrcfgh) {
      this.writeMsicfg((offset - L.mmsiaddrcfg) >>> 2, v);
    } else if (offset >= L.setip && offset < L.setip + 0x80) {
      this.eachBit((offset - L.setip) >>> 2, v, (i) => this.trySetPending(i));
    } else if (offset === L.setipnum || offset === L.setipnumLe) {
      this.trySetPending(v);
    } else if (offset === L.setipnumBe) {
      this.trySetPending(bswap32(v));
    } else if (offset >= L.inClrip && offset < L.inClrip + 0x80) {
      this.eachBit((offset - L.inClrip) >>> 2, v, (i) => this.tryClearPending(i));
    } else if (offset === L.clripnum) {
      this.tryClearPending(v);
    } else if (offset >= L.setie && offset < L.setie + 0x80) {
      this.eachBit((offset - L.setie) >>> 2, v, (i) => this.setEnable(i, true));
    } else if (offset === L.setienum) {
      this.setEnable(v, true);
    } else if (offset >= L.clrie && offset < L.clrie + 0x80) {
      this.eachBit((offset - L.clrie) >>> 2, v, (i) => this.setEnable(i, false));
    } else if (offset === L.clrienum) {
      this.setEnable(v, false);
    } else if (offset === L.genmsi) {
      // An extempore MSI, sent at once (so Busy never reads 1), even with IE off.
      this.genmsiValue = (v & (TARGET_HART | TARGET_EIID)) >>> 0;
      if (!(this.root ?? this).sending) this.send(this.genmsiValue >>> 18, this.genmsiValue & TARGET_EIID);
    } else if (offset >= L.target && offset < 0x4000) {
      const i = (offset - L.target) / 4 + 1;
      if (this.mode(i) !== SM_INACTIVE) this.target[i] = (v & (TARGET_HART | TARGET_EIID)) >>> 0;
    }
  }

  /** Root only, while mmsiaddrcfgh.L is clear; every field WARL to its width. */
  private writeMsicfg(reg: number, v: number): void {
    if (this.root || (this.msicfg[1]! & MSICFGH_L) !== 0) return;
    const mask = reg === 1 ? MMSICFGH_MASK | MSICFGH_L : reg === 3 ? SMSICFGH_MASK : 0xffff_ffff;
    this.msicfg[reg] = (v & mask) >>> 0;
  }

  /** Word k of pending or enable bits, zero for sources inactive here. */
  private activeWord(bits: Uint32Array, k: number): number {
    if (k >= WORDS) return 0;
    let v = bits[k] as number;
    for (let b = v; b !== 0; b &= b - 1) {
      const i = k * 32 + (31 - Math.clz32(b & -b));
      if (this.mode(i) === SM_INACTIVE) v &= ~(1 << (i & 31));
    }
    return v >>> 0;
  }
  private rectifiedWord(k: number): number {
    let v = 0;
    for (let b = 0; b < 32; b++) if (this.rectified(k * 32 + b)) v |= 1 << b;
    return v >>> 0;
  }
  private eachBit(k: number, v: number, f: (i: number) => void): void {
    for (let b = v; b !== 0; b &= b - 1) f(k * 32 + (31 - Math.clz32(b & -b)));
  }

  saveState(): SavedState {
    return {
      sourcecfg: arr(this.sourcecfg),
      target: arr(this.target),
      pending: arr(this.pending),
      enable: arr(this.enable),
      wire: arr(this.wire),
      ie: this.ie,
      genmsi: this.genmsiValue,
      msicfg: arr(this.msicfg),
    };
  }
  restoreState(s: SavedState): void {
    fill(this.sourcecfg, s, "sourcecfg");
    fill(this.target, s, "target");
    fill(this.pending, s, "pending");
    fill(this.enable, s, "enable");
    fill(this.wire, s, "wire");
    fill(this.msicfg, s, "msicfg");
    this.ie = bool(s, "ie");
    this.genmsiValue = num(s, "genmsi") >>> 0;
    if (this.sourcecfg[0] !== 0) throw corrupt(`${this.name} source 0`);
  }
}

/** An APLIC as QEMU's virt board has it with aia=aplic-imsic: the M-level root and its S-level child. */
export function createAplic(sink: MsiSink): { m: AplicDomain; s: AplicDomain } {
  const m = new AplicDomain("m", undefined, sink);
  const s = new AplicDomain("s", m, sink);
  return { m, s };
}

function bswap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}
