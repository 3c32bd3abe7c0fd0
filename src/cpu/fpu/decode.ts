/**
 * Decoding of the F and D instructions the CPU hands over: OP-FP (0x53) and the R4-type fused
 * multiply-adds (0x43 FMADD, 0x47 FMSUB, 0x4b FNMSUB, 0x4f FNMADD). Loads and stores are the
 * CPU's. Field layout (unprivileged spec, "F" chapter): rd [11:7], rm/funct3 [14:12], rs1 [19:15],
 * rs2 [24:20], fmt [26:25] (00 = S, 01 = D), funct5 [31:27] (rs3 for R4). All checks that depend
 * only on the encoding happen here, once; the returned closure only reads frm when rm = DYN.
 */
import { SQRT, binaryD, binaryS, fmaOpD, fmaOpS } from "./ops-arith.js";
import { cvtDFromInt, cvtDFromS, cvtIntFromD, cvtIntFromS, cvtSFromD, cvtSFromInt } from "./ops-convert.js";
import { classD, classS, cmpD, cmpS, minMaxD, minMaxS, mvDX, mvWX, mvXD, mvXW, sgnjD, sgnjS } from "./ops-misc.js";
import type { FpExec } from "./hart.js";

export const OP_FP = 0x53;
export const OP_FMADD = 0x43;
export const OP_FMSUB = 0x47;
export const OP_FNMSUB = 0x4b;
export const OP_FNMADD = 0x4f;

/** funct5 values of OP-FP. */
const F_ADD = 0x00;
const F_SUB = 0x01;
const F_MUL = 0x02;
const F_DIV = 0x03;
const F_SGNJ = 0x04;
const F_MINMAX = 0x05;
const F_CVT_FF = 0x08;
const F_SQRT = 0x0b;
const F_CMP = 0x14;
const F_CVT_INT_FROM = 0x18;
const F_CVT_FROM_INT = 0x1a;
const F_MV_X_CLASS = 0x1c;
const F_MV_F = 0x1e;

const FMT_S = 0;
const FMT_D = 1;

/** rm encodings 101 and 110 are reserved in an instruction (spec "Rounding mode encoding"). */
function validRm(rm: number): boolean {
  return rm !== 5 && rm !== 6;
}

function decodeR4(
  opcode: number,
  rd: number,
  rm: number,
  rs1: number,
  rs2: number,
  fmt: number,
  rs3: number,
): FpExec | null {
  if (!validRm(rm)) return null;
  const kind = (opcode - OP_FMADD) >> 2; // 0 FMADD, 1 FMSUB, 2 FNMSUB, 3 FNMADD
  return fmt === FMT_S ? fmaOpS(rd, rs1, rs2, rs3, rm, kind) : fmaOpD(rd, rs1, rs2, rs3, rm, kind);
}

function decodeOpFp(rd: number, rm: number, rs1: number, rs2: number, fmt: number, funct5: number): FpExec | null {
  const isS = fmt === FMT_S;
  switch (funct5) {
    case F_ADD:
    case F_SUB:
    case F_MUL:
    case F_DIV:
      // funct5 0..3 are the executors' ADD, SUB, MUL, DIV op numbers.
      if (!validRm(rm)) return null;
      return isS ? binaryS(rd, rs1, rs2, rm, funct5) : binaryD(rd, rs1, rs2, rm, funct5);
    case F_SQRT:
      if (rs2 !== 0 || !validRm(rm)) return null;
      // Square root reads rs1 twice so the binary executor's operand checks see only rs1.
      return isS ? binaryS(rd, rs1, rs1, rm, SQRT) : binaryD(rd, rs1, rs1, rm, SQRT);
    case F_SGNJ:
      if (rm > 2) return null;
      return isS ? sgnjS(rd, rs1, rs2, rm) : sgnjD(rd, rs1, rs2, rm);
    case F_MINMAX:
      if (rm > 1) return null;
      return isS ? minMaxS(rd, rs1, rs2, rm === 1) : minMaxD(rd, rs1, rs2, rm === 1);
    case F_CVT_FF:
      if (!validRm(rm)) return null;
      if (isS && rs2 === FMT_D) return cvtSFromD(rd, rs1, rm);
      if (!isS && rs2 === FMT_S) return cvtDFromS(rd, rs1, rm);
      return null;
    case F_CMP:
      if (rm > 2) return null;
      return isS ? cmpS(rd, rs1, rs2, rm) : cmpD(rd, rs1, rs2, rm);
    case F_CVT_INT_FROM:
      if (rs2 > 3 || !validRm(rm)) return null;
      return isS ? cvtIntFromS(rd, rs1, rs2, rm) : cvtIntFromD(rd, rs1, rs2, rm);
    case F_CVT_FROM_INT:
      if (rs2 > 3 || !validRm(rm)) return null;
      return isS ? cvtSFromInt(rd, rs1, rs2, rm) : cvtDFromInt(rd, rs1, rs2, rm);
    case F_MV_X_CLASS:
      if (rs2 !== 0) return null;
      if (rm === 0) return isS ? mvXW(rd, rs1) : mvXD(rd, rs1);
      if (rm === 1) return isS ? classS(rd, rs1) : classD(rd, rs1);
      return null;
    case F_MV_F:
      if (rs2 !== 0 || rm !== 0) return null;
      return isS ? mvWX(rd, rs1) : mvDX(rd, rs1);
    default:
      return null;
  }
}

/** Decode one 32-bit instruction word of OP-FP or the FMA opcodes; null if the encoding is
 *  illegal (reserved rm 5 or 6, unknown funct, a format other than S or D, wrong rs2). */
export function decodeFp(inst: number): FpExec | null {
  const opcode = inst & 0x7f;
  const rd = (inst >>> 7) & 31;
  const rm = (inst >>> 12) & 7;
  const rs1 = (inst >>> 15) & 31;
  const rs2 = (inst >>> 20) & 31;
  const fmt = (inst >>> 25) & 3;
  const funct5 = inst >>> 27;
  if (fmt !== FMT_S && fmt !== FMT_D) return null;
  switch (opcode) {
    case OP_FP:
      return decodeOpFp(rd, rm, rs1, rs2, fmt, funct5);
    case OP_FMADD:
    case OP_FMSUB:
    case OP_FNMSUB:
    case OP_FNMADD:
      return decodeR4(opcode, rd, rm, rs1, rs2, fmt, funct5);
    default:
      return null;
  }
}
