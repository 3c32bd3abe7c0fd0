/**
 * RV64 instruction encoders by format (unprivileged spec 2.2-2.3, "Base Instruction Formats",
 * "Immediate Encoding Variants"): compressed.ts expands C instructions through them, and tests
 * build guest code with them (encode.testkit.ts). Immediates are values or byte offsets as the
 * assembler takes them.
 */
export function encI(op: number, rd: number, f3: number, rs1: number, imm: number): number {
  return ((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
}
export function encR(op: number, rd: number, f3: number, rs1: number, rs2: number, f7: number): number {
  return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op;
}
export function encS(op: number, f3: number, rs1: number, rs2: number, imm: number): number {
  return (((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | op;
}
export function encB(f3: number, rs1: number, rs2: number, imm: number): number {
  return (
    (((imm >> 12) & 1) << 31) |
    (((imm >> 5) & 0x3f) << 25) |
    (rs2 << 20) |
    (rs1 << 15) |
    (f3 << 12) |
    (((imm >> 1) & 15) << 8) |
    (((imm >> 11) & 1) << 7) |
    0x63
  );
}
export function encJ(rd: number, imm: number): number {
  return (
    (((imm >> 20) & 1) << 31) |
    (((imm >> 1) & 0x3ff) << 21) |
    (((imm >> 11) & 1) << 20) |
    (((imm >> 12) & 0xff) << 12) |
    (rd << 7) |
    0x6f
  );
}
