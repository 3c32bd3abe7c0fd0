/**
 * Float views aliasing the hart's f register file, so the fast paths read and write doubles and
 * floats directly instead of assembling them from int32 halves. On the little-endian hosts Corral
 * runs on, register r is f64[r], and its low word (a NaN-boxed single) is f32[2r].
 */
import { CpuError } from "../errors.js";

let owner: Int32Array | null = null;
let f64: Float64Array = new Float64Array(0);
let f32: Float32Array = new Float32Array(0);

/** Views per register file, so harts taking turns (SMP) do not re-create them. */
const known = new WeakMap<Int32Array, { f64: Float64Array; f32: Float32Array }>();

function attach(f: Int32Array): void {
  let v = known.get(f);
  if (v === undefined) {
    if (f.byteOffset % 8 !== 0) {
      throw new CpuError(
        "FPU_REGS_MISALIGNED",
        "the hart's f register array must start on an 8-byte boundary; allocate it as its own Int32Array",
      );
    }
    v = {
      f64: new Float64Array(f.buffer, f.byteOffset, f.length >> 1),
      f32: new Float32Array(f.buffer, f.byteOffset, f.length),
    };
    known.set(f, v);
  }
  owner = f;
  f64 = v.f64;
  f32 = v.f32;
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
