/**
 * Executors for the rounding arithmetic: FADD, FSUB, FMUL, FDIV, FSQRT and the four fused
 * multiply-adds, in S and D. Each closure resolves the rounding mode (rm = DYN reads frm; a
 * reserved frm makes the instruction illegal before anything is modified), takes the JS-double
 * fast path in RNE with finite operands, and otherwise the exact general path.
 */
import { bigPair, bigS, finiteD, finiteS, numFromD, numFromS, readS, writeBigPair, writeNumD, writeNumS, writeS } from "./bits.js";
import { F32, F64, type FloatFormat } from "./format.js";
import { DYN, RMM, RNE, type FlagSink, type FpExec } from "./hart.js";

/** A fast kernel: the RNE result, or NaN to ask for the general path (see fast.ts). */
export type Fast2 = (a: number, b: number, env: FlagSink) => number;
export type Slow2 = (fmt: FloatFormat, a: bigint, b: bigint, rm: number, env: FlagSink) => bigint;
export type Fast3 = (a: number, b: number, c: number, env: FlagSink) => number;
export type Slow3 = (fmt: FloatFormat, a: bigint, b: bigint, c: bigint, rm: number, env: FlagSink) => bigint;

export function binaryS(rd: number, rs1: number, rs2: number, rm: number, fast: Fast2, slow: Slow2): FpExec {
  return (h) => {
    const mode = rm === DYN ? h.frm : rm;
    if (mode > RMM) return false;
    const f = h.f;
    const a = readS(f, rs1);
    const b = readS(f, rs2);
    if (mode === RNE && finiteS(a) && finiteS(b)) {
      const r = fast(numFromS(a), numFromS(b), h);
      if (r === r) {
        writeNumS(f, rd, r);
        h.markFsDirty();
        return true;
      }
    }
    writeS(f, rd, Number(slow(F32, bigS(a), bigS(b), mode, h)));
    h.markFsDirty();
    return true;
  };
}

export function binaryD(rd: number, rs1: number, rs2: number, rm: number, fast: Fast2, slow: Slow2): FpExec {
  return (h) => {
    const mode = rm === DYN ? h.frm : rm;
    if (mode > RMM) return false;
    const f = h.f;
    const ahi = f[2 * rs1 + 1]!;
    const bhi = f[2 * rs2 + 1]!;
    if (mode === RNE && finiteD(ahi) && finiteD(bhi)) {
      const r = fast(numFromD(f[2 * rs1]!, ahi), numFromD(f[2 * rs2]!, bhi), h);
      if (r === r) {
        writeNumD(f, rd, r);
        h.markFsDirty();
        return true;
      }
    }
    writeBigPair(f, rd, slow(F64, bigPair(f, rs1), bigPair(f, rs2), mode, h));
    h.markFsDirty();
    return true;
  };
}

export function ternaryS(rd: number, rs1: number, rs2: number, rs3: number, rm: number, fast: Fast3, slow: Slow3): FpExec {
  return (h) => {
    const mode = rm === DYN ? h.frm : rm;
    if (mode > RMM) return false;
    const f = h.f;
    const a = readS(f, rs1);
    const b = readS(f, rs2);
    const c = readS(f, rs3);
    if (mode === RNE && finiteS(a) && finiteS(b) && finiteS(c)) {
      const r = fast(numFromS(a), numFromS(b), numFromS(c), h);
      if (r === r) {
        writeNumS(f, rd, r);
        h.markFsDirty();
        return true;
      }
    }
    writeS(f, rd, Number(slow(F32, bigS(a), bigS(b), bigS(c), mode, h)));
    h.markFsDirty();
    return true;
  };
}

export function ternaryD(rd: number, rs1: number, rs2: number, rs3: number, rm: number, fast: Fast3, slow: Slow3): FpExec {
  return (h) => {
    const mode = rm === DYN ? h.frm : rm;
    if (mode > RMM) return false;
    const f = h.f;
    const ahi = f[2 * rs1 + 1]!;
    const bhi = f[2 * rs2 + 1]!;
    const chi = f[2 * rs3 + 1]!;
    if (mode === RNE && finiteD(ahi) && finiteD(bhi) && finiteD(chi)) {
      const r = fast(numFromD(f[2 * rs1]!, ahi), numFromD(f[2 * rs2]!, bhi), numFromD(f[2 * rs3]!, chi), h);
      if (r === r) {
        writeNumD(f, rd, r);
        h.markFsDirty();
        return true;
      }
    }
    writeBigPair(f, rd, slow(F64, bigPair(f, rs1), bigPair(f, rs2), bigPair(f, rs3), mode, h));
    h.markFsDirty();
    return true;
  };
}
