/**
 * The Smaia and Ssaia CSRs (RISC-V AIA spec, chapters "CSRs Added to Harts", "Incoming MSI
 * Controller" and "Interrupts for Machine and Supervisor Levels"): the indirect windows
 * miselect/mireg and siselect/sireg onto the hart's IMSIC interrupt files and the major interrupt
 * priorities, mtopei/stopei (read the top external interrupt, write to claim it), mtopi/stopi,
 * mvien and mvip. They exist only on a hart with IMSICs (Hart.aia); elsewhere an access is an
 * illegal instruction, as before.
 */
import { Csr, IRQ_PRIORITY, Irq, MENVCFG_HI_STCE, MIP_SEIP, MIP_SSIP, MIP_STIP } from "../isa/defs.js";
import { ISELECT, type ImsicFile } from "../../devices/imsic.js";
import type { Hart } from "./hart.js";

/** *iselect is WARL; 9 bits (0..0x1ff), as the spec recommends for siselect and QEMU keeps. */
const ISELECT_MASK = 0x1ff;
/** The lowest priority *topi reports (IPRIO field, bits 7:0). */
const IPRIO_LOWEST = 255;

/** What a read gives: [lo, hi], or undefined for an illegal instruction. */
export type CsrValue = readonly [number, number] | undefined;

/** Read an AIA CSR of `h`; undefined if `csr` is not one, or the selected register does not exist. */
export function aiaRead(h: Hart, csr: number): CsrValue {
  const aia = h.aia;
  if (aia === null) return undefined;
  switch (csr) {
    case Csr.miselect:
      return [aia.miselect, 0];
    case Csr.siselect:
      return [aia.siselect, 0];
    case Csr.mireg:
      return iregRead(aia.m, aia.miselect);
    case Csr.sireg:
      return iregRead(aia.s, aia.siselect);
    case Csr.mtopei:
      return [aia.m.readTopei(), 0];
    case Csr.stopei:
      return [aia.s.readTopei(), 0];
    case Csr.mtopi:
      return [topi(h.mip & h.mie & ~h.mideleg, Irq.MEI), 0];
    case Csr.stopi:
      return [topi(h.mip & h.mie & h.mideleg, Irq.SEI), 0];
    case Csr.mvien:
      return [0, 0];
    case Csr.mvip:
      return [h.mipSw & mvipBits(h), 0];
  }
  return undefined;
}

/** Write an AIA CSR; false if `csr` is not one, or the selected register does not exist. */
export function aiaWrite(h: Hart, csr: number, lo: number, hi: number): boolean {
  const aia = h.aia;
  if (aia === null) return false;
  switch (csr) {
    case Csr.miselect:
      aia.miselect = lo & ISELECT_MASK;
      return true;
    case Csr.siselect:
      aia.siselect = lo & ISELECT_MASK;
      return true;
    case Csr.mireg:
      return iregWrite(aia.m, aia.miselect, lo, hi);
    case Csr.sireg:
      return iregWrite(aia.s, aia.siselect, lo, hi);
    case Csr.mtopei:
      aia.m.claimTop();
      return true;
    case Csr.stopei:
      aia.s.claimTop();
      return true;
    case Csr.mvien:
      // Every bit may be read-only zero ("Interrupt filtering and virtual interrupts for
      // supervisor level"): S-level interrupts are never virtual here.
      return true;
    case Csr.mvip: {
      // With mvien zero, mvip's bits 1, 5 and 9 are aliases of mip's writable SSIP, STIP and SEIP.
      const mask = mvipBits(h);
      h.mipSw = (h.mipSw & ~mask) | (lo & mask);
      h.irqCheck = true;
      h.wake();
      return true;
    }
  }
  return false;
}

/** mip's software-writable S-level bits that mvip aliases: STIP only while Sstc does not drive it. */
function mvipBits(h: Hart): number {
  const stce = (h.scratch[5]! & MENVCFG_HI_STCE) !== 0;
  return MIP_SSIP | MIP_SEIP | (stce ? 0 : MIP_STIP);
}

/**
 * *ireg: the major interrupt priorities (0x30..0x3F, RV64: even numbers only) are all read-only
 * zero, which the spec allows (every interrupt keeps its default priority); 0x70..0xFF are the
 * interrupt file's registers. Anything else is an illegal instruction.
 */
function iregRead(file: ImsicFile, isel: number): CsrValue {
  if (isel >= ISELECT.iprioFirst && isel <= ISELECT.iprioLast) return (isel & 1) === 0 ? [0, 0] : undefined;
  return file.read(isel);
}
function iregWrite(file: ImsicFile, isel: number, lo: number, hi: number): boolean {
  if (isel >= ISELECT.iprioFirst && isel <= ISELECT.iprioLast) return (isel & 1) === 0;
  return file.write(isel, lo, hi);
}

/**
 * mtopi/stopi: the highest-priority interrupt among `pending` (already masked by mie and
 * delegation) in default priority order, IID in bits 27:16. With every iprio zero, IPRIO is 0 for
 * the level's external interrupt and anything above it and 255 below it (AIA spec, "Machine top
 * interrupt CSR"; QEMU reports the same).
 */
function topi(pending: number, external: number): number {
  if (pending === 0) return 0;
  let above = true;
  for (const irq of IRQ_PRIORITY) {
    if (pending & (1 << irq)) return ((irq << 16) | (above ? 0 : IPRIO_LOWEST)) >>> 0;
    if (irq === external) above = false;
  }
  return 0;
}
