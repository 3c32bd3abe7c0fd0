import { hartInterrupts, regCells, WordRegisterDevice } from "./bus.js";
import type { DtContext, DtNode, InterruptTarget } from "./device.js";
import { arr, corrupt, fill, num, type SavedState, type Snapshottable } from "../snapshot/state.js";

/**
 * The RISC-V Incoming MSI Controller (AIA spec, chapter "Incoming MSI Controller") as QEMU 7.2's
 * virt board has it with aia=aplic-imsic: one machine-level and one supervisor-level interrupt
 * file per hart, each a 4 KiB page, 255 identities (QEMU VIRT_IRQCHIP_NUM_MSIS), no guest files.
 */
export const IMSIC_LAYOUT = {
  /** QEMU virt: VIRT_IMSIC_M and VIRT_IMSIC_S, one page per hart from there (hw/riscv/virt.c). */
  mBase: 0x2400_0000,
  sBase: 0x2800_0000,
  pageSize: 0x1000,
  /** The MSI write port of a file (IMSIC spec, "Memory region for an interrupt file"). */
  seteipnumLe: 0x0,
  seteipnumBe: 0x4,
} as const;

/** Identities 1..255; identity 0 never exists (AIA spec, "Interrupt files and interrupt identities"). */
export const IMSIC_NUM_IDS = 255;
/** The identity Linux reserves for IPIs (riscv,ipi-id in QEMU's tree; IMSIC_IPI_ID in the driver). */
export const IMSIC_IPI_ID = 1;

/** *iselect values of an interrupt file's registers (AIA spec, "Indirectly accessed interrupt-file registers"). */
export const ISELECT = {
  /** Major interrupt priorities iprio0..iprio15 (chapter "Interrupts for Machine and Supervisor Levels"). */
  iprioFirst: 0x30,
  iprioLast: 0x3f,
  eidelivery: 0x70,
  eithreshold: 0x72,
  eip0: 0x80,
  eip63: 0xbf,
  eie0: 0xc0,
  eie63: 0xff,
} as const;

/** Width of the identity fields of *topei and *topi (bits 26:16 / 10:0). */
const ID_MASK = 0x7ff;
/** 64-bit registers eip0, eip2, ... covering identities 0..255, as 32-bit words. */
const WORDS = 8;

/**
 * One interrupt file: the pending (eip) and enable (eie) bits of identities 1..255, eidelivery
 * and eithreshold, and the hart's external interrupt bit (MEIP or SEIP) it drives. Reached both
 * from the bus (an MSI sets a pending bit) and from the hart's CSRs (miselect/mireg, mtopei; or
 * the S-level ones).
 */
export class ImsicFile implements Snapshottable {
  private readonly eip = new Uint32Array(WORDS);
  private readonly eie = new Uint32Array(WORDS);
  /** 0 or 1: 0x40000000 (delivery from an APLIC in direct mode) is not supported (WARL). */
  private eidelivery = 0;
  private eithreshold = 0;
  private signalled = false;

  constructor(
    private readonly hart: InterruptTarget,
    /** The mip bit this file drives: MEIP (1 << 11) or SEIP (1 << 9). */
    private readonly mipBit: number,
  ) {}

  /** An MSI: set identity `id`'s pending bit; anything but an implemented identity is ignored. */
  setPending(id: number): void {
    if (!Number.isInteger(id) || id < 1 || id > IMSIC_NUM_IDS) return;
    this.eip[id >>> 5] = (this.eip[id >>> 5] as number) | (1 << (id & 31));
    this.update();
  }

  /**
   * The lowest pending-and-enabled identity below eithreshold (when it is not zero), or 0
   * (IMSIC spec, "Top external interrupt CSRs"): identities are their own priorities.
   */
  top(): number {
    const limit = this.eithreshold !== 0 && this.eithreshold <= IMSIC_NUM_IDS ? this.eithreshold : IMSIC_NUM_IDS + 1;
    for (let w = 0; w < WORDS; w++) {
      const bits = (this.eip[w] as number) & (this.eie[w] as number);
      if (bits === 0) continue;
      const id = w * 32 + (31 - Math.clz32(bits & -bits));
      return id < limit ? id : 0;
    }
    return 0;
  }

  /** *topei: identity in bits 26:16 and again, as its priority, in bits 10:0. */
  readTopei(): number {
    const id = this.top();
    return ((id << 16) | id) >>> 0;
  }

  /** A write to *topei claims the identity it reports, whatever the value written. */
  claimTop(): void {
    const id = this.top();
    if (id === 0) return;
    this.eip[id >>> 5] = (this.eip[id >>> 5] as number) & ~(1 << (id & 31));
    this.update();
  }

  /**
   * Read the register `isel` selects, as [lo, hi] (XLEN 64); undefined if it does not exist at
   * this level, which makes the *ireg access an illegal instruction.
   */
  read(isel: number): [number, number] | undefined {
    if (isel === ISELECT.eidelivery) return [this.eidelivery, 0];
    if (isel === ISELECT.eithreshold) return [this.eithreshold, 0];
    const arr = this.array(isel);
    if (arr === undefined) return undefined;
    const w = this.word(isel);
    return w < WORDS ? [arr[w] as number, arr[w + 1] as number] : [0, 0];
  }

