/**
 * The two IEEE 754 binary interchange formats RISC-V F and D compute in, described as data so the
 * exact (BigInt) arithmetic is written once for both. Bit patterns are unsigned bigints of `width`
 * bits.
 */
export interface FloatFormat {
  readonly name: "S" | "D";
  /** Total width in bits: 32 or 64. */
  readonly width: number;
  /** Stored fraction bits (23 or 52); precision p is one more (the hidden bit). */
  readonly fracBits: number;
  readonly p: number;
  readonly bias: number;
  /** Smallest normal exponent, 1 - bias. */
  readonly emin: number;
  /** Largest finite exponent, = bias. */
  readonly emax: number;
  /** The all-ones biased exponent (255 or 2047): infinities and NaNs. */
  readonly expAllOnes: number;
  readonly fracMask: bigint;
  readonly hiddenBit: bigint;
  readonly signBit: bigint;
  /** Most significant fraction bit: set in a quiet NaN, clear in a signaling one. */
  readonly quietBit: bigint;
  /** Positive infinity. */
  readonly inf: bigint;
  /** Largest finite magnitude. */
  readonly maxFinite: bigint;
  /** The canonical NaN (spec "NaN Generation and Propagation"): positive, only the quiet bit set. */
  readonly canonicalNaN: bigint;
}

function makeFormat(name: "S" | "D", width: number, expBits: number): FloatFormat {
  const fracBits = width - 1 - expBits;
  const bias = (1 << (expBits - 1)) - 1;
  const expAllOnes = (1 << expBits) - 1;
  const inf = BigInt(expAllOnes) << BigInt(fracBits);
  const quietBit = 1n << BigInt(fracBits - 1);
  return {
    name,
    width,
    fracBits,
    p: fracBits + 1,
    bias,
    emin: 1 - bias,
    emax: bias,
    expAllOnes,
    fracMask: (1n << BigInt(fracBits)) - 1n,
    hiddenBit: 1n << BigInt(fracBits),
    signBit: 1n << BigInt(width - 1),
    quietBit,
    inf,
    maxFinite: inf - 1n,
    canonicalNaN: inf | quietBit,
  };
}

export const F32: FloatFormat = makeFormat("S", 32, 8);
export const F64: FloatFormat = makeFormat("D", 64, 11);

/** Classes of an unpacked operand. */
export const ZERO = 0;
export const FINITE = 1;
export const INF = 2;
export const QNAN = 3;
export const SNAN = 4;

/** An operand taken apart: for FINITE, its magnitude is exactly sig * 2^exp (sig > 0). */
export interface Unpacked {
  kind: number;
  sign: number;
  exp: number;
  sig: bigint;
}

export function unpack(fmt: FloatFormat, bits: bigint): Unpacked {
  const sign = Number(bits >> BigInt(fmt.width - 1)) & 1;
  const e = Number((bits >> BigInt(fmt.fracBits)) & BigInt(fmt.expAllOnes));
  const frac = bits & fmt.fracMask;
  if (e === fmt.expAllOnes) {
    if (frac === 0n) return { kind: INF, sign, exp: 0, sig: 0n };
    return { kind: (frac & fmt.quietBit) !== 0n ? QNAN : SNAN, sign, exp: 0, sig: 0n };
  }
  if (e === 0) {
    if (frac === 0n) return { kind: ZERO, sign, exp: 0, sig: 0n };
    return { kind: FINITE, sign, exp: fmt.emin - fmt.fracBits, sig: frac };
  }
  return { kind: FINITE, sign, exp: e - fmt.bias - fmt.fracBits, sig: frac | fmt.hiddenBit };
}

export function isNaNKind(kind: number): boolean {
  return kind === QNAN || kind === SNAN;
}

/** Signed zero or infinity of a format. */
export function zeroBits(fmt: FloatFormat, sign: number): bigint {
  return sign ? fmt.signBit : 0n;
}
export function infBits(fmt: FloatFormat, sign: number): bigint {
  return sign ? fmt.signBit | fmt.inf : fmt.inf;
}

/** Number of significant bits of a positive bigint. */
export function bitLength(v: bigint): number {
  // toString(16) is exact and fast enough for the general path's operand sizes.
  const hex = v.toString(16);
  const top = parseInt(hex[0] ?? "0", 16);
  return (hex.length - 1) * 4 + (32 - Math.clz32(top));
}
