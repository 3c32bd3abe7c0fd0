/**
 * The interface between the CPU and the F/D extensions: what an FP instruction may touch and the
 * shape of a decoded instruction. RISC-V unprivileged ISA, chapters "F" and "D".
 */

/** What an FP instruction may touch. Registers are 64-bit, stored as two int32 halves. */
export interface FpuHart {
  /** Integer registers: x[2*r] = low 32 bits, x[2*r+1] = high 32 bits. Never write register 0. */
  readonly x: Int32Array;
  /** FP registers, raw bits: f[2*r] = low 32 bits, f[2*r+1] = high 32 bits. Single-precision values
   *  are NaN-boxed: high word 0xffffffff, low word the float32 bits (spec 13.2 "NaN boxing"). */
  readonly f: Int32Array;
  /** fflags accrued exception flags (NV=0x10, DZ=0x08, OF=0x04, UF=0x02, NX=0x01): OR into it. */
  fflags: number;
  /** frm, the dynamic rounding mode (0..7). */
  frm: number;
  /** Called whenever an instruction writes an f register (sets mstatus.FS = Dirty). */
  markFsDirty(): void;
}

/** An executable FP instruction. Returns false when it is illegal at run time (rm=DYN with an
 *  invalid frm, i.e. 5..7 ⇒ the CPU raises illegal-instruction; nothing may be modified then). */
export type FpExec = (h: FpuHart) => boolean;

/** Where arithmetic accrues exception flags: the hart itself, or a scratch object in tests. */
export interface FlagSink {
  fflags: number;
}

/** Accrued exception flag bits of fflags (spec "Accrued exception flag encoding"). */
export const NV = 0x10;
export const DZ = 0x08;
export const OF = 0x04;
export const UF = 0x02;
export const NX = 0x01;

/** Rounding modes as encoded in the rm field and in frm (spec "Rounding mode encoding"). */
export const RNE = 0;
export const RTZ = 1;
export const RDN = 2;
export const RUP = 3;
export const RMM = 4;
/** rm = 111 in an instruction selects frm; in frm itself 5..7 are reserved. */
export const DYN = 7;
