/**
 * Whether compiled code may take a fused multiply-add's value from the host: WebAssembly's
 * relaxed SIMD f64x2.relaxed_madd, which V8 emits as one FMA3 instruction (vfmadd231pd) where the
 * CPU has it, in its baseline and optimizing compilers alike, and as a multiply and an add where
 * it has not. RISC-V's FMADD.D rounds once (unprivileged spec, "Double-Precision Floating-Point
 * Computational Instructions"), so the instruction is used only when a probe, run once at start-up
 * on cases where one rounding and two differ, finds it fused; else emit-fp.ts emulates the fused
 * operation in f64 arithmetic. Node 20's V8 has relaxed SIMD behind a flag (on by default from V8
 * 11.4); setting it only enables the instructions' validation, nothing else changes.
 */
import { setFlagsFromString } from "node:v8";

/** f64x2 opcodes (0xfd prefix; WebAssembly SIMD and relaxed SIMD proposals). */
export const SIMD = 0xfd;
export const F64X2_SPLAT = 0x14;
export const F64X2_EXTRACT_LANE = 0x21;
/** f64x2.relaxed_madd is 0x107: its LEB128 bytes. */
export const F64X2_RELAXED_MADD = [0x87, 0x02] as const;

/** A module exporting f(a, b, c) = lane 0 of relaxed_madd(splat a, splat b, splat c). */
function probeModule(): Uint8Array<ArrayBuffer> {
  const body = [0x00, 0x20, 0, SIMD, F64X2_SPLAT, 0x20, 1, SIMD, F64X2_SPLAT, 0x20, 2, SIMD, F64X2_SPLAT];
  body.push(SIMD, ...F64X2_RELAXED_MADD, SIMD, F64X2_EXTRACT_LANE, 0, 0x0b);
  const F64 = 0x7c;
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...[1, 8, 1, 0x60, 3, F64, F64, F64, 1, F64], // type section: (f64 f64 f64) -> f64
    ...[3, 2, 1, 0], // function section
    ...[7, 5, 1, 1, 0x66, 0, 0], // export "f"
    ...[10, body.length + 2, 1, body.length, ...body], // code section
  ]);
}

function detect(): boolean {
  try {
    setFlagsFromString("--experimental-wasm-relaxed-simd");
    const inst = new WebAssembly.Instance(new WebAssembly.Module(probeModule()));
    const f = inst.exports["f"] as (a: number, b: number, c: number) => number;
    const x = 1 + 2 ** -30;
    // x*x = 1 + 2^-29 + 2^-60: two roundings lose the 2^-60 one rounding keeps; 2^1024 overflows
    // when rounded alone, not before the addend brings it back to 2^1023.
    return f(x, x, -(1 + 2 ** -29)) === 2 ** -60 && f(2 ** 512, 2 ** 512, -(2 ** 1023)) === 2 ** 1023;
  } catch {
    return false;
  }
}

/**
 * The host's relaxed_madd rounds once: emit-fp.ts may use it. CORRAL_HW_FMA=0 turns it off (the
 * ISA suite checks the emulation that way on a host that has FMA).
 */
export const HW_FMA = process.env["CORRAL_HW_FMA"] !== "0" && detect();
