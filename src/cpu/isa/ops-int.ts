/**
 * Integer instruction semantics on register pairs (RV64I and M, unprivileged spec chapters 2, 5, 7).
 * Each factory captures its operands once at decode time and returns the closure the block runs.
 * `d` is the destination pair index (2*rd, or 64 for x0: the scratch slot), `a`/`b` the sources'.
 */
import { TWO32 } from "./int64.js";
import type { Hart } from "../hart/hart.js";

/**
 * An instruction's closure. It returns true only when it ended its block early: a taken branch,
 * the one side exit in the middle of a block (exec.ts). Every other op returns nothing.
 */
export type Op = (h: Hart) => boolean | void;

// ---- helpers on pairs ----
export function sltPair(ah: number, al: number, bh: number, bl: number): boolean {
  return ah < bh || (ah === bh && al >>> 0 < bl >>> 0);
}
export function sltuPair(ah: number, al: number, bh: number, bl: number): boolean {
  return ah >>> 0 < bh >>> 0 || (ah === bh && al >>> 0 < bl >>> 0);
}
/** Shift left a pair by 0..63, writing x[d], x[d+1]. */
export function sll(x: Int32Array, d: number, l: number, hgh: number, s: number): void {
  if (s === 0) {
    x[d] = l;
    x[d + 1] = hgh;
  } else if (s < 32) {
    x[d + 1] = (hgh << s) | (l >>> (32 - s));
    x[d] = l << s;
  } else {
    x[d + 1] = l << (s - 32);
    x[d] = 0;
  }
}
export function srl(x: Int32Array, d: number, l: number, hgh: number, s: number): void {
  if (s === 0) {
    x[d] = l;
    x[d + 1] = hgh;
  } else if (s < 32) {
    x[d] = (l >>> s) | (hgh << (32 - s));
    x[d + 1] = hgh >>> s;
  } else {
    x[d] = hgh >>> (s - 32);
    x[d + 1] = 0;
  }
}
export function sra(x: Int32Array, d: number, l: number, hgh: number, s: number): void {
  if (s === 0) {
    x[d] = l;
    x[d + 1] = hgh;
  } else if (s < 32) {
    x[d] = (l >>> s) | (hgh << (32 - s));
    x[d + 1] = hgh >> s;
  } else {
    x[d] = hgh >> (s - 32);
    x[d + 1] = hgh >> 31;
  }
}

/** Low 64 bits of a 64x64 product, from 16-bit limbs so every partial product is exact. */
export function mulLow(x: Int32Array, d: number, al: number, ah: number, bl: number, bh: number): void {
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const p00 = a0 * b0;
  const mid = (p00 >>> 16) + ((a0 * b1) & 0xffff) + ((a1 * b0) & 0xffff);
  const hiOfLow = a1 * b1 + ((a0 * b1) >>> 16) + ((a1 * b0) >>> 16) + (mid >>> 16);
  x[d] = (mid << 16) | (p00 & 0xffff);
  x[d + 1] = (hiOfLow + Math.imul(al, bh) + Math.imul(ah, bl)) | 0;
}

