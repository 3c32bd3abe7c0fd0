/**
 * Executors for the rounding arithmetic: FADD, FSUB, FMUL, FDIV, FSQRT and the four fused
 * multiply-adds, in S and D. Each closure resolves the rounding mode (rm = DYN reads frm; a
 * reserved frm makes the instruction illegal before anything is modified), takes the JS-double
 * fast path in RNE with finite operands (in other modes only when that result is exact), and
 * otherwise the exact general path. Kernels are
 * chosen by a switch on a small op number rather than by a function value, so every call site
 * stays monomorphic and inlinable.
 */
import { bigPair, bigS, finiteD, finiteS, readS, writeBigPair, writeS } from "./bits.js";
import { addD, addS, divD, divS, fmaD, fmaS, mulD, mulS, sqrtD, sqrtS } from "./fast.js";
import { F32, F64, type FloatFormat } from "./format.js";
import { DYN, RMM, RNE, type FlagSink, type FpExec } from "./hart.js";
import { fAdd, fDiv, fFma, fMul, fSqrt } from "./softfloat.js";
import { doubles, floats } from "./views.js";

/** Binary op numbers: the funct5 of FADD, FSUB, FMUL, FDIV; SQRT (funct5 0x0b) uses rs1 only. */
export const ADD = 0;
export const SUB = 1;
export const MUL = 2;
export const DIV = 3;
export const SQRT = 4;

/** FMA op numbers, in opcode order: FMADD a*b+c, FMSUB a*b-c, FNMSUB -(a*b)+c, FNMADD -(a*b)-c. */
export const FMADD = 0;
export const FMSUB = 1;
export const FNMSUB = 2;
export const FNMADD = 3;

/** Flags of a trial RNE computation made on behalf of another rounding mode. */
const probe: FlagSink = { fflags: 0 };

/**
 * In RTZ, RDN, RUP and RMM the RNE kernel's result is still right when it is exact: an exact
 * result needs no rounding, so every mode agrees. Not for a zero sum, whose sign depends on the
 * mode (IEEE 754 §6.3: x - x is -0 in RDN), hence `op` (MUL, DIV and SQRT zeros are exact
 * products of zero operands with a mode-independent sign). NaN asks for the general path.
 */
function exactOnly(r: number, op: number): number {
  const flags = probe.fflags;
  probe.fflags = 0;
  if (flags !== 0 || (r === 0 && op <= SUB)) return NaN;
  return r;
}

function fast2S(op: number, a: number, b: number, env: FlagSink): number {
  switch (op) {
    case ADD:
      return addS(a, b, env);
    case SUB:
      return addS(a, -b, env);
    case MUL:
      return mulS(a, b, env);
    case DIV:
      return divS(a, b, env);
    default:
      return sqrtS(a, env);
  }
}

function fast2D(op: number, a: number, b: number, env: FlagSink): number {
  switch (op) {
    case ADD:
      return addD(a, b, env);
    case SUB:
      return addD(a, -b, env);
    case MUL:
      return mulD(a, b, env);
    case DIV:
      return divD(a, b, env);
    default:
      return sqrtD(a, env);
  }
}

function slow2(op: number, fmt: FloatFormat, a: bigint, b: bigint, rm: number, env: FlagSink): bigint {
  switch (op) {
    case ADD:
      return fAdd(fmt, a, b, rm, env);
    case SUB:
      return fAdd(fmt, a, b, rm, env, true);
    case MUL:
      return fMul(fmt, a, b, rm, env);
    case DIV:
      return fDiv(fmt, a, b, rm, env);
    default:
      return fSqrt(fmt, a, rm, env);
  }
}

/** FADD/FSUB/FMUL/FDIV/FSQRT.S. For SQRT pass rs2 = rs1 so only rs1 is inspected. */
export function binaryS(rd: number, rs1: number, rs2: number, rm: number, op: number): FpExec {
  return (h) => {
    const mode = rm === DYN ? h.frm : rm;
    if (mode > RMM) return false;
    const f = h.f;
    const a = readS(f, rs1);
    const b = readS(f, rs2);
    if (finiteS(a) && finiteS(b)) {
      const v = floats(f);
      const r =
        mode === RNE
          ? fast2S(op, v[2 * rs1]!, v[2 * rs2]!, h)
          : exactOnly(fast2S(op, v[2 * rs1]!, v[2 * rs2]!, probe), op);
      if (r === r) {
        v[2 * rd] = r;
        f[2 * rd + 1] = -1;
        h.markFsDirty();
        return true;
      }
    }
    writeS(f, rd, Number(slow2(op, F32, bigS(a), bigS(b), mode, h)));
    h.markFsDirty();
    return true;
  };
}