  /** Write the register `isel` selects; false if it does not exist (illegal instruction). */
  write(isel: number, lo: number, hi: number): boolean {
    if (isel === ISELECT.eidelivery) {
      this.eidelivery = lo & 1;
    } else if (isel === ISELECT.eithreshold) {
      // WLRL (it must hold 0..255); QEMU keeps the low 11 bits, and so do we.
      this.eithreshold = lo & ID_MASK;
    } else {
      const arr = this.array(isel);
      if (arr === undefined) return false;
      const w = this.word(isel);
      if (w >= WORDS) return true; // identities beyond 255: read-only zero
      // Bit 0 of eip0 and eie0 is identity 0, which does not exist.
      arr[w] = w === 0 ? lo & ~1 : lo;
      arr[w + 1] = hi;
    }
    this.update();
    return true;
  }

  /** The eip or eie array for `isel`, or undefined for anything else or an odd (RV32-only) register. */
  private array(isel: number): Uint32Array | undefined {
    if (isel < ISELECT.eip0 || isel > ISELECT.eie63 || (isel & 1) !== 0) return undefined;
    return isel <= ISELECT.eip63 ? this.eip : this.eie;
  }

  /** The first 32-bit word of eipK/eieK (K even): identities 32K.. */
  private word(isel: number): number {
    return (isel - (isel <= ISELECT.eip63 ? ISELECT.eip0 : ISELECT.eie0)) & ~1;
  }

  /** The file signals the hart while eidelivery is on and an interrupt is at the top. */
  private update(): void {
    const v = this.eidelivery === 1 && this.top() !== 0;
    if (v === this.signalled) return;
    this.signalled = v;
    this.hart.setPending(this.mipBit, v);
  }

  saveState(): SavedState {
    return { eip: arr(this.eip), eie: arr(this.eie), eidelivery: this.eidelivery, eithreshold: this.eithreshold };
  }
  restoreState(s: SavedState): void {
    fill(this.eip, s, "eip");
    fill(this.eie, s, "eie");
    this.eidelivery = num(s, "eidelivery") & 1;
    this.eithreshold = num(s, "eithreshold") & ID_MASK;
    // The hart's mip comes back with the hart; only remember what it was told.
    this.signalled = this.eidelivery === 1 && this.top() !== 0;
  }
}

/** A hart's two interrupt files, as its AIA CSRs reach them, with the *iselect values. */
export class HartImsic {
  miselect = 0;
  siselect = 0;
  constructor(
    readonly m: ImsicFile,
    readonly s: ImsicFile,
  ) {}
}

/**
 * The interrupt files of one privilege level, one page per hart, as one device on the bus:
 * QEMU maps each level's pages as one region (VIRT_IMSIC_M, VIRT_IMSIC_S). Only 32-bit
 * naturally aligned writes to seteipnum_le have an effect; everything reads as zero.
 */
export class Imsic extends WordRegisterDevice implements Snapshottable {
  readonly name: string;
  readonly size: number;

  constructor(
    readonly level: "m" | "s",
    readonly files: readonly ImsicFile[],
    private readonly harts: number,
  ) {
    super();
    this.name = `imsic-${level}`;
    this.size = files.length * IMSIC_LAYOUT.pageSize;
  }

  protected read32(): number {
    return 0;
  }

  protected write32(offset: number, value: number): void {
    const file = this.files[Math.floor(offset / IMSIC_LAYOUT.pageSize)];
    const reg = offset % IMSIC_LAYOUT.pageSize;
    if (file === undefined) return;
    // seteipnum_be need not exist on a little-endian-only system (IMSIC spec, "Memory region for
    // an interrupt file"); like QEMU's, its writes are ignored here.
    if (reg === IMSIC_LAYOUT.seteipnumLe) file.setPending(value);
  }

  /**
   * QEMU's node (hw/riscv/virt.c create_fdt_imsic): "riscv,imsics", one MEIP or SEIP per hart,
   * 255 identities, identity 1 for IPIs.
   */
  describe(base: number, ctx: DtContext): DtNode {
    const phandle = this.level === "m" ? ctx.aia?.imsicM : ctx.aia?.imsicS;
    if (phandle === undefined) throw new RangeError("an IMSIC needs the AIA phandles in the DT context");
    const props: DtNode["props"] = {
      phandle: [phandle],
      "riscv,ipi-id": [IMSIC_IPI_ID],
      "riscv,num-ids": [IMSIC_NUM_IDS],
      reg: regCells(base, this.size),
      "interrupts-extended": hartInterrupts(ctx, this.harts, [this.level === "m" ? 11 : 9]),
      "msi-controller": null,
      "interrupt-controller": null,
      "#interrupt-cells": [0],
      compatible: "riscv,imsics",
    };
    // Direct boot: Corral is the firmware, and hides M-level controllers from the kernel as
    // OpenSBI does (lib/utils/fdt/fdt_fixup.c marks what S-mode cannot reach "disabled").
    if (this.level === "m" && ctx.aia?.hideMachineLevel) props.status = "disabled";
    return { name: `imsics@${base.toString(16)}`, props };
  }

  saveState(): SavedState {
    return { files: this.files.map((f) => f.saveState()) };
  }
  restoreState(s: SavedState): void {
    const files = s.files;
    if (!Array.isArray(files) || files.length !== this.files.length) throw corrupt(`${this.name} files`);
    this.files.forEach((f, i) => f.restoreState(files[i] as SavedState));
  }
}
