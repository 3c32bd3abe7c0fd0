/**
 * Exact rounding of a real value sig * 2^exp to a binary format, in any of the five RISC-V
 * rounding modes, with IEEE 754 exception flags. RISC-V detects tininess AFTER rounding (spec
 * "Subnormal Arithmetic"): a nonzero result is tiny when rounding it to the format's precision
 * with an unbounded exponent range gives a magnitude below 2^emin; underflow is signaled when the
 * result is tiny and inexact.
 */
import { bitLength, type FloatFormat } from "./format.js";
import { NX, OF, RDN, RMM, RNE, RUP, UF, type FlagSink } from "./hart.js";

export interface Rounded {
  q: bigint;
  inexact: boolean;
}

/** Round sig / 2^k (k ≥ 0) to an integer in mode rm; `sign` is the sign of the real value. */
export function roundShift(sig: bigint, k: number, sign: number, rm: number): Rounded {
  if (k <= 0) return { q: sig << BigInt(-k), inexact: false };
  const kb = BigInt(k);
  const q = sig >> kb;
  const rem = sig - (q << kb);
  if (rem === 0n) return { q, inexact: false };
  let up: boolean;
  switch (rm) {
    case RNE: {
      const half = 1n << (kb - 1n);
      up = rem > half || (rem === half && (q & 1n) === 1n);
      break;
    }
    case RMM:
      up = rem >= 1n << (kb - 1n);
      break;
    case RDN:
      up = sign === 1;
      break;
    case RUP:
      up = sign === 0;
      break;
    default: // RTZ
      up = false;
  }
  return { q: up ? q + 1n : q, inexact: true };
}

/** The result of an overflow: infinity or the largest finite number, by mode and sign (IEEE 754 §7.4). */
export function overflowBits(fmt: FloatFormat, sign: number, rm: number): bigint {
  const toInf = rm === RNE || rm === RMM || (rm === RDN && sign === 1) || (rm === RUP && sign === 0);
  const mag = toInf ? fmt.inf : fmt.maxFinite;
  return sign ? fmt.signBit | mag : mag;
}

/**
 * Round (-1)^sign * sig * 2^exp to `fmt` and return its bits, OR-ing NX/UF/OF into env.
 * `sticky` says the true magnitude is slightly larger than sig * 2^exp (a nonzero remainder was
 * dropped); callers that pass it supply at least p+2 significant bits so the extra bit sits below
 * every rounding position. A zero sig yields a zero of the given sign.
 */
export function roundPack(
  fmt: FloatFormat,
  sign: number,
  sig: bigint,
  exp: number,
  rm: number,
  env: FlagSink,
  sticky = false,
): bigint {
  if (sticky) {
    sig = (sig << 1n) | 1n;
    exp -= 1;
  }
  const signBits = sign ? fmt.signBit : 0n;
  if (sig === 0n) return signBits;
  const p = fmt.p;
  const n = bitLength(sig);
  const e = exp + n - 1; // exponent of the leading bit of the exact value
  // Least significant kept bit: p bits below the leading one, but never below the subnormal lsb.
  const minLsb = fmt.emin - p + 1;
  let lsb = Math.max(e - p + 1, minLsb);
  const r = roundShift(sig, lsb - exp, sign, rm);
  let q = r.q;
  if (q >> BigInt(p) !== 0n) {
    // Rounding carried out to 2^p: renormalize (the dropped bit is zero).
    q >>= 1n;
    lsb += 1;
  }
  let flags = 0;
  if (r.inexact) {
    flags |= NX;
    if (e < fmt.emin) {
      // Tininess after rounding: round to p bits with an unbounded exponent range.
      const u = roundShift(sig, e - p + 1 - exp, sign, rm);
      const eu = u.q >> BigInt(p) !== 0n ? e + 1 : e;
      if (eu < fmt.emin) flags |= UF;
    }
  }
  if (q === 0n) {
    env.fflags |= flags;
    return signBits;
  }
  const top = lsb + bitLength(q) - 1;
  if (top > fmt.emax) {
    env.fflags |= flags | OF | NX;
    return overflowBits(fmt, sign, rm);
  }
  env.fflags |= flags;
  if (q >= fmt.hiddenBit) {
    const biased = BigInt(lsb + p - 1 + fmt.bias);
    return signBits | (biased << BigInt(fmt.fracBits)) | (q - fmt.hiddenBit);
  }
  return signBits | q; // subnormal: lsb === minLsb, biased exponent 0
}