function toBig(lo: number, hi: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo >>> 0);
}
function toBigU(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
function setBig(x: Int32Array, d: number, v: bigint): void {
  x[d] = Number(BigInt.asIntN(32, v));
  x[d + 1] = Number(BigInt.asIntN(32, v >> 32n));
}
/** Whether a pair holds a value of magnitude below 2^52 (so doubles divide it exactly). */
function small(hgh: number): boolean {
  return hgh >= -0x100000 && hgh < 0x100000;
}
function setNum(x: Int32Array, d: number, v: number): void {
  x[d] = v | 0;
  x[d + 1] = Math.floor(v / TWO32) | 0;
}

// ---- OP-IMM ----
export function addi(d: number, a: number, imm: number): Op {
  if (a === 0) {
    const hi = imm >> 31;
    return (h) => {
      h.x[d] = imm;
      h.x[d + 1] = hi;
    };
  }
  if (imm === 0)
    return (h) => {
      const x = h.x;
      x[d] = x[a]!;
      x[d + 1] = x[a + 1]!;
    };
  const ih = imm >> 31;
  const iu = imm >>> 0;
  return (h) => {
    const x = h.x;
    const s = (x[a]! >>> 0) + iu;
    x[d + 1] = (x[a + 1]! + ih + (s > 0xffffffff ? 1 : 0)) | 0;
    x[d] = s | 0;
  };
}
export function slti(d: number, a: number, imm: number, unsigned: boolean): Op {
  const ih = imm >> 31;
  return unsigned
    ? (h) => {
        const x = h.x;
        x[d] = sltuPair(x[a + 1]!, x[a]!, ih, imm) ? 1 : 0;
        x[d + 1] = 0;
      }
    : (h) => {
        const x = h.x;
        x[d] = sltPair(x[a + 1]!, x[a]!, ih, imm) ? 1 : 0;
        x[d + 1] = 0;
      };
}
export function logicImm(kind: "xor" | "or" | "and", d: number, a: number, imm: number): Op {
  const ih = imm >> 31;
  switch (kind) {
    case "xor":
      return (h) => {
        const x = h.x;
        x[d] = x[a]! ^ imm;
        x[d + 1] = x[a + 1]! ^ ih;
      };
    case "or":
      return (h) => {
        const x = h.x;
        x[d] = x[a]! | imm;
        x[d + 1] = x[a + 1]! | ih;
      };
    case "and":
      return (h) => {
        const x = h.x;
        x[d] = x[a]! & imm;
        x[d + 1] = x[a + 1]! & ih;
      };
  }
}
export function shiftImm(kind: 0 | 1 | 2, d: number, a: number, s: number): Op {
  const f = kind === 0 ? sll : kind === 1 ? srl : sra;
  return (h) => {
    const x = h.x;
    f(x, d, x[a]!, x[a + 1]!, s);
  };
}

// ---- OP ----
export function add(d: number, a: number, b: number): Op {
  return (h) => {
    const x = h.x;
    const s = (x[a]! >>> 0) + (x[b]! >>> 0);
    x[d + 1] = (x[a + 1]! + x[b + 1]! + (s > 0xffffffff ? 1 : 0)) | 0;
    x[d] = s | 0;
  };
}
export function sub(d: number, a: number, b: number): Op {
  return (h) => {
    const x = h.x;
    const s = (x[a]! >>> 0) - (x[b]! >>> 0);
    x[d + 1] = (x[a + 1]! - x[b + 1]! - (s < 0 ? 1 : 0)) | 0;
    x[d] = s | 0;
  };
}
export function slt(d: number, a: number, b: number, unsigned: boolean): Op {
  const cmp = unsigned ? sltuPair : sltPair;
  return (h) => {
    const x = h.x;
    x[d] = cmp(x[a + 1]!, x[a]!, x[b + 1]!, x[b]!) ? 1 : 0;
    x[d + 1] = 0;
  };
}
export function logic(kind: "xor" | "or" | "and", d: number, a: number, b: number): Op {
  switch (kind) {
    case "xor":
      return (h) => {
        const x = h.x;
        x[d] = x[a]! ^ x[b]!;
        x[d + 1] = x[a + 1]! ^ x[b + 1]!;
      };
    case "or":
      return (h) => {
        const x = h.x;
        x[d] = x[a]! | x[b]!;
        x[d + 1] = x[a + 1]! | x[b + 1]!;
      };
    case "and":
      return (h) => {
        const x = h.x;
        x[d] = x[a]! & x[b]!;
        x[d + 1] = x[a + 1]! & x[b + 1]!;
      };
  }
}
export function shift(kind: 0 | 1 | 2, d: number, a: number, b: number): Op {
  const f = kind === 0 ? sll : kind === 1 ? srl : sra;
  return (h) => {
    const x = h.x;
    f(x, d, x[a]!, x[a + 1]!, x[b]! & 63);
  };
}
export function mul(d: number, a: number, b: number): Op {
  return (h) => {
    const x = h.x;
    mulLow(x, d, x[a]!, x[a + 1]!, x[b]!, x[b + 1]!);
  };
}
/**
 * High 64 bits of the unsigned 128-bit product of two pairs, by 16-bit limbs (every partial
 * product and column sum stays below 2^53, so doubles are exact). Result in x[d], x[d+1].
 */
function mulhu64(x: Int32Array, d: number, al: number, ah: number, bl: number, bh: number): void {
  const a0 = al & 0xffff,
    a1 = al >>> 16,
    a2 = ah & 0xffff,
    a3 = ah >>> 16;
  const b0 = bl & 0xffff,
    b1 = bl >>> 16,
    b2 = bh & 0xffff,
    b3 = bh >>> 16;
  let c = Math.floor((a0 * b0) / 65536);
  c = Math.floor((c + a0 * b1 + a1 * b0) / 65536);
  c = Math.floor((c + a0 * b2 + a1 * b1 + a2 * b0) / 65536);
  c = Math.floor((c + a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0) / 65536);
  const c4 = c + a1 * b3 + a2 * b2 + a3 * b1;
  const r4 = c4 % 65536;
  const c5 = Math.floor(c4 / 65536) + a2 * b3 + a3 * b2;
  const r5 = c5 % 65536;
  const c6 = Math.floor(c5 / 65536) + a3 * b3;
  x[d] = r4 | (r5 << 16);
  x[d + 1] = c6 | 0;
}
/**
 * MULH (ss), MULHSU (su), MULHU (uu): the high 64 bits of the 128-bit product. Signed forms
 * correct the unsigned product: a negative operand contributes -(other operand) * 2^64.
 */
export function mulh(kind: "ss" | "su" | "uu", d: number, a: number, b: number): Op {
  return (h) => {
    const x = h.x;
    const al = x[a]!,
      ah = x[a + 1]!,
      bl = x[b]!,
      bh = x[b + 1]!;
    mulhu64(x, d, al, ah, bl, bh);
    if (kind === "uu") return;
    let rl = x[d]!,
      rh = x[d + 1]!;
    if (ah < 0) {
      const s = (rl >>> 0) - (bl >>> 0);
      rh = (rh - bh - (s < 0 ? 1 : 0)) | 0;
      rl = s | 0;
    }
    if (kind === "ss" && bh < 0) {
      const s = (rl >>> 0) - (al >>> 0);
      rh = (rh - ah - (s < 0 ? 1 : 0)) | 0;
      rl = s | 0;
    }
    x[d] = rl;
    x[d + 1] = rh;
  };
}
/**
 * DIV/DIVU/REM/REMU (7.2): division by zero gives all ones (quotient) or the dividend (remainder);
 * signed overflow (-2^63 / -1) gives -2^63 and 0. Doubles divide exactly when |dividend| < 2^53.
 */
export function div(signed: boolean, rem: boolean, d: number, a: number, b: number): Op {
  return (h) => {
    const x = h.x;
    const al = x[a]!;
    const ah = x[a + 1]!;
    const bl = x[b]!;
    const bh = x[b + 1]!;
    if (bl === 0 && bh === 0) {
      if (rem) {
        x[d] = al;
        x[d + 1] = ah;
      } else {
        x[d] = -1;
        x[d + 1] = -1;
      }
      return;
    }
    if (signed) {
      if (small(ah) && small(bh)) {
        const na = ah * TWO32 + (al >>> 0);
        const nb = bh * TWO32 + (bl >>> 0);
        setNum(x, d, rem ? na % nb : Math.trunc(na / nb));
        return;
      }
      const va = toBig(al, ah);
      const vb = toBig(bl, bh);
      if (vb === -1n && va === -(1n << 63n)) {
        setBig(x, d, rem ? 0n : va);
        return;
      }
      setBig(x, d, rem ? va % vb : va / vb);
    } else {
      if (ah >>> 0 < 0x100000 && bh >>> 0 < 0x100000) {
        const na = (ah >>> 0) * TWO32 + (al >>> 0);
        const nb = (bh >>> 0) * TWO32 + (bl >>> 0);
        setNum(x, d, rem ? na % nb : Math.floor(na / nb));
        return;
      }
      const va = toBigU(al, ah);
      const vb = toBigU(bl, bh);
      setBig(x, d, rem ? va % vb : va / vb);
    }
  };
}

// ---- 32-bit (W) forms: operate on the low words, sign-extend the 32-bit result (chapter 5.3) ----
function setW(x: Int32Array, d: number, v: number): void {
  x[d] = v;
  x[d + 1] = v >> 31;
}
export function addiw(d: number, a: number, imm: number): Op {
  return (h) => {
    const x = h.x;
    setW(x, d, (x[a]! + imm) | 0);
  };
}
export function shiftImmW(kind: 0 | 1 | 2, d: number, a: number, s: number): Op {
  return kind === 0
    ? (h) => setW(h.x, d, h.x[a]! << s)
    : kind === 1
      ? (h) => setW(h.x, d, (h.x[a]! >>> s) | 0)
      : (h) => setW(h.x, d, h.x[a]! >> s);
}
export function opW(kind: "add" | "sub" | "sll" | "srl" | "sra" | "mul", d: number, a: number, b: number): Op {
  switch (kind) {
    case "add":
      return (h) => setW(h.x, d, (h.x[a]! + h.x[b]!) | 0);
    case "sub":
      return (h) => setW(h.x, d, (h.x[a]! - h.x[b]!) | 0);
    case "sll":
      return (h) => setW(h.x, d, h.x[a]! << (h.x[b]! & 31));
    case "srl":
      return (h) => setW(h.x, d, (h.x[a]! >>> (h.x[b]! & 31)) | 0);
    case "sra":
      return (h) => setW(h.x, d, h.x[a]! >> (h.x[b]! & 31));
    case "mul":
      return (h) => setW(h.x, d, Math.imul(h.x[a]!, h.x[b]!));
  }
}
export function divW(signed: boolean, rem: boolean, d: number, a: number, b: number): Op {
  return (h) => {
    const x = h.x;
    const va = signed ? x[a]! : x[a]! >>> 0;
    const vb = signed ? x[b]! : x[b]! >>> 0;
    let r: number;
    if (vb === 0) r = rem ? va : -1;
    else if (signed && va === -0x80000000 && vb === -1) r = rem ? 0 : va;
    else r = rem ? va % vb : Math.trunc(va / vb);
    setW(x, d, r | 0);
  };
}

// ---- upper immediates ----
export function lui(d: number, imm: number): Op {
  const hi = imm >> 31;
  return (h) => {
    h.x[d] = imm;
    h.x[d + 1] = hi;
  };
}
export function auipc(d: number, off: number, imm: number): Op {
  return (h) => setNum(h.x, d, h.pc + off + imm);
}