/** FADD/FSUB/FMUL/FDIV/FSQRT.D. For SQRT pass rs2 = rs1 so only rs1 is inspected. */
export function binaryD(rd: number, rs1: number, rs2: number, rm: number, op: number): FpExec {
  return (h) => {
    const mode = rm === DYN ? h.frm : rm;
    if (mode > RMM) return false;
    const f = h.f;
    if (finiteD(f[2 * rs1 + 1]!) && finiteD(f[2 * rs2 + 1]!)) {
      const v = doubles(f);
      const r = mode === RNE ? fast2D(op, v[rs1]!, v[rs2]!, h) : exactOnly(fast2D(op, v[rs1]!, v[rs2]!, probe), op);
      if (r === r) {
        v[rd] = r;
        h.markFsDirty();
        return true;
      }
    }
    writeBigPair(f, rd, slow2(op, F64, bigPair(f, rs1), bigPair(f, rs2), mode, h));
    h.markFsDirty();
    return true;
  };
}

function slowFma(op: number, fmt: FloatFormat, a: bigint, b: bigint, c: bigint, rm: number, env: FlagSink): bigint {
  return fFma(fmt, a, b, c, op >= FNMSUB, op === FMSUB || op === FNMADD, rm, env);
}

export function fmaOpS(rd: number, rs1: number, rs2: number, rs3: number, rm: number, op: number): FpExec {
  const negProd = op >= FNMSUB;
  const negAdd = op === FMSUB || op === FNMADD;
  return (h) => {
    const mode = rm === DYN ? h.frm : rm;
    if (mode > RMM) return false;
    const f = h.f;
    const a = readS(f, rs1);
    const b = readS(f, rs2);
    const c = readS(f, rs3);
    if (finiteS(a) && finiteS(b) && finiteS(c)) {
      const v = floats(f);
      const x = v[2 * rs1]!;
      const z = v[2 * rs3]!;
      const r =
        mode === RNE
          ? fmaS(negProd ? -x : x, v[2 * rs2]!, negAdd ? -z : z, h)
          : exactOnly(fmaS(negProd ? -x : x, v[2 * rs2]!, negAdd ? -z : z, probe), ADD);
      if (r === r) {
        v[2 * rd] = r;
        f[2 * rd + 1] = -1;
        h.markFsDirty();
        return true;
      }
    }
    writeS(f, rd, Number(slowFma(op, F32, bigS(a), bigS(b), bigS(c), mode, h)));
    h.markFsDirty();
    return true;
  };
}

export function fmaOpD(rd: number, rs1: number, rs2: number, rs3: number, rm: number, op: number): FpExec {
  const negProd = op >= FNMSUB;
  const negAdd = op === FMSUB || op === FNMADD;
  return (h) => {
    const mode = rm === DYN ? h.frm : rm;
    if (mode > RMM) return false;
    const f = h.f;
    if (finiteD(f[2 * rs1 + 1]!) && finiteD(f[2 * rs2 + 1]!) && finiteD(f[2 * rs3 + 1]!)) {
      const v = doubles(f);
      const x = v[rs1]!;
      const z = v[rs3]!;
      const r =
        mode === RNE
          ? fmaD(negProd ? -x : x, v[rs2]!, negAdd ? -z : z, h)
          : exactOnly(fmaD(negProd ? -x : x, v[rs2]!, negAdd ? -z : z, probe), ADD);
      if (r === r) {
        v[rd] = r;
        h.markFsDirty();
        return true;
      }
    }
    writeBigPair(f, rd, slowFma(op, F64, bigPair(f, rs1), bigPair(f, rs2), bigPair(f, rs3), mode, h));
    h.markFsDirty();
    return true;
  };
}
