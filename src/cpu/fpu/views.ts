/**
 * Float views aliasing the hart's f register file, so the fast paths read and write doubles and
 * floats directly instead of assembling them from int32 halves. On the little-endian hosts Corral
 * runs on, register r is f64[r], and its low word (a NaN-boxed single) is f32[2r].
 */
import { CorralError } from "../../errors.js";

let owner: Int32Array | null = null;
let f64: Float64Array = new Float64Array(0);
let f32: Float32Array = new Float32Array(0);

function attach(f: Int32Array): void {
  if (f.byteOffset % 8 !== 0) {
    throw new CorralError("FPU_REGS_MISALIGNED", "the hart's f register array must start on an 8-byte boundary; allocate it as its own Int32Array");
  }
  owner = f;
  f64 = new Float64Array(f.buffer, f.byteOffset, f.length >> 1);
  f32 = new Float32Array(f.buffer, f.byteOffset, f.length);
}

/** The double view of f (re-created only when a different register file is seen). */
export function doubles(f: Int32Array): Float64Array {
  if (f !== owner) attach(f);
  return f64;
}

/** The float view of f: element 2r is the low word of register r. */
export function floats(f: Int32Array): Float32Array {
  if (f !== owner) attach(f);
  return f32;
}
