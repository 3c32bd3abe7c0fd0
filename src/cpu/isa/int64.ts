/**
 * 64-bit values as JS numbers and int32 pairs. Registers are pairs (exact, allocation-free);
 * addresses and counters are numbers, exact while their magnitude is below 2^53 (every canonical
 * Sv39/Sv48 address is below 2^48).
 */
export const TWO32 = 4294967296;

/** Low word of a 64-bit integer held in a number. */
export function lo32(v: number): number {
  return v | 0;
}
/** High word of a 64-bit integer held in a number (two's complement for negative values). */
export function hi32(v: number): number {
  return Math.floor(v / TWO32) | 0;
}
/** A pair read as a signed 64-bit value. */
export function signed64(lo: number, hi: number): number {
  return (hi | 0) * TWO32 + (lo >>> 0);
}
/** A pair read as an unsigned 64-bit value (inexact above 2^53). */
export function unsigned64(lo: number, hi: number): number {
  return (hi >>> 0) * TWO32 + (lo >>> 0);
}
