/**
 * Moving values between register halves, JS numbers and bigints. The JS-number views are only
 * used for non-NaN values: a NaN passing through a JS number may lose its payload or quiet bit,
 * so NaNs are always handled as bits (spec: moves and sign injection preserve NaN payloads).
 */
import { CpuError } from "../errors.js";

const scratch = new ArrayBuffer(8);
const f64 = new Float64Array(scratch);
const f32 = new Float32Array(scratch);
const i32 = new Int32Array(scratch);

// Register halves are (low, high) words; the typed-array views below assume a little-endian host.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new CpuError("HOST_BIG_ENDIAN", "the FPU emulation needs a little-endian host; run Corral on x86-64 or arm64");
}

/** Canonical single-precision NaN bits (spec "NaN Generation and Propagation"). */
export const CANONICAL_NAN_S = 0x7fc00000;
/** High and low words of the canonical double-precision NaN, 0x7ff8000000000000. */
export const CANONICAL_NAN_D_HI = 0x7ff80000;

/** Single-precision bits of f register r: the canonical NaN unless properly NaN-boxed
 *  (spec "NaN Boxing of Narrower Values"). */
export function readS(f: Int32Array, r: number): number {
  return f[2 * r + 1] === -1 ? f[2 * r]! : CANONICAL_NAN_S;
}

export function writeS(f: Int32Array, r: number, bits: number): void {
  f[2 * r] = bits;
  f[2 * r + 1] = -1;
}

export function numFromS(bits: number): number {
  i32[0] = bits;
  return f32[0]!;
}

export function numFromD(lo: number, hi: number): number {
  i32[0] = lo;
  i32[1] = hi;
  return f64[0]!;
}

/** Store a non-NaN number as a NaN-boxed single. The number must already be a float32 value. */
export function writeNumS(f: Int32Array, r: number, v: number): void {
  f32[0] = v;
  f[2 * r] = i32[0]!;
  f[2 * r + 1] = -1;
}

/** Store a non-NaN number as a double. */
export function writeNumD(f: Int32Array, r: number, v: number): void {
  f64[0] = v;
  f[2 * r] = i32[0]!;
  f[2 * r + 1] = i32[1]!;
}

/** Bits of a single as an unsigned bigint. */
export function bigS(bits: number): bigint {
  return BigInt(bits >>> 0);
}

/** Bits of a 64-bit register (f or x) as an unsigned bigint. */
export function bigPair(regs: Int32Array, r: number): bigint {
  return (BigInt(regs[2 * r + 1]! >>> 0) << 32n) | BigInt(regs[2 * r]! >>> 0);
}

/** Write the low 64 bits of v (any sign) into a register pair. */
export function writeBigPair(regs: Int32Array, r: number, v: bigint): void {
  regs[2 * r] = Number(BigInt.asIntN(32, v));
  regs[2 * r + 1] = Number(BigInt.asIntN(32, v >> 32n));
}

/** True when a single's bits are not an infinity or NaN. */
export function finiteS(bits: number): boolean {
  return (bits & 0x7f800000) !== 0x7f800000;
}

/** True when a double's high word is not an infinity or NaN. */
export function finiteD(hi: number): boolean {
  return (hi & 0x7ff00000) !== 0x7ff00000;
}
