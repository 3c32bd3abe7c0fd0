/** RISC-V F and D extensions: decode OP-FP and FMA instructions into executable closures. */
export { decodeFp } from "./decode.js";
export type { FpExec, FpuHart } from "./hart.js";
