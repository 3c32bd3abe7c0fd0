/**
 * Decoding: one instruction word into the closure that executes it (unprivileged spec chapter 24,
 * "RV32/64G Instruction Set Listings"). Compressed instructions arrive here already expanded.
 * Decoding happens once per instruction per cached block (see exec.ts), never on the hot path.
 */
import { Exc, MS_FS } from "./defs.js";
import { decodeFp } from "../fpu/index.js";
import { expandCompressed } from "./compressed.js";
import * as I from "./ops-int.js";
import type { Op } from "./ops-int.js";
import * as M from "./ops-mem.js";
import * as S from "./ops-sys.js";

export interface Decoded {
  op: Op;
  /**
   * True when the instruction always leaves its block: it transfers control or changes state the
   * block loop must see. Conditional branches do not: they leave only when taken.
   */
  ends: boolean;
}


// Immediates of the S, B and J formats (unprivileged spec 2.3, "Immediate Encoding Variants"),
// shared with the fast-subset classifier (kinds.ts), which reads the same encodings.
export const immS = (inst: number): number => ((inst >> 25) << 5) | ((inst >>> 7) & 31);
export const immB = (inst: number): number =>
  ((inst >> 31) << 12) | (((inst >>> 25) & 0x3f) << 5) | (((inst >>> 8) & 15) << 1) | (((inst >>> 7) & 1) << 11);
export const immJ = (inst: number): number =>
  ((inst >> 31) << 20) | (((inst >>> 21) & 0x3ff) << 1) | (((inst >>> 20) & 1) << 11) | (((inst >>> 12) & 0xff) << 12);

/**
 * Decode the instruction `raw` (a 32-bit word, or a 16-bit parcel when `len` is 2) found `off`
 * bytes into its block, after `index` other instructions of it.
 */
export function decode(raw: number, len: 2 | 4, off: number, index = 0): Decoded {
  const inst = len === 2 ? expandCompressed(raw) : raw;
  if (inst === -1) return { op: S.illegal(raw), ends: true };
  const opcode = inst & 0x7f;
  const rdn = (inst >>> 7) & 31;
  const d = rdn === 0 ? 64 : rdn * 2;
  const f3 = (inst >>> 12) & 7;
  const r1 = (inst >>> 15) & 31;
  const a = r1 * 2;
  const b = ((inst >>> 20) & 31) * 2;
  const f7 = inst >>> 25;
  const immI = inst >> 20;
  const ill = { op: S.illegal(raw), ends: true };
  const at = (op: Op | null, ends = false): Decoded => (op ? { op, ends } : ill);

  switch (opcode) {
    case 0x37:
      return at(I.lui(d, inst & 0xfffff000));
    case 0x17:
      return at(I.auipc(d, off, inst & 0xfffff000));
    case 0x6f:
      return at(S.jal(d, off, immJ(inst), len), true);
    case 0x67:
      return f3 === 0 ? at(S.jalr(d, a, immI, off, len), true) : ill;
    case 0x63:
      // A side exit: the block runs on when the branch is not taken (exec.ts).
      return at(S.branch(f3, a, b, off, immB(inst)));
    case 0x03:
      return f3 === 7 ? ill : at(M.load(f3 & 3, f3 >= 4, d, a, immI));
    case 0x23:
      return f3 >= 4 ? ill : at(M.store(f3, a, b, immS(inst)));
    case 0x07:
      return f3 === 2 || f3 === 3 ? at(M.fpLoad(f3 === 3, ((inst >>> 7) & 31) * 2, a, immI, raw)) : ill;
    case 0x27:
      return f3 === 2 || f3 === 3 ? at(M.fpStore(f3 === 3, a, ((inst >>> 20) & 31) * 2, immS(inst), raw)) : ill;
    case 0x13:
      return at(opImm(f3, d, a, inst));
    case 0x1b:
      return at(opImm32(f3, d, a, inst));
    case 0x33:
      return at(op(f3, f7, d, a, b));
    case 0x3b:
      return at(op32(f3, f7, d, a, b));
    case 0x2f:
      return f3 === 2 || f3 === 3 ? at(M.amo(inst >>> 27, f3 === 3, d, a, b)) : ill;
    case 0x0f:
      // FENCE (and FENCE.TSO, PAUSE): this machine is sequentially consistent, nothing to do.
      if (f3 === 0) return at((h) => void h);
      if (f3 === 1) return at(S.fenceI(off), true);
      return ill;
    case 0x73:
      return system(inst, raw, f3, d, r1, off, index);
    case 0x53:
    case 0x43:
    case 0x47:
    case 0x4b:
    case 0x4f: {
      const exec = decodeFp(inst);
      if (!exec) return ill;
      return at((h) => {
        if (!(h.mstatus & MS_FS) || !exec(h)) h.raise(Exc.Illegal, raw >>> 0);
      });
    }
  }
  return ill;
}

function opImm(f3: number, d: number, a: number, inst: number): Op | null {
  const imm = inst >> 20;
  switch (f3) {
    case 0:
      return I.addi(d, a, imm);
    case 1:
      return inst >>> 26 === 0 ? I.shiftImm(0, d, a, (inst >>> 20) & 63) : null;
    case 2:
      return I.slti(d, a, imm, false);
    case 3:
      return I.slti(d, a, imm, true);
    case 4:
      return I.logicImm("xor", d, a, imm);
    case 5: {
      const f6 = inst >>> 26;
      if (f6 === 0) return I.shiftImm(1, d, a, (inst >>> 20) & 63);
      if (f6 === 0x10) return I.shiftImm(2, d, a, (inst >>> 20) & 63);
      return null;
    }
    case 6:
      return I.logicImm("or", d, a, imm);
    default:
      return I.logicImm("and", d, a, imm);
  }
}

function opImm32(f3: number, d: number, a: number, inst: number): Op | null {
  const f7 = inst >>> 25;
  const sh = (inst >>> 20) & 31;
  if (f3 === 0) return I.addiw(d, a, inst >> 20);
  if (f3 === 1 && f7 === 0) return I.shiftImmW(0, d, a, sh);
  if (f3 === 5 && f7 === 0) return I.shiftImmW(1, d, a, sh);
  if (f3 === 5 && f7 === 0x20) return I.shiftImmW(2, d, a, sh);
  return null;
}

function op(f3: number, f7: number, d: number, a: number, b: number): Op | null {
  if (f7 === 1) {
    switch (f3) {
      case 0:
        return I.mul(d, a, b);
      case 1:
        return I.mulh("ss", d, a, b);
      case 2:
        return I.mulh("su", d, a, b);
      case 3:
        return I.mulh("uu", d, a, b);
      default:
        return I.div((f3 & 1) === 0, f3 >= 6, d, a, b);
    }
  }
  if (f7 === 0x20) {
    if (f3 === 0) return I.sub(d, a, b);
    if (f3 === 5) return I.shift(2, d, a, b);
    return null;
  }
  if (f7 !== 0) return null;
  switch (f3) {
    case 0:
      return I.add(d, a, b);
    case 1:
      return I.shift(0, d, a, b);
    case 2:
      return I.slt(d, a, b, false);
    case 3:
      return I.slt(d, a, b, true);
    case 4:
      return I.logic("xor", d, a, b);
    case 5:
      return I.shift(1, d, a, b);
    case 6:
      return I.logic("or", d, a, b);
    default:
      return I.logic("and", d, a, b);
  }
}

function op32(f3: number, f7: number, d: number, a: number, b: number): Op | null {
  if (f7 === 1) {
    if (f3 === 0) return I.opW("mul", d, a, b);
    if (f3 >= 4) return I.divW((f3 & 1) === 0, f3 >= 6, d, a, b);
    return null;
  }
  if (f7 === 0) {
    if (f3 === 0) return I.opW("add", d, a, b);
    if (f3 === 1) return I.opW("sll", d, a, b);
    if (f3 === 5) return I.opW("srl", d, a, b);
    return null;
  }
  if (f7 === 0x20) {
    if (f3 === 0) return I.opW("sub", d, a, b);
    if (f3 === 5) return I.opW("sra", d, a, b);
  }
  return null;
}

function system(inst: number, raw: number, f3: number, d: number, r1: number, off: number, index: number): Decoded {
  if (f3 !== 0 && f3 !== 4) return { op: S.csrOp(f3, inst >>> 20, d, r1, off, raw, index), ends: true };
  const ill = { op: S.illegal(raw), ends: true };
  if (f3 !== 0 || ((inst >>> 7) & 31) !== 0) return ill;
  if (inst >>> 25 === 0x09) return { op: S.sfenceVma(r1 * 2, off, raw), ends: true };
  if (r1 !== 0) return ill;
  switch (inst >>> 20) {
    case 0x000:
      return { op: S.ecall(), ends: true };
    case 0x001:
      return { op: S.ebreak(off), ends: true };
    case 0x102:
      return { op: S.sret(raw), ends: true };
    case 0x302:
      return { op: S.mret(raw), ends: true };
    case 0x105:
      return { op: S.wfi(off, raw), ends: true };
  }
  return ill;
}

